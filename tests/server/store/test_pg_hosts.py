"""Two server hosts on one PostgreSQL database, for real: two gunicorn
processes (scripts/benchlib.gunicorn) started together on an empty
database, then the same events posted to both at once."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import psycopg
import pytest

from scripts import benchlib
from server.store.migrations import migrations as sqlite_migrations

from ..support import REGIONS_CSV, disposal

pytestmark = pytest.mark.slow


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_two_gunicorn_hosts_on_one_database_store_each_event_once(fresh_pg_url, tmp_path):
    with ExitStack() as stack:
        # Both hosts (two workers each) start at once on the empty database:
        # the migrations run once between them.
        starting = [threading.Thread(target=lambda: bases.append(stack.enter_context(
            benchlib.gunicorn("server:create_app()", fresh_pg_url, workers=2, threads=8,
                              log_dir=tmp_path))))
            for _ in range(2)]
        bases: list[str] = []
        for t in starting:
            t.start()
        for t in starting:
            t.join(90)
        assert len(bases) == 2
        with psycopg.connect(fresh_pg_url) as conn:
            applied = conn.execute("SELECT name, count(*) FROM _migrations GROUP BY 1 ORDER BY 1").fetchall()
        assert applied == [(m.name, 1) for m in sqlite_migrations._migrations]

        regions = tmp_path / "regions.csv"
        regions.write_text(REGIONS_CSV, encoding="utf-8")
        benchlib.flask_cmd(fresh_pg_url, "import-regions", str(regions))
        benchlib.flask_cmd(fresh_pg_url, "add-station", "st-a", "--community", "110102001001")
        token = benchlib.flask_cmd(fresh_pg_url, "add-device", "dev-a",
                                   "--station", "st-a").strip().splitlines()[-1]
        for base in bases:
            assert call("GET", base + "/up/db") == (200, {"status": "ok", "database": "ok"})

        events = [disposal(event_id=str(uuid.uuid4()), verdict=("correct", "wrong")[i % 2])
                  for i in range(300)]
        # Every event goes to both hosts, in overlapping batches, at once.
        batches = [events[:200], events[100:], events]
        jobs = [(base, b) for b in batches for base in bases] * 2
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: call("POST", job[0] + "/api/v1/events",
                                                     {"device_id": "dev-a", "events": job[1]}, token),
                                    jobs))
        assert all(status == 200 for status, _ in results), results
        assert sum(body["accepted"] for _, body in results) == 300
        assert sum(body["duplicates"] for _, body in results) == sum(len(b) for _, b in jobs) - 300
        with psycopg.connect(fresh_pg_url) as conn:
            assert conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (300, 300)
            assert conn.execute("SELECT sum(disposals), sum(correct), sum(wrong) FROM rollup_period "
                                "WHERE scope = 'city' AND kind = 'month'").fetchone() == (300, 150, 150)
            assert conn.execute("SELECT sum(disposals) FROM rollup_station_hour").fetchone() == (300,)


class SseReader:
    """One server-sent-event stream read over a raw socket; collects what it
    has read so far and waits, up to a deadline, for a piece of text."""

    def __init__(self, base: str, path: str, cookie: str):
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
                           "Accept: text/event-stream\r\n\r\n").encode())
        self.text = ""

    def wait_for(self, needle: str, timeout: float) -> float | None:
        """The monotonic time `needle` was first read, or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.text += data.decode("utf-8", "replace")
        return time.monotonic()

    def close(self):
        self.sock.close()


def test_a_tablet_on_host_a_gets_the_prompt_of_a_disposal_ingested_on_host_b(fresh_pg_url, tmp_path):
    """Issue 14.5: the stream on one host polls the shared database, so a
    disposal that the other host stored is pushed within a second of the
    device's acknowledgement (each time, over several disposals)."""
    regions = tmp_path / "regions.csv"
    regions.write_text(REGIONS_CSV, encoding="utf-8")
    benchlib.flask_cmd(fresh_pg_url, "migrate")
    benchlib.flask_cmd(fresh_pg_url, "import-regions", str(regions))
    benchlib.flask_cmd(fresh_pg_url, "add-station", "st-a", "--community", "110102001001")
    token = benchlib.flask_cmd(fresh_pg_url, "add-device", "dev-a",
                               "--station", "st-a").strip().splitlines()[-1]
    benchlib.flask_cmd(fresh_pg_url, "add-user", "vol", "--role", "volunteer", "--scope", "st-a",
                       stdin="password-123\n")
    with ExitStack() as stack:
        host_a = stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url,
                                                       workers=2, threads=8, log_dir=tmp_path))
        host_b = stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url,
                                                       workers=1, threads=4, log_dir=tmp_path))
        assert host_a != host_b
        request = urllib.request.Request(host_a + "/api/v1/login", method="POST",
                                         data=json.dumps({"username": "vol",
                                                          "password": "password-123"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"].split(";", 1)[0]
        tablet = SseReader(host_a, "/station/st-a/stream", cookie)
        stack.callback(tablet.close)
        # The stream is open (its cursor taken) once its first counts arrive.
        assert tablet.wait_for("event: counts", 10) is not None, tablet.text[:500]
        assert tablet.text.startswith("HTTP/1.1 200"), tablet.text[:300]
        delays = []
        for i in range(5):
            ev = disposal(station="st-a", event_id=str(uuid.uuid4()),
                          verdict=("wrong", "correct")[i % 2])
            assert call("POST", host_b + "/api/v1/events",
                        {"device_id": "dev-a", "events": [ev]}, token)[1]["accepted"] == 1
            acked = time.monotonic()
            seen = tablet.wait_for(f'"event_id": "{ev["event_id"]}"', 1.0)
            assert seen is not None, (f"disposal {i} ingested on host B did not reach the tablet "
                                      f"on host A within 1 s; the stream read:\n{tablet.text[-1500:]}")
            delays.append(seen - acked)
        assert tablet.text.count("event: disposal") == 5
        # The counts that follow the last prompt are the database's: 3 wrong, 2 correct.
        assert tablet.wait_for('"wrong": 3', 1.0) is not None, tablet.text[-800:]
        assert max(delays) < 1.0, delays


def run_script(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=benchlib.ROOT, capture_output=True,
                            text=True, timeout=240, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout


def test_bench_ingest_measures_postgresql_behind_one_and_two_hosts_against_sqlite():
    from ..conftest import PG_ADMIN_URL
    out = run_script("scripts/bench_ingest.py", "--events", "1600", "--batch", "100",
                     "--clients", "2", "--database", PG_ADMIN_URL, "--hosts", "2")
    assert re.search(r"^SQLite, 1 host +[\d,]+ +1\.00 ", out, re.M), out
    for hosts in ("1 host", "2 hosts"):
        assert re.search(rf"^PostgreSQL, {hosts} +[\d,]+ +\d+\.\d\d +\d+\.\d\d +\d+ MiB", out, re.M), out
    assert "every PostgreSQL phase stored and counted each of its 1600 events once" in out
    assert "$ python scripts/bench_ingest.py --events 1600" in out


def test_bench_streams_hosts_delivers_every_prompt_across_hosts():
    from ..conftest import PG_ADMIN_URL
    out = run_script("scripts/bench_streams_hosts.py", "--streams", "4", "--seconds", "2",
                     "--threads", "16", "--database", PG_ADMIN_URL)
    row = re.search(r"^ +4 +(\d+) +(\d+) +(\d+)/(\d+) +(\d+) ", out, re.M)
    assert row, out
    opened, refused, delivered, sent, within = map(int, row.groups())
    assert (opened, refused) == (4, 0)
    assert delivered == sent == within > 0
    assert "command: python scripts/bench_streams_hosts.py --streams 4" in out
