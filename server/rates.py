"""The three rates of docs/design.md §6, from roll-up totals. Pure."""
from __future__ import annotations

import math


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def rate(numerator: int, denominator: int, target: float) -> dict:
    value = ratio(numerator, denominator)
    return {"value": value, "numerator": numerator, "denominator": denominator,
            "target": target, "met": None if value is None else value >= target}


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> list[float] | None:
    """Wilson score interval for a binomial proportion (95 % by default)."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def accuracy(totals: dict, target: float) -> dict:
    """correct / (correct + wrong) over self-directed (not assisted) disposals."""
    return rate(totals["correct"], totals["correct"] + totals["wrong"], target)


def combine(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


def participation(households: int, measured: int, registered: int, target: float) -> dict:
    """Participating households over the registered households of the
    communities whose stations identify households. Where none do, the rate
    is not measured (value None), never zero; where they do but no household
    token has arrived in the period, it has no data yet (value None,
    `no_data`), since a reader that sends nothing is far likelier than a
    community where nobody took part."""
    out = rate(households, measured, target)
    out["measured"] = measured > 0
    out["no_data"] = measured > 0 and households == 0
    if out["no_data"]:
        out["value"] = out["met"] = None
    out["registered_households"] = registered
    return out


def awareness(aware: int, respondents: int, target: float) -> dict:
    out = rate(aware, respondents, target)
    out["sample_size"] = respondents
    out["interval"] = wilson_interval(aware, respondents)
    return out


def scope_rates(totals_by_staffed: dict, households: int, measured: int, registered: int,
                respondents: int, aware: int, online_seconds: int, possible_seconds: int,
                targets: dict) -> dict:
    """Everything /api/v1/stats reports for one scope and period."""
    totals = combine(totals_by_staffed[0], totals_by_staffed[1])
    judged = totals["correct"] + totals["wrong"]
    return {
        "disposals": totals["disposals"],
        "assisted": totals["assisted"],
        "uncertain": totals["uncertain"],
        "corrected": totals["corrected"],
        "accuracy": accuracy(totals, targets["accuracy"]),
        "participation": participation(households, measured, registered, targets["participation"]),
        "awareness": awareness(aware, respondents, targets["awareness"]),
        "coverage": {"value": ratio(judged, totals["disposals"]),
                     "judged": judged, "disposals": totals["disposals"]},
        "online_share": {"value": None if not possible_seconds
                         else min(1.0, online_seconds / possible_seconds),
                         "online_seconds": online_seconds, "possible_seconds": possible_seconds},
        "accuracy_by_staffing": {
            "staffed": accuracy(totals_by_staffed[1], targets["accuracy"]),
            "unstaffed": accuracy(totals_by_staffed[0], targets["accuracy"]),
        },
    }
