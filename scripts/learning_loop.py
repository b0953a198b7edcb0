"""Show that the loop learns (issue 17, point 7): simulate it on the shared photos.

    flock /tmp/heavy.lock .venv/bin/python scripts/learning_loop.py [--left-out metal,battery_rechargeable,wood]
        [--n 5,10,20,50] [--markdown]

1. A head that never saw some items: the open-set head of the committed model's backbone (the functions
   scripts/graft_head.py fits the shipped head with: modelbuild.openset.fit_open_set, with the file's own
   rejection score in its own dimensions) refitted on the
   build's training split without the left-out items (clean + 3 degraded views, cached by
   scripts/modelbuild/embed.py).
2. The stations: the left-out items' training photos as a station camera would see them (degraded view
   `degraded1`, not the one the figures are measured on), judged by that head. The uncertain ones are the
   samples a station sends; the confidently wrong ones are those a volunteer corrects (the bin being
   wrong in front of them), which arrive labelled too. Both form the pool.
3. Label N of each left-out item from the pool (N = 5, 10, 20, 50; drawn with a fixed seed) and refit as
   `flask --app server train-head` does: the shared training embeddings plus the samples, each repeated
   once per view.
4. Figures on the build's validation split, clean and degraded (`degraded0`), before (N = 0) and after:
   recall of the left-out items (the right item, not uncertain), how often they are confidently wrong,
   and the overall category balanced accuracy and uncertain share. The confidence threshold and the
   rejection threshold are the committed model's (not refitted per N: that is train-head's job; here
   only the head and its open-set statistics change, which is what the samples teach).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402
from modelbuild import embed  # noqa: E402
from modelbuild.openset import fit_open_set, outcome  # noqa: E402
from modelbuild.rejection import file_score  # noqa: E402

DEFAULT_LEFT_OUT = ("metal", "battery_rechargeable", "wood")  # one recyclable, one hazardous, one other


def fit_like(rejection_metadata: dict, x, y, groups, n_items: int, steps: int):
    """The open-set head as the file's own (its score, in its dimensions), refitted on (x, y): the file's
    rejection threshold only means something for its own kind of score."""
    score, dims = file_score(rejection_metadata)
    return fit_open_set(x, y, groups, n_items, steps=steps, dims=dims, score=score)


def figures(model, views, val, y_val, labels, left, rules, conf_t, rej_t) -> dict:
    """Per view (clean, degraded): left-out recall and confidently wrong, overall figures."""
    import graft_head

    from contract.rules import CATEGORIES
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in labels])
    out = {}
    for name, view in (("clean", "clean"), ("degraded", "degraded0")):
        e = views.load(view)[0][val]
        p, s = model.predict(e)
        o = outcome(p, s, y_val, item_cat, conf_t, rej_t)
        unk = np.isin(y_val, left)
        item_right = (p.argmax(1) == y_val) & ~o["uncertain"]
        summary = graft_head.summarise(p, s, y_val, labels, rules, conf_t, rej_t)
        out[name] = {
            "left_out_recall": round(float(item_right[unk].mean()), 4),
            "left_out_per_item": {labels[k]: round(float(item_right[y_val == k].mean()), 4) for k in left},
            "left_out_confidently_wrong": round(float(o["wrong"][unk].mean()), 4),
            "known_item_accuracy": round(float(item_right[~unk].mean()), 4),
            "category_balanced_accuracy": summary["category_balanced_accuracy"],
            "uncertain_share": summary["at_threshold"]["uncertain_share"],
        }
    return out


def run(data: list[Path], model: Path, cache: Path, left_out: tuple[str, ...], ns: list[int], n_views: int = 3,
        steps: int = 300, seed: int = 0, log=print) -> dict:
    import graft_head

    from contract.rules import load_rules
    from edge.model import WasteClassifier

    t0 = time.time()
    clf = WasteClassifier(model, threads=1, warmup=False)
    labels = list(clf.labels)
    rules = load_rules(clf.metadata["rules"].split("@")[0])
    conf_t, rej_t = float(clf.threshold), float(clf.metadata["rejection"]["threshold"])
    missing = [x for x in left_out if x not in labels]
    if missing:
        raise SystemExit(f"error: {missing} are not items of the model ({', '.join(labels)})")
    views = embed.compute(data, model, cache, n_views=max(2, n_views), progress=False)
    names = ("clean",) + tuple(f"degraded{k}" for k in range(n_views))
    left = [labels.index(x) for x in left_out]
    y_all = np.array([labels.index(i) for i in views.item])
    train = np.nonzero(~views.is_val & ~np.isin(y_all, left))[0]
    pool_rows = np.nonzero(~views.is_val & np.isin(y_all, left))[0]
    val = np.nonzero(views.is_val)[0]
    x, y, groups = graft_head.training_arrays(views, labels, names, rows=train)
    base = fit_like(clf.metadata["rejection"], x, y, groups, len(labels), steps)
    log(f"base head without {', '.join(left_out)}: {len(train)} training photos x {len(names)} views "
        f"[{time.time() - t0:.0f} s]")

    # The stations' crops of the left-out items, and what the base head says of them.
    station = views.load("degraded1")[0][pool_rows]
    p, s = base.predict(station)
    from contract.rules import CATEGORIES
    item_cat = np.array([CATEGORIES.index(rules.category(lb)) for lb in labels])
    o = outcome(p, s, y_all[pool_rows], item_cat, conf_t, rej_t)
    sent = o["uncertain"] | o["wrong"]  # uncertain: sent as samples; confidently wrong: corrected
    pool = {k: pool_rows[sent & (y_all[pool_rows] == k)] for k in left}
    result = {"left_out": list(left_out), "model": clf.version, "thresholds": [conf_t, rej_t],
              "station_crops": int(len(pool_rows)), "sent_uncertain": int(o["uncertain"].sum()),
              "sent_corrected": int(o["wrong"].sum()), "right_without_help": int(o["right"].sum()),
              "pool_per_item": {labels[k]: int(len(v)) for k, v in pool.items()}, "rows": []}
    result["rows"].append({"n": 0, **figures(base, views, val, y_all[val], labels, left, rules, conf_t, rej_t)})
    rng = np.random.default_rng(seed)
    order = {k: rng.permutation(v) for k, v in pool.items()}
    emb_station = views.load("degraded1")[0]
    reps = len(names)
    for n in ns:
        picked = np.concatenate([order[k][:n] for k in left])
        xs = np.repeat(emb_station[picked], reps, axis=0)
        ys = np.repeat(y_all[picked], reps)
        gs = np.repeat(np.arange(len(picked)) + int(groups.max()) + 1, reps)
        m = fit_like(clf.metadata["rejection"], np.concatenate([x, xs]), np.concatenate([y, ys]),
                     np.concatenate([groups, gs]), len(labels), steps)
        row = {"n": n, "labelled": {labels[k]: int(min(n, len(order[k]))) for k in left},
               **figures(m, views, val, y_all[val], labels, left, rules, conf_t, rej_t)}
        result["rows"].append(row)
        log(f"N = {n}: left-out recall clean {row['clean']['left_out_recall']:.3f}, degraded "
            f"{row['degraded']['left_out_recall']:.3f} [{time.time() - t0:.0f} s]")
    return result


def markdown(result: dict) -> str:
    head = ("| N labelled per item | left-out recall, clean | degraded | left-out confidently wrong, degraded | "
            "known items' accuracy, degraded | category balanced accuracy, clean | degraded | uncertain, degraded |")
    lines = [head, "|" + " --- |" * 8]
    for r in result["rows"]:
        c, d = r["clean"], r["degraded"]
        lines.append(f"| {r['n']} | {c['left_out_recall']:.1%} | {d['left_out_recall']:.1%} | "
                     f"{d['left_out_confidently_wrong']:.1%} | {d['known_item_accuracy']:.1%} | "
                     f"{c['category_balanced_accuracy']:.3f} | {d['category_balanced_accuracy']:.3f} | "
                     f"{d['uncertain_share']:.1%} |")
    per = " · ".join(f"{k}: " + ", ".join(f"{r['degraded']['left_out_per_item'][k]:.0%}" for r in result["rows"])
                     for k in result["left_out"])
    lines.append("")
    lines.append(f"Left out: {', '.join(result['left_out'])}. Of their {result['station_crops']} training photos seen "
                 f"as a station would, the head without them judged {result['sent_uncertain']} uncertain (sent as "
                 f"samples) and {result['sent_corrected']} confidently wrong (corrected by a volunteer), "
                 f"{result['right_without_help']} right. Recall per item, degraded, N = "
                 f"{', '.join(str(r['n']) for r in result['rows'])}: {per}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append")
    ap.add_argument("--model", type=Path, default=embed.DEFAULT_MODEL)
    ap.add_argument("--cache", type=Path, default=embed.DEFAULT_CACHE)
    ap.add_argument("--left-out", default=",".join(DEFAULT_LEFT_OUT))
    ap.add_argument("--n", default="5,10,20,50", help="labelled samples per left-out item, comma-separated")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    result = run(args.data or [embed.DEFAULT_DATA], args.model, args.cache, tuple(args.left_out.split(",")),
                 [int(n) for n in args.n.split(",")], args.views, args.steps,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(markdown(result) if args.markdown else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
