"""Scope reports for one period, read from the store's roll-ups: one scope
(/api/v1/stats) or every member of a level inside a scope (rankings,
exports). Both go through member_reports, so they cannot disagree."""
from __future__ import annotations

from datetime import datetime

from . import rates
from .cases import management_rate, utc_iso
from .rollups import COUNTERS
from .scopes import CITY, LEVEL_LENGTHS, level_of
from .timeutil import Period, now_utc

CITY_NAME = "北京市"


def possible_online_seconds(registered_at: list[str], period: Period, now: datetime | None = None) -> int:
    """Station-seconds in the elapsed part of the period, each station counted
    from its registration (a station added today was not offline before)."""
    start, end = period.start_utc(), min(period.end_utc(), now or now_utc())
    total = 0
    for created in registered_at:
        since = max(start, datetime.fromisoformat(created))
        total += max(0, int((end - since).total_seconds()))
    return total


def _empty_totals() -> dict:
    zero = dict.fromkeys(COUNTERS, 0)
    return {0: dict(zero), 1: dict(zero)}


def member_facts(store, level: str, within: str, members=None) -> dict:
    """What does not depend on the period: the members, their registered
    households and when each of their stations was registered."""
    length = LEVEL_LENGTHS[level]
    return {"members": members if members is not None else store.members(level, within),
            "registered": store.registered_households_many(length, within),
            "registered_at": store.station_registrations_many(length, within)}


def member_reports(store, level: str, within: str, period: Period, settings,
                   members: list[tuple[str, str]] | None = None, facts: dict | None = None) -> list[dict]:
    """A report for every member of `level` inside `within`, in code order."""
    facts = facts or member_facts(store, level, within, members)
    members, registered, registered_at = facts["members"], facts["registered"], facts["registered_at"]
    length = LEVEL_LENGTHS[level]
    kind, label = period.kind, period.label
    totals = store.rollup_totals_many(length, within, kind, label)
    households = store.participating_households_many(length, within, kind, label)
    awareness = store.awareness_totals_many(length, within, kind, label)
    online = store.online_seconds_many(length, within, kind, label)
    managed = store.case_rates_many(length, within, utc_iso(period.start_utc()), utc_iso(period.end_utc()))
    now = now_utc()
    out = []
    for code, name in members:
        measured, total = registered.get(code, (0, 0))
        respondents, aware = awareness.get(code, (0, 0))
        body = rates.scope_rates(
            totals.get(code) or _empty_totals(), households=households.get(code, 0),
            measured=measured, registered=total, respondents=respondents, aware=aware,
            online_seconds=online.get(code, 0),
            possible_seconds=possible_online_seconds(registered_at.get(code, []), period, now),
            targets=settings.targets)
        out.append({"level": level, "code": code, "name": name, "period": period.as_json(),
                    "stations": len(registered_at.get(code, [])), **body,
                    "station_management": management_rate(*managed.get(code, (0, 0)),
                                                          settings.targets["station_management"])})
    return out


def scope_report(store, code: str, period: Period, settings) -> dict | None:
    if code == CITY:
        return _city_report(store, period, settings)
    region = store.region(code)
    if region is None:
        return None
    level = level_of(code)
    [report] = member_reports(store, level, code, period, settings, [(code, region["name"])])
    return report


def _city_report(store, period: Period, settings) -> dict:
    kind, label = period.kind, period.label
    measured, registered = store.registered_households(CITY)
    respondents, aware = store.awareness_totals(CITY, kind, label)
    stations = store.station_registrations(CITY)
    body = rates.scope_rates(
        store.rollup_totals(CITY, kind, label),
        households=store.participating_households(CITY, kind, label),
        measured=measured, registered=registered, respondents=respondents, aware=aware,
        online_seconds=store.online_seconds(CITY, kind, label),
        possible_seconds=possible_online_seconds(stations, period),
        targets=settings.targets)
    managed = store.case_rates_many(0, CITY, utc_iso(period.start_utc()), utc_iso(period.end_utc()))
    return {"level": "city", "code": None, "name": CITY_NAME, "period": period.as_json(),
            "stations": len(stations), **body,
            "station_management": management_rate(*managed.get("all", (0, 0)),
                                                  settings.targets["station_management"])}
