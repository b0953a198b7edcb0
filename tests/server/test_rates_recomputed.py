"""Every rate the roll-ups give equals a recomputation from the raw events,
over randomly generated event streams (resends and assisted ones included)."""
from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import create_app
from server.timeutil import make_period

from .support import login, make_settings

STATIONS = {"st-a": ("110102001001", ["kitchen", "recyclable", "hazardous", "other"], True),
            "st-b": ("110102001002", ["kitchen", "recyclable", "hazardous", "other"], False),
            "st-c": ("110105001001", ["recyclable", "other"], True)}
HOUSEHOLDS = {"110102001001": 1000, "110102001002": 500, "110102003001": 800,
              "110105001001": 1200}
OFFSETS = [timezone(timedelta(hours=8)), UTC, timezone(timedelta(hours=-5))]
START = datetime(2026, 10, 15, tzinfo=timezone(timedelta(hours=8)))


@st.composite
def event(draw):
    station = draw(st.sampled_from(sorted(STATIONS)))
    minutes = draw(st.integers(0, 70 * 24 * 60))
    ts = (START + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(OFFSETS)))
    kind = draw(st.sampled_from(["disposal"] * 8 + ["bin_full", "litter"]))
    ev = {"event_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))), "type": kind,
          "ts": ts.isoformat(), "station_id": station,
          "bin": draw(st.sampled_from(STATIONS[station][1]))}
    if kind == "disposal":
        ev.update(item="battery", category="hazardous",
                  verdict=draw(st.sampled_from(["correct", "wrong", "uncertain"])),
                  confidence=draw(st.floats(0, 1)), model="m@1", rules="beijing@2020.1",
                  assisted=draw(st.booleans()),
                  household=draw(st.one_of(st.none(), st.sampled_from(
                      [f"hh-{i}" for i in range(12)]))))
    return ev


def expected(events: list[dict], scope: str, period) -> dict:
    """The definitions of docs/design.md §6, straight from raw events."""
    bj = timezone(timedelta(hours=8))
    counts = {"disposals": 0, "correct": 0, "wrong": 0,
              "staffed": [0, 0], "unstaffed": [0, 0]}
    households = set()
    for ev in events:
        community = STATIONS[ev["station_id"]][0]
        local = datetime.fromisoformat(ev["ts"]).astimezone(bj)
        if ev["type"] != "disposal" or not community.startswith(scope if scope != "city" else ""):
            continue
        if not period.start <= local.date() <= period.end:
            continue
        counts["disposals"] += 1
        if STATIONS[ev["station_id"]][2] and ev["household"]:
            households.add((community, ev["household"]))
        if ev["assisted"] or ev["verdict"] == "uncertain":
            continue
        counts[ev["verdict"]] += 1
        hhmm = local.strftime("%H:%M")
        staffed = "07:00" <= hhmm < "09:00" or "18:00" <= hhmm < "21:00"
        counts["staffed" if staffed else "unstaffed"][ev["verdict"] == "correct"] += 1
    measured = sum(n for c, n in HOUSEHOLDS.items()
                   if (scope == "city" or c.startswith(scope))
                   and any(s[0] == c and s[2] for s in STATIONS.values()))
    return {**counts, "households": len(households), "measured": measured}


@given(batches=st.lists(st.lists(event(), max_size=25), min_size=1, max_size=6),
       resend=st.integers(0, 5))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_rollups_equal_recomputation(city_template, batches, resend):
    template, built = city_template
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db.sqlite"
        shutil.copyfile(template, db)
        app = create_app({"SETTINGS": make_settings(db, max_future_seconds=10**9),
                          "TESTING": True})
        client = app.test_client()
        sent = {}
        for batch in batches + batches[:resend]:   # resends must change nothing
            by_station = {}
            for ev in batch:
                by_station.setdefault(ev["station_id"], []).append(ev)
            for station, evs in by_station.items():
                r = client.post("/api/v1/events", json={"device_id": f"dev-{station}",
                                                        "events": evs},
                                headers={"Authorization": f"Bearer {built.tokens[station]}"})
                assert r.status_code == 200 and r.get_json()["rejected"] == []
                for ev in evs:
                    sent.setdefault(ev["event_id"], ev)
        events = list(sent.values())
        with app.app_context():
            from server import get_store
            stored = get_store().events_between("2000-01-01", "2100-01-01")
        assert sorted(e["event_id"] for e in stored) == sorted(sent)
        login(client, "city")
        for scope, level in (("city", "city"), ("110102", "district"), ("110105", "district"),
                             ("110102001", "street"), ("110102001001", "community"),
                             ("110102001002", "community")):
            for label, kind in (("2026-11", "month"), ("2026-12", "month"),
                                ("2026-11", "inspection"), ("2026-12", "inspection")):
                query = {"level": level, "month": label, "period": kind}
                if scope != "city":
                    query["code"] = scope
                got = client.get("/api/v1/stats", query_string=query).get_json()
                want = expected(events, scope, make_period(label, kind))
                assert got["disposals"] == want["disposals"]
                acc = got["accuracy"]
                assert (acc["numerator"], acc["denominator"]) == (
                    want["correct"], want["correct"] + want["wrong"])
                for split in ("staffed", "unstaffed"):
                    part = got["accuracy_by_staffing"][split]
                    wrong, correct = want[split]
                    assert (part["numerator"], part["denominator"]) == (correct, correct + wrong)
                part = got["participation"]
                assert part["numerator"] == want["households"]
                assert part["denominator"] == want["measured"]
                assert part["measured"] == (want["measured"] > 0)
                if want["measured"] == 0:
                    assert part["value"] is None
