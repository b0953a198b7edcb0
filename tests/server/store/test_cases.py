"""Cases in the store, on both backends: opened in the ingest transaction,
once per finding however it arrives, and a refused change leaves nothing."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest

from server import store as store_pkg
from server.errors import ApiError
from server.timeutil import BEIJING

from ..support import post_events


def litter(state=None):
    ev = {"event_id": str(uuid.uuid4()), "type": "litter", "station_id": "st-a", "bin": "other",
          "ts": datetime.now(BEIJING).isoformat(timespec="milliseconds")}
    return {**ev, "state": state} if state else ev


def at_once(app, city, batches):
    """Post each batch from its own thread and client, all at the same moment."""
    barrier = threading.Barrier(len(batches))
    answers = [None] * len(batches)

    def send(i, batch):
        client = app.test_client()
        barrier.wait()
        answers[i] = post_events(client, city, batch).get_json()
    threads = [threading.Thread(target=send, args=(i, b)) for i, b in enumerate(batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_the_same_finding_sent_at_once_opens_one_case(app, city):
    ev = litter()
    answers = at_once(app, city, [[ev]] * 4)
    assert sorted(a["accepted"] for a in answers) == [0, 0, 0, 1]
    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        [case] = s.cases("city")
        assert case["event_id"] == ev["event_id"]
        assert [h["action"] for h in s.case_history(case["id"])] == ["opened"]
    finally:
        s.close()


def test_two_findings_of_one_station_at_once_open_one_case(app, city):
    answers = at_once(app, city, [[litter()] for _ in range(4)])
    assert sum(a["accepted"] for a in answers) == 4
    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        assert len(s.cases("city")) == 1
        assert len(s.unresolved_cases(station_id="st-a")) == 1
    finally:
        s.close()


def test_a_refused_change_stores_nothing(app, city, client):
    post_events(client, city, [litter()])
    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        [case] = s.cases("city")

        def change(row, now):
            assert row["state"] == "open"
            raise ApiError(400, "invalid_transition", "no")
        with pytest.raises(ApiError):
            s.change_case(case["id"], change, "2030-01-01T00:00:00.000+00:00", ("x", "city"))
        assert s.case(case["id"]) == case
        assert len(s.case_history(case["id"])) == 1
    finally:
        s.close()
