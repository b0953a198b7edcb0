"""Canaries, the figures per version side by side, promote and rollback (issue 17, point 6), on both stores:
real keys and files in the registry, the commands through the CLI, the devices' heartbeat answers."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.artifact_files import MODEL, model_variant

from .api.test_artifacts import beat, publish
from .support import BEIJING, disposal, login, post_events


@pytest.fixture
def versions(runner, tmp_path):
    r = runner.invoke(args=["keygen", "--out", str(tmp_path / "keys")])
    assert r.exit_code == 0, r.output
    keys = tmp_path / "keys"
    out = []
    for path in (MODEL, model_variant(tmp_path / "new.onnx", "canary")):
        r = publish(runner, "model", path, keys)
        assert r.exit_code == 0, r.output
        out.append(r.output.split()[2])
    # The old one is what every device runs; the new one is published but not yet given to anyone.
    assert runner.invoke(args=["assign-model", out[0]]).exit_code == 0
    return out


def runs(client, city, station):
    return beat(client, city, station)["assigned"]["model"]["version"]


def test_a_canary_then_promote_then_rollback(client, city, runner, versions):
    old, new = versions
    assert {runs(client, city, s) for s in ("st-a", "st-b", "st-c")} == {old}
    r = runner.invoke(args=["canary", "model", new, "--scope", "st-a"])
    assert r.exit_code == 0 and f"st-a now runs model {new} (before: {old})" in r.output, r.output
    assert [runs(client, city, s) for s in ("st-a", "st-b", "st-c")] == [new, old, old]
    # Promote to the street of st-a and st-b (西长安街街道): both, not st-c.
    r = runner.invoke(args=["promote", "model", new, "--scope", "110102001"])
    assert r.exit_code == 0 and "replaced the assignments of st-a" in r.output, r.output
    assert [runs(client, city, s) for s in ("st-a", "st-b", "st-c")] == [new, new, old]
    # One command takes the street back.
    r = runner.invoke(args=["rollback", "model", "--scope", "110102001"])
    assert r.exit_code == 0 and f"runs model {old} again" in r.output, r.output
    assert {runs(client, city, s) for s in ("st-a", "st-b", "st-c")} == {old}
    # City-wide, then back: the city goes back to what it ran, not to the newest published.
    assert runner.invoke(args=["promote", "model", new]).exit_code == 0
    assert {runs(client, city, s) for s in ("st-a", "st-b", "st-c")} == {new}
    assert runner.invoke(args=["assign-model", "--latest"]).exit_code == 0  # the newest is `new` itself
    assert runner.invoke(args=["rollback", "model"]).exit_code == 0
    assert {runs(client, city, s) for s in ("st-a", "st-b", "st-c")} == {old}


def test_refusals_change_nothing(client, city, runner, versions):
    old, new = versions
    for args, words in ((["canary", "model", "waste-effl0-int8@00000000", "--scope", "st-a"], "no"),
                        (["canary", "model", new, "--scope", "st-nowhere"], "is not 'city'"),
                        (["canary", "model", new, "--scope", "city"], "use promote"),
                        (["rollback", "model", "--scope", "st-b"], "no model assignment")):
        r = runner.invoke(args=args)
        assert r.exit_code != 0 and words in r.output, (args, r.output)
    assert {runs(client, city, s) for s in ("st-a", "st-b", "st-c")} == {old}


def test_versions_are_compared_over_the_same_days(client, city, runner, versions):
    old, new = versions
    today = datetime.now(BEIJING).replace(hour=8, minute=0) - timedelta(days=0)
    if today > datetime.now(BEIJING):
        today -= timedelta(days=1)
    days = [today - timedelta(days=k) for k in (3, 2, 1)]
    events = []
    # The old version on all three days at st-b, the new one only on the last two at st-a.
    for d in days:
        events += [disposal(station="st-b", ts=d.isoformat(), model=old, verdict="uncertain")]
        events += [disposal(station="st-b", ts=(d + timedelta(minutes=1)).isoformat(), model=old,
                            verdict="correct", bin="hazardous") for _ in range(3)]
    for d in days[1:]:
        events += [disposal(station="st-a", ts=d.isoformat(), model=new, verdict="correct", bin="hazardous")
                   for _ in range(3)]
        events += [disposal(station="st-a", ts=(d + timedelta(minutes=2)).isoformat(), model=new, verdict="wrong")]
    by_station = {"st-a": [e for e in events if e["station_id"] == "st-a"],
                  "st-b": [e for e in events if e["station_id"] == "st-b"]}
    for station, evs in by_station.items():
        assert post_events(client, city, evs, station=station).get_json()["accepted"] == len(evs)
    # The volunteer of st-a corrects one of the new version's wrong verdicts.
    login(client, "vol")
    wrong = [e for e in by_station["st-a"] if e["verdict"] == "wrong"][0]
    assert client.post(f"/api/v1/events/{wrong['event_id']}/feedback",
                       json={"camera_wrong": True, "item": "glass"}).status_code == 200
    from server.canary import compare
    from server.store import connect
    s = connect(client.application.config["SETTINGS"].database)
    try:
        c = compare(s, "model", "city", 7)
    finally:
        s.close()
    assert c["days"] == [d.date().isoformat() for d in days[1:]]  # only the days both ran
    assert c["versions"][old] == {"disposals": 8, "uncertain_share": 0.25, "corrected_share": 0.0,
                                  "audited": 0, "agreement": None}
    assert c["versions"][new] == {"disposals": 8, "uncertain_share": 0.0, "corrected_share": 0.125,
                                  "audited": 0, "agreement": None}
    r = runner.invoke(args=["compare-versions", "--days", "7"])
    assert r.exit_code == 0 and "2 day(s)" in r.output and "25.0%" in r.output and "12.5%" in r.output, r.output
