"""The real thing: gunicorn with gunicorn.conf.py on loopback over a real
SQLite file, registered through the real operator commands."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from scripts import benchlib

from .support import REGIONS_CSV, disposal

pytestmark = pytest.mark.slow


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_ingest_under_gunicorn_with_concurrent_devices(tmp_path):
    db = tmp_path / "g.db"
    regions = tmp_path / "regions.csv"
    regions.write_text(REGIONS_CSV, encoding="utf-8")
    benchlib.flask_cmd(db, "import-regions", str(regions))
    benchlib.flask_cmd(db, "add-station", "st-a", "--community", "110102001001")
    token = benchlib.flask_cmd(db, "add-device", "dev-a", "--station", "st-a").strip().splitlines()[-1]
    with benchlib.gunicorn("server:create_app()", db) as base:
        assert call("GET", base + "/up/db") == (200, {"status": "ok", "database": "ok"})
        events = [disposal(event_id=str(uuid.uuid4())) for _ in range(300)]
        from concurrent.futures import ThreadPoolExecutor
        # The same 300 events sent three times at once, in overlapping halves:
        # each event must be stored exactly once.
        batches = [events[:200], events[100:], events] * 2
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda b: call("POST", base + "/api/v1/events",
                                                   {"device_id": "dev-a", "events": b}, token),
                                    batches))
        assert all(status == 200 for status, _ in results)
        assert sum(body["accepted"] for _, body in results) == 300
        assert sum(body["duplicates"] for _, body in results) == sum(map(len, batches)) - 300
        status, body = call("POST", base + "/api/v1/events", {"device_id": "dev-a"}, token)
        assert status == 400 and body["error"]["details"][0]["field"] == "events"
