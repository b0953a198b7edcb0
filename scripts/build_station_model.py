"""Build models/station-state-int8.onnx: the station-condition judgements (bin opening, ground zone).

    .venv/bin/python scripts/build_station_model.py --out models/station-state-int8.onnx

Needs the `onnx` package (requirements-dev.txt or requirements-build.txt) and the shared photos
(../shared/datasets/waste-images). Seeded: the same command on the same photos and the same
source model writes the same file.

Steps:
  1. split the photos as the source model (models/waste-effl0-int8.onnx) did: its metadata lists
     its validation paths; validation scenes are built only from those photos, training scenes
     only from the others, so no item crosses (and the backbone never saw a validation item);
  2. draw scenes (scripts/modelbuild/scenes.py): bin-opening regions ok / full / overflow and
     ground regions clean / litter; training scenes go through the station-camera degradations
     with probability 0.7, validation scenes are judged both clean and degraded;
  3. the 1280-d `embedding` of the source model for each scene (one onnxruntime thread);
  4. two softmax heads (scripts/modelbuild/heads.py) on the training scenes' embeddings, their
     temperatures by minimum NLL on a fifth of the training scenes held out of the fit;
  5. the file: the source model's backbone with both heads grafted after `embedding`
     (outputs `bin_probs`, `ground_probs`, `embedding`; scripts/modelbuild/graft.py), labels,
     thresholds and the validation figures in its metadata; checked against numpy on 16 scenes;
     `<out>.sha256` beside it.
Prints the validation figures (also in the metadata key `validation`).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "scripts")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402
from modelbuild import scenes  # noqa: E402
from modelbuild.graft import graft_heads  # noqa: E402
from modelbuild.heads import fit_item_head, fit_temperature, softmax  # noqa: E402

from edge.model import DEFAULT_MODEL, file_sha256, read_metadata  # noqa: E402
from edge.model.preprocess import preprocess_batch  # noqa: E402

VERSION = "1.0.0"
NAME = "station-state-int8"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "waste-images"
# A judgement under this confidence is left out (neither confirms nor breaks a state).
THRESHOLD = 0.6
HEADS = {"bin": ("bin_probs", scenes.BIN_STATES, scenes.bin_scene),
         "ground": ("ground_probs", scenes.GROUND_STATES, scenes.ground_scene)}


def split_paths(data: Path, source_model: Path) -> tuple[list[str], list[str]]:
    """(training, validation) photo paths: validation = the source model's validation paths."""
    import onnxruntime as ort

    meta = read_metadata(ort.InferenceSession(str(source_model), providers=["CPUExecutionProvider"])
                         .get_modelmeta().custom_metadata_map)
    listed = meta.get("validation", {}).get("paths") or []
    val = {p.split("/", 1)[1] if p.startswith(data.name + "/") else p for p in listed}
    if not val:
        raise SystemExit(f"{source_model} lists no validation paths to split by")
    with open(data / "manifest.csv", newline="", encoding="utf-8") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    return [p for p in paths if p not in val], [p for p in paths if p in val]


def draw(head: str, n_per_state: int, cutouts, seed: int, degrade_share: float):
    """Scenes of one head: (clean images, degraded-or-clean images, labels), seeded per scene."""
    _, states, make = HEADS[head]
    clean, shown, labels = [], [], []
    for k, state in enumerate(states):
        for i in range(n_per_state):
            rng = np.random.default_rng([seed, len(head), k, i])
            img = make(state, cutouts, rng)
            clean.append(img)
            shown.append(scenes.camera(img, rng) if rng.random() < degrade_share else img)
            labels.append(k)
    return clean, shown, np.array(labels)


class Embedder:
    def __init__(self, model: Path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.spec = read_metadata(self.session.get_modelmeta().custom_metadata_map)["preprocessing"]

    def __call__(self, images, batch=32) -> np.ndarray:
        out = [self.session.run(["embedding"], {"input": preprocess_batch(images[i:i + batch], self.spec)})[0]
               for i in range(0, len(images), batch)]
        return np.concatenate(out).astype(np.float32)


def figures(probs: np.ndarray, y: np.ndarray, labels, threshold: float) -> dict:
    pred = probs.argmax(1)
    conf = probs.max(1)
    n = len(labels)
    confusion = np.zeros((n, n), int)
    np.add.at(confusion, (y, pred), 1)
    recall = {labels[k]: round(float(confusion[k, k] / max(1, confusion[k].sum())), 4) for k in range(n)}
    sure = conf >= threshold
    out = {"scenes": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
           "balanced_accuracy": round(float(np.mean(list(recall.values()))), 4), "recall": recall,
           "confusion": {"rows_truth_columns_judged": list(labels), "counts": confusion.tolist()},
           "at_threshold": {"threshold": threshold, "judged_share": round(float(sure.mean()), 4),
                            "accuracy_of_judged": round(float((pred[sure] == y[sure]).mean()), 4) if sure.any()
                            else None}}
    first, last = 0, n - 1  # ok / clean vs overflow / litter: the two that open and close cases
    out[f"{labels[first]}_judged_{labels[last]}"] = round(float((pred[y == first] == last).mean()), 4)
    out[f"{labels[last]}_judged_{labels[first]}"] = round(float((pred[y == last] == first).mean()), 4)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of photos with manifest.csv")
    p.add_argument("--source-model", type=Path, default=DEFAULT_MODEL, help="the backbone's model file")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train", type=int, default=700, help="training scenes per state")
    p.add_argument("--val", type=int, default=200, help="validation scenes per state")
    p.add_argument("--seed", type=int, default=20261207)
    args = p.parse_args(argv)
    t0 = time.time()
    train_paths, val_paths = split_paths(args.data, args.source_model)
    train_cut, val_cut = scenes.Cutouts(args.data, train_paths), scenes.Cutouts(args.data, val_paths)
    embed = Embedder(args.source_model)
    heads, validation, check = {}, {}, {}
    for head, (output, states, _) in HEADS.items():
        _, x_img, y = draw(head, args.train, train_cut, args.seed, 0.7)
        x = embed(x_img)
        rng = np.random.default_rng([args.seed, 99, len(head)])
        held = rng.random(len(y)) < 0.2
        fitted = fit_item_head(x[~held], y[~held], len(states), class_weight_power=0.0, steps=600,
                               seed=args.seed)
        temperature = fit_temperature(fitted.logits(x[held]), y[held])
        head_fit = fit_item_head(x, y, len(states), class_weight_power=0.0, steps=600, seed=args.seed)
        heads[output] = (head_fit.weight, head_fit.bias, temperature)
        val_clean, val_degraded, vy = draw(head, args.val, val_cut, args.seed + 1, 1.0)
        figs = {}
        for view, images in (("clean", val_clean), ("degraded", val_degraded)):
            e = embed(images)
            probs = softmax(head_fit.logits(e) / temperature)
            figs[view] = figures(probs, vy, states, THRESHOLD)
            if view == "degraded":
                check[output] = (images[:8], probs[:8])
        validation[head] = figs
        print(f"{head}: {len(y)} training scenes, temperature {temperature:.3f}; validation "
              + "; ".join(f"{v} accuracy {f['accuracy']:.3f} balanced {f['balanced_accuracy']:.3f} "
                          f"recall {f['recall']}" for v, f in figs.items()), flush=True)
    source_sha = file_sha256(args.source_model)
    src_meta = embed.session.get_modelmeta().custom_metadata_map
    metadata = {
        "name": NAME, "version": VERSION,
        "architecture": f"the backbone of {json.loads(src_meta['name'])}@{source_sha[:8]} up to its 1280-d "
                        "embedding (EfficientNet-Lite0, int8), with two softmax heads",
        "outputs": {"bin_probs": "probabilities of a bin opening's states, N x 3",
                    "ground_probs": "probabilities of a ground zone's states, N x 2",
                    "embedding": "the backbone's 1280-d embedding, N x 1280"},
        "heads": {head: {"output": output, "labels": list(states), "threshold": THRESHOLD,
                         "temperature": round(float(heads[output][2]), 4)}
                  for head, (output, states, _) in HEADS.items()},
        "preprocessing": embed.spec,
        "input_name": "input",
        "training": {"script": "scripts/build_station_model.py", "seed": args.seed,
                     # without --out, so that the file's bytes do not depend on where it was written
                     "command": f"python scripts/build_station_model.py --train {args.train} --val {args.val} "
                                f"--seed {args.seed} --out FILE",
                     "source_model": f"{json.loads(src_meta['name'])} sha256 {source_sha}",
                     "scenes": "generated (scripts/modelbuild/scenes.py): drawn bins and floors with item "
                               "cutouts of the shared photos (waste-images) and drawn bags; no photo of a "
                               "real station",
                     "split": "by photo: validation scenes only from the source model's validation photos",
                     "per_state": {"train": args.train, "validation": args.val}},
        "validation": validation,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    graft_heads(args.source_model, args.out, heads, metadata)
    # the file computes what numpy computed
    import onnxruntime as ort
    s = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    for output, (images, probs) in check.items():
        got = s.run([output], {"input": preprocess_batch(images, embed.spec)})[0]
        if not np.allclose(got, probs, atol=2e-3):
            raise SystemExit(f"{args.out}: {output} differs from numpy by {np.abs(got - probs).max():.4f}")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    args.out.with_name(args.out.name + ".sha256").write_text(f"{digest}  {args.out.name}\n", encoding="ascii")
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.2f} MiB, sha256 {digest[:16]}, "
          f"{time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
