"""POST /api/v1/events, evidence and heartbeat, as in docs/design.md §5."""
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


@pytest.mark.parametrize("change, field", [
    ({"rules": "/proc/self/mem@1"}, "rules"),       # once opened as a file, 500 on every dashboard
    ({"rules": "/usr/bin/env@1"}, "rules"),
    ({"rules": "../../models/rules/beijing"}, "rules"),
    ({"rules": "beijing@1999.9"}, "rules"),         # a name the server knows, not this version
    ({"rules": "beijing"}, "rules"),                # a tag is NAME@VERSION
    ({"item": "uranium"}, "item"),                  # not an item of the rule set
    ({"category": "kitchen"}, "category"),          # a battery is hazardous under beijing@2020.1
    ({"model": "waste\ud800"}, "model"),            # once a 500 for the whole batch
    ({"rules": "beijing@2020.1\ud800"}, "rules"),
])
def test_rule_set_and_unicode_are_checked_per_event(app, client, city, change, field):
    good = disposal()
    body = post_events(client, city, [good, disposal(**change)]).get_json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 1 and field in {e["field"] for e in rejected["errors"]}
    assert events_in_db(app) == 1


def test_lone_surrogate_sent_as_raw_json_rejects_only_its_event(app, client, city):
    good, bad = disposal(), disposal()
    text = json.dumps({"device_id": "dev-st-a", "events": [good, bad]})
    text = text.replace('"waste-effl0-int8@3fa2c1d0"', '"waste\\ud800"', 2).replace(
        '"waste\\ud800"', '"waste-effl0-int8@3fa2c1d0"', 1)
    r = client.post("/api/v1/events", data=text, content_type="application/json",
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["accepted"] == 1 and r.get_json()["rejected"][0]["index"] == 1


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim another size."""
    data = bytearray(jpeg_bytes((16, 16)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("data, words", [
    (jpeg_claiming(12000, 12000), "at most"),      # once accepted: 16 at once took 7.5 GB
    (jpeg_claiming(65500, 65500), "at most"),      # once a 500 (Pillow's bomb error)
    (jpeg_claiming(1281, 10), "at most"),          # longer than a device ever sends
    (jpeg_bytes() + b"trailing data", "follow the end"),
    (jpeg_bytes() + jpeg_bytes(), "follow the end"),
    (jpeg_bytes()[:-2], "truncated"),
    (jpeg_bytes()[:300], "truncated"),
    (b"\xff\xd8\xff\xd9", "no frame header"),
])
def test_evidence_bombs_and_damaged_files_are_refused(app, client, city, data, words):
    ev = disposal()
    post_events(client, city, [ev])
    error = assert_error_shape(put_evidence(client, city, ev["event_id"], data), 400, "invalid_image")
    assert words in error["message"]
    s = store_pkg.connect(app.config["SETTINGS"].database)
    assert s.evidence(ev["event_id"]) is None
    s.close()


def test_evidence_as_the_device_makes_it_is_accepted(client, city):
    import numpy as np

    from edge.privacy.evidence import make_evidence
    frame = np.random.default_rng(1).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    for max_px in (320, 1280):
        ev = disposal()
        post_events(client, city, [ev])
        data = make_evidence(frame, (600, 300, 80, 80), max_px=max_px)
        assert put_evidence(client, city, ev["event_id"], data).status_code == 201


def test_evidence_is_served_with_nosniff(client, city):
    ev = disposal()
    post_events(client, city, [ev])
    put_evidence(client, city, ev["event_id"], jpeg_bytes())
    from ..support import login
    login(client, "sanlihe")
    r = client.get(f"/api/v1/events/{ev['event_id']}/evidence")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_heartbeat_refuses_non_finite_numbers(client, city, raw):
    body = json.dumps({"device_id": "dev-st-a", "ts": datetime.now(BEIJING).isoformat(),
                       "fps": 0}).replace('"fps": 0', f'"fps": {raw}')
    r = client.post("/api/v1/heartbeat", data=body, content_type="application/json",
                    headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, 400)
