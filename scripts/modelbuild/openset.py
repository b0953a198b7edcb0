"""The open-set head as one unit (numpy): item head + temperature + rejection score, fitted on embeddings
of training crops only, and the cross-fitting that chooses the rejection threshold. scripts/graft_head.py
fits the shipped one; scripts/eval_model.py refits it without a source or without some items.

Held-out statistics (the temperature, the standardisation of the rejection score) come from grouped
folds: a near-duplicate group (scripts/modelbuild/data.py) and every view of its images stay in one fold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .heads import ItemHead, fit_item_head, fit_temperature, softmax
from .rejection import DEFAULT_SCORE, Rejection, fit_bank, fit_distance, score_spec, standardised

# item sets left out together when the rejection threshold is cross-fitted (one item of a kind per set,
# so every category loses items in some fold and kitchen, with one item, is wholly unknown once)
LEAVE_OUT_SETS = (
    ("food_waste", "metal", "battery_rechargeable"),
    ("residual", "glass", "battery_lithium"),
    ("wood", "plastic", "battery"),
    ("textile", "carton", "paper_cardboard"),
)


@dataclass(frozen=True)
class OpenSetHead:
    head: ItemHead
    temperature: float
    rejection: Rejection

    def predict(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probs, rejection score) of N x 1280 embeddings, as the grafted graph computes them."""
        probs = softmax(self.head.logits(np.asarray(embedding, np.float32)) / self.temperature)
        return probs, self.rejection.score(embedding, probs.max(1))


def folds_of(groups: np.ndarray, k: int) -> np.ndarray:
    """A fold number per row from its near-duplicate group (deterministic hash)."""
    g = np.asarray(groups, np.int64)
    return ((g * 2654435761) % 2**32 % k).astype(int)


def fit_open_set(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_items: int, k: int = 4,
                 class_weight_power: float = 0.75, steps: int = 300, dims: int = 256,
                 temperature: float | None = None, score: str = DEFAULT_SCORE) -> OpenSetHead:
    """Fit head, temperature (on out-of-fold logits) and the standardised rejection score on (x, y).
    `groups` keeps near-duplicates and views of one image in one fold. A given `temperature` skips the folds
    for it (the rejection standardisation still uses them)."""
    x = np.asarray(x, np.float32)
    with_bank = score_spec(score).bank
    fold = folds_of(groups, k)
    oof_logits = np.zeros((len(y), n_items), np.float32)
    oof_dist, oof_bank = np.zeros(len(y)), np.zeros(len(y))
    for f in range(k):
        tr, te = fold != f, fold == f
        if not te.any() or len(np.unique(y[tr])) < 2:
            continue
        h = fit_item_head(x[tr], y[tr], n_items, class_weight_power, steps=steps)
        oof_logits[te] = h.logits(x[te])
        mean, whiten, centres = fit_distance(x[tr], y[tr], dims=dims, score=score)
        r = Rejection(mean, whiten, centres, 0.0, 1.0, 0.0, 1.0, score, fit_bank(x[tr], y[tr]) if with_bank else None)
        oof_dist[te] = r.distance(x[te])
        if with_bank:
            oof_bank[te] = r.bank_distance(x[te])
    if temperature is None:
        temperature = fit_temperature(oof_logits, y)
    conf = softmax(oof_logits / temperature).max(1)
    head = fit_item_head(x, y, n_items, class_weight_power, steps=steps)
    mean, whiten, centres = fit_distance(x, y, dims=dims, score=score)
    bank, bank_stats = None, (0.0, 1.0)
    if with_bank:
        bank, bank_stats = fit_bank(x, y), (float(oof_bank.mean()), float(oof_bank.std() or 1.0))
    rej = Rejection(mean, whiten, centres, float(oof_dist.mean()), float(oof_dist.std() or 1.0),
                    float(conf.mean()), float(conf.std() or 1.0), score, bank, *bank_stats)
    return OpenSetHead(head, float(temperature), rej)


def fit_quick(x, y, n_items, temperature: float, held_x, class_weight_power: float = 0.75, steps: int = 300,
              dims: int = 256, score: str = DEFAULT_SCORE) -> OpenSetHead:
    """One fit without inner folds: the head and distance on (x, y), the given temperature, the score
    standardised on `held_x` (crops of known items the fit did not see). Used inside cross-fitting."""
    head = fit_item_head(x, y, n_items, class_weight_power, steps=steps)
    mean, whiten, centres = fit_distance(x, y, dims=dims, score=score)
    conf = softmax(head.logits(np.asarray(held_x, np.float32)) / temperature).max(1)
    bank = fit_bank(x, y) if score_spec(score).bank else None
    return OpenSetHead(head, temperature, standardised(mean, whiten, centres, held_x, conf, score, bank))


def outcome(probs, score, y_item, item_category: np.ndarray, conf_threshold: float, rej_threshold: float,
            ) -> dict:
    """Per row: uncertain (either rule), right (category right and not uncertain), confidently wrong."""
    conf = probs.max(1)
    uncertain = (conf < conf_threshold) | (score > rej_threshold)
    cat_right = item_category[probs.argmax(1)] == item_category[y_item]
    return {"uncertain": uncertain, "right": ~uncertain & cat_right, "wrong": ~uncertain & ~cat_right}


def cross_fit_scores(x, y, groups, views_per_row, labels: list[str], temperature: float,
                     class_weight_power: float = 0.75, steps: int = 300, dims: int = 256, holdout: int = 5,
                     score: str = DEFAULT_SCORE):
    """For each item set of LEAVE_OUT_SETS: fit on the training rows of the other items without one
    grouped fold (1/holdout of the groups), score the held-out fold (known) and the left-out items (unknown).
    Returns pooled arrays: probs, score, y, is_unknown."""
    n = len(labels)
    fold = folds_of(groups, holdout)
    out = {"probs": [], "score": [], "y": [], "unknown": [], "set": []}
    for s, names in enumerate(LEAVE_OUT_SETS):
        left = np.isin(y, [labels.index(a) for a in names if a in labels])
        fit_rows = ~left & (fold != s % holdout)
        known_rows = ~left & (fold == s % holdout)
        model = fit_quick(x[fit_rows], y[fit_rows], n, temperature, x[known_rows], class_weight_power, steps, dims,
                          score)
        for rows, unk in ((known_rows, False), (left, True)):
            p, sc = model.predict(x[rows])
            out["probs"].append(p)
            out["score"].append(sc)
            out["y"].append(y[rows])
            out["unknown"].append(np.full(rows.sum(), unk))
            out["set"].append(np.full(rows.sum(), s))
    return {k: np.concatenate(v) for k, v in out.items()}


def trade_off_at(cf: dict, item_category: np.ndarray, n_categories: int, conf_threshold: float, t: float) -> dict:
    """On the cross-fitted scores at rejection threshold `t`: the known crops' coverage and confidently wrong
    share, and the unknown crops' rejected share and confidently wrong share per category."""
    unk, known = cf["unknown"], ~cf["unknown"]
    cats = item_category[cf["y"]]
    o = outcome(cf["probs"], cf["score"], cf["y"], item_category, conf_threshold, t)
    per_cat = {c: float(o["wrong"][unk & (cats == c)].mean()) for c in range(n_categories) if (unk & (cats == c)).any()}
    return {"threshold": t, "coverage_known": float(1 - o["uncertain"][known].mean()),
            "wrong_known": float(o["wrong"][known].mean()), "worst_unknown_wrong": max(per_cat.values()),
            "unknown_wrong": per_cat, "unknown_rejected": float(o["uncertain"][unk].mean())}


def choose_rejection_threshold(cf: dict, item_category: np.ndarray, n_categories: int, conf_threshold: float,
                               max_wrong: float = 0.20, min_coverage: float = 0.85) -> tuple[float, list[dict]]:
    """The largest rejection threshold at which, on the cross-fitted scores, no category of unknown items is
    confidently wrong more than `max_wrong` and known items keep >= `min_coverage` coverage; when no threshold
    meets both, the one with the lowest worst-category share among those with the coverage. Returns
    (threshold, trade-off rows)."""
    grid = np.round(np.arange(-3.0, 6.01, 0.05), 2)
    rows = [trade_off_at(cf, item_category, n_categories, conf_threshold, float(t)) for t in grid]
    ok = [r for r in rows if r["worst_unknown_wrong"] <= max_wrong and r["coverage_known"] >= min_coverage]
    if ok:
        return max(r["threshold"] for r in ok), rows
    cov = [r for r in rows if r["coverage_known"] >= min_coverage] or rows
    return min(cov, key=lambda r: (r["worst_unknown_wrong"], -r["threshold"]))["threshold"], rows


def coverage_threshold(probs: np.ndarray, score: np.ndarray, conf_threshold: float, coverage: float) -> float:
    """The smallest rejection threshold at which `coverage` of these crops get a verdict (not uncertain by
    either rule), rounded up to 0.001; inf when the confidence rule alone leaves fewer."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    kept = np.sort(np.asarray(score)[np.asarray(probs).max(1) >= conf_threshold])
    need = int(np.ceil(coverage * len(score)))
    if need > len(kept):
        return float("inf")
    return math.ceil(float(kept[need - 1]) * 1000) / 1000 if need else float(kept[0]) - 1.0  # float64: 3.65, not 3.6500001


def threshold_choice(coverage: float | None, cross_fit: str, crops: str, max_wrong: float,
                     min_coverage: float) -> str:
    """How a rejection threshold was chosen, in words (metadata `rejection.threshold_choice`): by `coverage` of
    the validation `crops` of one view, or by the `cross_fit` description's constraints."""
    if coverage:
        return (f"smallest threshold at which {coverage:.0%} of the {crops} get a verdict (with the confidence "
                f"rule); the trade-off below is from {cross_fit}")
    return (f"{cross_fit}; largest threshold with every category of left-out items confidently wrong <= {max_wrong} "
            f"and known coverage >= {min_coverage}")


COVERAGE_VIEWS = ("clean", "degraded")
# the rejection thresholds a file offers by name (edge: classifier.operating_point), each the smallest that
# keeps the coverage rule's share of these validation crops: strict on the clean photos (in distribution),
# balanced on the camera-degraded ones
OPERATING_POINTS = {"strict": "clean", "balanced": "degraded"}


def validation_coverage_rule(rejection_metadata: dict | None) -> float | None:
    """The coverage of a file whose rejection threshold keeps that share of the validation crops of one view
    (metadata `rejection.threshold_rule`), or None for a threshold cross-fitted on training data."""
    rule = (rejection_metadata or {}).get("threshold_rule") or {}
    if rule.get("rule") == "validation_coverage":
        return float(rule["coverage"])
    return None


def coverage_view(rejection_metadata: dict | None) -> str:
    """Which validation crops a coverage rule counts: "clean" or "degraded" (files before the choice: degraded)."""
    view = ((rejection_metadata or {}).get("threshold_rule") or {}).get("view", "degraded")
    if view not in COVERAGE_VIEWS:
        raise ValueError(f"rejection.threshold_rule.view must be one of {COVERAGE_VIEWS}, got {view!r}")
    return view

