"""Feedback, the station feed, station health, insights and the daily trend."""
from __future__ import annotations

from datetime import datetime

from ..support import BEIJING, disposal, login, post_events
from .test_events import heartbeat, jpeg_bytes, put_evidence


def stats(client, code="110102001001", month=None):
    month = month or datetime.now(BEIJING).strftime("%Y-%m")
    return client.get("/api/v1/stats", query_string={"level": "community", "code": code,
                                                     "month": month}).get_json()


def test_i_helped_and_camera_wrong_move_the_rates(client, city):
    wrong = disposal(verdict="wrong", bin="other", item="plastic", category="recyclable")
    right = disposal(verdict="correct", bin="recyclable", item="plastic", category="recyclable")
    post_events(client, city, [wrong, right])
    login(client, "sanlihe")
    before = stats(client)
    assert (before["accuracy"]["numerator"], before["accuracy"]["denominator"]) == (1, 2)
    login(client, "vol")
    r = client.post(f"/api/v1/events/{wrong['event_id']}/feedback", json={"assisted": True})
    assert r.status_code == 200 and r.get_json()["assisted"] is True
    login(client, "sanlihe")
    after = stats(client)
    assert (after["accuracy"]["numerator"], after["accuracy"]["denominator"]) == (1, 1)
    assert after["assisted"] == 1 and after["disposals"] == 2
    # The camera saw plastic in the recyclable bin; it was really a battery.
    login(client, "vol")
    r = client.post(f"/api/v1/events/{right['event_id']}/feedback",
                    json={"camera_wrong": True, "item": "battery"})
    body = r.get_json()
    assert (body["item"], body["category"], body["verdict"]) == ("battery", "hazardous", "wrong")
    assert (body["original_item"], body["original_verdict"], body["corrected_item"]) == (
        "plastic", "correct", "battery")
    login(client, "sanlihe")
    final = stats(client)
    assert (final["accuracy"]["numerator"], final["accuracy"]["denominator"]) == (0, 1)
    assert final["corrected"] == 1
    # Correcting back to the original item undoes the correction.
    login(client, "vol")
    client.post(f"/api/v1/events/{right['event_id']}/feedback",
                json={"camera_wrong": True, "item": "plastic"})
    login(client, "sanlihe")
    undone = stats(client)
    assert undone["corrected"] == 0 and undone["accuracy"]["numerator"] == 1


def test_feedback_refusals(client, city):
    ev = disposal()
    post_events(client, city, [ev])
    other = disposal(station="st-b")
    post_events(client, city, [other], station="st-b")
    login(client, "vol")
    url = f"/api/v1/events/{ev['event_id']}/feedback"
    for body in ({}, {"assisted": "yes"}, {"camera_wrong": True}, {"item": "battery"},
                 {"camera_wrong": True, "item": "unicorn"}, {"stars": 5}):
        assert client.post(url, json=body).status_code == 400, body
    assert client.post(f"/api/v1/events/{other['event_id']}/feedback",
                       json={"assisted": True}).status_code == 403
    # A manager whose scope holds the station reads it but does not correct it.
    login(client, "sanlihe")
    assert client.post(url, json={"assisted": True}).status_code == 403
    assert client.get("/api/v1/stations/st-a/events").get_json()["events"][0]["assisted"] is False
    login(client, "vol")
    assert client.post("/api/v1/events/0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e99/feedback",
                       json={"assisted": True}).status_code == 404
    client.post("/api/v1/logout")
    assert client.post(url, json={"assisted": True}).status_code == 401


def test_station_feed_counts_and_evidence(client, city):
    events = [disposal(verdict="wrong"), disposal(verdict="correct", bin="hazardous")]
    post_events(client, city, events)
    put_evidence(client, city, events[0]["event_id"], jpeg_bytes())
    login(client, "vol")
    feed = client.get("/api/v1/stations/st-a/events", query_string={"after": 0}).get_json()
    assert [e["event_id"] for e in feed["events"]] == [e["event_id"] for e in events]
    assert feed["events"][0]["evidence_url"] and feed["events"][1]["evidence_url"] is None
    later = client.get("/api/v1/stations/st-a/events", query_string={"after": feed["cursor"]})
    assert later.get_json()["events"] == []
    image = client.get(feed["events"][0]["evidence_url"])
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    today = client.get("/api/v1/stations/st-a/today").get_json()
    assert (today["disposals"], today["wrong"], today["correct"]) == (2, 1, 1)
    assert client.get("/api/v1/stations/st-b/events").status_code == 403
    assert client.get("/api/v1/stations/st-b/today").status_code == 403


def test_station_health(client, city):
    heartbeat(client, city, dead_letters=2, pending_events=5)
    post_events(client, city, [disposal(), {"event_id": "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e12",
                                            "type": "bin_full", "station_id": "st-a", "bin": "kitchen",
                                            "ts": datetime.now(BEIJING).isoformat()}])
    login(client, "xicheng")
    body = client.get("/api/v1/stations/health", query_string={"within": "110102"}).get_json()
    by_id = {s["station_id"]: s for s in body["stations"]}
    assert set(by_id) == {"st-a", "st-b"}
    a, b = by_id["st-a"], by_id["st-b"]
    assert a["online"] is True and a["dead_letters"] == 2 and a["events_today"] == 1
    assert a["bin_full_today"] == 1 and a["model"] == "waste-effl0-int8@3fa2c1d0"
    assert b["online"] is False and b["last_heartbeat"] is None
    assert client.get("/api/v1/stations/health", query_string={"within": "110105"}).status_code == 403


def test_insights_and_daily_trend(client, city):
    events = [disposal(ts="2026-11-03T08:30:00+08:00", verdict="wrong", bin="other") for _ in range(12)]
    events += [disposal(ts="2026-11-04T19:30:00+08:00", verdict="correct", bin="hazardous") for _ in range(12)]
    post_events(client, city, events)
    login(client, "xichangan")
    q = {"level": "street", "code": "110102001", "month": "2026-11"}
    days = client.get("/api/v1/stats/daily", query_string=q).get_json()["days"]
    assert len(days) == 30
    assert days[2]["day"] == "2026-11-03" and days[2]["accuracy"]["value"] == 0.0
    assert days[3]["accuracy"]["value"] == 1.0 and days[0]["disposals"] == 0
    body = client.get("/api/v1/insights", query_string=q).get_json()
    assert body["worst_stations"][0]["station_id"] == "st-a"
    assert body["worst_stations"][0]["accuracy"]["value"] == 0.5
    hours = {h["hour"] for h in body["worst_hours"]}
    assert hours == {8, 19} and body["worst_hours"][0]["hour"] == 8
    assert client.get("/api/v1/insights", query_string={
        "level": "street", "code": "110105001"}).status_code == 403


def test_latest_wrong_lists_recent_wrong_disposals_with_evidence(client, city):
    wrong = disposal(verdict="wrong")
    post_events(client, city, [wrong, disposal(verdict="correct", bin="hazardous")])
    put_evidence(client, city, wrong["event_id"], jpeg_bytes())
    login(client, "sanlihe")
    body = client.get("/api/v1/insights", query_string={
        "level": "community", "code": "110102001001"}).get_json()
    [latest] = body["latest_wrong"]
    assert latest["event_id"] == wrong["event_id"] and latest["evidence_url"]


def test_a_reader_station_without_a_token_for_a_whole_day_is_a_device_problem(client, city):
    from datetime import timedelta
    yesterday = (datetime.now(BEIJING) - timedelta(days=1)).replace(hour=12)
    ts = yesterday.isoformat(timespec="milliseconds")
    # st-a has a reader and sent 12 disposals yesterday, none with a household
    post_events(client, city, [disposal(ts=ts, household=None) for _ in range(12)])
    # st-c has a reader too, and its tokens arrive
    post_events(client, city, [disposal(station="st-c", ts=ts, bin="other", item="residual", category="other",
                                        verdict="correct", household="hh-1")] * 1 +
                [disposal(station="st-c", ts=ts, bin="other", item="residual", category="other",
                          verdict="correct", household=None) for _ in range(11)], station="st-c")
    # st-b has no reader: no token is expected
    post_events(client, city, [disposal(station="st-b", ts=ts, household=None) for _ in range(12)], station="st-b")
    login(client, "city")
    body = client.get("/api/v1/stations/health", query_string={"within": "city"}).get_json()
    flags = {s["station_id"]: s["reader_silent"] for s in body["stations"]}
    assert flags == {"st-a": True, "st-b": False, "st-c": False}
