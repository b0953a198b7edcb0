"""PostgreSQL restarted while a real gunicorn host serves devices: a private
cluster of the test's own (tests/server/private_pg.py) is stopped and
started again under the host, which is never restarted."""
from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest

from scripts import benchlib
from server.store.postgres import DOWN_WAIT_SECONDS, POOL_WAIT_SECONDS

from ...polling import wait_until
from ..private_pg import BINDIR, private_cluster
from ..support import REGIONS_CSV, disposal

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BINDIR is None, reason="PostgreSQL's initdb and pg_ctl are not installed")]


def post(base: str, body: dict, token: str) -> tuple[int, dict, str | None]:
    """(status, JSON body, Retry-After) of a device's POST."""
    request = urllib.request.Request(base + "/api/v1/events", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read()), r.headers["Retry-After"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers["Retry-After"]


def test_postgresql_restarted_under_a_serving_host_answers_503_then_recovers_losing_nothing(tmp_path):
    with private_cluster() as cluster:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE city")
        url = cluster.url("city")
        regions = tmp_path / "regions.csv"
        regions.write_text(REGIONS_CSV, encoding="utf-8")
        benchlib.flask_cmd(url, "import-regions", str(regions))
        benchlib.flask_cmd(url, "add-station", "st-a", "--community", "110102001001")
        token = benchlib.flask_cmd(url, "add-device", "dev-a", "--station", "st-a").strip().splitlines()[-1]

        with benchlib.gunicorn("server:create_app()", url, workers=2, threads=8,
                               log_dir=tmp_path) as base:
            pids = sorted(benchlib.host_pids(int(base.rsplit(":", 1)[1])))
            # (answered at, seconds taken, status, body, Retry-After, batch)
            answers: list[tuple[float, float, int, dict, str | None, list]] = []
            lock, stop = threading.Lock(), threading.Event()

            def device():
                # A device keeps a batch until it is acknowledged, as edge's outbox does.
                batch = None
                while not stop.is_set():
                    batch = batch or [disposal(station="st-a", event_id=str(uuid.uuid4()))
                                      for _ in range(20)]
                    sent = time.monotonic()
                    try:
                        status, body, retry = post(base, {"device_id": "dev-a", "events": batch}, token)
                    except (OSError, http.client.HTTPException) as exc:
                        status, body, retry = -1, {"exception": repr(exc)}, None
                    with lock:
                        answered = time.monotonic()
                        answers.append((answered, answered - sent, status, body, retry, batch))
                    if status == 200:
                        batch = None
                    else:
                        time.sleep(0.05)

            devices = [threading.Thread(target=device) for _ in range(4)]
            for t in devices:
                t.start()
            try:
                assert wait_until(lambda: len(answers) >= 40, timeout=30)
                cluster.stop("fast")          # ends every connection, as a restart does
                stopped = time.monotonic()
                assert wait_until(lambda: sum(1 for a in list(answers) if a[0] > stopped + 0.2) >= 8,
                                  timeout=60)
                cluster.start()
                started = time.monotonic()
                assert wait_until(lambda: sum(1 for a in list(answers)
                                              if a[0] > started and a[2] == 200) >= 40, timeout=60)
            finally:
                stop.set()
                for t in devices:
                    t.join(60)
            # The same host served throughout: no process was restarted.
            assert sorted(benchlib.host_pids(int(base.rsplit(":", 1)[1]))) == pids
            with urllib.request.urlopen(base + "/up/db", timeout=10) as r:
                assert r.status == 200

        # (A batch committed just before the stop may be answered just after it.)
        down = [a for a in answers if stopped + 0.2 < a[0] < started]
        assert down and [a[3] for a in down if a[2] != 503] == []
        for _, _, _, body, retry, _ in down:
            assert set(body) == {"error"} and body["error"]["code"] == "database_unavailable", body
            assert isinstance(body["error"]["message"], str) and retry == "2"
        assert [a[3] for a in answers if a[2] not in (200, 503)] == []

        acknowledged = {ev["event_id"] for _, _, status, _, _, batch in answers if status == 200
                        for ev in batch}
        with psycopg.connect(url) as conn:
            stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
            rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            counted = conn.execute("SELECT sum(disposals) FROM rollup_period WHERE scope = 'city' "
                                   "AND kind = 'month'").fetchone()[0]
            station = conn.execute("SELECT sum(disposals) FROM rollup_station_hour").fetchone()[0]
        # While the database is away a request waits for the pool at most
        # POOL_WAIT_SECONDS before its 503; none hangs beyond that. Once a
        # request has seen it go, the others answer 503 within DOWN_WAIT_SECONDS
        # instead of each holding a worker thread for the whole pool wait: only
        # a request already waiting when the first error came (one per device)
        # may take longer.
        assert max(a[1] for a in down) < POOL_WAIT_SECONDS + 3
        slow = [a[1] for a in down if a[1] > DOWN_WAIT_SECONDS + 1.5]
        assert len(slow) <= len(devices), (len(slow), len(down), sorted(a[1] for a in down)[-8:])
        # Every batch was acknowledged in the end (the devices retried it), and
        # each event is stored and counted once.
        assert acknowledged == stored
        assert rows == len(stored) == counted == station
