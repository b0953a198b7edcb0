"""The real thing: gunicorn with gunicorn.conf.py on loopback over a real
SQLite file (and, where named, a PostgreSQL database), registered through
the real operator commands."""
from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from scripts import benchlib
from server.auth import PasswordCheckLock
from tests.polling import wait_until

from .proxy import NGINX, Tricklers, nginx_in_front, time_up
from .support import REGIONS_CSV, disposal
from .support import http_call as call

pytestmark = pytest.mark.slow


def test_ingest_under_gunicorn_with_concurrent_devices(tmp_path):
    db, token = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db) as base:
        assert call("GET", base + "/up/db") == (200, {"status": "ok", "database": "ok"})
        events = [disposal(event_id=str(uuid.uuid4())) for _ in range(300)]
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


def register(tmp_path, db=None):
    """A small registered city in a fresh file (or in `db`, a SQLite file or
    an empty PostgreSQL database); returns (db, device token)."""
    db = db or tmp_path / "g.db"
    regions = tmp_path / "regions.csv"
    regions.write_text(REGIONS_CSV, encoding="utf-8")
    benchlib.flask_cmd(db, "import-regions", str(regions))
    benchlib.flask_cmd(db, "add-station", "st-a", "--community", "110102001001")
    token = benchlib.flask_cmd(db, "add-device", "dev-a", "--station", "st-a").strip().splitlines()[-1]
    return db, token


def _descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in map(int, children):
            out += [child] + _descendants(child)
    return out


def _query(db, sql: str):
    """The first row of `sql` on the SQLite file or PostgreSQL database `db`."""
    if isinstance(db, str):
        import psycopg
        with psycopg.connect(db) as conn:
            return conn.execute(sql).fetchone()
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchone()


def _stored_ids(db) -> set[str]:
    if isinstance(db, str):
        import psycopg
        with psycopg.connect(db) as conn:
            return {row[0] for row in conn.execute("SELECT event_id FROM events")}
    with closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT event_id FROM events")}


COUNTS = ("SELECT count(*), count(DISTINCT event_id) FROM events",
          "SELECT sum(disposals) FROM rollup_day WHERE scope = '110102001001'",
          "SELECT sum(disposals) FROM rollup_day WHERE scope = 'city'",
          "SELECT sum(disposals) FROM rollup_station_hour WHERE station_id = 'st-a'")


def _counts(db) -> tuple[int, ...]:
    """Events stored, distinct ids, and what the community's, the city's and
    the station's roll-ups count (0 for none)."""
    rows, distinct = _query(db, COUNTS[0])
    return (rows, distinct, *((_query(db, sql)[0] or 0) for sql in COUNTS[1:]))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_during_ingest_loses_nothing_and_counts_nothing_twice(backend, tmp_path, request):
    """Devices post to one host and resend whatever was not acknowledged;
    kill -9 of the master and every worker mid-ingest, three times: after
    each kill every acknowledged event is stored, each stored event once,
    and the roll-ups count exactly the stored events (a transaction the
    kill cut short left nothing); after the resends each event is stored
    and counted exactly once."""
    target = tmp_path / "g.db" if backend == "sqlite" else request.getfixturevalue("fresh_pg_url")
    db, token = register(tmp_path, target)
    port = benchlib.free_port()
    env = benchlib.server_env(db, SORTWATCH_BIND=f"127.0.0.1:{port}", SORTWATCH_WORKERS=2,
                              SORTWATCH_THREADS=8)
    command = [sys.executable, "-m", "gunicorn", "-c", str(benchlib.ROOT / "gunicorn.conf.py"),
               "server:create_app()"]
    base = f"http://127.0.0.1:{port}"
    batches = [[disposal(station="st-a") for _ in range(50)] for _ in range(400)]
    acknowledged, lock, stop = set(), threading.Lock(), threading.Event()

    def device(my_batches):
        for batch in my_batches:
            if stop.is_set():
                return
            try:
                status, body = call("POST", base + "/api/v1/events",
                                    {"device_id": "dev-a", "events": batch}, token)
            except (OSError, http.client.HTTPException, ValueError):
                return  # the server went away mid-request: not acknowledged
            if status == 200:
                with lock:
                    acknowledged.update(ev["event_id"] for ev in batch)

    for round_ in range(3):
        server = subprocess.Popen(command, cwd=benchlib.ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        benchlib.wait_until_up(base + "/up")
        stop.clear()
        devices = [threading.Thread(target=device, args=(batches[i::4],)) for i in range(4)]
        for t in devices:
            t.start()
        # Kill once a share of this round's batches are acknowledged (not
        # after a fixed sleep: a fast machine ingests all of them in a second).
        started = len(acknowledged)
        wanted = started + 1000 * (round_ + 1)
        wait_until(lambda n=wanted: len(acknowledged) >= n, timeout=60, interval=0.002)
        for pid in _descendants(server.pid) + [server.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait()
        stop.set()
        for t in devices:
            t.join()
        if backend == "postgresql":
            # The killed workers' backends end once PostgreSQL notices the
            # closed sockets; a transaction still open then is rolled back.
            assert wait_until(lambda: _query(db, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                 "datname = current_database() AND "
                                                 "application_name = 'sortwatch'")[0] == 0,
                              timeout=30)
        stored = _stored_ids(db)
        assert acknowledged <= stored, f"round {round_}: {len(acknowledged - stored)} acknowledged events lost"
        rows, distinct, *counted = _counts(db)
        assert rows == distinct == len(stored)
        assert counted == [rows] * 3, f"round {round_}: {rows} events stored, roll-ups count {counted}"
    assert 0 < len(acknowledged) < sum(map(len, batches)), "the kills did not land mid-ingest"

    # Every device resends everything it has; the server counts each event once.
    with benchlib.gunicorn("server:create_app()", db, log_dir=tmp_path) as base2:
        for batch in batches:
            status, body = call("POST", base2 + "/api/v1/events", {"device_id": "dev-a", "events": batch},
                                token)
            assert status == 200 and not body["rejected"]
    total = sum(map(len, batches))
    assert _counts(db) == (total,) * 5


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")
def test_trickling_clients_stop_a_bare_gunicorn_but_not_one_behind_nginx(tmp_path):
    db, _ = register(tmp_path)
    # One worker of 8 threads: 16 trickling clients are more than its threads,
    # as 600 are more than the default 2 x 256.
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=8) as base:
        assert time_up(base) is not None
        with Tricklers(base, 16):
            assert time_up(base, timeout=3) is None       # the answer this test documents
        with nginx_in_front(base, tmp_path / "nginx") as proxied, Tricklers(proxied, 400):
            took = time_up(proxied, timeout=3)
            assert took is not None and took < 1.0


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")
def test_long_request_lines(tmp_path):
    db, _ = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=4) as base:
        # gunicorn.conf.py allows request lines up to 8190 bytes (gunicorn's own
        # default, 4094, would refuse this one)...
        status, body = call("GET", base + "/api/v1/nowhere?x=" + "a" * 6000)
        assert status == 404 and body["error"]["code"] == "not_found"
        with nginx_in_front(base, tmp_path / "nginx") as proxied:
            # ...and nginx in front refuses longer ones in the API's error shape.
            status, body = call("GET", proxied + "/api/v1/stats?x=" + "a" * 9000)
            assert status == 414 and body["error"]["code"] == "uri_too_long"


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")
def test_nginx_limits_logins_per_address_and_ingest_goes_on(tmp_path):
    """Behind the project's nginx, one address gets a burst of logins and then
    429 in the API's error shape, before gunicorn hashes anything; devices
    from the same address are not limited."""
    db, token = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=4,
                           extra_env={"SORTWATCH_TRUSTED_PROXIES": 1}) as base, \
            nginx_in_front(base, tmp_path / "nginx") as proxied:
        # All at once, so nginx's 1 r/s refill barely counts: sent one by
        # one, each waiting for its hash, they spread over seconds and nginx
        # rightly lets a few more through. Five of them are the web form,
        # which the same zone limits.
        def form_post(_):
            request = urllib.request.Request(proxied + "/login", data=b"username=a&password=b",
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    return r.status, None
            except urllib.error.HTTPError as err:
                err.close()
                return err.code, err.headers["Retry-After"]

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=35) as pool:
            api = [pool.submit(call, "POST", proxied + "/api/v1/login", {"username": f"u{i}", "password": "x"})
                   for i in range(30)]
            forms = [pool.submit(form_post, i) for i in range(5)]
            answers = [f.result() for f in api]
            form_answers = [f.result() for f in forms]
        took = time.monotonic() - started
        statuses = [status for status, _ in answers]
        assert 401 in statuses and 429 in statuses
        refused = next(body for status, body in answers if status == 429)
        assert refused["error"]["code"] in ("too_many_attempts", "server_busy")
        assert any(status == 429 and retry for status, retry in form_answers), form_answers
        statuses += [status for status, _ in form_answers]
        # nginx refused them itself after 1 + a burst of 5 (plus 1 a second
        # while they were answered): the server alone would have answered 10
        # failures before its own throttle (a form post nginx lets through
        # is a 400, its CSRF token missing)
        assert statuses.count(401) + statuses.count(400) <= 6 + int(took), (statuses, took)
        status, body = call("POST", proxied + "/api/v1/events",
                            {"device_id": "dev-a", "events": [disposal(station="st-a")]}, token)
        assert status == 200 and body["accepted"] == 1


def test_a_hosts_workers_check_passwords_one_at_a_time(tmp_path):
    """A login flood's password checks ran side by side on every core of the
    host and took them from ingest (README, "Floods"): every worker of a host
    takes its turn at one lock per database, and a login that waited in vain
    answers 429 server_busy, unchecked and not held against the username."""
    db, _ = register(tmp_path)
    benchlib.flask_cmd(db, "add-user", "sanlihe", "--role", "community", "--scope", "110102001001",
                       stdin="a-real-password-1\n")
    login = {"username": "sanlihe", "password": "a-real-password-1"}
    lock = PasswordCheckLock(db)   # the server's lock for the same database
    with benchlib.gunicorn("server:create_app()", db, workers=2, threads=4) as base:
        fd = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)   # another worker's check, running
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                waiting = list(pool.map(lambda _: call("POST", base + "/api/v1/login", login), range(4)))
        finally:
            os.close(fd)
        assert [(status, body["error"]["code"]) for status, body in waiting] == [(429, "server_busy")] * 4
        status, body = call("POST", base + "/api/v1/login", login)
        assert status == 200 and body["username"] == "sanlihe"
        status, body = call("POST", base + "/api/v1/login", dict(login, password="a-wrong-guess"))
        assert status == 401, body
