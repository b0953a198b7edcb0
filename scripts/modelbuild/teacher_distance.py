"""Does the rejection distance see unknown items better in the pristine ImageNet network's features than in
the fine-tuned ones? Fine-tuning on 12 items may pull everything towards them ("feature collapse"); the
network before fine-tuning was never taught to call a tissue paper.

On the leave-items-out folds of scripts/eval_model.py (each item set of openset.LEAVE_OUT_SETS left out of a
fit on the training split; its validation images unknown, the other validation images known), per fold and
view: the shipped kind of score refitted on the committed file's embeddings (as the protocol does); the
same distance (`maha_l2+bank`, in 32 directions, standardised on a held-out fold of groups) on the
teacher's features (scripts/modelbuild/teacher.py, views clean and degraded0, so the teacher's fit sees
those two); and their sum with the teacher part at weight 0.5 and 1. AUROC of each, and the share of the
unknown items' `other` (or, without one, their worst category) confidently wrong at the threshold that keeps
85 % of the fold's known degraded crops (each score at its own threshold, the confidence rule as well):

    OMP_NUM_THREADS=1 .venv-build/bin/python scripts/modelbuild/teacher.py --views clean &
    OMP_NUM_THREADS=1 .venv-build/bin/python scripts/modelbuild/teacher.py --views degraded0; wait
    .venv/bin/python scripts/modelbuild/teacher_distance.py
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

from modelbuild import embed, teacher  # noqa: E402
from modelbuild.openset import LEAVE_OUT_SETS, coverage_threshold, fit_quick, folds_of  # noqa: E402
from modelbuild.rejection import auroc, fit_bank, fit_distance, standardised  # noqa: E402

FIT_VIEWS = ("clean", "degraded0", "degraded1")
TEACHER_VIEWS = ("clean", "degraded0")
TEACHER_SCORE = "maha_l2+bank"
WEIGHTS = (0.5, 1.0)
COVERAGE = 0.85


def fit_distance_score(x: np.ndarray, y: np.ndarray, held: np.ndarray, dims: int = 32):
    """The shipped kind of distance (`maha_l2+bank`, no confidence part) fitted on (x, y), standardised on
    `held`: a Rejection whose score(embedding, None) is the distance alone."""
    mean, whiten, centres = fit_distance(x, y, dims=dims, score=TEACHER_SCORE)
    return standardised(mean, whiten, centres, held, np.zeros(len(held)), TEACHER_SCORE, fit_bank(x, y))


def scores(model, distance, emb: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(probs, {score name: values}) of crops with fine-tuned embeddings `emb` and teacher features `feats`."""
    probs, shipped = model.predict(emb)
    t = distance.score(feats, None)
    out = {"fine-tuned (shipped kind)": shipped, "teacher distance": t}
    out.update({f"fine-tuned + {w:g} x teacher": shipped + w * t for w in WEIGHTS})
    return probs, out


def measure(clf, rules, data: Path, cache: Path) -> list[dict]:
    """One row per fold, view and score: AUROC, known coverage and the unknown crops' worst category share
    confidently wrong, at the threshold that keeps COVERAGE of the fold's known degraded crops."""
    from contract.rules import CATEGORIES

    views = embed.compute([data], clf.path, cache, n_views=2, progress=False)
    labels = clf.labels
    y = np.array([labels.index(i) for i in views.item])
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in labels])
    emb = {v: views.load(v)[0] for v in FIT_VIEWS}
    feats = {v: teacher.load(cache, v, views.keys, "features").astype(np.float32) for v in TEACHER_VIEWS}
    score_name, dims = clf.metadata["rejection"]["parameters"]["score"], clf.metadata["rejection"]["parameters"]["dims"]
    temperature, conf_t = float(clf.metadata["temperature"]), clf.threshold
    train, val = ~views.is_val, views.is_val
    rows_out = []
    for names in LEAVE_OUT_SETS:
        left = np.isin(views.item, names)
        rows = np.nonzero(train & ~left)[0]
        fold = folds_of(views.group[rows], 5)
        a, b = rows[fold != 0], rows[fold == 0]
        model = fit_quick(np.concatenate([emb[v][a] for v in FIT_VIEWS]), np.tile(y[a], len(FIT_VIEWS)), len(labels),
                          temperature, np.concatenate([emb[v][b] for v in FIT_VIEWS]), dims=dims, score=score_name)
        distance = fit_distance_score(np.concatenate([feats[v][a] for v in TEACHER_VIEWS]),
                                      np.tile(y[a], len(TEACHER_VIEWS)),
                                      np.concatenate([feats[v][b] for v in TEACHER_VIEWS]))
        known, unknown = np.nonzero(val & ~left)[0], np.nonzero(val & left)[0]
        scored = {v: (scores(model, distance, emb[v][known], feats[v][known]),
                      scores(model, distance, emb[v][unknown], feats[v][unknown])) for v in TEACHER_VIEWS}
        (pk_deg, sk_deg), _ = scored["degraded0"]
        cats = item_cat[y[unknown]]
        worst_cat = CATEGORIES.index("other") if (cats == CATEGORIES.index("other")).any() else None
        for name in sk_deg:
            t = coverage_threshold(pk_deg, sk_deg[name], conf_t, COVERAGE)
            for v, tag in (("clean", "clean"), ("degraded0", "degraded")):
                (pk, sk), (pu, su) = scored[v]
                verdict_k = (pk.max(1) >= conf_t) & (sk[name] <= t)
                verdict_u = (pu.max(1) >= conf_t) & (su[name] <= t)
                wrong = verdict_u & (item_cat[pu.argmax(1)] != cats)
                per_cat = {CATEGORIES[c]: float(wrong[cats == c].mean()) for c in np.unique(cats)}
                shown = CATEGORIES[worst_cat] if worst_cat is not None else max(per_cat, key=per_cat.get)
                rows_out.append({"fold": f"without {', '.join(names)}", "view": tag, "score": name,
                                 "auroc": auroc(sk[name], su[name]), "threshold": round(float(t), 3),
                                 "known_coverage": round(float(verdict_k.mean()), 3),
                                 "category": shown, "wrong": round(per_cat[shown], 3)})
    return rows_out


def format_rows(rows: list[dict]) -> str:
    out = ["| fold | view | score | AUROC | known coverage | unknown confidently wrong |", "| --- | --- | --- | --- | --- | --- |"]
    out += [f"| {r['fold']} | {r['view']} | {r['score']} | {r['auroc']:.3f} | {r['known_coverage']:.3f} | "
            f"{r['category']} {r['wrong']:.2f} |" for r in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=embed.DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=embed.DEFAULT_MODEL)
    ap.add_argument("--cache", type=Path, default=embed.DEFAULT_CACHE)
    args = ap.parse_args(argv)
    from contract.rules import load_rules
    from edge.model import WasteClassifier

    clf = WasteClassifier(args.model, threads=1, warmup=False)
    print("$ .venv/bin/python scripts/modelbuild/teacher_distance.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"leave-items-out folds, {clf.version}; each score at the threshold that keeps {COVERAGE:.0%} of the "
          "fold's known degraded crops (with the confidence rule)")
    print(format_rows(measure(clf, load_rules("beijing"), args.data.resolve(), args.cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
