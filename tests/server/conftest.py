"""Fixtures over a fresh store for every test, on both backends.

Every test under tests/server that builds an app (through `db_path`, hence
`app`, `client`, `runner`, `city`) runs twice: on a fresh SQLite file and on
PostgreSQL. The PostgreSQL database is created once per test session (a
unique name on SORTWATCH_TEST_POSTGRES, default the local server) and dropped
at its end; its tables are emptied before each test. If PostgreSQL cannot
be reached the PostgreSQL variants FAIL, never skip: start it with
scripts/start_postgres.sh.

Tests that read the SQLite file itself (PRAGMAs, sqlite3, file copies) stay
on SQLite: SQLITE_ONLY below names them. tests/web imports these fixtures
without this module's parametrisation, so its tests run on SQLite."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from datetime import date
from pathlib import Path

import pytest

from server import create_app

from .support import City, make_settings

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get("SORTWATCH_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")

# (module path under tests/server, test name prefix or "") of tests that
# exercise SQLite itself, each with the reason.
SQLITE_ONLY = {
    ("test_demo.py", ""): "reads the demo's SQLite file with sqlite3",
    ("test_gunicorn.py", ""): "starts gunicorn on its own SQLite file (its kill -9 test names both)",
    ("test_cli.py", "test_backup"): "SQLite's online backup (PostgreSQL: tests/server/store)",
}


def _url_of(name: str) -> str:
    """The URL of database `name` on the server of PG_ADMIN_URL."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    info = conninfo_to_dict(PG_ADMIN_URL)
    host, port, user = info.get("host", ""), info.get("port", ""), info.get("user", "")
    if not host:
        return make_conninfo(PG_ADMIN_URL, dbname=name)
    return f"postgresql://{user}@{host}{':' + port if port else ''}/{name}"


def _sqlite_only(path: Path, name: str) -> bool:
    rel = path.relative_to(Path(__file__).parent).as_posix()
    return any(rel == mod and name.startswith(prefix) for mod, prefix in SQLITE_ONLY)


def pytest_generate_tests(metafunc):
    """Every test that needs db_path runs once per backend (ids [sqlite] and
    [postgresql]), unless it names its own with
    @pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)."""
    chosen = any("db_path" in (m.args[0] if isinstance(m.args[0], (list, tuple)) else m.args[0].split(","))
                 for m in metafunc.definition.iter_markers("parametrize"))
    if "db_path" in metafunc.fixturenames and not chosen:
        only_sqlite = _sqlite_only(Path(metafunc.definition.path), metafunc.definition.name)
        metafunc.parametrize("db_path", BACKENDS[:1] if only_sqlite else BACKENDS, indirect=True)


def _admin(url: str = PG_ADMIN_URL):
    import psycopg
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        problem = " ".join(str(exc).split())
    pytest.fail(f"PostgreSQL is needed for the PostgreSQL variants of the server tests and "
                f"cannot be reached at {url} ({problem}); start it with "
                "sh scripts/start_postgres.sh, or point SORTWATCH_TEST_POSTGRES at a server",
                pytrace=False)


@contextlib.contextmanager
def _scratch_database(name: str, close_pools):
    """A new PostgreSQL database `name`; its pools closed by `close_pools(url)`
    and the database dropped afterwards."""
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _url_of(name)
    try:
        yield url
    finally:
        close_pools(url)
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url():
    """An empty database of its own (dropped afterwards)."""
    from server.store import postgres
    with _scratch_database(f"sortwatch_fresh_{os.getpid()}_{time.monotonic_ns() % 10**9}",
                           postgres.close_pools) as url:
        yield url


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database of its own for this test session, dropped at the end."""
    from server.store import postgres
    with _scratch_database(f"sortwatch_test_{os.getpid()}_{secrets.token_hex(3)}",
                           lambda _url: postgres.close_pools()) as url:
        yield url


def _pg_reset(url: str) -> None:
    """Empty every table of the session's database (the schema stays)."""
    from server.store import pg_migrations
    with _admin(url) as conn:
        if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None:
            return
        # DELETE, not TRUNCATE: a test's few rows go faster than TRUNCATE's
        # new files for each of some fifty tables, partitions and indexes.
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in pg_migrations.TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("ALTER SEQUENCE events_rowid RESTART")
            # A test that ran prune-events dropped old months' partitions.
            pg_migrations.ensure_partitions(conn, date.today(), restore=True)


@pytest.fixture
def db_path(tmp_path, request) -> Path | str:
    """The test's SORTWATCH_DATABASE: a SQLite file, or the PostgreSQL URL
    (the parameter; tests/web, which imports this fixture, gets SQLite)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return tmp_path / "sortwatch.db"
    url = request.getfixturevalue("pg_database")
    _pg_reset(url)
    return url


@pytest.fixture
def app(db_path):
    return create_app({"SETTINGS": make_settings(db_path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def city_template(tmp_path_factory):
    """The small city is built once through the real commands (password
    hashing and fsyncs make that slow), then each test gets a copy of the file."""
    folder = tmp_path_factory.mktemp("city")
    app = create_app({"SETTINGS": make_settings(folder / "city.db"), "TESTING": True})
    return folder / "city.db", City(app.test_cli_runner(), folder)


@pytest.fixture(scope="session")
def pg_city_template(pg_database, tmp_path_factory):
    """The same city built once on PostgreSQL and kept in a schema of copies,
    city_snapshot, that each test's city is restored from."""
    from server.store import pg_migrations
    folder = tmp_path_factory.mktemp("pg-city")
    _pg_reset(pg_database)
    app = create_app({"SETTINGS": make_settings(pg_database), "TESTING": True})
    built = City(app.test_cli_runner(), folder)
    with _admin(pg_database) as conn:
        conn.execute("DROP SCHEMA IF EXISTS city_snapshot CASCADE")
        conn.execute("CREATE SCHEMA city_snapshot")
        for table in pg_migrations.TABLES:
            conn.execute(f"CREATE TABLE city_snapshot.{table} AS SELECT * FROM public.{table}")
    return built


def _pg_restore_city(url: str) -> None:
    from server.store import pg_migrations
    with _admin(url) as conn, conn.transaction():
        # Copies of consistent tables: the foreign keys need not be checked again.
        conn.execute("SET LOCAL session_replication_role = replica")
        for table in pg_migrations.TABLES:
            conn.execute(f"INSERT INTO public.{table} SELECT * FROM city_snapshot.{table}")


@pytest.fixture
def city(app, db_path, request) -> City:
    if isinstance(db_path, Path):
        template, built = request.getfixturevalue("city_template")
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, db_path)
    else:
        built = request.getfixturevalue("pg_city_template")
        _pg_reset(db_path)
        _pg_restore_city(db_path)
    built.runner = app.test_cli_runner()
    return built
