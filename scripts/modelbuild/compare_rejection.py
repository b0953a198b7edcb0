"""Which open-set score? Candidate rejection scores compared on grouped cross-fits of the training split
only (the same leave-items-out sets the shipped threshold is chosen on, scripts/modelbuild/openset.py),
so the choice does not look at the validation images the card reports on.

    .venv/bin/python scripts/modelbuild/compare_rejection.py [--json /tmp/compare.json]

For each item set of LEAVE_OUT_SETS: the open-set head is fitted (as scripts/eval_model.py refits it) on
the training crops of the other items without one fold of groups; the fold is the known set and the
left-out items' training crops the unknown set, clean and degraded (view degraded0; the fit sees clean,
degraded0 and degraded1). Per score: AUROC of unknown against known, and at the score threshold where
known crops keep 85 % coverage (with the file's confidence threshold also applied) the share of unknown
crops confidently wrong (category wrong and not uncertain), per category, pooled over the sets.

Scores (higher = more likely unknown):
- `maha+conf`: the shipped score (Mahalanobis distance to the nearest item centre, standardised, minus the
  standardised top probability);
- `maha`: the distance alone; `msp`: minus the top probability; `energy`: minus T log-sum-exp(logits / T);
- `knn`: cosine distance to the k-th nearest training crop (k = 10, embeddings L2-normalised);
- `knn+conf`: its standardised sum with minus the standardised top probability;
- `maha+knn+conf`: the standardised distance plus the standardised k-NN distance minus the standardised
  top probability;
- `maha_l2`, `maha_l2+conf`: the Mahalanobis distance on L2-normalised embeddings (as "Mahalanobis++",
  Mueller and Hein 2025, propose: feature norms vary, which a shared covariance does not model), alone and
  as the shipped sum;
- `maha_l2_32+knn+conf`: that distance in only 32 principal directions plus the k-NN distance minus the
  top probability: the best of a sweep over 16, 32, 64, 128 and 256 directions, with and without k-NN,
  on these same cross-fits (so its figure is chosen on them and optimistic);
- `maha_l2_32+bank+conf`: the same with the k-NN distance replaced by the cosine distance to the nearest of
  64 k-means centres per item of the fit's crops (rejection.fit_bank), which fits in a model file; 32, 64 and
  128 centres per item were tried on these cross-fits and do alike;
- `maha_l2_32+bank+conf/2`, `maha_l2_32+bank`: the same with the confidence part at half weight, and
  without it (the confidence rule still applies): how much the top probability should count;
- `rmd`, `rmd+conf`, `rmd_l2+conf`: the relative Mahalanobis distance (Ren et al. 2021, for near-unknown
  inputs to fine-tuned networks): the distance to the nearest item minus the distance to one Gaussian
  fitted on all the fit's crops (the background), so directions in which every photo varies count less;
  alone, plus the confidence part, and on L2-normalised embeddings plus the confidence part.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

from modelbuild import embed  # noqa: E402
from modelbuild.openset import LEAVE_OUT_SETS, fit_quick, folds_of  # noqa: E402
from modelbuild.rejection import Rejection, auroc, bank_distance, fit_bank, fit_distance  # noqa: E402

FIT_VIEWS = ("clean", "degraded0", "degraded1")
COVERAGE = 0.85
KNN_K = 10
L2_DIMS = (256, 32)  # principal directions of the L2-normalised Mahalanobis scores


def knn_distance(train: np.ndarray, query: np.ndarray, k: int = KNN_K, chunk: int = 2048) -> np.ndarray:
    """Cosine distance of each query row to its k-th nearest row of `train`."""
    a = train / np.linalg.norm(train, axis=1, keepdims=True)
    out = []
    for s in range(0, len(query), chunk):
        q = query[s:s + chunk]
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        sim = q @ a.T
        out.append(1 - np.partition(sim, -k, axis=1)[:, -k])
    return np.concatenate(out)


class Fitted:
    """What the scores need from one fit beyond the open-set head: the fit's crops (for the k-nearest
    neighbours), Mahalanobis distances on L2-normalised embeddings, and each part's mean and deviation on
    the held-out crops that standardise it."""

    def __init__(self, model, fit_x, fit_y, held_x):
        self.model, self.fit_x = model, fit_x
        self.l2 = {dims: Rejection(*fit_distance(fit_x, fit_y, dims=dims, score="maha_l2"), 0.0, 1.0, 0.0, 1.0,
                                   "maha_l2") for dims in L2_DIMS}
        # one Gaussian over all the fit's crops: the "background" of the relative Mahalanobis distance, on the
        # embedding as it is and L2-normalised, keyed by the distance part it is subtracted from
        one = np.zeros(len(fit_y), int)
        self.background = {part: Rejection(*fit_distance(fit_x, one, score=score), 0.0, 1.0, 0.0, 1.0, score)
                           for part, score in (("maha", "maha+conf"), (f"maha_l2_{L2_DIMS[0]}", "maha_l2"))}
        self.bank = fit_bank(fit_x, fit_y)
        self.held = {name: (v.mean(), v.std() or 1.0) for name, v in self.parts(held_x).items()}

    def parts(self, x) -> dict[str, np.ndarray]:
        out = {"maha": self.model.rejection.distance(x), "knn": knn_distance(self.fit_x, x),
               "bank": bank_distance(self.bank, x)}
        out.update({f"maha_l2_{d}": r.distance(x) for d, r in self.l2.items()})
        rmd = {part: out[part] - bg.distance(x) for part, bg in self.background.items()}
        out["rmd"], out["rmd_l2"] = rmd["maha"], rmd[f"maha_l2_{L2_DIMS[0]}"]
        return out

    def standardised(self, parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: (v - self.held[name][0]) / self.held[name][1] for name, v in parts.items()}


def scores(fitted: Fitted, x) -> dict[str, np.ndarray]:
    model = fitted.model
    probs, shipped = model.predict(x)
    logits = model.head.logits(np.asarray(x, np.float32))
    t = model.temperature
    z = logits / t
    energy = -t * (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1))
    conf = probs.max(1)
    r = model.rejection
    conf_std = (conf - r.conf_shift) / r.conf_scale
    raw = fitted.parts(x)  # each distance once: the k-NN one is a product with every fit crop
    part = fitted.standardised(raw)
    return {"maha+conf": shipped, "maha": raw["maha"], "msp": -conf, "energy": energy,
            "knn": raw["knn"], "knn+conf": part["knn"] - conf_std,
            "maha+knn+conf": part["maha"] + part["knn"] - conf_std,
            "maha_l2": part[f"maha_l2_{L2_DIMS[0]}"], "maha_l2+conf": part[f"maha_l2_{L2_DIMS[0]}"] - conf_std,
            f"maha_l2_{L2_DIMS[1]}+knn+conf": part[f"maha_l2_{L2_DIMS[1]}"] + part["knn"] - conf_std,
            f"maha_l2_{L2_DIMS[1]}+bank+conf": part[f"maha_l2_{L2_DIMS[1]}"] + part["bank"] - conf_std,
            f"maha_l2_{L2_DIMS[1]}+bank+conf/2": part[f"maha_l2_{L2_DIMS[1]}"] + part["bank"] - conf_std / 2,
            f"maha_l2_{L2_DIMS[1]}+bank": part[f"maha_l2_{L2_DIMS[1]}"] + part["bank"],
            "rmd": raw["rmd"], "rmd+conf": part["rmd"] - conf_std, "rmd_l2+conf": part["rmd_l2"] - conf_std,
            "_probs": probs}


def _pooled_scores(views: embed.Views, labels: list[str], temperature: float, rows_of) -> dict:
    """Every candidate score, pooled over the item sets of LEAVE_OUT_SETS, per view (clean, degraded).
    `rows_of(s, left)` gives the (fit, known, unknown) rows of item set `s` (`left`: its rows)."""
    emb = {v: views.load(v)[0] for v in FIT_VIEWS}
    y = np.array([labels.index(i) for i in views.item])
    fold = folds_of(views.group, 5)
    pooled: dict = {}
    for s, names in enumerate(LEAVE_OUT_SETS):
        fit_rows, known_rows, unknown_rows = rows_of(s, np.isin(views.item, names))
        inner = fold[fit_rows] == (s + 1) % 5  # another fold of groups standardises the score
        a, b = fit_rows[~inner], fit_rows[inner]
        fit_x = np.concatenate([emb[v][a] for v in FIT_VIEWS])
        held_x = np.concatenate([emb[v][b] for v in FIT_VIEWS])
        fit_y = np.tile(y[a], len(FIT_VIEWS))
        fitted = Fitted(fit_quick(fit_x, fit_y, len(labels), temperature, held_x), fit_x, fit_y, held_x)
        for view, tag in (("clean", "clean"), ("degraded0", "degraded")):
            for rows, unknown in ((known_rows, False), (unknown_rows, True)):
                bucket = pooled.setdefault(tag, {"unknown": [], "y": []})
                bucket["unknown"].append(np.full(len(rows), unknown))
                bucket["y"].append(y[rows])
                for name, value in scores(fitted, emb[view][rows]).items():
                    bucket.setdefault(name, []).append(value)
    return {tag: {k: np.concatenate(v) for k, v in bucket.items()} for tag, bucket in pooled.items()}


def _measure(pooled: dict, item_cat: np.ndarray, conf_threshold: float, thresholds: dict | None = None) -> dict:
    """Per view and score: AUROC, and at the score's threshold (given, or the one that keeps COVERAGE of
    the known crops with the confidence rule as well) the known coverage and the unknown crops' shares."""
    result = {}
    for tag, b in pooled.items():
        b = dict(b)
        probs, unknown, yy = b.pop("_probs"), b.pop("unknown"), b.pop("y")
        known = ~unknown
        conf_ok = probs.max(1) >= conf_threshold
        cat_right = item_cat[probs.argmax(1)] == item_cat[yy]
        cats = item_cat[yy]
        result[tag] = {}
        for name, sc in b.items():
            if thresholds is None:
                candidates = np.sort(sc[known & conf_ok])
                need = int(np.ceil(COVERAGE * known.sum()))
                t = float(candidates[need - 1]) if 0 < need <= len(candidates) else float("inf")
            else:
                t = thresholds[tag][name]["threshold"]
            verdict = conf_ok & (sc <= t)
            wrong = verdict & ~cat_right
            per_cat = {int(c): round(float(wrong[unknown & (cats == c)].mean()), 3)
                       for c in np.unique(cats[unknown])}
            result[tag][name] = {"auroc": auroc(sc[known], sc[unknown]), "threshold": t,
                                 "known_coverage": round(float(verdict[known].mean()), 3),
                                 "unknown_rejected": round(float(1 - verdict[unknown].mean()), 3),
                                 "unknown_wrong": per_cat, "worst_unknown_wrong": max(per_cat.values())}
    return result


def compare(views: embed.Views, labels: list[str], item_cat: np.ndarray, temperature: float,
            conf_threshold: float) -> dict:
    """The candidate scores on the training split's cross-fits: each item set left out in turn, fitted
    without one fold of groups of the other items, which is the known set."""
    train = ~views.is_val
    fold = folds_of(views.group, 5)

    def rows_of(s, left):
        return (np.nonzero(train & ~left & (fold != s % 5))[0], np.nonzero(train & ~left & (fold == s % 5))[0],
                np.nonzero(train & left)[0])

    return _measure(_pooled_scores(views, labels, temperature, rows_of), item_cat, conf_threshold)


def validate(views: embed.Views, labels: list[str], item_cat: np.ndarray, temperature: float,
             conf_threshold: float, cross_fit: dict) -> dict:
    """The same scores on the validation split, at the thresholds `cross_fit` (compare's result) chose:
    each item set left out of a fit on the whole training split, its validation images the unknown set and
    the other validation images the known one (as scripts/eval_model.py --protocol leave-items-out)."""
    train, val = ~views.is_val, views.is_val

    def rows_of(s, left):
        return np.nonzero(train & ~left)[0], np.nonzero(val & ~left)[0], np.nonzero(val & left)[0]

    return _measure(_pooled_scores(views, labels, temperature, rows_of), item_cat, conf_threshold, cross_fit)


def format_table(result: dict, categories, coverage: bool = False) -> str:
    """One row per view and score; `coverage` adds the known crops' coverage (where the threshold was
    not chosen to give it)."""
    cov_head, cov_rule = (" known coverage |", " --- |") if coverage else ("", "")
    lines = [f"| set | score | AUROC |{cov_head} unknown rejected | " + " | ".join(f"{c} wrong" for c in categories)
             + " | worst |", f"| --- | --- | --- |{cov_rule} --- | " + " | ".join("---" for _ in categories) + " | --- |"]
    for tag, per in result.items():
        for name, r in per.items():
            wrong = {int(k): v for k, v in r["unknown_wrong"].items()}  # JSON keys are strings
            cells = [f"{wrong[c]:.3f}" if c in wrong else "-" for c in range(len(categories))]
            cov = f" {r['known_coverage']:.3f} |" if coverage else ""
            lines.append(f"| {tag} | `{name}` | {r['auroc']:.3f} |{cov} {r['unknown_rejected']:.3f} | "
                         + " | ".join(cells) + f" | {r['worst_unknown_wrong']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from contract.rules import CATEGORIES, load_rules
    from edge.model import WasteClassifier

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=embed.DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=embed.DEFAULT_MODEL)
    ap.add_argument("--cache", type=Path, default=embed.DEFAULT_CACHE)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    clf = WasteClassifier(args.model, threads=1, warmup=False)
    rules = load_rules(clf.metadata.get("rules", "beijing").split("@")[0])
    views = embed.compute([args.data], args.model, args.cache, n_views=2)
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in clf.labels])
    t = float(clf.metadata.get("temperature", 1.0))
    result = compare(views, clf.labels, item_cat, t, clf.threshold)
    print(f"$ python scripts/modelbuild/compare_rejection.py   (model {clf.version}; training cross-fits, "
          f"{COVERAGE:.0%} known coverage)")
    print(format_table(result, CATEGORIES))
    validation = validate(views, clf.labels, item_cat, t, clf.threshold, result)
    print("\nvalidation split, each item set left out of a fit on the training split, at the thresholds above:")
    print(format_table(validation, CATEGORIES, coverage=True))
    if args.json:
        args.json.write_text(json.dumps({"model": clf.version, "coverage": COVERAGE, "result": result,
                                         "validation": validation}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
