"""The PostgreSQL store's own guarantees, on a real PostgreSQL server: store
selection by SORTWATCH_DATABASE, migrations once under concurrent starts,
monthly partitions and pruning by partition, exactly-once ingest across
connections, and the read timeout. (Everything else the store does runs on
both backends through the parametrised fixtures of tests/server/conftest.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from server import create_app
from server.settings import PROJECT_ROOT, Settings, SettingsError
from server.store import StoreUnavailable, pg_migrations, postgres
from server.store.migrations import migrations as sqlite_migrations

from ..conftest import _pg_reset
from ..support import BEIJING, disposal, make_settings, post_events

# --- selection -----------------------------------------------------------------


def _settings(value: str) -> Settings:
    return Settings.from_env({"SORTWATCH_ENV": "test", "SORTWATCH_DATABASE": value})


def test_the_database_setting_selects_the_store(tmp_path):
    assert _settings(str(tmp_path / "a.db")).database == tmp_path / "a.db"
    assert _settings("sqlite:///relative/b.db").database == Path("relative/b.db")
    assert _settings(f"sqlite:///{tmp_path}/c.db").database == tmp_path / "c.db"
    assert _settings("postgresql:///city").database == "postgresql:///city"
    url = "postgresql://sortwatch@db.example:5433/city"
    assert _settings(url).database == url


@pytest.mark.parametrize("value, words", [
    ("mysql://root@localhost/city", "must be a file path, sqlite:///PATH or postgresql://"),
    ("postgresql://bad host/city", "not a usable PostgreSQL URL"),
    ("sqlite://relative.db", "a SQLite URL is sqlite:///PATH"),
])
def test_an_unusable_database_setting_is_refused_by_name(value, words):
    with pytest.raises(SettingsError) as caught:
        _settings(value)
    message = str(caught.value)
    assert message.startswith("SORTWATCH_DATABASE") and words in message and "\n" not in message


def test_an_unreachable_database_stops_the_start_in_one_line(tmp_path):
    url = "postgresql://root:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(SettingsError) as caught:
        create_app({"SETTINGS": make_settings(url), "TESTING": True})
    message = str(caught.value)
    assert message.startswith("SORTWATCH_DATABASE=postgresql://root:***@127.0.0.1:1/nowhere")
    assert "s3cret" not in message and "\n" not in message
    # The operator's command says the same, as one line, and exits non-zero.
    env = dict(os.environ, SORTWATCH_ENV="test", SORTWATCH_DATABASE=url)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "migrate"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    # (flask then adds its usage lines, as for every setting it cannot start with)
    first = done.stderr.splitlines()[0]
    assert first.startswith("Error: SORTWATCH_DATABASE=") and "cannot connect" in first, done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr
    # gunicorn stops in its master, before any worker, with the same line.
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "gunicorn.conf.py"),
                           "server:create_app()"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(env, SORTWATCH_BIND="127.0.0.1:0", PYTHONPATH=str(PROJECT_ROOT)))
    assert done.returncode != 0 and "Traceback" not in done.stderr and "s3cret" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "sortwatch cannot start: SORTWATCH_DATABASE=postgresql://root:***@127.0.0.1:1/nowhere: cannot connect")


# --- migrations ------------------------------------------------------------------


def test_postgres_migrations_follow_the_sqlite_history():
    assert [name for name, _ in pg_migrations.MIGRATIONS] == \
        [m.name for m in sqlite_migrations._migrations]


def test_hosts_starting_together_run_each_migration_once(fresh_pg_url):
    barrier, errors = threading.Barrier(4), []

    def start():
        try:
            barrier.wait()
            postgres.migrate(fresh_pg_url)
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)
    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with psycopg.connect(fresh_pg_url) as conn:
        rows = conn.execute("SELECT name, count(*) FROM _migrations GROUP BY name ORDER BY name").fetchall()
    assert rows == [(m.name, 1) for m in sqlite_migrations._migrations]


def test_period_backfill_on_postgres_matches_live_period_labels(fresh_pg_url):
    from datetime import date

    from server.rollups import periods_of
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(0, 400, 3)]
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        pg_migrations.apply(conn, stop_before="m005_period_rollups")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO rollup_day(scope, day, staffed, disposals, correct) "
                            "VALUES ('city', %s, 0, 1, 1)", [(d.isoformat(),) for d in days])
    postgres.migrate(fresh_pg_url)
    with psycopg.connect(fresh_pg_url) as conn:
        got = {(kind, label): n for kind, label, n in conn.execute(
            "SELECT kind, period, disposals FROM rollup_period WHERE scope = 'city'").fetchall()}
    want: dict = {}
    for d in days:
        for key in periods_of(d.isoformat()):
            want[key] = want.get(key, 0) + 1
    assert got == want


def test_partitions_are_made_ahead_and_a_month_without_one_still_stores(fresh_pg_url):
    postgres.migrate(fresh_pg_url)
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        names = [n for n, _, _ in pg_migrations.month_partitions(conn)]
        today = datetime.now(BEIJING).date()
        assert pg_migrations.partition_name(today.replace(day=1)) in names
        assert len(names) == pg_migrations.MONTHS_BACK + pg_migrations.MONTHS_AHEAD + 1
        ahead = pg_migrations._month(today, pg_migrations.MONTHS_AHEAD)
        assert names[-1] == pg_migrations.partition_name(ahead)


# --- ingest across connections -------------------------------------------------------


def _where(url: str, event_ids) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT event_id, tableoid::regclass::text FROM events "
                                 "WHERE event_id = ANY(%s)", (list(event_ids),)).fetchall())


def _waiting_on_locks(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock'").fetchone()[0]


@pytest.fixture
def other_host(db_path):
    """other_host(n): an app on the same database with a pool and an ingest
    writer of its own, as another host has (a different URL string names
    them: fallback_application_name changes nothing else)."""
    urls = []

    def make(n: int):
        urls.append(f"{db_path}?fallback_application_name=host{n}")
        return create_app({"SETTINGS": make_settings(urls[-1]), "TESTING": True})
    yield make
    for url in urls:
        postgres.close_pools(url)


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_the_same_batch_at_two_hosts_at_once_is_stored_once(app, city, db_path, other_host):
    """Host A has claimed the ids and not committed yet when host B gets the
    same batch: B waits for A, then answers every event as a duplicate."""
    litter = {k: v for k, v in disposal().items() if k in ("event_id", "ts", "station_id", "bin")}
    events = [disposal(verdict="correct"), disposal(verdict="wrong"), dict(litter, type="litter")]
    answers: dict[str, dict] = {}
    with psycopg.connect(db_path) as blocker:
        # A stops after claiming its ids: it needs the events table, locked here.
        blocker.execute("LOCK TABLE events IN SHARE MODE")

        hosts = {"A": app, "B": other_host(1)}

        def post(host):
            answers[host] = post_events(hosts[host].test_client(), city, events).get_json()
        a = threading.Thread(target=post, args=("A",))
        a.start()
        deadline = time.monotonic() + 10
        while _waiting_on_locks(db_path) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        b = threading.Thread(target=post, args=("B",))
        b.start()
        while _waiting_on_locks(db_path) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_on_locks(db_path) == 2, "A and B should both be waiting now"
        blocker.rollback()
    a.join(30)
    b.join(30)
    assert answers["A"] == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert answers["B"] == {"accepted": 0, "duplicates": 3, "rejected": []}
    with psycopg.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3
        assert conn.execute("SELECT sum(disposals), sum(litter) FROM rollup_station_hour").fetchone() == (2, 1)


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_the_tablet_feed_misses_no_event_committed_out_of_order(app, city, db_path, other_host):
    """Batch A of a station is held before its commit (at the daily roll-up)
    when batch B of the same station, which needs no daily roll-up, arrives.
    B must not commit first: a feed that moved past B's cursor would never
    see A's events, whose cursors are lower."""
    a_events = [disposal(verdict="correct"), disposal(verdict="wrong")]
    litter = {k: v for k, v in disposal().items() if k in ("event_id", "ts", "station_id", "bin")}
    b_events = [dict(litter, type="litter")]
    store = postgres.connect(db_path)
    seen, cursor = [], store.latest_cursor("st-a")

    def read_feed():
        nonlocal cursor
        for ev in store.events_after("st-a", cursor, 100):
            seen.append(ev["event_id"])
            cursor = ev["cursor"]
    answers: dict[str, dict] = {}
    with psycopg.connect(db_path) as blocker:
        blocker.execute("LOCK TABLE rollup_day IN SHARE MODE")
        a = threading.Thread(target=lambda: answers.update(A=post_events(app.test_client(), city, a_events).get_json()))
        a.start()
        deadline = time.monotonic() + 10
        while _waiting_on_locks(db_path) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        host_b = other_host(1)
        b = threading.Thread(target=lambda: answers.update(B=post_events(host_b.test_client(), city, b_events).get_json()))
        b.start()
        b.join(1.0)        # without the station's lock, B commits now
        read_feed()        # the tablet polls meanwhile
        blocker.rollback()
    a.join(30)
    b.join(30)
    read_feed()
    assert answers["A"]["accepted"] == 2 and answers["B"]["accepted"] == 1
    assert sorted(seen) == sorted(e["event_id"] for e in a_events + b_events)


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_many_hosts_racing_on_one_rollup_lose_no_count(app, city, db_path, other_host):
    """Eight hosts post overlapping batches at once: every id is stored
    once, and the shared roll-up rows count each event once."""
    shared = [disposal(verdict="correct") for _ in range(40)]
    own = [[disposal(verdict="wrong") for _ in range(10)] for _ in range(8)]
    barrier, answers = threading.Barrier(8), []

    apps = [other_host(i) for i in range(8)]

    def host(i):
        client = apps[i].test_client()
        barrier.wait()
        answers.append(post_events(client, city, shared[i * 5:] + shared[:i * 5] + own[i]).get_json())
    threads = [threading.Thread(target=host, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 8 and all(a["rejected"] == [] for a in answers)
    assert sum(a["accepted"] for a in answers) == 40 + 80
    assert sum(a["duplicates"] for a in answers) == 7 * 40
    with psycopg.connect(db_path) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (120, 120)
        assert conn.execute("SELECT sum(disposals), sum(correct), sum(wrong) FROM rollup_period "
                            "WHERE scope = 'city' AND kind = 'month'").fetchone() == (120, 40, 80)


# --- partitions and pruning ------------------------------------------------------------


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_events_go_to_their_month_and_prune_drops_whole_partitions(app, client, city, runner, db_path):
    now = datetime.now(BEIJING)
    old = [now - timedelta(days=d) for d in (330, 300, 200, 120, 10)]
    events = [disposal(ts=t.isoformat(timespec="milliseconds")) for t in old]
    assert post_events(client, city, events).get_json()["accepted"] == 5
    where = _where(db_path, [e["event_id"] for e in events])
    for ev, t in zip(events, old, strict=True):
        assert where[ev["event_id"]] == f"events_p{t:%Y%m}"
    store = postgres.connect(db_path)
    assert store.put_evidence(events[0]["event_id"], b"\xff\xd8jpeg", now.isoformat())

    app.config["SETTINGS"] = make_settings(db_path, event_retention_days=250)
    result = runner.invoke(args=["prune-events"])
    cutoff = (now - timedelta(days=250)).date()
    assert result.exit_code == 0, result.output
    assert f"deleted 2 raw events and 1 evidence images from before {cutoff}" in result.output
    partitions = store.event_partitions()
    for t in old[:2]:
        if f"{t:%Y%m}" < f"{cutoff:%Y%m}":
            assert f"events_p{t:%Y%m}" not in partitions   # dropped whole
    assert f"events_p{cutoff:%Y%m}" in partitions          # the cutoff's month stays
    assert sorted(_where(db_path, [e["event_id"] for e in events])) == \
        sorted(e["event_id"] for e in events[2:])
    assert store.evidence(events[0]["event_id"]) is None
    # The roll-ups of the pruned days stay.
    with psycopg.connect(db_path) as conn:
        assert conn.execute("SELECT sum(disposals) FROM rollup_day WHERE scope = 'city'").fetchone()[0] == 5


# --- the read timeout ------------------------------------------------------------------


def test_reads_stop_at_the_statement_timeout(pg_database):
    url = pg_database + "?application_name=sortwatch-timeout-test"  # a pool of its own
    postgres.configure(url, read_timeout_seconds=1, pool_size=2)
    store = postgres.connect(url)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="took longer than allowed") as caught:
            store.conn.execute("SELECT pg_sleep(5)")
        assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
        assert time.monotonic() - started < 4
        # An operator's bulk change is not cut short by the read timeout.
        with store._maintenance_write():
            store.conn.execute("SELECT pg_sleep(1.2)")
        assert store.ping()
    finally:
        postgres.close_pools(url)


# --- the dialect -------------------------------------------------------------------------


def test_text_with_nul_finds_nothing_and_is_never_stored(pg_database):
    from server.store import StoreError
    postgres.migrate(pg_database)
    _pg_reset(pg_database)
    store = postgres.connect(pg_database)
    assert store.station("st-\x00") is None and store.user("a\x00") is None
    with pytest.raises(StoreError, match="NUL"):
        store.add_user({"username": "a\x00", "password_hash": "x", "role": "city", "scope": "",
                        "created_at": "2026-01-01T00:00:00+00:00"})
    assert store.user("a") is None


def test_operator_commands_on_postgres(pg_database, tmp_path):
    """migrate names the database without its password; backup explains
    pg_dump and writes nothing."""
    app = create_app({"SETTINGS": make_settings(pg_database), "TESTING": True})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0
    assert f"{len(sqlite_migrations._migrations)} migrations applied, latest {sqlite_migrations._migrations[-1].name}" in result.output
    target = tmp_path / "backup.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 1 and "pg_dump --format=custom" in result.output
    assert "WAL archiving" in result.output and not target.exists()


def test_load_demo_on_postgres(pg_database, tmp_path, monkeypatch):
    """The demo loads into PostgreSQL too; its device tokens go to instance/
    (here a temporary folder), there being no database file to sit beside."""
    import server.demo
    monkeypatch.setattr(server.demo, "PROJECT_ROOT", tmp_path)
    _pg_reset(pg_database)
    app = create_app({"SETTINGS": make_settings(pg_database), "TESTING": True})
    result = app.test_cli_runner().invoke(args=["load-demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "demo-devices.json").is_file()
    assert "demo loaded: 1 district" in result.output
    _pg_reset(pg_database)   # the tests that use pg_database alone expect it empty


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_dropped_connections_answer_503_then_the_server_recovers(app, client, city, db_path):
    """The database drops every connection of the server (as in a restart):
    requests answer 503 in the one error shape, nothing half-stored, and the
    next ones succeed on new connections without restarting anything."""
    ev = disposal()
    assert post_events(client, city, [disposal()]).get_json()["accepted"] == 1   # pool warm
    with psycopg.connect(db_path, autocommit=True) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                              "AND application_name = 'sortwatch'").fetchone()[0]
    assert killed >= 1
    statuses = []
    for _ in range(killed + 1):
        r = post_events(client, city, [ev])
        statuses.append(r.status_code)
        if r.status_code == 503:
            body = r.get_json()
            assert body["error"]["code"] == "database_unavailable" and r.headers["Retry-After"] == "2"
        else:
            break
    assert statuses[-1] == 200 and 503 in statuses, statuses
    assert r.get_json() == {"accepted": 1, "duplicates": 0, "rejected": []}   # stored once, now
    assert client.get("/up/db").status_code == 200


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_corrections_and_ingest_on_one_rollup_at_once_lose_no_update(app, city, db_path):
    """Volunteers' corrections (each event's twice at once) and new events of
    the same station, day and hour, from many connections at once: the
    roll-ups end equal to a count of the stored events."""
    from server.rollups import COUNTERS, disposal_counters
    first = [disposal(verdict=("correct", "wrong")[i % 2]) for i in range(24)]
    assert post_events(app.test_client(), city, first).get_json()["accepted"] == 24
    later = [[disposal(verdict="wrong") for _ in range(6)] for _ in range(4)]
    barrier, failures = threading.Barrier(8), []

    def volunteer(part):
        client = app.test_client()
        from ..support import login
        login(client, "vol")
        barrier.wait()
        for ev in first[part % 2::2]:       # every event corrected by two volunteers at once
            r = client.post(f"/api/v1/events/{ev['event_id']}/feedback", json={"assisted": True})
            if r.status_code != 200:
                failures.append(r.get_json())

    def device(batch):
        barrier.wait()
        for ev in batch:
            if post_events(app.test_client(), city, [ev]).get_json()["accepted"] != 1:
                failures.append(ev)
    threads = ([threading.Thread(target=volunteer, args=(i,)) for i in range(4)]
               + [threading.Thread(target=device, args=(b,)) for b in later])
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    with psycopg.connect(db_path) as conn:
        stored = conn.execute("SELECT verdict, assisted FROM events").fetchall()
        rolled = conn.execute(f"SELECT {', '.join(f'sum({c})' for c in COUNTERS)} FROM rollup_period "
                              "WHERE scope = 'city' AND kind = 'month'").fetchone()
    want = [0] * len(COUNTERS)
    for verdict, assisted in stored:
        for i, v in enumerate(disposal_counters(verdict, bool(assisted))):
            want[i] += v
    assert len(stored) == 48 and want[1] == 24
    assert list(rolled) == want


def test_a_database_seen_gone_makes_the_next_requests_wait_briefly_but_a_busy_pool_does_not(fresh_pg_url, monkeypatch):
    """After the pool could not open a connection, the next borrow waits DOWN_WAIT_SECONDS, not the whole
    pool wait (tests/server/store/test_pg_restart.py runs it under a real restart); a pool that is merely
    full (every connection in use) is load, and keeps the whole wait."""
    monkeypatch.setattr(postgres, "POOL_WAIT_SECONDS", 1.5)
    monkeypatch.setattr(postgres, "DOWN_WAIT_SECONDS", 0.1)
    monkeypatch.setattr(postgres, "_down_until", {})

    gone = "postgresql://root@127.0.0.1:1/nowhere?connect_timeout=1"
    store = postgres.PgStore(gone)
    with pytest.raises(StoreUnavailable):
        store.conn.execute("SELECT 1")
    assert gone in postgres._down_until
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.conn.execute("SELECT 1")
    assert time.monotonic() - started < 1.0  # the brief wait, not the 1.5 s one
    postgres.close_pools(gone)

    url = fresh_pg_url + ("&" if "?" in fresh_pg_url else "?") + "connect_timeout=5"  # a pool of its own
    postgres.configure(url, pool_size=1)
    busy = postgres.PgStore(url)
    held, release = threading.Event(), threading.Event()

    def hold():
        with busy.write():
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(StoreUnavailable):  # another request's store, as each request has its own
            postgres.PgStore(url).conn.execute("SELECT 1")
        assert url not in postgres._down_until
    finally:
        release.set()
        t.join(10)
    assert busy.conn.execute("SELECT 1").fetchone()[0] == 1
    postgres.close_pools(url)
