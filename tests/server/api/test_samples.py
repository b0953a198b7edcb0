"""Learning samples (issue 17, point 1) and their labels (point 2), on both stores."""
from __future__ import annotations

import base64

import cv2
import numpy as np

from server import store as store_pkg

from ..support import disposal, login, make_settings, post_events
from .test_events import assert_error_shape

DIMS = 1280


def crop_jpeg(seed=0, size=96) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return data.tobytes()


def sample_body(station="st-a", confidence=0.4, seed=0, jpeg=None, dims=DIMS, embedding=None, **extra):
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=dims).astype("<f4") if embedding is None else embedding
    probs = [confidence] + [(1 - confidence) / 11] * 11
    body = {"station_id": station, "crop": base64.b64encode(jpeg or crop_jpeg(seed)).decode(),
            "embedding": base64.b64encode(vector.tobytes()).decode(), "dims": dims,
            "probs": probs, "confidence": confidence, "rejection_score": 1.2}
    body.update(extra)
    return body


def put_sample(client, city, event_id, body, station="st-a"):
    return client.put(f"/api/v1/events/{event_id}/sample", json=body,
                      headers={"Authorization": f"Bearer {city.tokens[station]}"})


def stored(app):
    return store_pkg.connect(app.config["SETTINGS"].database)


def test_a_sample_is_kept_once_with_the_events_model_and_its_embedding(app, client, city):
    ev = disposal(verdict="uncertain", item="plastic", category="recyclable", confidence=0.41)
    assert post_events(client, city, [ev]).status_code == 200
    body = sample_body(confidence=0.41, seed=3)
    r = put_sample(client, city, ev["event_id"], body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"event_id": ev["event_id"], "labelled": False}
    # A resend changes nothing.
    assert put_sample(client, city, ev["event_id"], sample_body(confidence=0.9, seed=4)).status_code == 200
    s = stored(app)
    try:
        sample = s.sample(ev["event_id"])
        assert sample["model"] == ev["model"] and sample["rules"] == ev["rules"]
        assert sample["item"] == "plastic" and sample["verdict"] == "uncertain"
        assert sample["station_id"] == "st-a" and sample["device_id"] == "dev-st-a"
        assert abs(sample["uncertainty"] - 0.59) < 1e-6 and sample["has_image"]
        assert s.sample_image(ev["event_id"]) == base64.b64decode(body["crop"])
        assert s.training_samples() == []  # not labelled yet
    finally:
        s.close()


def test_a_sample_for_another_station_is_forbidden(client, city):
    ev_a, ev_b = disposal(station="st-a"), disposal(station="st-b")
    post_events(client, city, [ev_a])
    post_events(client, city, [ev_b], station="st-b")
    # st-a's device posts for st-b: by naming it, or with st-b's event.
    assert_error_shape(put_sample(client, city, ev_b["event_id"], sample_body(station="st-b")), 403, "forbidden")
    assert_error_shape(put_sample(client, city, ev_b["event_id"], sample_body(station="st-a")), 403, "forbidden")
    assert_error_shape(put_sample(client, city, ev_a["event_id"], sample_body(station="st-b")), 403, "forbidden")
    # And nothing was stored.
    assert put_sample(client, city, ev_a["event_id"], sample_body()).status_code == 201


def test_bad_samples_are_refused(client, city):
    ev = disposal(verdict="uncertain")
    post_events(client, city, [ev])
    eid = ev["event_id"]
    assert_error_shape(put_sample(client, city, "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e99", sample_body()), 404)
    assert_error_shape(put_sample(client, city, eid, sample_body(jpeg=crop_jpeg()[:300])), 400, "invalid_image")
    assert_error_shape(put_sample(client, city, eid, sample_body(jpeg=b"\x89PNG\r\n\x1a\n" + b"0" * 64)),
                       400, "invalid_image")
    assert_error_shape(put_sample(client, city, eid, sample_body(embedding=np.zeros(10, "<f4"))), 400)
    nan = np.zeros(DIMS, "<f4")
    nan[5] = np.nan
    assert_error_shape(put_sample(client, city, eid, sample_body(embedding=nan)), 400)
    assert_error_shape(put_sample(client, city, eid, sample_body(confidence=1.5)), 400)
    assert_error_shape(put_sample(client, city, eid, dict(sample_body(), extra=1)), 400)
    assert_error_shape(put_sample(client, city, eid, dict(sample_body(), crop="not base64!")), 400)
    too_big = dict(sample_body(), crop="A" * 400_000)
    assert_error_shape(put_sample(client, city, eid, too_big), 413)
    r = client.put(f"/api/v1/events/{eid}/sample", data=b"x", content_type="image/jpeg",
                   headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert_error_shape(r, 415)
    assert client.put(f"/api/v1/events/{eid}/sample", json=sample_body()).status_code == 401
    assert put_sample(client, city, eid, sample_body()).status_code == 201


def correct(client, event_id, item):
    login(client, "vol")
    r = client.post(f"/api/v1/events/{event_id}/feedback", json={"camera_wrong": True, "item": item})
    assert r.status_code == 200, r.get_json()
    client.post("/api/v1/logout")


def heartbeat(client, city, station="st-a"):
    from datetime import datetime

    from ..support import BEIJING
    body = {"device_id": f"dev-{station}", "ts": datetime.now(BEIJING).isoformat(timespec="milliseconds"),
            "fps": 10, "dropped_frames": 0, "queue_depth": 0, "pending_events": 0, "camera": "ok",
            "uptime_s": 1, "version": "sortwatch-edge/1"}
    r = client.post("/api/v1/heartbeat", json=body, headers={"Authorization": f"Bearer {city.tokens[station]}"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_volunteers_corrections_arrive_labelled_and_the_heartbeat_names_them(app, client, city):
    wrong, unsure = disposal(verdict="wrong"), disposal(verdict="uncertain", item="plastic",
                                                        category="recyclable")
    post_events(client, city, [wrong, unsure])
    assert heartbeat(client, city)["corrected"] == []
    correct(client, wrong["event_id"], "plastic")
    assert heartbeat(client, city)["corrected"] == [wrong["event_id"]]
    assert heartbeat(client, city, "st-b")["corrected"] == []
    # The corrected disposal's sample arrives after the correction: labelled by the volunteer.
    r = put_sample(client, city, wrong["event_id"], sample_body(confidence=0.93))
    assert r.status_code == 201 and r.get_json()["labelled"] is True
    # An uncertain one sent before its correction is labelled when it is corrected.
    put_sample(client, city, unsure["event_id"], sample_body(seed=2))
    correct(client, unsure["event_id"], "glass")
    s = stored(app)
    try:
        first = s.sample(wrong["event_id"])
        assert (first["item"], first["verdict"], first["label"], first["label_role"], first["label_by"]) == \
            ("battery", "wrong", "plastic", "volunteer", "vol")
        second = s.sample(unsure["event_id"])
        assert second["label"] == "glass" and second["history"][0]["role"] == "volunteer"
        training = s.training_samples()
        assert sorted(t["label"] for t in training) == ["glass", "plastic"]
        assert len(training[0]["embedding"]) == 4 * DIMS
    finally:
        s.close()


def labelled_queue(city, client):
    city.add_user("lab-city", "labeller", "")
    city.add_user("lab-cy", "labeller", "110105")
    events = [disposal(verdict="uncertain", confidence=c) for c in (0.45, 0.2, 0.3)]
    post_events(client, city, events)
    for i, ev in enumerate(events):
        assert put_sample(client, city, ev["event_id"], sample_body(confidence=ev["confidence"], seed=i)).status_code == 201
    return events


def test_labellers_queue_most_uncertain_first_and_labels_keep_who_and_when(app, client, city):
    events = labelled_queue(city, client)
    login(client, "lab-city")
    body = client.get("/api/v1/samples").get_json()
    assert [s["event_id"] for s in body["samples"]] == [events[1]["event_id"], events[2]["event_id"],
                                                        events[0]["event_id"]]
    labels = {x["label"]: x["zh"] for x in body["labels"]}
    assert labels["battery"] == "电池" and labels["not_waste"].startswith("不是垃圾")
    assert body["counts"] == {"total": 3, "labelled": 0}
    first = body["samples"][0]
    image = client.get(first["image_url"])
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    # Skipped ones stay out of the queue the page asks for.
    skipped = client.get("/api/v1/samples", query_string={"skip": first["event_id"]}).get_json()
    assert skipped["samples"][0]["event_id"] == events[2]["event_id"]
    r = client.post(f"/api/v1/samples/{first['event_id']}/label", json={"label": "battery_lithium"})
    assert r.status_code == 200 and r.get_json()["label"] == "battery_lithium"
    assert r.get_json()["label_role"] == "labeller" and r.get_json()["label_by"] == "lab-city"
    # A label outside the rule set is refused, and changes nothing.
    assert_error_shape(client.post(f"/api/v1/samples/{first['event_id']}/label", json={"label": "car"}), 400)
    assert_error_shape(client.post(f"/api/v1/samples/{first['event_id']}/label", json={}), 400)
    # Reviewed and changed: the history keeps both.
    r = client.post(f"/api/v1/samples/{first['event_id']}/label", json={"label": "not_waste"})
    assert r.get_json()["label"] == "not_waste"
    detail = client.get(f"/api/v1/samples/{first['event_id']}").get_json()
    assert [(h["label"], h["role"], h["username"]) for h in detail["history"]] == [
        ("battery_lithium", "labeller", "lab-city"), ("not_waste", "labeller", "lab-city")]
    assert all(h["at"] for h in detail["history"])
    queue = client.get("/api/v1/samples").get_json()
    assert first["event_id"] not in [s["event_id"] for s in queue["samples"]]
    assert queue["counts"] == {"total": 3, "labelled": 1}
    review = client.get("/api/v1/samples", query_string={"state": "labelled"}).get_json()
    assert [s["event_id"] for s in review["samples"]] == [first["event_id"]]


def test_only_labellers_of_the_samples_scope_label(client, city):
    events = labelled_queue(city, client)
    eid = events[0]["event_id"]
    for user in ("city", "vol", "insp", "xicheng"):
        login(client, user)
        assert_error_shape(client.get("/api/v1/samples"), 403)
        assert_error_shape(client.post(f"/api/v1/samples/{eid}/label", json={"label": "battery"}), 403)
        client.post("/api/v1/logout")
    login(client, "lab-cy")  # a labeller of Chaoyang: st-a is in Xicheng
    assert client.get("/api/v1/samples").get_json()["samples"] == []
    assert_error_shape(client.get(f"/api/v1/samples/{eid}"), 403)
    assert_error_shape(client.get(f"/api/v1/samples/{eid}/image"), 403)
    assert_error_shape(client.post(f"/api/v1/samples/{eid}/label", json={"label": "battery"}), 403)
    client.post("/api/v1/logout")
    assert client.get("/api/v1/samples").status_code == 401


def test_prune_deletes_old_unlabelled_samples_and_old_images(app, client, city, runner):
    events = labelled_queue(city, client)
    login(client, "lab-city")
    client.post(f"/api/v1/samples/{events[0]['event_id']}/label", json={"label": "glass"})
    s = stored(app)
    try:
        with s.write():
            s.conn.execute("UPDATE samples SET received_at = ? WHERE event_id <> ?",
                           ("2020-01-01T00:00:00+00:00", events[2]["event_id"]))
    finally:
        s.close()
    app.config["SETTINGS"] = make_settings(app.config["SETTINGS"].database, sample_retention_days=30)
    result = runner.invoke(args=["prune-events"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 unlabelled learning samples and the images of 1 labelled ones" in result.output
    s = stored(app)
    try:
        assert s.sample(events[1]["event_id"]) is None           # old, unlabelled: gone
        kept = s.sample(events[0]["event_id"])                    # old, labelled: no image, embedding kept
        assert kept["label"] == "glass" and not kept["has_image"]
        assert len(s.training_samples()) == 1
        assert s.sample(events[2]["event_id"])["has_image"]       # recent: untouched
    finally:
        s.close()


def test_items_the_model_does_not_know_can_be_labelled(app, client, city):
    """A sample judged under beijing@2020.1 (the model's twelve items) is labelled with the newest rule
    set of that city, which names masks, nappies, medicine...: what train-head then learns as new items."""
    events = labelled_queue(city, client)
    login(client, "lab-city")
    labels = {x["label"]: x for x in client.get("/api/v1/samples").get_json()["labels"]}
    assert (labels["face_mask"]["zh"], labels["face_mask"]["category"]) == ("口罩", "other")
    assert labels["medicine"]["category"] == "hazardous" and "battery" in labels
    eid = events[0]["event_id"]
    r = client.post(f"/api/v1/samples/{eid}/label", json={"label": "face_mask"})
    assert r.status_code == 200 and r.get_json()["label"] == "face_mask"
    assert client.get(f"/api/v1/samples/{eid}").get_json()["history"][-1]["label"] == "face_mask"
