"""The waste classifier: one ONNX model, its labels and preprocessing inside the file.

>>> clf = load_classifier()                 # models/waste-effl0-int8.onnx, one thread
>>> pred = clf.classify(crop_bgr)           # any-size OpenCV BGR uint8 crop
>>> pred.item, pred.confidence              # ('battery', 0.97)
>>> pred.rejection_score, pred.uncertain    # (-1.2, False)
>>> clf.version                             # 'waste-effl0-int8@3fa2c1d0'

A crop is `uncertain` when the model's open-set rejection score (output
`rejection_score`, when the file has one) is over its threshold
(metadata `rejection.threshold`) or the calibrated top probability is under
`threshold`. A file without `rejection_score` (an older model) is judged on
the probability alone.

onnxruntime is imported when a model is loaded, not when this package is
imported, so pure helpers (`edge.model.preprocess`, `edge.model.degrade`)
stay cheap.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .preprocess import DEFAULT_PREPROCESSING, preprocess_batch

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = MODELS_DIR / "waste-effl0-int8.onnx"
PROVIDERS = ["CPUExecutionProvider"]


class ModelError(RuntimeError):
    """The model file is missing, malformed, or its metadata does not match its outputs."""


@dataclass(frozen=True)
class Prediction:
    item: str
    confidence: float  # calibrated probability of `item`
    probs: np.ndarray = field(repr=False, compare=False)
    embedding: np.ndarray = field(repr=False, compare=False)
    rejection_score: float | None = None  # open-set score (higher: less like any learned item); None without one
    rejected: bool = False                 # rejection_score over the model's rejection threshold
    uncertain: bool = False                # rejected, or confidence under the model's threshold


def read_metadata(props: dict[str, str]) -> dict:
    """Parse ONNX metadata_props (every value is JSON) into a dict; never eval."""
    out = {}
    for key, value in props.items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError as e:
            raise ModelError(f"metadata key {key!r} is not valid JSON: {e.msg}") from None
    return out


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_session(path: Path, threads: int = 1):
    """(onnxruntime session on `threads` threads, the file's sha256, its parsed metadata)."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    sha256 = file_sha256(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(path), so, providers=PROVIDERS)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"cannot load {path}: {e}") from e
    return session, sha256, read_metadata(session.get_modelmeta().custom_metadata_map)


class WasteClassifier:
    """One ONNX session: prepare the input as the metadata says, run, read the probabilities and embedding."""

    def __init__(self, path: str | Path, threads: int = 1, warmup: bool = True):
        self.path = Path(path)
        self.session, self.sha256, self.metadata = open_session(self.path, threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"expected one input, found {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        outputs = {o.name: o for o in self.session.get_outputs()}
        for name in ("probs", "embedding"):
            if name not in outputs:
                raise ModelError(f"model has no output {name!r} (outputs: {sorted(outputs)})")
        labels = self.metadata.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
            raise ModelError("metadata 'labels' must be a list of distinct strings")
        n_out = outputs["probs"].shape[-1]
        if not isinstance(n_out, int) or n_out != len(labels):
            raise ModelError(f"{len(labels)} labels do not cover the {n_out} outputs of 'probs'")
        self.labels: list[str] = labels
        self.preprocessing = dict(DEFAULT_PREPROCESSING, **self.metadata.get("preprocessing", {}))
        shape = inputs[0].shape  # [batch, 3, H, W]; H and W are read from the session
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.preprocessing["input_size"] = [shape[2], shape[3]]
        self.threshold = float(self.metadata.get("threshold", 0.5))
        self.rejection_threshold: float | None = None
        self.has_rejection = "rejection_score" in outputs
        if self.has_rejection:
            rej = self.metadata.get("rejection")
            if not isinstance(rej, dict) or not isinstance(rej.get("threshold"), (int, float)):
                raise ModelError("model has an output 'rejection_score' but no metadata 'rejection.threshold'")
            self.rejection_threshold = float(rej["threshold"])
            points = rej.get("operating_points", {})
            if not isinstance(points, dict) or not all(
                    isinstance(p, dict) and isinstance(p.get("threshold"), (int, float)) for p in points.values()):
                raise ModelError("metadata 'rejection.operating_points' must map names to {'threshold': number}")
        self.operating_point: str | None = None  # the file's default rejection threshold
        self._outputs = ["probs", "embedding"] + (["rejection_score"] if self.has_rejection else [])
        name = self.metadata.get("name", self.path.stem)
        self.version = f"{name}@{self.sha256[:8]}"
        if warmup:
            self.classify(np.zeros((32, 32, 3), np.uint8))

    @property
    def operating_points(self) -> dict[str, float]:
        """The rejection thresholds the file offers by name (metadata `rejection.operating_points`, e.g.
        "strict" and "balanced"); empty for files that carry one threshold only."""
        points = (self.metadata.get("rejection") or {}).get("operating_points") or {}
        return {name: float(p["threshold"]) for name, p in points.items()} if self.has_rejection else {}

    def use_operating_point(self, name: str | None) -> None:
        """Reject by the threshold of the operating point `name` from now on (None: the file's default)."""
        if name is None:
            self.rejection_threshold = float(self.metadata["rejection"]["threshold"]) if self.has_rejection else None
            self.operating_point = None
            return
        points = self.operating_points
        if name not in points:
            offered = ", ".join(sorted(points)) or "none: it has one rejection threshold"
            raise ModelError(f"{self.version} has no operating point {name!r} (it offers {offered})")
        self.rejection_threshold, self.operating_point = points[name], name

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the session on a prepared Nx3xHxW float32 batch: (probs, embeddings)."""
        return tuple(self.run_all(batch)[:2])

    def run_all(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(probs, embeddings, rejection scores or None when the file has no rejection output)."""
        out = self.session.run(self._outputs, {self.input_name: batch})
        return out[0], out[1], (out[2] if self.has_rejection else None)

    def uncertain(self, confidence, rejection_score=None):
        """The edge's rule (numpy-friendly): score over the rejection threshold or confidence under `threshold`."""
        low = np.asarray(confidence) < self.threshold
        if rejection_score is None or self.rejection_threshold is None:
            return low
        return low | (np.asarray(rejection_score) > self.rejection_threshold)

    def classify_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        if not images:
            return []
        probs, emb, scores = self.run_all(preprocess_batch(images, self.preprocessing))
        out = []
        for k, (p, e) in enumerate(zip(probs, emb, strict=False)):
            i = int(np.argmax(p))
            conf = float(p[i])
            score = None if scores is None else float(scores[k])
            rejected = score is not None and score > self.rejection_threshold
            out.append(Prediction(item=self.labels[i], confidence=conf, probs=p, embedding=e,
                                  rejection_score=score, rejected=bool(rejected),
                                  uncertain=bool(rejected or conf < self.threshold)))
        return out

    def classify(self, image_bgr: np.ndarray) -> Prediction:
        """Classify one OpenCV BGR uint8 crop of any size."""
        return self.classify_batch([image_bgr])[0]

    def __repr__(self) -> str:
        rej = "" if self.rejection_threshold is None else f", rejection threshold {self.rejection_threshold}"
        rej += f" ({self.operating_point})" if self.operating_point else ""
        return f"WasteClassifier({self.version}, {len(self.labels)} labels, threshold {self.threshold}{rej})"


def load_classifier(path: str | Path | None = None, threads: int = 1,
                    operating_point: str | None = None) -> WasteClassifier:
    """Load the classifier at `path` (default: the committed model in models/), warmed up, rejecting at
    its `operating_point` (None: the file's default threshold)."""
    clf = WasteClassifier(path or DEFAULT_MODEL, threads=threads)
    clf.use_operating_point(operating_point)
    return clf


__all__ = ["DEFAULT_MODEL", "ModelError", "Prediction", "WasteClassifier", "file_sha256", "load_classifier",
           "open_session", "read_metadata"]
