"""Pure pre- and post-processing for the waste classifier (numpy and OpenCV only, no onnxruntime).

The model file says how its input is prepared (metadata key ``preprocessing``);
these functions implement that description, and the build uses the same code
for training, calibration and validation, so the edge sees what the model saw.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# The preprocessing the default model was trained with (also stored in its metadata).
DEFAULT_PREPROCESSING = {
    "input_size": [224, 224],        # height, width
    "resize": "stretch",             # the whole crop is resized to the input size, aspect not kept
    "interpolation": "area-down-linear-up",
    "color": "RGB",                  # OpenCV gives BGR: channels are reversed first
    "mean": [127.0, 127.0, 127.0],   # (x - mean) / std in 0-255 units, as EfficientNet-Lite was trained
    "std": [128.0, 128.0, 128.0],
    "layout": "NCHW",
    "dtype": "float32",
}


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWxC image to `size` = (height, width): area interpolation when shrinking, bilinear when enlarging."""
    h, w = image.shape[:2]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return image
    interp = cv2.INTER_AREA if (h >= th and w >= tw) else cv2.INTER_LINEAR
    return cv2.resize(image, (tw, th), interpolation=interp)


def to_uint8_bgr(image: np.ndarray) -> np.ndarray:
    """Accept grey (HxW or HxWx1), BGR or BGRA uint8 and return HxWx3 BGR uint8."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")


def preprocess(image_bgr: np.ndarray, spec: dict | None = None) -> np.ndarray:
    """One BGR uint8 crop of any size -> a 1x3xHxW float32 tensor, as `spec` describes."""
    spec = spec or DEFAULT_PREPROCESSING
    img = to_uint8_bgr(image_bgr)
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    if spec.get("resize", "stretch") != "stretch":
        raise ValueError(f"unsupported resize mode {spec.get('resize')!r}")
    h, w = int(spec["input_size"][0]), int(spec["input_size"][1])
    img = resize(img, (h, w))
    # channel by channel straight into the NCHW buffer: ten times faster than astype + transpose
    order = (2, 1, 0) if spec.get("color", "RGB") == "RGB" else (0, 1, 2)
    x = np.empty((1, 3, h, w), np.float32)
    for c, src in enumerate(order):
        np.subtract(img[:, :, src], np.float32(spec["mean"][c]), out=x[0, c], dtype=np.float32)
        np.divide(x[0, c], np.float32(spec["std"][c]), out=x[0, c])
    return x


def preprocess_batch(images: list[np.ndarray], spec: dict | None = None) -> np.ndarray:
    """Several crops -> an Nx3xHxW float32 tensor."""
    if not images:
        raise ValueError("empty batch")
    return np.concatenate([preprocess(im, spec) for im in images], axis=0)


def softmax(logits: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of logits / temperature."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int = 3) -> list[tuple[str, float]]:
    """The k most probable labels of one probability vector, most probable first."""
    p = np.asarray(probs).reshape(-1)
    if p.shape[0] != len(labels):
        raise ValueError(f"{p.shape[0]} probabilities for {len(labels)} labels")
    order = np.argsort(-p, kind="stable")[:k]
    return [(labels[i], float(p[i])) for i in order]


def category_probs(probs: np.ndarray, labels: list[str], category_of) -> dict[str, float]:
    """Sum item probabilities per category; `category_of(item)` maps an item to its category."""
    out: dict[str, float] = {}
    for label, p in zip(labels, np.asarray(probs).reshape(-1), strict=False):
        cat = category_of(label)
        out[cat] = out.get(cat, 0.0) + float(p)
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = np.asarray(confidence, np.float64).reshape(-1)
    correct = np.asarray(correct, np.float64).reshape(-1)
    if confidence.size == 0:
        return math.nan
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)
