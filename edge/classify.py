"""`python -m edge classify [--json] PATH...`: classify image files or folders (recursive).

One line per image. With --json each line is a JSON object:

    {"path": "a.jpg", "item": "battery", "item_zh": "电池", "category": "hazardous",
     "category_zh": "有害垃圾", "confidence": 0.97, "uncertain": false,
     "model": "waste-effl0-int8@3fa2c1d0", "rules": "beijing@2020.2",
     "rejection_score": -1.23, "rejected": false}

`uncertain` is true when the open-set rejection score is over the model's
rejection threshold (`rejected`) or the confidence is under its threshold; the
two scores that decided it are `confidence` and `rejection_score` (the latter
only for a model file that has the `rejection_score` output).
`--operating-point balanced` rejects at another threshold the file offers
(metadata `rejection.operating_points`) instead of its default.

`--head bin` judges each photo as a whole, as if it were a bin opening's region
(edge/condition), with the station-condition model (models/station-state-int8.onnx):

    {"path": "a.jpg", "bin_state": "overflow", "confidence": 0.97}

and `--head ground` as a ground zone: {"path": "b.jpg", "ground": "litter", "confidence": 0.91}.
`--head item` (the default) is the waste classifier above.

An unreadable file gives {"path": ..., "error": "..."} and the rest still run;
the exit status is 1 when any file failed, 2 when the model or rules cannot load.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image and line")
    parser.add_argument("--head", choices=("item", "bin", "ground"), default="item",
                        help="item: the waste classifier (default); bin: a bin opening's state (ok, full, "
                             "overflow); ground: a ground zone's (clean, litter), each photo as a whole region")
    parser.add_argument("--model", help="ONNX model file (default: the committed model in models/ for the head)")
    parser.add_argument("--rules", default="beijing", help="rule set name or file (default: beijing)")
    parser.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    parser.add_argument("--operating-point", help="reject at the model file's operating point of this name "
                        "(e.g. strict, balanced; default: the file's own threshold)")
    parser.add_argument("--top", type=int, default=1, help="also list the N most probable items (default 1)")


def iter_images(paths: list[str]):
    """Files as given (whatever their suffix), folders searched recursively for image suffixes, sorted."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield p


def read_image(path: Path):
    """(BGR image, None) or (None, the error of an unreadable file)."""
    import cv2
    import numpy as np

    if not path.exists():
        return None, "no such file"
    try:
        image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    except (OSError, ValueError) as e:
        return None, f"cannot read: {e}"
    return (image, None) if image is not None else (None, "not a readable image")


STATE_KEYS = {"bin": "bin_state", "ground": "ground"}


def main_condition(args) -> int:
    """--head bin / ground: each photo judged as one region."""
    from edge.model import ModelError
    from edge.model.station import load_station_model

    try:
        model = load_station_model(args.model, threads=args.threads)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    key = STATE_KEYS[args.head]
    failed = 0
    for path in iter_images(args.paths):
        image, error = read_image(path)
        if error:
            failed += 1
            record = {"path": str(path), "error": error}
        else:
            j = model.judge([image], args.head)[0]
            record = {"path": str(path), key: j.state, "confidence": round(j.confidence, 4)}
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif error:
            print(f"{path}: error: {error}", flush=True)
        else:
            print(f"{path}: {args.head} {j.state} {j.confidence:.2f}{'' if j.sure else ' (unsure)'}", flush=True)
    return 1 if failed else 0


def main(args) -> int:
    if args.head != "item":
        return main_condition(args)
    from contract.rules import RuleSetError, load_rules
    from edge.model import ModelError, load_classifier
    from edge.model.preprocess import top_k

    try:
        rules = load_rules(args.rules)
        clf = load_classifier(args.model, threads=args.threads, operating_point=args.operating_point)
        rules.check_items(clf.labels)
    except (ModelError, RuleSetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    failed = 0
    for path in iter_images(args.paths):
        record: dict = {"path": str(path)}
        image, error = read_image(path)
        if error:
            record["error"] = error
        if image is not None:
            pred = clf.classify(image)
            category = rules.category(pred.item)
            record.update({
                "item": pred.item,
                "item_zh": rules.item_name(pred.item),
                "category": category,
                "category_zh": rules.category_name(category),
                "confidence": round(pred.confidence, 4),
                "uncertain": bool(pred.uncertain),
                "model": clf.version,
                "rules": rules.tag,
            })
            if pred.rejection_score is not None:
                record["rejection_score"] = round(pred.rejection_score, 4)
                record["rejected"] = bool(pred.rejected)
            if args.top > 1:
                record["top"] = [{"item": i, "p": round(p, 4)} for i, p in top_k(pred.probs, clf.labels, args.top)]
        else:
            failed += 1
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif "error" in record:
            print(f"{record['path']}: error: {record['error']}", flush=True)
        else:
            flag = (" (uncertain: unlike any learned item)" if record.get("rejected")
                    else " (uncertain)" if record["uncertain"] else "")
            print(f"{record['path']}: {record['item']} ({record['item_zh']}) -> {record['category']} "
                  f"({record['category_zh']}) {record['confidence']:.2f}{flag}", flush=True)
    return 1 if failed else 0
