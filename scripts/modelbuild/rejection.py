"""Open-set rejection (docs/design.md, "Knowing what it does not know"): a score that is high for crops
unlike anything the item head learned, fitted on training embeddings only.

The score is the sum of two standardised parts, chosen by measurement on leave-items-out folds:
- the Mahalanobis distance of the embedding to the nearest item centre (shared covariance, shrunk
  toward its mean eigenvalue, in its top principal directions), which sees crops far from every item;
- minus the top calibrated probability, which sees crops between two items.
Each part is centred and scaled by its mean and deviation on held-out training crops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rejection:
    mean: np.ndarray      # embedding mean, 1280
    whiten: np.ndarray    # 1280 x dims: projection onto the principal directions, scaled to unit variance
    centres: np.ndarray   # n_items_present x dims: item centres in the whitened space
    maha_shift: float
    maha_scale: float
    conf_shift: float
    conf_scale: float

    def distance(self, embedding: np.ndarray) -> np.ndarray:
        z = (np.asarray(embedding, np.float32) - self.mean) @ self.whiten
        d = (z * z).sum(1)[:, None] - 2 * z @ self.centres.T + (self.centres * self.centres).sum(1)[None]
        return d.min(1)

    def score(self, embedding: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return ((self.distance(embedding) - self.maha_shift) / self.maha_scale
                - (np.asarray(confidence) - self.conf_shift) / self.conf_scale)


def fit_distance(x: np.ndarray, y: np.ndarray, dims: int = 256, shrink: float = 0.1):
    """(mean, whiten, centres) of the Mahalanobis distance, over the items present in `y`."""
    x = np.asarray(x, np.float64)
    items = np.unique(y)
    mu = np.stack([x[y == k].mean(0) for k in items])
    resid = x - mu[np.searchsorted(items, y)]
    cov = resid.T @ resid / len(x)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    eigval, eigvec = np.linalg.eigh(cov)
    top = np.argsort(eigval)[::-1][:dims]
    whiten = eigvec[:, top] / np.sqrt(eigval[top])
    mean = x.mean(0)
    return mean.astype(np.float32), whiten.astype(np.float32), ((mu - mean) @ whiten).astype(np.float32)


def standardised(mean, whiten, centres, held_out_embedding, held_out_confidence) -> Rejection:
    """The Rejection whose two parts are standardised on crops the fit did not see."""
    r = Rejection(mean, whiten, centres, 0.0, 1.0, 0.0, 1.0)
    d = r.distance(held_out_embedding)
    c = np.asarray(held_out_confidence, np.float64)
    return Rejection(mean, whiten, centres, float(d.mean()), float(d.std() or 1.0), float(c.mean()),
                     float(c.std() or 1.0))


def auroc(score_known: np.ndarray, score_unknown: np.ndarray) -> float | None:
    """Area under the ROC curve of the score separating unknown crops from known ones
    (the probability that an unknown crop scores higher than a known one; ties count half)."""
    if not len(score_known) or not len(score_unknown):
        return None
    s = np.concatenate([score_known, score_unknown])
    values, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # average rank of tied scores
    n0, n1 = len(score_known), len(score_unknown)
    return round(float((ranks[n0:].sum() - n1 * (n1 + 1) / 2) / (n0 * n1)), 4)
