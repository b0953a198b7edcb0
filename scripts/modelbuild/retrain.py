"""Retrain stage: a new model version from the current one and the stations' labelled learning samples
(docs/design.md §12; `flask --app server train-head` runs it with the samples of the store).

The backbone is unchanged: the file's `embedding` output is what both the shared photos (cached by
scripts/modelbuild/embed.py) and the samples (sent by the stations) carry. What is refitted is what
scripts/graft_head.py fits, with the same functions:

  1. the item head (modelbuild.openset.fit_open_set) on the shared training split's embeddings (clean +
     degraded views) plus the labelled samples' training part (each sample repeated once per view, so a
     sample weighs as much as a photo); a label of the rule set that the model lacks becomes a new item;
  2. the temperature on the shared validation split's logits (graft_head.validation_temperature);
  3. the rejection score's statistics (out-of-fold, in fit_open_set) and its threshold, cross-fitted on
     training data (openset.cross_fit_scores, choose_rejection_threshold).

The gate: the current and the new head are scored on the shared validation split (clean and degraded:
category balanced accuracy) and on the held-out part of the labelled samples (a share of them chosen by
their event id, never trained on: right = the labelled item, confident; for "not waste / not visible",
uncertain). The new version is refused when it is worse than the current one on either (beyond
`tolerance`), and both sets of figures are returned to print. Only an accepted head is written into the
graph (modelbuild.graft.graft; the input gate of the current file, if any, is carried over with its
thresholds) and checked against numpy on real validation images.

Needs the `onnx` package (requirements-build.txt) to read the current head and write the new one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import embed
from .heads import fit_item_head, softmax
from .openset import (
    choose_rejection_threshold,
    coverage_threshold,
    coverage_view,
    cross_fit_scores,
    fit_open_set,
    threshold_choice,
    validation_coverage_rule,
)
from .rejection import bank_distance, l2_normalised, score_of, score_spec

NOT_WASTE = "not_waste"  # server/store/samples.py: "not waste / not visible"


class FileHead:
    """The open-set head inside a grafted file, evaluated in numpy from its initializers (as its graph does)."""

    def __init__(self, path: Path):
        import onnx
        from onnx import numpy_helper

        m = onnx.load(str(path))
        init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        need = ("oshead/W", "oshead/b", "oshead/T", "rej/whiten", "rej/mean_w", "rej/centres_t", "rej/centres_sq")
        missing = [n for n in need if n not in init]
        if missing:
            raise ValueError(f"{path} has no grafted open-set head (missing {missing}); graft one with "
                             "scripts/graft_head.py first")
        self.w, self.b, self.t = init["oshead/W"], init["oshead/b"], float(init["oshead/T"])
        self.whiten, self.mean_w = init["rej/whiten"], init["rej/mean_w"]
        self.centres_t, self.centres_sq = init["rej/centres_t"], init["rej/centres_sq"]
        self.shifts = [float(init[f"rej/{k}"]) for k in ("maha_shift", "maha_scale", "conf_shift", "conf_scale")]
        self.bank, self.bank_shifts = None, []
        if "rej/bank_t" in init:  # stored transposed, in float16
            self.bank = init["rej/bank_t"].astype(np.float32).T
            self.bank_shifts = [float(init[f"rej/{k}"]) for k in ("bank_shift", "bank_scale")]
        rejection = json.loads({p.key: p.value for p in m.metadata_props}.get("rejection", "{}"))
        self.score_name = score_of(rejection)
        self.gate = None
        if "gate/min_contrast" in init:
            from .gate import Gate
            self.gate = Gate(float(init["gate/min_contrast"]), float(init["gate/min_correlation"]), 0.0,
                             int((rejection.get("gate") or {}).get("pool", 1)))

    def predict(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = np.asarray(embedding, np.float32)
        probs = softmax((e @ self.w + self.b) / self.t)
        l2, conf_weight, bank = score_spec(self.score_name)
        z = (l2_normalised(e) if l2 else e) @ self.whiten - self.mean_w
        d = ((z * z).sum(1, keepdims=True) + z @ self.centres_t + self.centres_sq).min(1)
        ms, msc, cs, csc = self.shifts
        score = (d - ms) / msc - conf_weight * (probs.max(1) - cs) / csc
        if bank:
            bs, bsc = self.bank_shifts
            score = score + (bank_distance(self.bank, e) - bs) / bsc
        return probs, score


@dataclass
class Samples:
    """Labelled samples: embeddings, labels (item names or NOT_WASTE) and their event ids."""
    x: np.ndarray
    labels: list[str]
    ids: list[str]

    @classmethod
    def empty(cls, dims: int = 1280) -> Samples:
        return cls(np.zeros((0, dims), np.float32), [], [])


def held_out(ids: list[str], share: float) -> np.ndarray:
    """A fixed share of the samples, chosen by a hash of their event id (the same on every run)."""
    h = np.array([int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) / 2**32 for i in ids])
    return h < share if len(ids) else np.zeros(0, bool)


def labelled_right(probs, score, labels: list[str], want: list[str], conf_t: float, rej_t: float) -> np.ndarray:
    """Per sample: the labelled item, confidently; or, for NOT_WASTE, uncertain."""
    uncertain = (probs.max(1) < conf_t) | (score > rej_t)
    pred = [labels[i] for i in probs.argmax(1)]
    return np.array([(u if w == NOT_WASTE else (not u and p == w)) for p, u, w in zip(pred, uncertain, want,
                                                                                       strict=True)], bool)


@dataclass
class Result:
    accepted: bool
    reasons: list[str]
    figures: dict            # {"shared": {view: {"current": {...}, "new": {...}}}, "labelled": {...}}
    counts: dict
    out: Path | None = None
    meta: dict = field(default_factory=dict)


def _shared_figures(summarise, probs, score, y, labels, rules, conf_t, rej_t) -> dict:
    s = summarise(probs, score, y, labels, rules, conf_t, rej_t)
    return {"category_balanced_accuracy": s["category_balanced_accuracy"], "item_accuracy": s["item_accuracy"],
            "uncertain_share": s["at_threshold"]["uncertain_share"]}


def retrain(model: Path, data: list[Path], samples: Samples, out: Path, *, cache: Path = embed.DEFAULT_CACHE,
            n_views: int = 3, holdout: float = 0.3, tolerance: float = 0.005, steps: int = 300, dims: int | None = None,
            class_weight_power: float = 0.75, max_wrong: float = 0.20, min_coverage: float = 0.85,
            log=print, progress: bool = True) -> Result:
    """Refit the head of `model` on the shared training embeddings and the labelled `samples`; gate it
    against the current head; write it to `out` only when accepted."""
    import graft_head  # scripts/graft_head.py: the fitting and summaries the shipped head was made with

    from contract.rules import CATEGORIES, load_rules
    from edge.model import WasteClassifier

    src = WasteClassifier(model, threads=1, warmup=False)
    meta = dict(src.metadata)
    rules = load_rules(meta["rules"].split("@")[0])
    conf_t = float(src.threshold)
    current = FileHead(model)
    dims = dims or current.whiten.shape[1]  # the file's own score, refitted
    current_rej_t = float(meta["rejection"]["threshold"])
    labels = list(src.labels)
    new_items = sorted({lb for lb in samples.labels if lb != NOT_WASTE and lb not in labels and lb in rules.items})
    unknown = sorted({lb for lb in samples.labels if lb != NOT_WASTE and lb not in labels and lb not in rules.items})
    if unknown:
        raise ValueError(f"labels {unknown} are not items of the model's rule set {rules.tag}")
    labels_new = labels + new_items

    names = ("clean",) + tuple(f"degraded{k}" for k in range(n_views))
    views = embed.compute(data, model, cache, n_views=n_views, progress=progress)
    x_shared, y_shared, g_shared = graft_head.training_arrays(views, labels, names)
    test = held_out(samples.ids, holdout)
    train_rows = [i for i, lb in enumerate(samples.labels) if not test[i] and lb != NOT_WASTE]
    x_s = samples.x[train_rows]
    y_s = np.array([labels_new.index(samples.labels[i]) for i in train_rows], int)
    g_s = np.arange(len(train_rows)) + int(g_shared.max(initial=0)) + 1  # each sample its own group
    reps = len(names)
    x = np.concatenate([x_shared, np.repeat(x_s, reps, axis=0)]).astype(np.float32)
    y = np.concatenate([y_shared, np.repeat(y_s, reps)])
    groups = np.concatenate([g_shared, np.repeat(g_s, reps)])
    counts = {"shared_training_crops": int(len(x_shared)), "shared_training_images": int((~views.is_val).sum()),
              "shared_validation_images": int(views.is_val.sum()), "samples_training": len(train_rows),
              "samples_held_out": int(test.sum()),
              "samples_not_waste_in_training_part": sum(1 for i, lb in enumerate(samples.labels)
                                                        if not test[i] and lb == NOT_WASTE),
              "new_items": new_items}
    if not test.any():
        # Nothing to check a new head on: refuse before the fitting (minutes on the whole shared set).
        return Result(False, [f"no held-out labelled samples to check it on ({len(samples.ids)} labelled; "
                              "label more samples)"], {"shared": {}, "labelled": {}}, counts)
    log(f"fitting on {len(x_shared)} shared training crops ({reps} views of {counts['shared_training_images']} "
        f"images) and {len(train_rows)} labelled samples (x{reps}); {counts['samples_held_out']} samples held out; "
        f"current {src.version}")

    val = np.nonzero(views.is_val)[0]
    y_all = np.array([labels.index(i) for i in views.item])
    val_emb = {"clean": views.load("clean")[0][val], "degraded": views.load("degraded0")[0][val]}
    first = fit_item_head(x, y, len(labels_new), class_weight_power, steps=steps)
    temperature, calibration = graft_head.validation_temperature(first, val_emb, y_all[val], views.group[val])
    new = fit_open_set(x, y, groups, len(labels_new), class_weight_power=class_weight_power, steps=steps,
                       dims=dims, temperature=temperature, score=current.score_name)
    item_cat = np.array([CATEGORIES.index(rules.category(lb)) for lb in labels_new])
    cf = cross_fit_scores(x, y, groups, reps, labels_new, new.temperature, class_weight_power, steps, dims,
                          score=current.score_name)
    rej_t, trade = choose_rejection_threshold(cf, item_cat, len(CATEGORIES), conf_t, max_wrong, min_coverage)
    # the file's input gate stops the same validation crops for both heads (they are uncertain)
    val_gated = graft_head.validation_gated(views, data, current.gate, val) if current.gate is not None else {}
    coverage, view = validation_coverage_rule(meta["rejection"]), coverage_view(meta["rejection"])
    points = None
    if coverage:  # the file's own rule: the threshold that keeps its coverage of its view's validation crops
        rej_t = coverage_threshold(*graft_head.gated_predict(new, val_emb[view], val_gated.get(view)), conf_t, coverage)
        if meta["rejection"].get("operating_points"):  # and the same named thresholds the file offers
            points = graft_head.operating_points(new, val_emb, val_gated, conf_t, coverage)
    log(f"temperature {new.temperature:.4f} (shared validation logits); rejection threshold {rej_t:.3f} "
        f"({f'{coverage:.0%} of the {view} validation crops get a verdict' if coverage else 'cross-fitted on training data'}; "
        f"current {current_rej_t:.3f})")

    # The gate: the current and the new head, side by side, on the same crops.
    figures = {"shared": {}, "labelled": {}}
    for name, view in (("clean", "clean"), ("degraded", "degraded0")):
        e, current_probs = views.load(view)
        _, current_score = graft_head.gated_predict(current, e[val], val_gated.get(name))
        p_new, s_new = graft_head.gated_predict(new, e[val], val_gated.get(name))
        figures["shared"][name] = {
            "current": _shared_figures(graft_head.summarise, current_probs[val], current_score, y_all[val], labels,
                                       rules, conf_t, current_rej_t),
            "new": _shared_figures(graft_head.summarise, p_new, s_new, y_all[val], labels_new, rules, conf_t,
                                   rej_t)}
    want = [samples.labels[i] for i in np.nonzero(test)[0]]
    if want:
        xt = samples.x[test]
        p_cur, s_cur = current.predict(xt)
        p_new, s_new = new.predict(xt)
        right_cur = labelled_right(p_cur, s_cur, labels, want, conf_t, current_rej_t)
        right_new = labelled_right(p_new, s_new, labels_new, want, conf_t, rej_t)
        figures["labelled"] = {"n": len(want), "current": round(float(right_cur.mean()), 4),
                               "new": round(float(right_new.mean()), 4)}
    reasons = []
    for name, f in figures["shared"].items():
        cur, nw = f["current"]["category_balanced_accuracy"], f["new"]["category_balanced_accuracy"]
        if nw < cur - tolerance:
            reasons.append(f"worse on the shared validation photos ({name}): category balanced accuracy "
                           f"{nw:.4f} against {cur:.4f}")
    if not want:
        reasons.append("no held-out labelled samples to check it on (label more samples)")
    elif figures["labelled"]["new"] < figures["labelled"]["current"] - tolerance:
        reasons.append(f"worse on the held-out labelled samples: {figures['labelled']['new']:.4f} right "
                       f"against {figures['labelled']['current']:.4f}")
    result = Result(not reasons, reasons, figures, counts)
    if reasons:
        return result

    meta = _metadata(meta, src, new, rej_t, trade, calibration, figures, counts, labels_new, class_weight_power,
                     steps, max_wrong, min_coverage)
    meta["rules"] = rules.tag  # the rule set that names every label (newer than the source's when items were added)
    if points:
        meta["rejection"]["operating_points"] = points
    from modelbuild.graft import add_gate, graft
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    graft(model, tmp, new, meta)
    if current.gate is not None:
        meta["rejection"]["gate"] = src.metadata["rejection"].get("gate")
        add_gate(tmp, tmp, current.gate, meta)
    _check_file(tmp, new, views, data, val)
    tmp.replace(out)
    result.out, result.meta = out, meta
    return result


def _metadata(meta, src, new, rej_t, trade, calibration, figures, counts, labels_new, cwp, steps, max_wrong,
              min_coverage) -> dict:
    meta = dict(meta)
    meta["labels"] = labels_new
    meta["temperature"] = round(new.temperature, 4)
    meta["version"] = f"{meta.get('version', '1')}+head.{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    meta["rejection"] = dict(meta["rejection"], threshold=rej_t, parameters=new.rejection.parameters(),
        cross_fit_trade_off=[{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                              if k != "unknown_wrong"} for r in trade[::10]],
        threshold_choice=threshold_choice(validation_coverage_rule(meta["rejection"]), "grouped cross-fitting on the "
                                          "training crops (shared and labelled samples)",
                                          f"shared {coverage_view(meta['rejection'])} validation crops",
                                          max_wrong, min_coverage))
    validation = dict(meta.get("validation", {}))
    validation["retrained"] = {"figures": figures, "note": "current and new head on the same crops: the shared "
                               "validation split and the held-out labelled samples"}
    validation["calibration"] = dict(calibration, temperature=round(new.temperature, 4), fitted_on="validation")
    meta["validation"] = validation
    meta["head"] = dict(meta.get("head", {}), retrained=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        script="flask --app server train-head (scripts/modelbuild/retrain.py)",
                        source_model=f"{src.version} (sha256 {src.sha256})",
                        fitted_on=(f"{counts['shared_training_crops']} shared training crops and "
                                   f"{counts['samples_training']} labelled station samples"),
                        item_head=f"class-weighted softmax regression, class weight (N / n_c) ** {cwp}, "
                                  f"label smoothing 0.05, L2 1e-4, {steps} Adam steps")
    meta["learning"] = {"samples_training": counts["samples_training"], "samples_held_out": counts["samples_held_out"],
                        "new_items": counts["new_items"]}
    return meta


def _check_file(path: Path, head, views, data, val) -> None:
    """The written graph gives the numpy head's probabilities and scores on real validation images."""
    import cv2

    from edge.model import WasteClassifier
    from edge.model.preprocess import preprocess_batch

    clf = WasteClassifier(path, threads=1, warmup=False)
    pick = val[:: max(1, len(val) // 8)][:8]
    roots = {Path(d).resolve().name: Path(d).resolve() for d in data}
    files = [str(roots[k.split("/", 1)[0]] / k.split("/", 1)[1]) for k in views.keys[pick]]
    images = [cv2.imread(f) for f in files]
    probs, emb, score = clf.run_all(preprocess_batch(images, clf.preprocessing))
    p_np, s_np = head.predict(emb)
    dp, ds = float(np.abs(probs - p_np).max()), float(np.abs(score - s_np).max())
    if dp > 1e-3 or (clf.rejection_threshold is not None and ds > 1e-2 and (score < 90).all()):
        raise RuntimeError(f"the written graph disagrees with the numpy head (|dprobs| {dp:.2e}, |dscore| {ds:.2e})")


def print_figures(result: Result, echo=print) -> None:
    """Both sets of figures, current against new."""
    for name, f in result.figures["shared"].items():
        c, n = f["current"], f["new"]
        echo(f"shared validation ({name}): category balanced accuracy current {c['category_balanced_accuracy']:.4f}"
             f" new {n['category_balanced_accuracy']:.4f}; item accuracy current {c['item_accuracy']:.4f} new "
             f"{n['item_accuracy']:.4f}; uncertain current {c['uncertain_share']:.3f} new {n['uncertain_share']:.3f}")
    lab = result.figures["labelled"]
    if lab:
        echo(f"held-out labelled samples (n={lab['n']}): right current {lab['current']:.4f} new {lab['new']:.4f}")
    else:
        echo("held-out labelled samples: none")


if __name__ == "__main__":
    sys.exit("run it through `flask --app server train-head`")
