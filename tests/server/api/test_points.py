"""Incentive points through HTTP on both stores: the rule set by the operator,
points from disposals and corrections, the tablet's lookup of a scanned card,
and redemptions that are recorded once and never overdraw."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from server.points import balance, parse_rule
from server.timeutil import BEIJING

from ..support import disposal, login, post_events

# Ten minutes ago: every event of these tests is in the past, whatever the hour.
TODAY = datetime.now(BEIJING).replace(second=0, microsecond=0) - timedelta(minutes=10)
RULE = '{"correct": 2, "wrong": 0, "uncertain": 1, "assisted": 0, "daily_cap": 7, "expiry_days": 30}'
CARD = "/api/v1/stations/st-a/households/hh-7"


def at(days=0, minutes=0) -> str:
    return (TODAY - timedelta(days=days) + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def food(verdict="correct", **fields):
    return disposal(household="hh-7", verdict=verdict, item="food_waste", category="kitchen",
                    bin="other" if verdict == "wrong" else "kitchen", **fields)


@pytest.fixture
def rule(runner, city, tmp_path):
    path = tmp_path / "rule.json"
    path.write_text(RULE, encoding="utf-8")
    result = runner.invoke(args=["set-points-rule", "city", str(path)])
    assert result.exit_code == 0, result.output
    return parse_rule(RULE, 400)


@pytest.fixture
def history(client, city, rule):
    """hh-7: five correct today (10, capped at 7), two correct and an
    uncertain 3 days ago (5), one wrong, four correct 40 days ago (expired)."""
    events = ([food(ts=at(minutes=m)) for m in range(5)]
              + [food(ts=at(3)), food(ts=at(3, 1)), food("uncertain", ts=at(3, 2)), food("wrong", ts=at(3, 3))]
              + [food(ts=at(40, m)) for m in range(4)])
    body = post_events(client, city, events).get_json()
    assert body["accepted"] == len(events), body
    return events


def redeem(client, points, reward="环保袋", rid=None):
    return client.post(CARD + "/redemptions", json={"redemption_id": rid or str(uuid.uuid4()),
                                                    "points": points, "reward": reward})


def oracle(store_events, rule, redemptions=()) -> int:
    """The points recomputed from the raw events as the test sent them."""
    days: dict = {}
    for ev in store_events:
        counts = days.setdefault(ev["ts"][:10], {})
        key = "assisted" if ev.get("assisted") else ev["verdict"]
        counts[key] = counts.get(key, 0) + 1
    return balance(rule, days, list(redemptions), TODAY.date())["balance"]


def test_the_tablet_shows_points_recent_disposals_and_advice(client, city, history, rule):
    login(client, "vol")
    body = client.get(CARD).get_json()
    assert body["points"]["balance"] == 12 == oracle(history, rule)       # 7 today + 5, the 40-day-old expired
    assert body["points"]["expired"] == 7 and body["points"]["rule"]["daily_cap"] == 7
    assert len(body["recent"]) == 10 and body["recent"][0]["ts"] == history[4]["ts"]
    assert body["advice"]["item"] == "food_waste" and body["advice"]["bins"] == ["kitchen"]
    assert body["advice"]["bin_names"] == ["厨余垃圾"]
    assert set(body) == {"household", "station_id", "community", "points", "recent", "advice"}


def test_a_correction_changes_the_points_exactly(client, city, history, rule):
    wrong = next(e for e in history if e["verdict"] == "wrong")
    login(client, "vol")
    r = client.post(f"/api/v1/events/{wrong['event_id']}/feedback", json={"camera_wrong": True,
                                                                         "item": "glass"})
    assert r.status_code == 200, r.get_json()
    # glass in the other bin is still wrong; an "I helped" on a correct one takes its 2 points away
    correct = next(e for e in history if e["ts"] == at(3))
    r = client.post(f"/api/v1/events/{correct['event_id']}/feedback", json={"assisted": True})
    assert r.status_code == 200
    correct["assisted"] = True
    assert client.get(CARD).get_json()["points"]["balance"] == 10 == oracle(history, rule)


def test_a_redemption_is_recorded_once_and_never_overdraws(client, city, history, rule):
    login(client, "vol")
    rid = str(uuid.uuid4())
    first = redeem(client, 5, rid=rid)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["balance"] == 7 and not first.get_json()["replayed"]
    again = redeem(client, 5, rid=rid)                         # the button pressed twice
    assert again.status_code == 200 and again.get_json()["replayed"] and again.get_json()["balance"] == 7
    assert redeem(client, 6, rid=rid).status_code == 409       # the same id for something else
    too_much = redeem(client, 8)
    assert too_much.status_code == 400
    assert too_much.get_json()["error"]["code"] == "insufficient_points"
    assert client.get(CARD).get_json()["points"]["balance"] == 7
    assert client.get(CARD).get_json()["points"]["redeemed"] == 5
    assert redeem(client, 7).status_code == 201
    assert client.get(CARD).get_json()["points"]["balance"] == 0


@pytest.mark.parametrize("body, field", [
    ({"redemption_id": "short", "points": 1, "reward": "x"}, "redemption_id"),
    ({"redemption_id": str(uuid.uuid4()), "points": 0, "reward": "x"}, "points"),
    ({"redemption_id": str(uuid.uuid4()), "points": 1.5, "reward": "x"}, "points"),
    ({"redemption_id": str(uuid.uuid4()), "points": 1, "reward": ""}, "reward"),
    ({"redemption_id": str(uuid.uuid4()), "points": 1, "reward": "x", "household": "hh-8"}, "household"),
    ({"redemption_id": str(uuid.uuid4()), "points": 1, "reward": "环保袋 138 1234 5678"}, "reward"),
    ({"redemption_id": str(uuid.uuid4()), "points": 1, "reward": "王阿姨 010-62345678"}, "reward"),
])
def test_a_bad_redemption_answers_400_and_stores_nothing(client, city, history, body, field):
    login(client, "vol")
    r = client.post(CARD + "/redemptions", json=body)
    assert r.status_code == 400 and r.get_json()["error"]["details"][0]["field"] == field
    assert client.get(CARD).get_json()["points"]["redeemed"] == 0


def test_only_the_stations_volunteer_redeems_and_the_manager_looks_up(client, city, history):
    login(client, "sanlihe")
    assert client.get(CARD).status_code == 200
    assert redeem(client, 1).status_code == 403
    for user in ("xichangan", "city", "insp"):
        login(client, user)
        assert client.get(CARD).status_code == 403, user
        assert redeem(client, 1).status_code == 403, user
    login(client, "vol")
    assert client.get("/api/v1/stations/st-c/households/hh-7").status_code == 403
    assert client.get("/api/v1/stations/st-a/households/13812345678").status_code == 400
    # hh-7 has no points in another community: its balance there is zero
    city.add_user("vol-c", "volunteer", "st-c")
    login(client, "vol-c")
    assert client.get("/api/v1/stations/st-c/households/hh-7").get_json()["points"]["balance"] == 0
    assert client.post("/api/v1/stations/st-c/households/hh-7/redemptions",
                       json={"redemption_id": str(uuid.uuid4()), "points": 1, "reward": "x"}).status_code == 400


def test_without_a_rule_there_are_no_points(client, city):
    assert post_events(client, city, [food(ts=at())]).get_json()["accepted"] == 1
    login(client, "vol")
    assert client.get(CARD).get_json()["points"] is None
    assert redeem(client, 1).status_code == 409


def test_a_bad_rule_file_changes_nothing(runner, city, rule, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"correct": 1, "daily_cap": -2}', encoding="utf-8")
    result = runner.invoke(args=["set-points-rule", "city", str(bad)])
    assert result.exit_code != 0 and "daily_cap must be a whole number" in result.output
    assert "nothing was changed" in result.output
    result = runner.invoke(args=["set-points-rule", "110102009999", str(bad)])
    assert result.exit_code != 0
    good = tmp_path / "good.json"
    good.write_text('{"correct": 3}', encoding="utf-8")
    result = runner.invoke(args=["set-points-rule", "110102009999", str(good)])
    assert result.exit_code != 0 and "not 'city' or a known" in result.output
    result = runner.invoke(args=["set-points-rule", "110102001001", str(good)])
    assert result.exit_code == 0, result.output
