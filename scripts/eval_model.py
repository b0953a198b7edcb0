"""Evaluate a waste model on a folder of labelled photos.

    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --split validation
    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --split validation --degrade
    .venv/bin/python scripts/eval_model.py --data /srv/station-0042-photos          # a station's own photos

`--data` is a folder with a `manifest.csv` in the shared format (path, source,
source_label, item, license, origin, width, height). Prints accuracy and
balanced accuracy per category (under the rule set) and per item, precision and
recall per class, both confusion matrices, the calibration error and the
uncertainty trade-off at the model's default threshold.

`--degrade` degrades every image on the fly with the station-camera model of
edge/model/degrade.py and a fixed seed (image i of the manifest gets
rng([seed, i])), which on the shared photos reproduces the build's degraded
validation set. `--split validation` keeps only the images of the build's own
validation split (listed in the model's metadata); `--split all` (default)
uses every row. A verdict is uncertain as the edge decides it: the rejection
score over the model's rejection threshold (when the file has one) or the
confidence under its threshold; the report ends with, per category, the shares
right, uncertain and confidently wrong (category wrong and not uncertain).

Crops that show no item (random noise of several sizes, an all-black crop, flat grey and white cards), each
verdict a confident mistake; no photos needed:

    .venv/bin/python scripts/eval_model.py --odd-crops

Open-set protocols (shared photos; they refit the numpy head of
scripts/modelbuild/openset.py on the cached embeddings of the model's backbone,
scripts/modelbuild/embed.py, training split only, at the model's temperature and
thresholds):

    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --protocol leave-one-source-out
    .venv/bin/python scripts/eval_model.py --data ../shared/datasets/waste-images --protocol leave-items-out

(`--operating-point balanced` measures any of these at another threshold the file offers.)

- leave-one-source-out: fit without one source's training images, test on all
  of that source's images (clean and degraded); coverage on the other sources'
  validation images; AUROC of the rejection score (held-out source against them);
- leave-items-out: for each item set of openset.LEAVE_OUT_SETS, fit without
  those items, present their validation images as unknown: AUROC of the
  rejection score against the known validation images, the share of unknowns
  confidently wrong (their category wrong and not uncertain) at the thresholds,
  and the known items' coverage.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_rows(data: Path, item_map: dict, labels: list[str], split: str, val_keys: set[str], limit: int):
    manifest = data / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"error: {manifest} not found")
    rows = []
    with manifest.open(newline="", encoding="utf-8") as f:
        for index, r in enumerate(csv.DictReader(f)):
            item = item_map.get(r["item"], r["item"])
            if item not in labels:
                raise SystemExit(f"error: {manifest}:{index + 2}: item {r['item']!r} is not one of the model's labels")
            key = f"{data.name}/{r['path']}"
            if split == "validation" and key not in val_keys:
                continue
            rows.append({"index": index, "file": data / r["path"], "item": item})
    if limit and len(rows) > limit:
        step = len(rows) / limit  # a fixed, evenly spread sample
        rows = [rows[int(i * step)] for i in range(limit)]
    return rows


def outcomes(probs, uncertain, y, item_cat) -> dict:
    """Per category (of the true item) and overall: n and the shares right, uncertain, confidently wrong."""
    import numpy as np

    from contract.rules import CATEGORIES

    cat_right = item_cat[probs.argmax(1)] == item_cat[y]
    res = {}
    for name, m in [(c, item_cat[y] == i) for i, c in enumerate(CATEGORIES)] + [("all", np.ones(len(y), bool))]:
        if m.any():
            res[name] = {"n": int(m.sum()), "right": round(float((~uncertain & cat_right)[m].mean()), 4),
                         "uncertain": round(float(uncertain[m].mean()), 4),
                         "wrong": round(float((~uncertain & ~cat_right)[m].mean()), 4)}
    return res


def edge_trade_off(probs, uncertain, y, item_cat, clf) -> dict:
    """The uncertainty figures at the model's thresholds, with the edge's rule (confidence and rejection)."""
    sure = ~uncertain
    rest = sure.any()
    return {"threshold": round(float(clf.threshold), 4), "rejection_threshold": clf.rejection_threshold,
            "uncertain_share": round(float(uncertain.mean()), 4),
            "category_accuracy_on_rest": round(float((item_cat[probs.argmax(1)] == item_cat[y])[sure].mean()), 4)
            if rest else None,
            "item_accuracy_on_rest": round(float((probs.argmax(1) == y)[sure].mean()), 4) if rest else None}


def format_outcomes(title: str, res: dict) -> str:
    lines = [f"-- {title}: per category, share right / uncertain / confidently wrong",
             "| category | n | right | uncertain | confidently wrong |", "| --- | --- | --- | --- | --- |"]
    for name, o in res.items():
        lines.append(f"| {name} | {o['n']} | {o['right']:.3f} | {o['uncertain']:.3f} | {o['wrong']:.3f} |")
    return "\n".join(lines)


def refit_score(metadata: dict) -> tuple[str, int]:
    """The file's own kind of rejection score and its number of principal directions, which the protocols
    refit (files before the choice existed: `maha+conf` in 256)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from modelbuild.rejection import file_score

    return file_score(metadata.get("rejection"))


def open_set_protocols(clf, rules, data: Path, protocol: str, cache: Path | None = None, progress: bool = True) -> dict:
    """Refit the open-set head on cached embeddings without a source or without item sets (training split
    only, the model's temperature and thresholds) and measure it on what it did not see."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "scripts"))
    from modelbuild import embed
    from modelbuild.openset import LEAVE_OUT_SETS, fit_quick, folds_of
    from modelbuild.rejection import auroc

    from contract.rules import CATEGORIES

    views = embed.compute([data], clf.path, cache or embed.DEFAULT_CACHE, n_views=2, progress=progress)
    labels = clf.labels
    y = np.array([labels.index(i) for i in views.item])
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in labels])
    emb = {v: views.load(v)[0] for v in ("clean", "degraded0", "degraded1")}
    temperature = float(clf.metadata.get("temperature", 1.0))
    rej_t = clf.rejection_threshold if clf.rejection_threshold is not None else float("inf")
    train, val = ~views.is_val, views.is_val
    fit_views = ("clean", "degraded0", "degraded1")
    score, dims = refit_score(clf.metadata)

    def fit(mask):
        rows = np.nonzero(train & mask)[0]
        fold = folds_of(views.group[rows], 5)
        a, b = rows[fold != 0], rows[fold == 0]
        x = np.concatenate([emb[v][a] for v in fit_views])
        held = np.concatenate([emb[v][b] for v in fit_views])
        return fit_quick(x, np.tile(y[a], len(fit_views)), len(labels), temperature, held, dims=dims, score=score)

    gate_meta = (clf.metadata.get("rejection") or {}).get("gate")
    gated = {}
    if gate_meta:  # the file's input gate (scripts/modelbuild/gate.py) on the same crops, as the graph applies it
        from modelbuild.gate import Gate, view_statistics

        g = Gate.from_metadata(gate_meta)
        gated = {v: g.gated(*st) for v, st in view_statistics([data], views, ("clean", "degraded0"), pool=g.pool).items()}

    def judge(model, rows, view):
        p, sc = model.predict(emb[view][rows])
        if view in gated:
            sc = np.where(gated[view][rows], gate_meta["score"], sc)
        unc = (p.max(1) < clf.threshold) | (sc > rej_t)
        return p, sc, unc

    out = {"protocol": protocol, "model": clf.version, "temperature": temperature, "threshold": clf.threshold,
           "rejection_threshold": clf.rejection_threshold, "input_gate": bool(gate_meta), "folds": []}
    if protocol == "leave-one-source-out":
        splits = [(f"without {s}", views.source != s, views.source == s, val & (views.source != s))
                  for s in sorted(set(views.source.tolist()))]
    else:
        splits = []
        for names in LEAVE_OUT_SETS:
            left = np.isin(views.item, names)
            splits.append((f"without {', '.join(names)}", ~left, val & left, val & ~left))
    for name, fit_mask, test, known in splits:
        model = fit(fit_mask)
        fold = {"name": name, "n_test": int(test.sum()), "n_known": int(known.sum())}
        for view, tag in (("clean", "clean"), ("degraded0", "degraded")):
            tp, ts, tu = judge(model, np.nonzero(test)[0], view)
            kp, ks, ku = judge(model, np.nonzero(known)[0], view)
            fold[tag] = {"auroc": auroc(ks, ts), "known_coverage": round(float(1 - ku.mean()), 4),
                         "known": outcomes(kp, ku, y[known], item_cat)["all"],
                         "test": outcomes(tp, tu, y[test], item_cat)}
        out["folds"].append(fold)
        if progress:
            print(f"  fitted {name}", file=sys.stderr, flush=True)
    return out


def wrong_interval(o: dict) -> str:
    """The 95 % Wilson interval of an outcome's confidently-wrong share, as "[lo–hi]": held-out sets are
    small (22 validation photos of residual waste), so a share alone overstates what is known."""
    from server.rates import wilson_interval

    lo, hi = wilson_interval(round(o["wrong"] * o["n"]), o["n"])
    return f"[{lo:.2f}–{hi:.2f}]"


def format_protocol(res: dict) -> str:
    from contract.rules import CATEGORIES

    lines = [f"== {res['protocol']} on {res['model']} (numpy head refit on the training split; temperature "
             f"{res['temperature']}, threshold {res['threshold']}, rejection threshold {res['rejection_threshold']})",
             "held-out = the left-out source's images (all) or the left-out items' validation images; known = the "
             "other validation images; wrong = category wrong and not uncertain, with its 95 % (Wilson) interval",
             "| fit | set | held-out n | AUROC | known coverage | known wrong | "
             + " | ".join(f"{c}: right / unc. / wrong" for c in CATEGORIES) + " |",
             "| --- " * (6 + len(CATEGORIES)) + "|"]
    for f in res["folds"]:
        for tag in ("clean", "degraded"):
            r = f[tag]
            cells = []
            for c in CATEGORIES:
                o = r["test"].get(c)
                cells.append(f"{o['right']:.2f} / {o['uncertain']:.2f} / **{o['wrong']:.2f}** {wrong_interval(o)} "
                             f"(n={o['n']})" if o else "-")
            au = "-" if r["auroc"] is None else f"{r['auroc']:.3f}"
            lines.append(f"| {f['name']} | {tag} | {f['n_test']} | {au} | {r['known_coverage']:.3f} | "
                         f"{r['known']['wrong']:.3f} | " + " | ".join(cells) + " |")
    worst = max((o["wrong"], f["name"], tag, c) for f in res["folds"] for tag in ("clean", "degraded")
                for c, o in f[tag]["test"].items() if c != "all")
    cov = min(f[tag]["known_coverage"] for f in res["folds"] for tag in ("clean", "degraded"))
    worst_fold = next(f for f in res["folds"] if f["name"] == worst[1])
    lines.append(f"worst held-out category confidently wrong: {worst[0]:.3f} "
                 f"{wrong_interval(worst_fold[worst[2]]['test'][worst[3]])} ({worst[3]}, {worst[1]}, {worst[2]}); "
                 f"lowest known coverage {cov:.3f}")
    return "\n".join(lines)


ODD_NOISE_SIZES = (4, 8, 16, 32, 48, 224)  # small random noise is upscaled by the loader into a fabric-like blur
ODD_NOISE_SEEDS = (0, 1, 2)


def odd_crops() -> list[tuple]:
    """Crops that show no item: uniform random noise of several sizes and seeds, an all-black crop and flat
    grey and white cards. A station meets such crops when the camera glitches or the drop zone is empty."""
    import numpy as np

    crops = [(f"noise {s} px, seed {seed}", np.random.default_rng(seed).integers(0, 256, (s, s, 3), dtype=np.uint8))
             for seed in ODD_NOISE_SEEDS for s in ODD_NOISE_SIZES]
    crops += [("black 40 px", np.zeros((40, 40, 3), np.uint8)), ("grey card 224 px", np.full((224, 224, 3), 128, np.uint8)),
              ("white card 224 px", np.full((224, 224, 3), 255, np.uint8))]
    return crops


def judge_odd_crops(clf) -> list[dict]:
    """The model's verdict on each odd crop: any verdict that is not uncertain is a confident mistake."""
    crops = odd_crops()
    return [{"crop": name, "item": p.item, "confidence": round(p.confidence, 3),
             "rejection_score": None if p.rejection_score is None else round(p.rejection_score, 3),
             "uncertain": p.uncertain} for (name, _), p in zip(crops, clf.classify_batch([c for _, c in crops]), strict=True)]


def format_odd_crops(version: str, rows: list[dict]) -> str:
    passed = [r for r in rows if not r["uncertain"]]
    lines = [f"== odd crops on {version}: {len(passed)} of {len(rows)} get a verdict (each one a confident mistake)",
             "| crop | item | confidence | rejection score | uncertain |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['crop']} | {r['item']} | {r['confidence']:.3f} | {r['rejection_score']} | {r['uncertain']} |" for r in rows]
    return "\n".join(lines)


def evaluate_folder(clf, rules, data: Path, split: str = "all", degrade: bool = False, seed: int | None = None,
                    limit: int = 0, batch: int = 32, progress: bool = True) -> dict:
    """Run `clf` over the folder and return edge.model.metrics.evaluate's result (plus counts)."""
    import cv2
    import numpy as np

    from contract.rules import CATEGORIES
    from edge.model import degrade as dg
    from edge.model.metrics import evaluate
    from edge.model.preprocess import preprocess_batch

    meta = clf.metadata
    item_map = meta.get("training", {}).get("item_map", {})
    val_keys = set(meta.get("validation", {}).get("paths", []))
    if split == "validation" and not val_keys:
        raise SystemExit("error: the model's metadata lists no validation split")
    rows = load_rows(data, item_map, clf.labels, split, val_keys, limit)
    if not rows:
        raise SystemExit(f"error: no images selected in {data} (split {split})")
    seed = dg.DEFAULT_SEED if seed is None else seed
    size = tuple(clf.preprocessing["input_size"])
    iterator = range(0, len(rows), batch)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="evaluate", unit="batch", file=sys.stderr)
    probs, scores, unreadable = [], [], []
    kept = []
    for s in iterator:
        images = []
        for r in rows[s:s + batch]:
            im = cv2.imread(str(r["file"]), cv2.IMREAD_COLOR)
            if im is None:
                unreadable.append(str(r["file"]))
                continue
            if degrade:
                im = dg.degraded_view(im, r["index"], seed, size)
            images.append(im)
            kept.append(r)
        if images:
            p, _, sc = clf.run_all(preprocess_batch(images, clf.preprocessing))
            probs.append(p)
            scores.append(np.full(len(p), -np.inf, np.float32) if sc is None else sc)
    probs, scores = np.concatenate(probs), np.concatenate(scores)
    y = np.array([clf.labels.index(r["item"]) for r in kept])
    result = evaluate(probs, y, clf.labels, rules.category, list(CATEGORIES), clf.threshold)
    uncertain = np.asarray(clf.uncertain(probs.max(1), scores if clf.has_rejection else None))
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in clf.labels])
    result["threshold_confidence_only"] = result["threshold"]
    result["threshold"] = edge_trade_off(probs, uncertain, y, item_cat, clf)
    result["outcomes"] = outcomes(probs, uncertain, y, item_cat)
    result.update({"data": str(data), "split": split, "degraded": degrade, "seed": seed if degrade else None,
                   "model": clf.version, "rules": rules.tag, "unreadable": unreadable})
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="folder with manifest.csv (required except with --odd-crops)")
    ap.add_argument("--model", type=Path, help="ONNX model (default: the committed model)")
    ap.add_argument("--rules", default="beijing")
    ap.add_argument("--split", choices=["all", "validation"], default="all")
    ap.add_argument("--degrade", action="store_true", help="degrade each image on the fly (station camera, fixed seed)")
    ap.add_argument("--seed", type=int, help="degradation seed (default: the build's)")
    ap.add_argument("--limit", type=int, default=0, help="evaluate an evenly spread sample of at most N images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the full result as JSON to this file")
    ap.add_argument("--protocol", choices=["standard", "leave-one-source-out", "leave-items-out"], default="standard",
                    help="standard (default) or an open-set protocol (refits the numpy head on cached embeddings)")
    ap.add_argument("--cache", type=Path, help="embedding cache for the protocols (default /tmp/emb)")
    ap.add_argument("--operating-point", help="reject at the model file's operating point of this name (e.g. "
                    "balanced) instead of its default threshold")
    ap.add_argument("--odd-crops", action="store_true", help="judge generated crops that show no item (noise, "
                    "black, flat cards) instead of a folder")
    args = ap.parse_args(argv)
    if args.data is None and not args.odd_crops:
        ap.error("--data is required (or --odd-crops)")
    print("$ " + " ".join(["python scripts/eval_model.py", *(argv if argv is not None else sys.argv[1:])]))

    from contract.rules import load_rules
    from edge.model import ModelError, load_classifier
    from edge.model.metrics import format_report

    try:
        clf = load_classifier(args.model, threads=args.threads, operating_point=args.operating_point)
    except ModelError as e:
        ap.error(str(e))
    if args.odd_crops:
        rows = judge_odd_crops(clf)
        print(format_odd_crops(clf.version, rows))
        if args.json:
            args.json.write_text(json.dumps({"model": clf.version, "odd_crops": rows}, indent=1))
        return 0
    rules = load_rules(args.rules)
    rules.check_items(clf.labels)
    if args.protocol != "standard":
        result = open_set_protocols(clf, rules, args.data.resolve(), args.protocol, args.cache)
        print(format_protocol(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    result = evaluate_folder(clf, rules, args.data.resolve(), args.split, args.degrade, args.seed, args.limit)
    view = f"degraded seed {result['seed']}" if args.degrade else "clean"
    title = f"{clf.version} on {args.data} ({args.split}, {view})"
    print(format_report(title, result))
    t = result["threshold_confidence_only"]
    print(f"edge rule above; confidence alone (< {t['threshold']}): uncertain {t['uncertain_share']:.3f}, "
          f"category accuracy on the rest {t['category_accuracy_on_rest']}")
    print(format_outcomes(title, result["outcomes"]))
    if result["unreadable"]:
        print(f"unreadable files skipped: {len(result['unreadable'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
