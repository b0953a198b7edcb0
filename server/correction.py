"""The accuracy a scope would have if the camera made no mistakes, estimated
from audits: disposals whose truth a person recorded beside the camera's verdict.

The camera's answer for a disposal is one of three OUTPUTS (correct, wrong,
uncertain); the truth is one of two (correct, wrong). Audits of one model
version, pooled over the city, estimate the camera's confusion
M[output | truth]: how often a truly wrong disposal is called wrong
(sensitivity), a truly correct one correct (specificity), and how often each
is left uncertain. A scope's disposals of that version are then a mixture:

    P(output) = (1 - p) * M[output | correct] + p * M[output | wrong]

where p is the scope's share of truly wrong disposals. We take the p that
makes the scope's observed outputs most likely (maximum likelihood, a concave
problem in one variable, solved by bisection). With two outputs it is the
Rogan-Gladen estimator, p = (q + Sp - 1) / (Se + Sp - 1) for an observed
wrong share q; the third output lets uncertain disposals count through their
audits instead of being dropped. The corrected accuracy is 1 - p.

M transfers from the audited stations to the scope because it describes the
camera, not the residents; the residents' sorting (p) is what differs.

The 95 % interval is a parametric bootstrap: the audits of each truth and the
scope's outputs are redrawn from their estimated distributions, so it carries
the uncertainty of both the audit sample and the counts. Cells get half a
count (Jeffreys) so that a cell no audit has seen yet is not taken as
impossible, spread over the outputs as the audits saw them. The bootstrap's generator is seeded from its inputs, so a figure
is the same on every page and host.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .rollups import CAMERA_OUTPUTS, TRUTHS

OUTPUTS = CAMERA_OUTPUTS
DRAWS = 2000
_PRIOR = 0.5
_BISECTIONS = 48


class CorrectionError(ValueError):
    pass


@dataclass(frozen=True)
class Audits:
    """Audit counts of one model version: counts[truth][output]."""
    counts: Mapping[str, Mapping[str, int]]

    def __post_init__(self):
        for truth in TRUTHS:
            for output in OUTPUTS:
                n = self.counts.get(truth, {}).get(output, 0)
                if not isinstance(n, int) or n < 0:
                    raise CorrectionError(f"audit count {truth}/{output} must be a whole number >= 0")

    def matrix(self) -> np.ndarray:
        """counts as an array [truth, output]."""
        return np.array([[self.counts.get(t, {}).get(o, 0) for o in OUTPUTS] for t in TRUTHS], float)

    @property
    def total(self) -> int:
        return int(self.matrix().sum())

    def sensitivity(self) -> tuple[int, int]:
        """(truly wrong disposals the camera called wrong, truly wrong ones it judged)."""
        wrong = self.counts.get("wrong", {})
        return wrong.get("wrong", 0), wrong.get("wrong", 0) + wrong.get("correct", 0)

    def specificity(self) -> tuple[int, int]:
        """(truly correct disposals the camera called correct, truly correct ones it judged)."""
        right = self.counts.get("correct", {})
        return right.get("correct", 0), right.get("correct", 0) + right.get("wrong", 0)


def _confusion(counts: np.ndarray) -> np.ndarray:
    """M[..., truth, output] from counts [..., truth, output]. Each cell gets
    a prior of half a count, spread over the outputs as the audits saw them,
    so an output no audit has seen (a camera that is never uncertain) stays
    impossible instead of being made likely for the rarer truth."""
    seen = counts.sum(axis=-2, keepdims=True)
    prior = _PRIOR * counts.shape[-1] * seen / np.maximum(seen.sum(axis=-1, keepdims=True), 1)
    smoothed = counts + prior
    return smoothed / np.maximum(smoothed.sum(axis=-1, keepdims=True), 1e-12)


def _wrong_share(outputs: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Maximum-likelihood share of truly wrong disposals, vectorised over the
    leading axes: outputs [..., output] counts, confusion [..., truth, output]."""
    a, b = confusion[..., 0, :], confusion[..., 1, :]       # M[. | correct], M[. | wrong]
    diff = b - a

    def slope(p):
        likely = a + p[..., None] * diff
        # an output that neither truth produces (never seen in the audits) says nothing
        return np.where(likely > 0, outputs * diff / np.where(likely > 0, likely, 1), 0).sum(axis=-1)

    lo = np.zeros(outputs.shape[:-1])
    hi = np.ones(outputs.shape[:-1])
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        rising = slope(mid) > 0
        lo = np.where(rising, mid, lo)
        hi = np.where(rising, hi, mid)
    return (lo + hi) / 2


def _generator(*arrays: np.ndarray) -> np.random.Generator:
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=float).tobytes() for a in arrays))
    return np.random.default_rng(int.from_bytes(digest.digest()[:8], "big"))


def corrected_accuracy(groups: list[tuple[Mapping[str, int], Audits]], min_audits: int = 30,
                       draws: int = DRAWS) -> dict | None:
    """The scope's accuracy corrected for the camera's error.

    `groups` holds, per model version present in the scope, the scope's
    unassisted disposals by output ({"correct": n, "wrong": n, "uncertain": n})
    and that version's audits. None when the scope has no disposals or any of
    its versions has fewer than `min_audits` audits.

    Returns {"value", "interval": [low, high], "audited"} (audited: the audits
    the estimate rests on)."""
    groups = [(outputs, audits) for outputs, audits in groups if sum(outputs.get(o, 0) for o in OUTPUTS)]
    if not groups or any(audits.total < min_audits for _, audits in groups):
        return None
    observed = np.array([[outputs.get(o, 0) for o in OUTPUTS] for outputs, _ in groups], float)
    audit_counts = np.array([audits.matrix() for _, audits in groups])      # [group, truth, output]
    weights = observed.sum(axis=1)
    value = 1 - float((_wrong_share(observed, _confusion(audit_counts)) * weights).sum() / weights.sum())

    rng = _generator(observed, audit_counts)
    confusion = _confusion(audit_counts)
    redrawn_audits = np.empty((draws, *audit_counts.shape))
    for t in range(len(TRUTHS)):
        n = audit_counts[:, t, :].sum(axis=1).astype(int)
        redrawn_audits[:, :, t, :] = rng.multinomial(n, confusion[:, t, :], size=(draws, len(groups)))
    shares = (observed + _PRIOR) / (observed + _PRIOR).sum(axis=1, keepdims=True)
    redrawn_outputs = rng.multinomial(weights.astype(int), shares, size=(draws, len(groups))).astype(float)
    p = _wrong_share(redrawn_outputs, _confusion(redrawn_audits))           # [draw, group]
    accuracy = 1 - (p * weights).sum(axis=1) / weights.sum()
    low, high = np.quantile(accuracy, [0.025, 0.975])
    return {"value": round(value, 4), "interval": [round(float(min(low, value)), 4),
                                                   round(float(max(high, value)), 4)],
            "audited": int(sum(audits.total for _, audits in groups))}
