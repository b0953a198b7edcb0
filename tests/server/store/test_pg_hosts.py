"""Two server hosts on one PostgreSQL database, for real: two gunicorn
processes (scripts/benchlib.gunicorn) started together on an empty
database, then the same events posted to both at once; a tablet's stream on
one host and disposals ingested on the other; both behind the city's nginx
(deploy/nginx/nginx-city.conf and sortwatch.conf, as docker-compose.city.yml
runs them); and small runs of the PostgreSQL benchmarks."""
from __future__ import annotations

import json
import os
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
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest

from scripts import benchlib
from server.store.migrations import migrations as sqlite_migrations

from ...polling import wait_until
from ..proxy import NGINX, running_nginx, site_config, temp_paths
from ..support import REGIONS_CSV, disposal
from ..support import http_call as call

pytestmark = pytest.mark.slow


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


def station_with_volunteer(url: str, folder) -> str:
    """Station st-a with device dev-a (its token returned) and volunteer vol,
    through the operator commands."""
    regions = folder / "regions.csv"
    regions.write_text(REGIONS_CSV, encoding="utf-8")
    benchlib.flask_cmd(url, "migrate")
    benchlib.flask_cmd(url, "import-regions", str(regions))
    benchlib.flask_cmd(url, "add-station", "st-a", "--community", "110102001001")
    token = benchlib.flask_cmd(url, "add-device", "dev-a", "--station", "st-a").strip().splitlines()[-1]
    benchlib.flask_cmd(url, "add-user", "vol", "--role", "volunteer", "--scope", "st-a",
                       stdin="password-123\n")
    return token


def volunteer_cookie(base: str) -> str:
    request = urllib.request.Request(base + "/api/v1/login", method="POST",
                                     data=json.dumps({"username": "vol",
                                                      "password": "password-123"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
        return r.headers["Set-Cookie"].split(";", 1)[0]


def test_a_tablet_on_host_a_gets_the_prompt_of_a_disposal_ingested_on_host_b(fresh_pg_url, tmp_path):
    """Issue 14.5: the stream on one host polls the shared database, so a
    disposal that the other host stored is pushed within a second of the
    device's acknowledgement (each time, over several disposals)."""
    token = station_with_volunteer(fresh_pg_url, tmp_path)
    with ExitStack() as stack:
        host_a = stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url,
                                                       workers=2, threads=8, log_dir=tmp_path))
        host_b = stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url,
                                                       workers=1, threads=4, log_dir=tmp_path))
        assert host_a != host_b
        tablet = SseReader(host_a, "/station/st-a/stream", volunteer_cookie(host_a))
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


@contextmanager
def city_proxy(upstreams: list[str], folder: Path):
    """nginx run as docker-compose.city.yml runs it: deploy/nginx/nginx-city.conf
    as its main file and sortwatch.conf as the site, with the container's
    paths made this test's and the replicas' address replaced by `upstreams`
    (what the names "server" and "devices" resolve to there). One worker process, so that
    its round robin over the upstreams is the only spreading."""
    port = benchlib.free_port()
    folder.mkdir(parents=True, exist_ok=True)
    main = (benchlib.ROOT / "deploy" / "nginx" / "nginx-city.conf").read_text(encoding="utf-8")
    temp = temp_paths(folder)
    for old, new in [
            ("user nginx;", "user root;" if os.geteuid() == 0 else ""),
            # In the foreground, so that stopping the process stops nginx (as a
            # daemon its master outlived the test).
            ("worker_processes auto;", "daemon off; worker_processes 1;"),
            ("error_log /var/log/nginx/error.log notice;", f"error_log {folder}/error.log notice;"),
            ("pid /var/run/nginx.pid;", f"pid {folder}/nginx.pid;"),
            ("access_log /var/log/nginx/access.log;", f"access_log off; {temp}"),
            ("include /etc/nginx/conf.d/*.conf;", f"include {folder}/site.conf;")]:
        assert old in main, old
        main = main.replace(old, new)
    (folder / "site.conf").write_text(site_config(upstreams, port), encoding="utf-8")
    (folder / "nginx.conf").write_text(main, encoding="utf-8")
    with running_nginx(folder, port, check=True) as base:
        yield base


def access_lines(folder: Path, base: str, request_line: str) -> list[str]:
    """The access-log lines of one host (benchlib.gunicorn logs into folder)."""
    log = folder / f"gunicorn-{base.rsplit(':', 1)[1]}.log"
    return [line for line in log.read_text(encoding="utf-8").splitlines() if f'"{request_line} ' in line]


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")
def test_the_city_proxy_spreads_tablets_and_devices_over_two_hosts_and_every_tablet_gets_every_prompt(
        fresh_pg_url, tmp_path):
    token = station_with_volunteer(fresh_pg_url, tmp_path)
    logged = {"SORTWATCH_ACCESS_LOG": "-", "SORTWATCH_TRUSTED_PROXIES": 1}
    with ExitStack() as stack:
        hosts = [stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url, workers=1,
                                                       threads=8, extra_env=logged, log_dir=tmp_path))
                 for _ in range(2)]
        proxy = stack.enter_context(city_proxy(hosts, tmp_path / "nginx"))
        cookie = volunteer_cookie(proxy)
        tablets = [SseReader(proxy, "/station/st-a/stream", cookie) for _ in range(6)]
        for t in tablets:
            stack.callback(t.close)
        for t in tablets:
            assert t.wait_for("event: counts", 10) is not None, t.text[:500]
            assert t.text.startswith("HTTP/1.1 200"), t.text[:300]
        events = [disposal(station="st-a", event_id=str(uuid.uuid4())) for _ in range(4)]
        for ev in events:
            status, body = call("POST", proxy + "/api/v1/events",
                                {"device_id": "dev-a", "events": [ev]}, token)
            assert (status, body["accepted"]) == (200, 1), body
            acked = time.monotonic()
            for k, t in enumerate(tablets):
                seen = t.wait_for(f'"event_id": "{ev["event_id"]}"', max(0.0, acked + 1.0 - time.monotonic()))
                assert seen is not None, f"tablet {k} did not get the prompt within 1 s:\n{t.text[-800:]}"
        # Both hosts took devices' batches ...
        posts = [access_lines(tmp_path, h, "POST /api/v1/events") for h in hosts]
        assert all(posts) and sum(map(len, posts)) == 4, posts
        # ... and streams: each host logs a stream when it ends, which is soon
        # after its tablet hangs up.
        for t in tablets:
            t.close()
        assert wait_until(lambda: sum(len(access_lines(tmp_path, h, "GET /station/st-a/stream"))
                                      for h in hosts) == 6, timeout=10)
        streams = [access_lines(tmp_path, h, "GET /station/st-a/stream") for h in hosts]
        assert all(streams), streams
        assert all('" 200 ' in line for lines in streams for line in lines), streams
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (4,)


def test_the_proxy_keeps_a_quiet_stream_open_longer_than_its_heartbeat():
    """A stream with nothing to say writes a heartbeat every 15 s; nginx must
    wait longer than that for it (read) and for a tablet to take it (send)."""
    from server.web.station import DEFAULTS
    site = (benchlib.ROOT / "deploy" / "nginx" / "sortwatch.conf").read_text(encoding="utf-8")
    block = re.search(r"location ~ \^/station/\[\^/\]\+/stream\$ \{(.*?)\}", site, re.S).group(1)
    read = int(re.search(r"proxy_read_timeout (\d+)s;", block).group(1))
    send = int(re.search(r"^    send_timeout (\d+)s;", site, re.M).group(1))
    assert "proxy_buffering off;" in block
    assert min(read, send) > DEFAULTS["WEB_STREAM_HEARTBEAT"] * 1.5


class InProcessStreams:
    """`n` streams of st-a from the Flask test client, each read by a thread."""

    def __init__(self, client, n: int):
        self.chunks: list[list[str]] = [[] for _ in range(n)]
        self.responses = [client.get("/station/st-a/stream", buffered=False) for _ in range(n)]
        assert [r.status_code for r in self.responses] == [200] * n
        self.threads = [threading.Thread(target=self._read, args=(k,), daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()

    def _read(self, k: int) -> None:
        for chunk in self.responses[k].response:
            self.chunks[k].append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    def all_have(self, text: str) -> bool:
        return all(any(text in c for c in chunks) for chunks in self.chunks)

    def close(self) -> None:
        for t in self.threads:
            t.join(10)
        for r in self.responses:
            r.close()


def test_many_streams_of_a_process_share_one_look_at_the_database(app, client, city, monkeypatch):
    """On both stores: ten open streams cost the watcher's one query per poll,
    not one each (they read events only when woken), and every one of them
    gets a new disposal."""
    from server.store.events import EventStore
    from server.web import station

    from ..support import login, post_events
    app.config.update(WEB_STREAM_POLL=0.05, WEB_STREAM_MAX_SECONDS=4.0, WEB_STREAM_HEARTBEAT=10.0)
    reads, looks = [0], [0]
    events_after, latest_cursors = EventStore.events_after, station._latest_cursors

    def counted_read(self, *args, **kwargs):
        reads[0] += 1
        return events_after(self, *args, **kwargs)

    def counted_look(*args):
        looks[0] += 1
        return latest_cursors(*args)
    monkeypatch.setattr(EventStore, "events_after", counted_read)
    monkeypatch.setattr(station, "_latest_cursors", counted_look)
    login(client, "vol")
    streams = InProcessStreams(client, 10)
    try:
        assert wait_until(lambda: streams.all_have("event: counts"), timeout=5)
        # Past each stream's first read and the wake of its station's first look:
        assert wait_until(lambda: looks[0] >= 3, timeout=5)
        reads_before, looks_before = reads[0], looks[0]
        assert wait_until(lambda: looks[0] >= looks_before + 10, timeout=5)
        # Ten polls of ten streams: a hundred reads if each stream polled.
        assert reads[0] - reads_before <= 2, (reads[0] - reads_before, looks[0] - looks_before)
        ev = disposal(station="st-a")
        assert post_events(client, city, [ev]).status_code == 200
        assert wait_until(lambda: streams.all_have(ev["event_id"]), timeout=2)
    finally:
        streams.close()


def test_streams_poll_for_themselves_while_the_watcher_cannot_look(app, client, city, monkeypatch):
    from server.web import station

    from ..support import login, post_events

    def broken(*args):
        raise station.store_pkg.StoreError("the database is away")
    monkeypatch.setattr(station, "_latest_cursors", broken)
    app.config.update(WEB_STREAM_POLL=0.05, WEB_STREAM_MAX_SECONDS=4.0, WEB_STREAM_HEARTBEAT=10.0)
    login(client, "vol")
    streams = InProcessStreams(client, 3)
    try:
        assert wait_until(lambda: streams.all_have("event: counts"), timeout=5)
        ev = disposal(station="st-a")
        assert post_events(client, city, [ev]).status_code == 200
        # The watcher stops counting as healthy 2 polls + 1 s after its last answer.
        assert wait_until(lambda: streams.all_have(ev["event_id"]), timeout=3)
    finally:
        streams.close()


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")
def test_a_host_killed_behind_the_city_proxy_loses_no_batch_and_counts_none_twice(fresh_pg_url, tmp_path):
    """Devices post through the proxy while one of the two hosts is killed
    (SIGKILL, master and workers): every batch is answered 200 (nginx sends a
    batch the dead host had to the other, sortwatch.conf's non_idempotent),
    and every event is stored and counted once."""
    import signal
    token = station_with_volunteer(fresh_pg_url, tmp_path)
    with ExitStack() as stack:
        hosts = [stack.enter_context(benchlib.gunicorn("server:create_app()", fresh_pg_url, workers=2,
                                                       threads=4, log_dir=tmp_path))
                 for _ in range(2)]
        proxy = stack.enter_context(city_proxy(hosts, tmp_path / "nginx"))
        victims = benchlib.host_pids(int(hosts[0].rsplit(":", 1)[1]))
        assert len(victims) == 3   # the master and its two workers
        stop, answers, lock = threading.Event(), [], threading.Lock()

        def device():
            while not stop.is_set():
                batch = [disposal(station="st-a", event_id=str(uuid.uuid4())) for _ in range(50)]
                status, body = call("POST", proxy + "/api/v1/events",
                                    {"device_id": "dev-a", "events": batch}, token)
                with lock:
                    answers.append((status, body, batch))

        devices = [threading.Thread(target=device) for _ in range(4)]
        for t in devices:
            t.start()
        try:
            assert wait_until(lambda: len(answers) >= 20, timeout=30)
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            killed_at = len(answers)
            assert wait_until(lambda: len(answers) >= killed_at + 40, timeout=30)
        finally:
            stop.set()
            for t in devices:
                t.join(30)
    assert [status for status, _, _ in answers if status != 200] == [], \
        [body for status, body, _ in answers if status != 200][:3]
    acknowledged = {ev["event_id"] for _, _, batch in answers for ev in batch}
    with psycopg.connect(fresh_pg_url) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
        rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        counted = conn.execute("SELECT sum(disposals) FROM rollup_period "
                               "WHERE scope = 'city' AND kind = 'month'").fetchone()[0]
    assert acknowledged <= stored
    assert rows == len(stored) == counted
