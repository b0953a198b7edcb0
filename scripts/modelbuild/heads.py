"""The item head: a class-weighted softmax regression on the 1280-d embedding, and its temperature (numpy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ItemHead:
    weight: np.ndarray  # embedding_dim x n_items
    bias: np.ndarray    # n_items

    def logits(self, embedding: np.ndarray) -> np.ndarray:
        return embedding @ self.weight + self.bias


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_item_head(x: np.ndarray, y: np.ndarray, n_items: int, class_weight_power: float = 0.75,
                  l2: float = 1e-4, label_smoothing: float = 0.05, steps: int = 400, lr: float = 0.01,
                  seed: int = 0) -> ItemHead:
    """Full-batch Adam on the weighted cross-entropy. Class c weighs (N / n_c) ** class_weight_power
    (0: plain, 1: fully balanced), which trades plain accuracy for the recall of rare items such as
    food waste and batteries."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, int)
    counts = np.bincount(y, minlength=n_items).astype(np.float64)
    present = counts > 0
    cw = np.zeros(n_items)
    cw[present] = (counts[present].sum() / counts[present]) ** class_weight_power
    cw /= (cw[y]).mean()
    sample_w = cw[y].astype(np.float32)[:, None]
    target = np.full((len(y), n_items), label_smoothing / max(1, present.sum() - 1), np.float32)
    target[:, ~present] = 0
    target[np.arange(len(y)), y] = 1 - label_smoothing
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((x.shape[1], n_items)) * 0.01).astype(np.float32)
    b = np.zeros(n_items, np.float32)
    b[~present] = -30.0  # an item without training images is never predicted
    mw, vw, mb, vb = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    for t in range(1, steps + 1):
        p = softmax(x @ w + b)
        g = sample_w * (p - target) / len(y)
        gw, gb = x.T @ g + l2 * w, g.sum(0)
        gb[~present] = 0
        step = lr * 0.5 * (1 + np.cos(np.pi * t / steps))  # cosine decay
        for prm, grad, m, v in ((w, gw, mw, vw), (b, gb, mb, vb)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            prm -= step * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return ItemHead(w, b)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the NLL of `y` (1-D search, log-spaced then refined)."""
    def nll(t):
        p = softmax(logits / t)
        return -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 80))
    best = min(grid, key=nll)
    return float(min(np.linspace(best * 0.93, best * 1.07, 40), key=nll))
