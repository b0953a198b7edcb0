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
- `knn+conf`: its standardised sum with minus the standardised top probability.
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
from modelbuild.rejection import auroc  # noqa: E402

FIT_VIEWS = ("clean", "degraded0", "degraded1")
COVERAGE = 0.85
KNN_K = 10


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


def scores(model, fit_x, held_x, x) -> dict[str, np.ndarray]:
    probs, shipped = model.predict(x)
    logits = model.head.logits(np.asarray(x, np.float32))
    t = model.temperature
    z = logits / t
    energy = -t * (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1))
    conf = probs.max(1)
    r = model.rejection
    held_knn = knn_distance(fit_x, held_x)
    knn = knn_distance(fit_x, x)
    knn_std = (knn - held_knn.mean()) / (held_knn.std() or 1.0)
    conf_std = (conf - r.conf_shift) / r.conf_scale
    return {"maha+conf": shipped, "maha": r.distance(x), "msp": -conf, "energy": energy, "knn": knn,
            "knn+conf": knn_std - conf_std, "_probs": probs}


def compare(views: embed.Views, labels: list[str], item_cat: np.ndarray, temperature: float,
            conf_threshold: float) -> dict:
    emb = {v: views.load(v)[0] for v in FIT_VIEWS}
    y = np.array([labels.index(i) for i in views.item])
    train = ~views.is_val
    fold = folds_of(views.group, 5)
    pooled: dict = {}
    for s, names in enumerate(LEAVE_OUT_SETS):
        left = np.isin(views.item, names)
        fit_rows = np.nonzero(train & ~left & (fold != s % 5))[0]
        known_rows = np.nonzero(train & ~left & (fold == s % 5))[0]
        unknown_rows = np.nonzero(train & left)[0]
        inner = fold[fit_rows] == (s + 1) % 5  # another fold of groups standardises the score
        a, b = fit_rows[~inner], fit_rows[inner]
        fit_x = np.concatenate([emb[v][a] for v in FIT_VIEWS])
        held_x = np.concatenate([emb[v][b] for v in FIT_VIEWS])
        model = fit_quick(fit_x, np.tile(y[a], len(FIT_VIEWS)), len(labels), temperature, held_x)
        for view, tag in (("clean", "clean"), ("degraded0", "degraded")):
            for rows, unknown in ((known_rows, False), (unknown_rows, True)):
                sc = scores(model, fit_x, held_x, emb[view][rows])
                bucket = pooled.setdefault(tag, {"unknown": [], "y": [], "set": []})
                bucket["unknown"].append(np.full(len(rows), unknown))
                bucket["y"].append(y[rows])
                bucket["set"].append(np.full(len(rows), s))
                for name, value in sc.items():
                    bucket.setdefault(name, []).append(value)
    result = {}
    for tag, bucket in pooled.items():
        b = {k: np.concatenate(v) for k, v in bucket.items()}
        probs, unknown, yy = b.pop("_probs"), b.pop("unknown"), b.pop("y")
        b.pop("set")
        conf_ok = probs.max(1) >= conf_threshold
        cat_right = item_cat[probs.argmax(1)] == item_cat[yy]
        cats = item_cat[yy]
        result[tag] = {}
        for name, sc in b.items():
            known = ~unknown
            # the threshold giving COVERAGE of the known crops with the confidence rule as well
            candidates = np.sort(sc[known & conf_ok])
            need = int(np.ceil(COVERAGE * known.sum()))
            t = candidates[need - 1] if 0 < need <= len(candidates) else np.inf
            verdict = conf_ok & (sc <= t)
            wrong = verdict & ~cat_right
            per_cat = {int(c): round(float(wrong[unknown & (cats == c)].mean()), 3)
                       for c in np.unique(cats[unknown])}
            result[tag][name] = {"auroc": auroc(sc[known], sc[unknown]),
                                 "known_coverage": round(float(verdict[known].mean()), 3),
                                 "unknown_rejected": round(float(1 - verdict[unknown].mean()), 3),
                                 "unknown_wrong": per_cat, "worst_unknown_wrong": max(per_cat.values())}
    return result


def format_table(result: dict, categories) -> str:
    lines = ["| set | score | AUROC | unknown rejected | " + " | ".join(f"{c} wrong" for c in categories) + " | worst |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in categories) + " | --- |"]
    for tag, per in result.items():
        for name, r in per.items():
            wrong = {int(k): v for k, v in r["unknown_wrong"].items()}  # JSON keys are strings
            cells = [f"{wrong[c]:.3f}" if c in wrong else "-" for c in range(len(categories))]
            lines.append(f"| {tag} | `{name}` | {r['auroc']:.3f} | {r['unknown_rejected']:.3f} | " + " | ".join(cells)
                         + f" | {r['worst_unknown_wrong']:.3f} |")
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
    result = compare(views, clf.labels, item_cat, float(clf.metadata.get("temperature", 1.0)), clf.threshold)
    print(f"$ python scripts/modelbuild/compare_rejection.py   (model {clf.version}; training cross-fits, "
          f"{COVERAGE:.0%} known coverage)")
    print(format_table(result, CATEGORIES))
    if args.json:
        args.json.write_text(json.dumps({"model": clf.version, "coverage": COVERAGE, "result": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
