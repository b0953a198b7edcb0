"""POST /api/v1/events, evidence and heartbeat, as in DESIGN.md section 5."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from PIL import Image

from server import store as store_pkg

from ..support import BEIJING, disposal, post_events


def events_in_db(app):
    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        return s.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        s.close()


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_batch_is_stored_and_counted_once(app, client, city):
    events = [disposal(), disposal(verdict="correct", bin="hazardous"),
              {"event_id": "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e10", "type": "bin_full",
               "ts": "2026-11-29T07:42:13.250+08:00", "station_id": "st-a", "bin": "kitchen"}]
    first = post_events(client, city, events)
    assert first.get_json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = post_events(client, city, events)
    assert again.get_json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert events_in_db(app) == 3


def test_repeated_id_inside_one_batch_is_a_duplicate(app, client, city):
    ev = disposal()
    body = post_events(client, city, [ev, dict(ev)]).get_json()
    assert body == {"accepted": 1, "duplicates": 1, "rejected": []}


def test_uppercase_event_id_is_the_same_event(app, client, city):
    ev = disposal()
    post_events(client, city, [ev])
    upper = dict(ev, event_id=ev["event_id"].upper())
    assert post_events(client, city, [upper]).get_json()["duplicates"] == 1


@pytest.mark.parametrize("change, field", [
    ({"ts": "2026-11-29T07:42:13"}, "ts"),                     # no offset
    ({"ts": "2026-02-30T07:42:13+08:00"}, "ts"),               # no such day
    ({"confidence": "high"}, "confidence"),
    ({"confidence": 1.5}, "confidence"),
    ({"assisted": "no"}, "assisted"),
    ({"verdict": "maybe"}, "verdict"),
    ({"bin": "green"}, "bin"),
    ({"colour": "red"}, "colour"),                              # unknown field
    ({"station_id": "st-nowhere"}, "station_id"),               # unknown station
    ({"station_id": "st-b"}, "station_id"),                     # not this device's
    ({"event_id": "not-a-uuid"}, "event_id"),
    ({"household": "张三"}, "household"),                        # not an opaque token
    ({"type": ["disposal"]}, "type"),                           # once a 500: unhashable type
])
def test_invalid_event_is_rejected_alone(app, client, city, change, field):
    good = disposal()
    bad = disposal(**change)
    body = post_events(client, city, [good, bad]).get_json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert field in {e["field"] for e in rejected["errors"]}
    assert events_in_db(app) == 1


def test_missing_fields_are_each_named(client, city):
    body = post_events(client, city, [{"type": "disposal", "station_id": "st-a"}]).get_json()
    fields = {e["field"] for e in body["rejected"][0]["errors"]}
    assert {"event_id", "ts", "bin", "item", "category", "verdict", "confidence",
            "model", "rules"} <= fields


def test_far_future_and_too_old_timestamps(client, city):
    future = (datetime.now(BEIJING) + timedelta(hours=2)).isoformat()
    old = (datetime.now(BEIJING) - timedelta(days=500)).isoformat()
    body = post_events(client, city, [disposal(ts=future), disposal(ts=old)]).get_json()
    assert body["accepted"] == 0
    messages = [e["errors"][0]["message"] for e in body["rejected"]]
    assert "future" in messages[0] and "older" in messages[1]


def test_bin_the_station_does_not_have(client, city):
    body = post_events(client, city, [disposal(station="st-c", bin="kitchen")],
                       station="st-c").get_json()
    assert body["rejected"][0]["errors"][0]["field"] == "bin"


def test_non_disposal_events_take_only_their_fields(client, city):
    ev = {"event_id": "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e11", "type": "litter",
          "ts": "2026-11-29T07:42:13+08:00", "station_id": "st-a", "bin": "other",
          "item": "battery"}
    body = post_events(client, city, [ev]).get_json()
    assert body["rejected"][0]["errors"] == [
        {"field": "item", "message": "is not allowed on a litter event"}]


def test_not_json(client, city):
    r = client.post("/api/v1/events", data="{not json", content_type="application/json",
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, 400, "invalid_json")


def test_wrong_content_type(client, city):
    r = client.post("/api/v1/events", data="x", content_type="text/plain",
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, 415)


@pytest.mark.parametrize("body, status", [
    ([], 400),
    ({"device_id": "dev-st-a"}, 400),
    ({"device_id": "dev-st-a", "events": {}}, 400),
    ({"device_id": "dev-st-a", "events": [], "extra": 1}, 400),
    ({"device_id": "dev-st-b", "events": []}, 403),
])
def test_malformed_batches(client, city, body, status):
    r = client.post("/api/v1/events", json=body,
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, status)


def test_too_many_events(app, client, city):
    r = post_events(client, city, [disposal() for _ in range(501)])
    assert_error_shape(r, 413, "too_many_events")
    assert events_in_db(app) == 0


def test_oversize_body(app, client, city):
    ev = disposal(model="m" * 80)
    body = {"device_id": "dev-st-a", "events": [ev] * 2, "pad": "x" * (1024 * 1024)}
    r = client.post("/api/v1/events", data=json.dumps(body), content_type="application/json",
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, 413)
    assert events_in_db(app) == 0


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic abc"])
def test_bad_tokens(client, city, header):
    headers = {"Authorization": header} if header else {}
    r = client.post("/api/v1/events", json={"device_id": "dev-st-a", "events": []},
                    headers=headers)
    assert_error_shape(r, 401)


def test_revoked_token(app, client, city, runner):
    assert runner.invoke(args=["revoke-device", "dev-st-a"]).exit_code == 0
    r = post_events(client, city, [disposal()])
    assert assert_error_shape(r, 401, "token_revoked")
    assert events_in_db(app) == 0


def jpeg_bytes(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def put_evidence(client, city, event_id, data, station="st-a", content_type="image/jpeg"):
    return client.put(f"/api/v1/events/{event_id}/evidence", data=data,
                      content_type=content_type,
                      headers={"Authorization": f"Bearer {city.tokens[station]}"})


def test_evidence_is_stored_for_own_event(app, client, city):
    ev = disposal()
    post_events(client, city, [ev])
    data = jpeg_bytes()
    r = put_evidence(client, city, ev["event_id"], data)
    assert r.status_code == 201 and r.get_json()["bytes"] == len(data)
    assert put_evidence(client, city, ev["event_id"], data).status_code == 200
    s = store_pkg.connect(app.config["SETTINGS"].database)
    assert s.evidence(ev["event_id"]) == data
    s.close()


def test_evidence_refusals(client, city):
    ev = disposal()
    post_events(client, city, [ev])
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    assert_error_shape(put_evidence(client, city, ev["event_id"], png.getvalue()), 415)
    assert_error_shape(put_evidence(client, city, ev["event_id"], b"\xff\xd8\xff garbage"), 400)
    assert_error_shape(put_evidence(client, city, ev["event_id"], jpeg_bytes()[:200]), 400)
    assert_error_shape(put_evidence(client, city, ev["event_id"], jpeg_bytes(),
                                    content_type="text/plain"), 415)
    big = b"\xff\xd8" + b"\0" * (256 * 1024)
    assert_error_shape(put_evidence(client, city, ev["event_id"], big), 413)
    assert_error_shape(put_evidence(client, city, "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e99",
                                    jpeg_bytes()), 404)
    assert_error_shape(put_evidence(client, city, ev["event_id"], jpeg_bytes(),
                                    station="st-b"), 403)


def heartbeat(client, city, station="st-a", **fields):
    body = {"device_id": f"dev-{station}", "ts": datetime.now(BEIJING).isoformat(),
            "fps": 14.5, "dropped_frames": 3, "queue_depth": 0, "oldest_pending": None,
            "model": "waste-effl0-int8@3fa2c1d0", "rules": "beijing@2020.1",
            "disk_free": 10_000_000, "camera": "ok"}
    body.update(fields)
    return client.post("/api/v1/heartbeat", json=body,
                       headers={"Authorization": f"Bearer {city.tokens[station]}"})


def test_heartbeat_records_health_and_online_time(app, client, city):
    first = heartbeat(client, city)
    assert first.status_code == 200 and first.get_json()["online_seconds_credited"] == 0
    s = store_pkg.connect(app.config["SETTINGS"].database)
    status = s.station_status("st-a")
    assert status["health"]["fps"] == 14.5 and status["device_id"] == "dev-st-a"
    # Pretend the previous heartbeat was 50 s ago, then one hour ago.
    for ago, credited in ((50, 50), (3600, 120)):
        earlier = (datetime.fromisoformat(status["last_heartbeat"]) - timedelta(seconds=ago))
        s.conn.execute("UPDATE station_status SET last_heartbeat = ?", (earlier.isoformat(),))
        s.conn.commit()
        got = heartbeat(client, city).get_json()["online_seconds_credited"]
        assert credited <= got <= credited + 5
        status = s.station_status("st-a")
    s.close()


@pytest.mark.parametrize("fields, status", [
    ({"fps": "fast"}, 400), ({"ts": "yesterday"}, 400), ({"ts": "2026-11-29T07:00:00"}, 400),
    ({"colour": 1}, 400), ({"device_id": "dev-st-b"}, 403)])
def test_bad_heartbeats(client, city, fields, status):
    assert_error_shape(heartbeat(client, city, **fields), status)
