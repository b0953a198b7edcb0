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
uses every row.
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


def evaluate_folder(clf, rules, data: Path, split: str = "all", degrade: bool = False, seed: int | None = None,
                    limit: int = 0, batch: int = 32, progress: bool = True) -> dict:
    """Run `clf` over the folder and return edge.model.metrics.evaluate's result (plus counts)."""
    import cv2
    import numpy as np

    from edge.model import degrade as dg
    from edge.model.metrics import evaluate
    from edge.model.preprocess import preprocess_batch
    from edge.rules import CATEGORIES

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
    probs, unreadable = [], []
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
            probs.append(clf.run(preprocess_batch(images, clf.preprocessing))[0])
    probs = np.concatenate(probs)
    y = np.array([clf.labels.index(r["item"]) for r in kept])
    result = evaluate(probs, y, clf.labels, rules.category, list(CATEGORIES), clf.threshold)
    result.update({"data": str(data), "split": split, "degraded": degrade, "seed": seed if degrade else None,
                   "model": clf.version, "rules": rules.tag, "unreadable": unreadable})
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with manifest.csv")
    ap.add_argument("--model", type=Path, help="ONNX model (default: the committed model)")
    ap.add_argument("--rules", default="beijing")
    ap.add_argument("--split", choices=["all", "validation"], default="all")
    ap.add_argument("--degrade", action="store_true", help="degrade each image on the fly (station camera, fixed seed)")
    ap.add_argument("--seed", type=int, help="degradation seed (default: the build's)")
    ap.add_argument("--limit", type=int, default=0, help="evaluate an evenly spread sample of at most N images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the full result as JSON to this file")
    args = ap.parse_args(argv)

    from edge.model import load_classifier
    from edge.model.metrics import format_report
    from edge.rules import load_rules

    clf = load_classifier(args.model, threads=args.threads)
    rules = load_rules(args.rules)
    rules.check_items(clf.labels)
    result = evaluate_folder(clf, rules, args.data.resolve(), args.split, args.degrade, args.seed, args.limit)
    view = f"degraded seed {result['seed']}" if args.degrade else "clean"
    title = f"{clf.version} on {args.data} ({args.split}, {view})"
    print(format_report(title, result))
    if result["unreadable"]:
        print(f"unreadable files skipped: {len(result['unreadable'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
