"""One scope's report for one period, read from the store's roll-ups."""
from __future__ import annotations

from datetime import datetime

from . import rates
from .scopes import CITY, level_of
from .timeutil import Period, now_utc


def possible_online_seconds(stations: int, period: Period, now: datetime | None = None) -> int:
    """Station-seconds in the elapsed part of the period."""
    now = now or now_utc()
    start, end = period.start_utc(), min(period.end_utc(), now)
    return max(0, int((end - start).total_seconds())) * stations


def scope_report(store, code: str, period: Period, settings) -> dict | None:
    if code == CITY:
        name = "北京市"
    else:
        region = store.region(code)
        if region is None:
            return None
        name = region["name"]
    start, end = period.start.isoformat(), period.end.isoformat()
    measured, registered = store.registered_households(code)
    respondents, aware = store.awareness_totals(code, start, end)
    body = rates.scope_rates(
        store.rollup_totals(code, start, end),
        households=store.participating_households(code, period.kind, period.label),
        measured=measured, registered=registered,
        respondents=respondents, aware=aware,
        online_seconds=store.online_seconds(code, start, end),
        possible_seconds=possible_online_seconds(store.station_count(code), period),
        targets=settings.targets)
    return {"level": level_of(code), "code": None if code == CITY else code, "name": name,
            "period": period.as_json(), **body}
