"""What one batch of new events adds to the roll-ups, as plain data.

Backend-neutral: a store only has to add these counters to its tables, so the
counting rules live here once and are tested without a database. It runs
inside the write transaction, so it is kept cheap: plain lists, no Counters.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache

from .scopes import ancestors
from .timeutil import periods_of_day

COUNTERS = ("disposals", "assisted", "correct", "wrong", "uncertain", "corrected")
STATION_COUNTERS = COUNTERS + ("bin_full", "litter")
CAMERA_OUTPUTS = ("correct", "wrong", "uncertain")
TRUTHS = ("correct", "wrong")   # what an audit says a disposal truly was
END_STATES = ("ok", "clean")    # a bin_full or litter finding's end
_INDEX = {name: i for i, name in enumerate(STATION_COUNTERS)}


def disposal_counters(verdict: str, assisted: bool, corrected: bool = False) -> tuple[int, ...]:
    """One disposal's contribution, in COUNTERS order. Assisted disposals
    leave self-directed accuracy (docs/design.md §6.1): they count as disposals and
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


class RollupDelta:
    """Counters to add to the roll-up tables. Events are first summed per
    (station, community, day, hour, staffed), which a batch from one station
    shares almost entirely; only those few groups are then spread over the
    scopes, days and periods."""

    def __init__(self) -> None:
        self._groups: dict[tuple, list[int]] = {}
        self.households: set = set()    # (community, kind, period, household)
        self._camera: dict[tuple, list[int]] = {}   # (community, day, model) -> CAMERA_OUTPUTS
        self._spread: tuple[dict, dict, dict] | None = None

    def add(self, ev: dict, counts_households: bool, sign: int = 1) -> None:
        """Add one event (sign=-1 takes one back, for later corrections)."""
        key = (ev["station_id"], ev["community_code"], ev["day"], ev["hour"], ev["staffed"])
        row = self._groups.get(key)
        if row is None:
            row = self._groups[key] = [0] * len(STATION_COUNTERS)
        self._spread = None
        if ev["type"] != "disposal":
            if ev.get("state") not in END_STATES:   # a finding counts once, at its start
                row[_INDEX[ev["type"]]] += sign
            return
        for i, v in enumerate(disposal_counters(ev["verdict"], ev["assisted"],
                                                bool(ev.get("corrected_item")))):
            row[i] += sign * v
        if not ev["assisted"]:
            # The camera's own output, which feedback does not change: what
            # the corrected accuracy corrects, per model version.
            camera = ev.get("original_verdict") or ev["verdict"]
            key = (ev["community_code"], ev["day"], ev.get("model") or "")
            counts = self._camera.get(key)
            if counts is None:
                counts = self._camera[key] = [0, 0, 0]
            counts[CAMERA_OUTPUTS.index(camera)] += sign
        if counts_households and ev.get("household") and sign > 0:
            for kind, label in periods_of(ev["day"]):
                self.households.add((ev["community_code"], kind, label, ev["household"]))

    def _spread_out(self) -> tuple[dict, dict, dict]:
        if self._spread is None:
            day: dict = {}
            period: dict = {}
            station_hour: dict = {}
            n = len(COUNTERS)
            for (station, community, d, hour, staffed), row in self._groups.items():
                _add(station_hour, (station, d, hour), row, len(STATION_COUNTERS))
                counters = row[:n]
                if not any(counters):
                    continue
                periods = periods_of(d)
                for scope in ancestors(community):
                    _add(day, (scope, d, staffed), counters, n)
                    for kind, label in periods:
                        _add(period, (scope, kind, label, staffed), counters, n)
            self._spread = (day, period, station_hour)
        return self._spread

    @property
    def camera(self) -> dict:
        """(scope, kind, period, model) -> CAMERA_OUTPUTS counts"""
        out: dict = {}
        for (community, d, model), counts in self._camera.items():
            if not any(counts):
                continue
            for scope in ancestors(community):
                for kind, label in periods_of(d):
                    _add(out, (scope, kind, label, model), counts, 3)
        return out

    @property
    def day(self) -> dict:
        """(scope, day, staffed) -> COUNTERS"""
        return self._spread_out()[0]

    @property
    def period(self) -> dict:
        """(scope, kind, period, staffed) -> COUNTERS"""
        return self._spread_out()[1]

    @property
    def station_hour(self) -> dict:
        """(station, day, hour) -> STATION_COUNTERS"""
        return self._spread_out()[2]
