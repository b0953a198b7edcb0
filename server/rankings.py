"""Rankings and the red and black lists (红黑榜), month over month.

Order, stated once: by the metric's value, highest first; a tie goes to the
member with the larger count basis (more disposals, households or
respondents behind the value), then to the lower division code. Members
with no data for the metric come last, in code order, marked no_data, and
get no rank.

The red list holds the best ranked members and the black list the worst,
list_size each at most; a member is on at most one list. With fewer than
2 x list_size ranked members each list gets half of them (rounded down):
with an odd count the middle member is on neither list, and a single ranked
member is on none (it is neither better nor worse than anyone)."""
from __future__ import annotations

from .report import member_facts, member_reports
from .timeutil import Period

METRICS = ("accuracy", "participation", "awareness", "station_management")
LEVELS_BELOW = {"city": ("district", "street", "community"),
                "district": ("street", "community"), "street": ("community",),
                "community": ()}


def _ordered(reports: list[dict], metric: str) -> tuple[list[dict], list[dict]]:
    with_data = [r for r in reports if r[metric]["value"] is not None]
    without = [r for r in reports if r[metric]["value"] is None]
    with_data.sort(key=lambda r: (-r[metric]["value"], -r[metric]["denominator"], r["code"]))
    return with_data, sorted(without, key=lambda r: r["code"])


def _entry(report: dict, rank: int | None, metric: str, previous: dict | None) -> dict:
    value = report[metric]["value"]
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


def ranking(store, level: str, within: str, period: Period, metric: str, n: int, settings) -> dict:
    facts = member_facts(store, level, within)
    now = member_reports(store, level, within, period, settings, facts=facts)
    before = member_reports(store, level, within, period.previous(), settings, facts=facts)
    prev_with, _ = _ordered(before, metric)
    previous = {r["code"]: {"rank": i + 1, "value": r[metric]["value"]}
                for i, r in enumerate(prev_with)}
    with_data, without = _ordered(now, metric)
    members = ([_entry(r, i + 1, metric, previous.get(r["code"])) for i, r in enumerate(with_data)]
               + [_entry(r, None, metric, previous.get(r["code"])) for r in without])
    ranked = members[:len(with_data)]
    per_list = min(n, len(ranked) // 2)
    return {
        "level": level, "within": within if within != "city" else None, "metric": metric,
        "period": period.as_json(), "target": settings.targets[metric],
        "order": "value descending; ties: larger count basis first, then lower code; "
                 "members without data last, unranked",
        "members": members,
        "red_list": ranked[:per_list],
        "black_list": list(reversed(ranked[len(ranked) - per_list:])),
        "list_size": n,
    }
