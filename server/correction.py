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
problem in one variable with a closed-form answer, see _root). With two
outputs it is the Rogan-Gladen estimator, p = (q + Sp - 1) / (Se + Sp - 1) for an observed
wrong share q; the third output lets uncertain disposals count through their
audits instead of being dropped. The corrected accuracy is 1 - p.

M transfers from the audited stations to the scope because it describes the
camera, not the residents; the residents' sorting (p) is what differs.

The 95 % interval is a parametric bootstrap: the audits of each truth and the
scope's outputs are redrawn from their estimated distributions, so it carries
the uncertainty of both the audit sample and the counts. Cells get half a
count (Jeffreys) so that a cell no audit has seen yet is not taken as
impossible, spread over the outputs as the audits saw them.

The audits' redraws belong to the model version, not to a scope: they are
drawn once per version (from a generator seeded by the version and its
audit counts) and shared by every scope that version judged, and each
scope's outputs are redrawn from a generator seeded by the version and the
scope's own counts. So a figure is the same on every page and host, and the
same whether it is computed alone (corrected_accuracy) or beside thousands
of others (corrected_accuracies, rankings and exports), which only differ in
how often they pay for the shared part. Each scope's bootstrap is the one
described above; scopes of one version share its audit redraws, so their
intervals move together, which no single figure shows.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .rollups import CAMERA_OUTPUTS, TRUTHS

OUTPUTS = CAMERA_OUTPUTS
DRAWS = 2000
_PRIOR = 0.5
_CHUNK = 64          # scopes solved together: [64 x 2 versions, 2,000 draws, 3, 3] floats, 18 MB


class CorrectionError(ValueError):
    pass


@dataclass(frozen=True)
class Audits:
    """Audit counts of one model version: counts[truth][output]."""
    counts: Mapping[str, Mapping[str, int]]
    model: str = ""    # names the version in the bootstrap's seed

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
    def key(self) -> tuple:
        return self.model, tuple(self.matrix().ravel())

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


def _coefficients(confusion: np.ndarray) -> np.ndarray:
    """K[..., j, output] such that the likelihood's slope in p, times the
    (positive) product of the three outputs' likelihoods, is the quadratic
    sum_j (outputs . K[j]) p^j.

    The log-likelihood of outputs x is sum_o x_o log(a_o + p d_o), with
    a = M[. | correct], d = M[. | wrong] - a, so its slope is
    sum_o x_o d_o / (a_o + p d_o). An output that neither truth produces says
    nothing (d = 0, and its factor is taken as 1). Every other output has
    a_o > 0 and a_o + d_o > 0 (the prior of _confusion sees to that), so the
    product is positive on [0, 1] and the quadratic has the slope's sign."""
    a, b = confusion[..., 0, :], confusion[..., 1, :]
    seen = (a + b) > 0
    d = np.where(seen, b - a, 0.0)
    a = np.where(seen, a, 1.0)
    out = np.empty(confusion.shape[:-2] + (3, 3))
    for o, (i, k) in enumerate(((1, 2), (0, 2), (0, 1))):   # the other two outputs
        out[..., 0, o] = d[..., o] * a[..., i] * a[..., k]
        out[..., 1, o] = d[..., o] * (a[..., i] * d[..., k] + a[..., k] * d[..., i])
        out[..., 2, o] = d[..., o] * d[..., i] * d[..., k]
    return out


def _root(c: np.ndarray) -> np.ndarray:
    """The maximum in [0, 1] of a likelihood whose slope has the sign of
    c0 + c1 p + c2 p^2 (c [..., 3]). The slope falls as p grows (the
    log-likelihood is concave), so: 0 when it is not positive at 0, 1 when it
    is not negative at 1, otherwise the one root in between, where the
    quadratic goes from positive to negative: the smaller root when c2 > 0,
    the larger when c2 < 0, -c0 / c1 when c2 = 0."""
    c0, c1, c2 = c[..., 0], c[..., 1], c[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = -0.5 * (c1 + np.copysign(np.sqrt(np.maximum(c1 * c1 - 4 * c2 * c0, 0.0)), c1))
        r1, r2 = q / c2, c0 / q        # the two roots, computed without cancellation
        root = np.where(c2 > 0, np.fmin(r1, r2), np.fmax(r1, r2))
        root = np.where(c2 == 0, -c0 / c1, root)
    inside = np.clip(np.nan_to_num(root, nan=0.0), 0.0, 1.0)
    return np.where(c0 <= 0, 0.0, np.where(c0 + c1 + c2 >= 0, 1.0, inside))


def _wrong_share(outputs: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Maximum-likelihood share of truly wrong disposals, vectorised over the
    leading axes: outputs [..., output] counts, confusion [..., truth, output]."""
    return _root(np.einsum("...o,...jo->...j", outputs, _coefficients(confusion)))


def _generator(model: str, *arrays: np.ndarray) -> np.random.Generator:
    digest = hashlib.sha256(model.encode())
    for a in arrays:
        digest.update(np.ascontiguousarray(a, dtype=float).tobytes())
    return np.random.default_rng(int.from_bytes(digest.digest()[:8], "big"))


class _Version:
    """What one model version's audits give every scope it judged: the
    coefficients of the point estimate and of each bootstrap draw."""

    def __init__(self, audits: Audits, draws: int):
        counts = audits.matrix()
        confusion = _confusion(counts)
        rng = _generator(audits.model, counts)
        redrawn = np.empty((draws, *counts.shape))
        for t in range(len(TRUTHS)):
            redrawn[:, t, :] = rng.multinomial(int(counts[t].sum()), confusion[t], size=draws)
        self.point = _coefficients(confusion)                  # [coefficient, output]
        self.draws = _coefficients(_confusion(redrawn))         # [draw, coefficient, output]


def _redrawn_outputs(observed: np.ndarray, model: str, draws: int) -> np.ndarray:
    """A scope's outputs of one version, redrawn `draws` times [draw, output]."""
    shares = (observed + _PRIOR) / (observed + _PRIOR).sum()
    return _generator(model, observed).multinomial(int(observed.sum()), shares, size=draws)


Groups = Sequence[tuple[Mapping[str, int], Audits]]


def _usable(groups: Groups, min_audits: int) -> list[tuple[np.ndarray, Audits]] | None:
    """The groups with disposals, as arrays; None when there is nothing to
    correct or a version has too few audits."""
    kept = [(np.array([outputs.get(o, 0) for o in OUTPUTS], float), audits) for outputs, audits in groups]
    kept = [(observed, audits) for observed, audits in kept if observed.sum()]
    if not kept or any(audits.total < min_audits for _, audits in kept):
        return None
    return kept


def _chunk(scopes: list[list[tuple[np.ndarray, Audits]]], versions: dict, draws: int) -> list[dict]:
    """The figures of a few scopes. The rows (a scope's disposals of one
    version) of each version are solved together; each scope then adds its
    own rows up in its own order, so nothing depends on the other scopes."""
    point: dict[tuple[int, int], float] = {}          # (scope, group) -> share of truly wrong
    redrawn: dict[tuple[int, int], np.ndarray] = {}   # the same in each bootstrap draw
    by_version: dict[tuple, list[tuple[int, int]]] = {}
    for s, groups in enumerate(scopes):
        for g, (_, audits) in enumerate(groups):
            by_version.setdefault(audits.key, []).append((s, g))
    for key, rows in by_version.items():
        version = versions[key]
        observed = np.array([scopes[s][g][0] for s, g in rows])                          # [row, output]
        outputs = np.array([_redrawn_outputs(o, key[0], draws) for o in observed], float)  # [row, draw, output]
        shares = _root((outputs[:, :, None, :] * version.draws).sum(axis=-1))             # [row, draw]
        for row, share, many in zip(rows, _root(observed @ version.point.T), shares, strict=True):
            point[row], redrawn[row] = float(share), many
    values, accuracy = np.empty(len(scopes)), np.empty((len(scopes), draws))
    for s, groups in enumerate(scopes):
        weights = [observed.sum() for observed, _ in groups]
        total = sum(weights)
        values[s] = 1 - sum(w * point[s, g] for g, w in enumerate(weights)) / total
        accuracy[s] = 1 - sum(w * redrawn[s, g] for g, w in enumerate(weights)) / total
    lows, highs = np.quantile(accuracy, [0.025, 0.975], axis=1)
    return [{"value": round(float(value), 4),
             "interval": [round(float(min(low, value)), 4), round(float(max(high, value)), 4)],
             "audited": int(sum(audits.total for _, audits in groups))}
            for value, low, high, groups in zip(values, lows, highs, scopes, strict=True)]


def corrected_accuracies(scopes: Sequence[Groups], min_audits: int = 30, draws: int = DRAWS) -> list[dict | None]:
    """corrected_accuracy of many scopes (the members of a ranking or an
    export), each exactly what it gives for that scope alone: the audits of
    each model version are redrawn once for all of them, and the scopes'
    shares are solved a chunk at a time, version by version."""
    usable = [_usable(groups, min_audits) for groups in scopes]
    versions: dict[tuple, _Version] = {}
    for groups in usable:
        for _, audits in groups or ():
            if audits.key not in versions:
                versions[audits.key] = _Version(audits, draws)
    kept = [i for i, groups in enumerate(usable) if groups is not None]
    out: list[dict | None] = [None] * len(scopes)
    for start in range(0, len(kept), _CHUNK):
        part = kept[start:start + _CHUNK]
        for i, figure in zip(part, _chunk([usable[i] for i in part], versions, draws), strict=True):
            out[i] = figure
    return out


def corrected_accuracy(groups: Groups, min_audits: int = 30, draws: int = DRAWS) -> dict | None:
    """The scope's accuracy corrected for the camera's error.

    `groups` holds, per model version present in the scope, the scope's
    unassisted disposals by output ({"correct": n, "wrong": n, "uncertain": n})
    and that version's audits. None when the scope has no disposals or any of
    its versions has fewer than `min_audits` audits.

    Returns {"value", "interval": [low, high], "audited"} (audited: the audits
    the estimate rests on)."""
    return corrected_accuracies([groups], min_audits, draws)[0]
