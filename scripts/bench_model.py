"""Latency of the waste model on one crop (p50 and p90 after warm-up), and its size.

    .venv/bin/python scripts/bench_model.py                      # committed model, 1 thread
    .venv/bin/python scripts/bench_model.py --threads 2 --runs 500
    .venv/bin/python scripts/bench_model.py --model /tmp/sortwatch-build/waste-effl0-float.onnx

Times `session.run` on an already prepared input (the model's cost) and, as
`classify`, the whole call on a 224x224 BGR crop (`--crop N` for another size; preprocessing included:
resizing a crop to a smaller model input costs about 0.3 to 1 ms with OpenCV's area interpolation). The
CPU provider is named explicitly; warm-up runs precede any timing. Note that
other processes on the machine inflate the figures: the minimum is shown too.
With `--baseline OTHER.onnx` the two models are timed in alternation (one run
each, in turn), so both see the same load and the difference is the model's:

    .venv/bin/python scripts/bench_model.py --baseline /tmp/graft/src-8d3b9cae.onnx
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="ONNX model (default: the committed model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--baseline", type=Path, help="a second model timed in alternation with the first")
    ap.add_argument("--crop", type=int, default=224, help="side of the square BGR crop `classify` is given "
                    "(a station's drop-zone crop is larger than the model's input: resizing it is part of the cost)")
    args = ap.parse_args(argv)

    import cv2
    import numpy as np

    from edge.model import load_classifier
    from edge.model.preprocess import preprocess

    cv2.setNumThreads(args.threads)  # the resize too runs on the threads asked for
    clf = load_classifier(args.model, threads=args.threads)
    base = load_classifier(args.baseline, threads=args.threads) if args.baseline else None
    models = [clf] + ([base] if base else [])
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (args.crop, args.crop, 3), dtype=np.uint8)
    inputs = [preprocess(crop, m.preprocessing) for m in models]  # each model on its own input size
    for _ in range(args.warmup):
        for m, x in zip(models, inputs, strict=True):
            m.run_all(x)

    def timed(fns):
        ts = [[] for _ in fns]
        for _ in range(args.runs):
            for k, fn in enumerate(fns):
                t = time.perf_counter()
                fn()
                ts[k].append((time.perf_counter() - t) * 1000)
        return [np.asarray(t) for t in ts]

    runs = timed([lambda m=m, x=x: m.run_all(x) for m, x in zip(models, inputs, strict=True)])
    classifies = timed([lambda m=m: m.classify(crop) for m in models])
    run_ms, classify_ms = runs[0], classifies[0]
    size = clf.path.stat().st_size
    out = {
        "model": clf.version,
        "file": str(clf.path),
        "size_mib": round(size / 2**20, 3),
        "threads": args.threads,
        "input_size": list(clf.preprocessing["input_size"]),
        "crop": [args.crop, args.crop],
        "runs": args.runs,
        "run_p50_ms": round(float(np.percentile(run_ms, 50)), 3),
        "run_p90_ms": round(float(np.percentile(run_ms, 90)), 3),
        "run_min_ms": round(float(run_ms.min()), 3),
        "classify_p50_ms": round(float(np.percentile(classify_ms, 50)), 3),
        "classify_p90_ms": round(float(np.percentile(classify_ms, 90)), 3),
        "classify_min_ms": round(float(classify_ms.min()), 3),
        "cpu": platform.processor() or platform.machine(),
    }
    if base:
        out["baseline"] = {"model": base.version, "file": str(base.path),
                           "input_size": list(base.preprocessing["input_size"]),
                           "run_p50_ms": round(float(np.percentile(runs[1], 50)), 3),
                           "run_min_ms": round(float(runs[1].min()), 3),
                           "classify_p50_ms": round(float(np.percentile(classifies[1], 50)), 3),
                           "classify_min_ms": round(float(classifies[1].min()), 3)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['model']}  {out['size_mib']:.2f} MiB  {args.threads} thread(s), {args.runs} runs after {args.warmup} warm-up")
        h, w = out["input_size"]
        print(f"session.run {h}x{w}: p50 {out['run_p50_ms']:.2f} ms  p90 {out['run_p90_ms']:.2f} ms  min {out['run_min_ms']:.2f} ms")
        print(f"classify({args.crop}x{args.crop} BGR crop): p50 {out['classify_p50_ms']:.2f} ms  p90 {out['classify_p90_ms']:.2f} ms"
              f"  min {out['classify_min_ms']:.2f} ms")
        if base:
            b = out["baseline"]
            print(f"baseline {b['model']} in the same runs: session.run p50 {b['run_p50_ms']:.2f} ms  min "
                  f"{b['run_min_ms']:.2f} ms; classify p50 {b['classify_p50_ms']:.2f} ms  min {b['classify_min_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
