"""Input gate of the shipped model: crops with almost no contrast (blank, all black, a flat card) or with
colour channels that do not move together (sensor noise, random pixels) are not photos of an item, and
the open-set score cannot be trusted on them (upscaled noise and a black crop scored as `textile`).

On the prepared input x (N x 3 x H x W, as the graph sees it), averaged over `pool` x `pool` blocks first
(POOL = 4: the statistics of a 56 x 56 input tell noise and flat cards from photos as well, for a sixteenth
of the reads; files whose gate metadata has no `pool` used the full input):
    contrast    = sqrt(mean over channels of the per-channel pixel variance)
    correlation = mean of the three inter-channel correlations
A crop is gated (uncertain) when contrast < `min_contrast` or correlation < `min_correlation`; both
thresholds are quantiles of training crops (clean and degraded), so they cost a known, small share of
real crops. Pure numpy here; scripts/modelbuild/graft.py writes the same arithmetic into the graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPS = 1e-4
POOL = 4


def pooled(x: np.ndarray, pool: int) -> np.ndarray:
    """x averaged over pool x pool blocks (a remainder of rows or columns dropped, as ONNX AveragePool does)."""
    if pool <= 1:
        return x
    n, c, h, w = x.shape
    h, w = h // pool * pool, w // pool * pool
    return x[:, :, :h, :w].reshape(n, c, h // pool, pool, w // pool, pool).mean((3, 5), dtype=np.float32)


def statistics(x: np.ndarray, pool: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(contrast, correlation) of a prepared batch N x 3 x H x W (averaged over pool x pool blocks first)."""
    x = pooled(np.asarray(x, np.float32), pool)
    c = x - x.mean((2, 3), keepdims=True)
    var = (c * c).mean((2, 3))
    contrast = np.sqrt(var.mean(1))
    pairs = ((0, 1), (1, 2), (0, 2))
    corr = [(c[:, i] * c[:, j]).mean((1, 2)) / np.sqrt(var[:, i] * var[:, j] + EPS) for i, j in pairs]
    return contrast, np.mean(corr, 0)


@dataclass(frozen=True)
class Gate:
    min_contrast: float
    min_correlation: float
    quantile: float
    pool: int = 1

    def gated(self, contrast: np.ndarray, correlation: np.ndarray) -> np.ndarray:
        return (np.asarray(contrast) < self.min_contrast) | (np.asarray(correlation) < self.min_correlation)

    def metadata(self) -> dict:
        return {"min_contrast": round(self.min_contrast, 4), "min_correlation": round(self.min_correlation, 4),
                "quantile": self.quantile, "pool": self.pool,
                "rule": "gated (rejection_score set to the gate score) when contrast < min_contrast or inter-channel "
                        "correlation < min_correlation, on the prepared input averaged over pool x pool blocks"}

    @classmethod
    def from_metadata(cls, meta: dict) -> Gate:
        """The gate of a file's `rejection.gate` metadata (files before `pool` existed: the full input)."""
        return cls(float(meta["min_contrast"]), float(meta["min_correlation"]), float(meta.get("quantile", 0.0)),
                   int(meta.get("pool", 1)))


def fit_gate(contrast: np.ndarray, correlation: np.ndarray, quantile: float = 0.0025, pool: int = 1) -> Gate:
    """Thresholds at the `quantile` of training crops (each statistic alone, computed with `pool`)."""
    return Gate(float(np.quantile(contrast, quantile)), float(np.quantile(correlation, quantile)), quantile, pool)


def cache_path(views, name: str, pool: int) -> Path:
    return views.dir / f"gate_{name}{f'_p{pool}' if pool > 1 else ''}.npz"


def view_statistics(data: list, views, names=("clean", "degraded0"), cache: bool = True, pool: int = 1) -> dict:
    """{view: (contrast, correlation)} of every image of `views` (an embed.Views: its keys and split), in the
    order of its keys, computed with `pool`; images decoded in chunks; cached as gate_<view>[_p<pool>].npz next
    to the embeddings."""
    import cv2

    from edge.model.preprocess import preprocess_batch

    from .embed import view_image

    out, todo = {}, []
    for name in names:
        path = cache_path(views, name, pool)
        if cache and path.is_file():
            z = np.load(path)
            out[name] = (z["contrast"], z["correlation"])
        else:
            todo.append(name)
    if todo:
        roots = {Path(d).resolve().name: Path(d).resolve() for d in data}
        keys = views.keys.tolist()
        acc = {name: ([], []) for name in todo}
        for s in range(0, len(keys), 64):
            images = []
            for k in keys[s:s + 64]:
                folder, rel = k.split("/", 1)
                images.append(cv2.imread(str(roots[folder] / rel), cv2.IMREAD_COLOR))
            for name in todo:
                # row i of the keys is manifest row i, which seeds its degraded views (as in embed.compute)
                a, b = statistics(preprocess_batch([view_image(im, s + j, name) for j, im in enumerate(images)]), pool)
                acc[name][0].append(a)
                acc[name][1].append(b)
        for name in todo:
            out[name] = (np.concatenate(acc[name][0]), np.concatenate(acc[name][1]))
            if cache:
                np.savez(cache_path(views, name, pool), contrast=out[name][0], correlation=out[name][1])
    return out


def training_statistics(data: list, views, names=("clean", "degraded0"), pool: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(contrast, correlation) of the training crops of `views` over the views `names`, together."""
    stats = view_statistics(data, views, names, pool=pool)
    train = ~views.is_val
    return (np.concatenate([stats[n][0][train] for n in names]), np.concatenate([stats[n][1][train] for n in names]))
