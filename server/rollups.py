"""What one batch of new events adds to the roll-ups, as plain data.

Backend-neutral: a store only has to add these counters to its tables, so the
counting rules live here once and are tested without a database.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .scopes import ancestors

COUNTERS = ("disposals", "assisted", "correct", "wrong", "uncertain")


def disposal_counters(verdict: str, assisted: bool) -> Counter:
    """One disposal's contribution. Assisted disposals leave self-directed
    accuracy (DESIGN.md 6): they count as disposals and as assisted only."""
    c = Counter(disposals=1)
    if assisted:
        c["assisted"] += 1
    else:
        c[verdict] += 1
    return c


@dataclass
class RollupDelta:
    day: dict = field(default_factory=lambda: defaultdict(Counter))           # (scope, day, staffed)
    station_hour: dict = field(default_factory=lambda: defaultdict(Counter))  # (station, day, hour)
    households: set = field(default_factory=set)  # (community, kind, period, household)

    def add(self, ev: dict, periods: dict[str, str], counts_households: bool) -> None:
        key = (ev["station_id"], ev["day"], ev["hour"])
        if ev["type"] != "disposal":
            self.station_hour[key][ev["type"]] += 1
            return
        c = disposal_counters(ev["verdict"], ev["assisted"])
        self.station_hour[key].update(c)
        for scope in ancestors(ev["community_code"]):
            self.day[(scope, ev["day"], ev["staffed"])].update(c)
        if counts_households and ev.get("household"):
            for kind, label in periods.items():
                self.households.add((ev["community_code"], kind, label, ev["household"]))
