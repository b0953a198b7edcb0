"""Rankings and the red and black lists (红黑榜), month over month.

Order, stated once: by the metric's value, highest first; a tie goes to the
member with the larger count basis (more disposals, households or
respondents behind the value), then to the lower division code. Members
with no data for the metric come last, in code order, marked no_data, and
get no rank. `accuracy_corrected` ranks by the accuracy corrected for the
camera's error (server/correction.py), with the member's unassisted
disposals as its count basis; a member without a corrected value (no
disposals, or a model version with too few audits) has no data for it.

The red list holds the best ranked members and the black list the worst,
list_size each at most; a member is on at most one list. With fewer than
2 x list_size ranked members each list gets half of them (rounded down):
with an odd count the middle member is on neither list, and a single ranked
member is on none (it is neither better nor worse than anyone)."""
from __future__ import annotations

from .inspections import add_accuracy_checks
from .report import member_facts, member_reports
from .timeutil import Period

METRICS = ("accuracy", "participation", "awareness", "station_management")
CORRECTED = "accuracy_corrected"
RANKING_METRICS = METRICS + (CORRECTED,)
LEVELS_BELOW = {"city": ("district", "street", "community"),
                "district": ("street", "community"), "street": ("community",),
                "community": ()}


def measure(report: dict, metric: str) -> tuple[float | None, int]:
    """(the value a member is ranked by, its count basis)."""
    if metric == CORRECTED:
        corrected = report["accuracy"]["corrected"]
        return (corrected["value"] if corrected else None), report["disposals"] - report["assisted"]
    return report[metric]["value"], report[metric]["denominator"]


def _ordered(reports: list[dict], metric: str) -> tuple[list[dict], list[dict]]:
    measured = [(measure(r, metric), r) for r in reports]
    with_data = [(m, r) for m, r in measured if m[0] is not None]
    with_data.sort(key=lambda mr: (-mr[0][0], -mr[0][1], mr[1]["code"]))
    without = sorted((r for m, r in measured if m[0] is None), key=lambda r: r["code"])
    return [r for _, r in with_data], without


def _order(metric: str, settings) -> str:
    if metric == CORRECTED:
        return ("corrected accuracy descending; ties: more unassisted disposals first, then lower "
                "code; members without a corrected value (no disposals, or a model version with "
                f"fewer than {settings.min_audits} audits) last, unranked")
    return ("value descending; ties: larger count basis first, then lower code; "
            "members without data last, unranked")


def _entry(report: dict, rank: int | None, metric: str, previous: dict | None) -> dict:
    value = measure(report, metric)[0]
    prev_value = previous["value"] if previous else None
    prev_rank = previous["rank"] if previous else None
    return {
        "rank": rank, "code": report["code"], "name": report["name"],
        "no_data": value is None,
        "value": value,
        "previous_rank": prev_rank, "previous_value": prev_value,
        "rank_change": None if rank is None or prev_rank is None else prev_rank - rank,
        "value_change": None if value is None or prev_value is None else value - prev_value,
        "accuracy": report["accuracy"], "participation": report["participation"],
        "awareness": report["awareness"], "station_management": report["station_management"],
        "targets_met": {m: report[m]["met"] for m in METRICS},
        "disposals": report["disposals"],
        "coverage": report["coverage"]["value"],
        "online_share": report["online_share"]["value"],
    }


def ranking(store, level: str, within: str, period: Period, metric: str, n: int, settings,
            checks: bool = True) -> dict:
    """The ranking of the members of `level` inside `within` by `metric`.
    Each member's accuracy carries the inspected and corrected figures
    (server/inspections.py) unless `checks` is false and the metric does not
    need them (a dashboard's standing by participation or awareness)."""
    facts = member_facts(store, level, within)
    now = member_reports(store, level, within, period, settings, facts=facts)
    before = member_reports(store, level, within, period.previous(), settings, facts=facts)
    if checks or metric == CORRECTED:
        add_accuracy_checks(store, now, level, within, period, settings)
    if metric == CORRECTED:
        add_accuracy_checks(store, before, level, within, period.previous(), settings)
    prev_with, _ = _ordered(before, metric)
    previous = {r["code"]: {"rank": i + 1, "value": measure(r, metric)[0]}
                for i, r in enumerate(prev_with)}
    with_data, without = _ordered(now, metric)
    members = ([_entry(r, i + 1, metric, previous.get(r["code"])) for i, r in enumerate(with_data)]
               + [_entry(r, None, metric, previous.get(r["code"])) for r in without])
    ranked = members[:len(with_data)]
    per_list = min(n, len(ranked) // 2)
    return {
        "level": level, "within": within if within != "city" else None, "metric": metric,
        "period": period.as_json(),
        "target": settings.targets["accuracy" if metric == CORRECTED else metric],
        "order": _order(metric, settings),
        "members": members,
        "red_list": ranked[:per_list],
        "black_list": list(reversed(ranked[len(ranked) - per_list:])),
        "list_size": n,
    }
