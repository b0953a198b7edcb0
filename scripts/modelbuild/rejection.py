"""Open-set rejection (docs/design.md, "Knowing what it does not know"): a score that is high for crops
unlike anything the item head learned, fitted on training embeddings only.

The score is the sum of two standardised parts, chosen by measurement on leave-items-out folds:
- the Mahalanobis distance of the embedding to the nearest item centre (shared covariance, shrunk
  toward its mean eigenvalue, in its top principal directions), which sees crops far from every item;
- minus the top calibrated probability, which sees crops between two items.
Each part is centred and scaled by its mean and deviation on held-out training crops.

`SCORES` names the variants a file can carry (metadata `rejection.parameters.score`): the distance on the
embedding as it is, plus the confidence part (`maha+conf`, the first grafted files), or on the
L2-normalised embedding ("Mahalanobis++", Mueller and Hein 2025: feature norms vary with the photo, which a
shared covariance does not model), with the confidence part or alone; `maha_l2+bank+conf` adds a third
standardised part, the cosine distance to the nearest of BANK_PER_ITEM k-means centres of each item's
training crops (a nearest-neighbour distance that fits in the file: the crops themselves would be 77 MB);
`maha_l2+bank+conf/2` counts the confidence part at half weight and `maha_l2+bank` not at all.
scripts/modelbuild/compare_rejection.py measures them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class ScoreSpec(NamedTuple):
    l2: bool              # the Mahalanobis distance on the L2-normalised embedding
    conf_weight: float    # weight of the confidence part (0: none)
    bank: bool = False    # plus the standardised distance to the nearest centre of the bank


SCORES = {"maha+conf": ScoreSpec(False, 1.0), "maha_l2": ScoreSpec(True, 0.0), "maha_l2+conf": ScoreSpec(True, 1.0),
          "maha_l2+bank+conf": ScoreSpec(True, 1.0, bank=True), "maha_l2+bank+conf/2": ScoreSpec(True, 0.5, bank=True),
          "maha_l2+bank": ScoreSpec(True, 0.0, bank=True)}
DEFAULT_SCORE = "maha+conf"
BANK_PER_ITEM = 64    # k-means centres per item: as good as all training crops on the cross-fits (compare_rejection)
BANK_ITERATIONS = 20


def score_spec(name: str) -> ScoreSpec:
    if name not in SCORES:
        raise ValueError(f"unknown rejection score {name!r}; one of {', '.join(SCORES)}")
    return SCORES[name]


def score_of(rejection_metadata: dict | None) -> str:
    """The score a file's `rejection` metadata names (files before the choice existed: `maha+conf`)."""
    name = ((rejection_metadata or {}).get("parameters") or {}).get("score", DEFAULT_SCORE)
    score_spec(name)  # a name this code does not know is an error, not a silent default
    return name


def file_score(rejection_metadata: dict | None) -> tuple[str, int]:
    """The score a file carries and its number of principal directions, which refits of its head must keep
    (files before the choice existed: `maha+conf` in 256)."""
    params = (rejection_metadata or {}).get("parameters") or {}
    return score_of(rejection_metadata), int(params.get("dims", 256))


def describe(name: str, dims: int) -> str:
    """The score in words, for a file's metadata (`rejection.method`)."""
    l2, conf_weight, bank = score_spec(name)
    text = (f"(min over items of the Mahalanobis distance{' of the L2-normalised embedding' if l2 else ''} in the top "
            f"{dims} principal directions of the shrunk (0.1) shared within-item covariance - shift) / scale")
    if bank:
        text += (f" + (1 - max cosine similarity to {BANK_PER_ITEM} k-means centres per item of the L2-normalised "
                 "training crops - shift) / scale")
    if conf_weight:
        text += f" - {'' if conf_weight == 1 else f'{conf_weight:g} '}(top probability - shift) / scale"
    return f"{name}: {text}; shifts and scales from out-of-fold training crops"


def l2_normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Rejection:
    mean: np.ndarray      # embedding mean, 1280
    whiten: np.ndarray    # 1280 x dims: projection onto the principal directions, scaled to unit variance
    centres: np.ndarray   # n_items_present x dims: item centres in the whitened space
    maha_shift: float
    maha_scale: float
    conf_shift: float
    conf_scale: float
    score_name: str = DEFAULT_SCORE
    bank: np.ndarray | None = None  # n x 1280 unit rows (fit_bank), for scores with a bank part
    bank_shift: float = 0.0
    bank_scale: float = 1.0

    def distance(self, embedding: np.ndarray) -> np.ndarray:
        e = np.asarray(embedding, np.float32)
        if score_spec(self.score_name).l2:
            e = l2_normalised(e)
        z = (e - self.mean) @ self.whiten
        d = (z * z).sum(1)[:, None] - 2 * z @ self.centres.T + (self.centres * self.centres).sum(1)[None]
        return d.min(1)

    def parameters(self) -> dict:
        """The score's name and standardisation, for a file's metadata (`rejection.parameters`)."""
        out = {"dims": int(self.whiten.shape[1]), "score": self.score_name, "maha_shift": self.maha_shift,
               "maha_scale": self.maha_scale, "conf_shift": self.conf_shift, "conf_scale": self.conf_scale}
        if self.bank is not None:
            out.update(bank_size=len(self.bank), bank_shift=self.bank_shift, bank_scale=self.bank_scale)
        return out

    def bank_distance(self, embedding: np.ndarray) -> np.ndarray:
        return bank_distance(self.bank, embedding)

    def score(self, embedding: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        spec = score_spec(self.score_name)
        d = (self.distance(embedding) - self.maha_shift) / self.maha_scale
        if spec.bank:
            d = d + (self.bank_distance(embedding) - self.bank_shift) / self.bank_scale
        if not spec.conf_weight:
            return d
        return d - spec.conf_weight * (np.asarray(confidence) - self.conf_shift) / self.conf_scale


def fit_distance(x: np.ndarray, y: np.ndarray, dims: int = 256, shrink: float = 0.1, score: str = DEFAULT_SCORE):
    """(mean, whiten, centres) of the Mahalanobis distance, over the items present in `y` (on L2-normalised
    embeddings when `score` says so)."""
    x = np.asarray(l2_normalised(x) if score_spec(score).l2 else x, np.float64)
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


def bank_distance(bank: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """Cosine distance of each embedding to its nearest centre of `bank` (unit rows)."""
    return 1.0 - (l2_normalised(embedding) @ bank.T).max(1)


def fit_bank(x: np.ndarray, y: np.ndarray, per_item: int = BANK_PER_ITEM, iterations: int = BANK_ITERATIONS,
             seed: int = 0) -> np.ndarray:
    """Spherical k-means centres (unit rows) of each item's L2-normalised embeddings, `per_item` of them (or
    as many as the item has crops), deterministic for a given seed. Rounded through float16, as graft.py
    stores them, so the numpy score and the graph's agree."""
    x = l2_normalised(x)
    rng = np.random.default_rng(seed)
    out = []
    for k in np.unique(y):
        xk = x[y == k]
        c = xk[rng.choice(len(xk), min(per_item, len(xk)), replace=False)].copy()
        for _ in range(iterations):
            nearest = (xk @ c.T).argmax(1)
            for j in range(len(c)):
                members = xk[nearest == j]
                if len(members):  # an empty cluster keeps its centre
                    c[j] = members.sum(0)
            c = l2_normalised(c)
        out.append(c)
    return l2_normalised(np.concatenate(out).astype(np.float16).astype(np.float32))


def standardised(mean, whiten, centres, held_out_embedding, held_out_confidence,
                 score: str = DEFAULT_SCORE, bank: np.ndarray | None = None) -> Rejection:
    """The Rejection whose parts are standardised on crops the fit did not see."""
    r = Rejection(mean, whiten, centres, 0.0, 1.0, 0.0, 1.0, score, bank)
    d = r.distance(held_out_embedding)
    c = np.asarray(held_out_confidence, np.float64)
    bank_stats = (0.0, 1.0)
    if bank is not None:
        b = r.bank_distance(held_out_embedding)
        bank_stats = (float(b.mean()), float(b.std() or 1.0))
    return Rejection(mean, whiten, centres, float(d.mean()), float(d.std() or 1.0), float(c.mean()),
                     float(c.std() or 1.0), score, bank, *bank_stats)


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
