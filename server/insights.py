"""What a manager looks at after the rates: the daily trend, the worst
stations and hours, the latest wrong disposals. All from roll-ups except the
last, which reads a few recent rows through a partial index."""
from __future__ import annotations

from datetime import timedelta

from . import rates
from .timeutil import Period, beijing, now_utc

MIN_JUDGED = 10          # a station or hour needs this many judged disposals to be ranked
RECENT_DAYS = 3


def daily_trend(store, scope: str, period: Period, target: float) -> list[dict]:
    rows = {r["day"]: r for r in store.rollup_by_day(scope, period.start.isoformat(),
                                                     period.end.isoformat())}
    out = []
    day = period.start
    while day <= period.end:
        r = rows.get(day.isoformat())
        correct, wrong = (r["correct"], r["wrong"]) if r else (0, 0)
        out.append({"day": day.isoformat(), "disposals": r["disposals"] if r else 0,
                    "accuracy": rates.rate(correct, correct + wrong, target)})
        day += timedelta(days=1)
    return out


def _worst(rows: list[dict], key: str, n: int, target: float) -> list[dict]:
    ranked = []
    for r in rows:
        judged = r["correct"] + r["wrong"]
        if judged >= MIN_JUDGED:
            ranked.append({key: r[key], **({"name": r["name"]} if "name" in r else {}),
                           "disposals": r["disposals"],
                           "accuracy": rates.rate(r["correct"], judged, target)})
    ranked.sort(key=lambda x: (x["accuracy"]["value"], -x["disposals"]))
    return ranked[:n]


def insights(store, scope: str, period: Period, target: float, n: int = 5) -> dict:
    start, end = period.start.isoformat(), period.end.isoformat()
    since = (beijing(now_utc()).date() - timedelta(days=RECENT_DAYS - 1)).isoformat()
    return {
        "worst_stations": _worst(store.station_totals(scope, start, end), "station_id", n, target),
        "worst_hours": _worst(store.hour_totals(scope, start, end), "hour", n, target),
        "min_judged": MIN_JUDGED,
        "latest_wrong": store.latest_wrong(scope, since, 10),
        "latest_wrong_since": since,
    }
