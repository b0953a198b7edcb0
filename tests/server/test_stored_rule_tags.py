"""A rule-set tag already in the store is looked up among the shipped rule
sets, never opened as a path, on every page and route that reads it (events
stored before ingest checked tags)."""
from __future__ import annotations

import pytest

from server import store as store_pkg

from .support import disposal, login, post_events


@pytest.mark.parametrize("tag", ["/proc/self/mem@1", "/usr/bin/env@1", "../../etc/passwd@1"])
def test_pages_and_feedback_survive_a_hostile_stored_tag(app, client, city, tag):
    ev = disposal()
    post_events(client, city, [ev])
    s = store_pkg.connect(app.config["SETTINGS"].database)
    s.conn.execute("UPDATE events SET rules = ?", (tag,))
    s.conn.commit()
    s.close()
    login(client, "sanlihe")
    assert client.get("/dashboard/110102001001").status_code == 200
    login(client, "vol")
    assert client.get("/station/st-a").status_code == 200
    assert client.get("/api/v1/stations/st-a/events").status_code == 200
    r = client.post(f"/api/v1/events/{ev['event_id']}/feedback",
                    json={"camera_wrong": True, "item": "glass"})
    assert r.status_code == 200 and r.get_json()["category"] == "recyclable"
