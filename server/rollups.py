"""What one batch of new events adds to the roll-ups, as plain data.

Backend-neutral: a store only has to add these counters to its tables, so the
counting rules live here once and are tested without a database. It runs
inside the write transaction, so it is kept cheap: plain lists, no Counters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from .scopes import ancestors
from .timeutil import periods_of_day

COUNTERS = ("disposals", "assisted", "correct", "wrong", "uncertain", "corrected")
STATION_COUNTERS = COUNTERS + ("bin_full", "litter")
_INDEX = {name: i for i, name in enumerate(STATION_COUNTERS)}


def disposal_counters(verdict: str, assisted: bool, corrected: bool = False) -> tuple[int, ...]:
    """One disposal's contribution, in COUNTERS order. Assisted disposals
    leave self-directed accuracy (DESIGN.md 6): they count as disposals and
    as assisted only, whatever their verdict. `corrected` counts disposals
    whose item a volunteer corrected."""
    c = [1, 0, 0, 0, 0, int(corrected)]
    c[1 if assisted else _INDEX[verdict]] = 1
    return tuple(c)


def _add(table: dict, key: tuple, values, size: int) -> None:
    row = table.get(key)
    if row is None:
        row = table[key] = [0] * size
    for i, v in enumerate(values):
        row[i] += v


@lru_cache(maxsize=4096)
def periods_of(day: str) -> tuple[tuple[str, str], ...]:
    """(kind, label) of the calendar and inspection months a Beijing day is in."""
    return tuple(periods_of_day(date.fromisoformat(day)).items())


@dataclass
class RollupDelta:
    day: dict = field(default_factory=dict)           # (scope, day, staffed) -> COUNTERS
    period: dict = field(default_factory=dict)        # (scope, kind, period, staffed) -> COUNTERS
    station_hour: dict = field(default_factory=dict)  # (station, day, hour) -> STATION_COUNTERS
    households: set = field(default_factory=set)      # (community, kind, period, household)

    def add(self, ev: dict, counts_households: bool, sign: int = 1) -> None:
        """Add one event (sign=-1 takes one back, for later corrections)."""
        key = (ev["station_id"], ev["day"], ev["hour"])
        if ev["type"] != "disposal":
            one = [0] * len(STATION_COUNTERS)
            one[_INDEX[ev["type"]]] = sign
            _add(self.station_hour, key, one, len(STATION_COUNTERS))
            return
        c = [sign * v for v in disposal_counters(ev["verdict"], ev["assisted"],
                                                 bool(ev.get("corrected_item")))]
        _add(self.station_hour, key, c, len(STATION_COUNTERS))
        periods = periods_of(ev["day"])
        for scope in ancestors(ev["community_code"]):
            _add(self.day, (scope, ev["day"], ev["staffed"]), c, len(COUNTERS))
            for kind, label in periods:
                _add(self.period, (scope, kind, label, ev["staffed"]), c, len(COUNTERS))
        if counts_households and ev.get("household") and sign > 0:
            for kind, label in periods:
                self.households.add((ev["community_code"], kind, label, ev["household"]))
