"""The camera's outputs per model version (rollup_model_period): kept at
ingest, unchanged by feedback that corrects an item, taken back when a
volunteer says they helped, and equal to a recomputation from the events,
on both stores."""
from __future__ import annotations

from server import store as store_pkg

from ..support import disposal, login, post_events

OLD, NEW = "waste-effl0-int8@3fa2c1d0", "waste-effl0-int8@871d0c72"


def test_camera_outputs_per_model_version_follow_ingest_and_feedback(app, client, city):
    events = ([disposal(model=OLD, verdict="correct", bin="hazardous") for _ in range(3)]
              + [disposal(model=OLD, verdict="wrong") for _ in range(2)]
              + [disposal(model=NEW, verdict="uncertain") for _ in range(2)]
              + [disposal(model=NEW, verdict="wrong", assisted=True)]
              + [disposal(model=NEW, verdict="wrong", ts="2026-10-20T09:00:00+08:00")])
    body = post_events(client, city, events).get_json()
    assert body["accepted"] == len(events), body["rejected"]
    login(client, "vol")
    wrong = events[3]["event_id"]
    helped = events[4]["event_id"]
    # the camera was wrong: the counted verdict changes, the camera's output does not
    assert client.post(f"/api/v1/events/{wrong}/feedback",
                       json={"camera_wrong": True, "item": "plastic"}).status_code == 200
    # a volunteer helped: the disposal leaves self-directed accuracy, and the camera's counts
    assert client.post(f"/api/v1/events/{helped}/feedback", json={"assisted": True}).status_code == 200

    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        month = events[0]["ts"][:7]
        live = s.camera_outputs("110102", "month", month)
        assert live == {OLD: {"correct": 3, "wrong": 1, "uncertain": 0},
                        NEW: {"correct": 0, "wrong": 0, "uncertain": 2}}
        assert s.camera_outputs("110102001001", "inspection", "2026-11")[NEW]["wrong"] == 1
        assert s.camera_outputs("110105", "month", month) == {}
        before = {(scope, kind, period): s.camera_outputs(scope, kind, period)
                  for scope in ("city", "110102", "110102001", "110102001001")
                  for kind, period in (("month", month), ("month", "2026-10"), ("inspection", "2026-11"))}
        s.rebuild_camera_outputs()
        after = {key: s.camera_outputs(*key) for key in before}
    finally:
        s.close()
    assert after == before
