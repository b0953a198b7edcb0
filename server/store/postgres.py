"""The city's store: PostgreSQL through psycopg 3 and its connection pool.

PgStore is put together from the same mixins as SqliteStore and runs their
SQL. `PgConnection` is the dialect hook between them: it turns SQLite's `?`
placeholders into psycopg's `%s`, `INSERT OR IGNORE` into `ON CONFLICT DO
NOTHING`, Python booleans into the 0/1 the schema stores, and answers rows
that can be read by position and by name, like sqlite3.Row. What must differ
beyond that is here (ingest's claim of event ids, pruning by partition, the
transaction) and in pg_migrations.py (the schema).

Ingest: the batches that requests of one process post meanwhile are
stored together, in one transaction, by that process's writer thread
(pg_writer.py).

Connections: one pool per server process and database URL. A store borrows
a connection for one statement, or for the whole of a write() transaction,
so that a long-lived store (a tablet's stream) holds no connection while it
waits."""
from __future__ import annotations

import atexit
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache

import psycopg
from psycopg.adapt import Loader
from psycopg_pool import ConnectionPool, PoolTimeout

from . import pg_migrations, pg_writer
from .assignments import AssignmentStore
from .base import StoreBase
from .cases import CaseStore
from .errors import StoreError, StoreUnavailable
from .events import EventStore
from .households import HouseholdStore
from .inspections import InspectionStore
from .maintenance import MaintenanceStore
from .migrations import HOUSEHOLD_MONTH_KEEP
from .points import PointsStore
from .reads import ReadStore
from .registry import RegistryStore
from .samples import SampleStore
from .scans import ScanStore
from .sessions import SessionStore
from .webhooks import WebhookStore

DEFAULT_READ_TIMEOUT_SECONDS = 30
DEFAULT_POOL_SIZE = 10
POOL_WAIT_SECONDS = 10
# After a connection error, for DOWN_WINDOW_SECONDS a request waits for the pool only this long (below).
DOWN_WAIT_SECONDS = 0.5
DOWN_WINDOW_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 10
# A deadlock or serialization failure between two hosts' batches is retried
# this many times in all before the request fails.
INGEST_ATTEMPTS = 3
# The first key of the per-station advisory lock of ingest (see _claim_new_events).
STATION_FEED_LOCK = 0x53544E  # "STN"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"^(postgres(?:ql)?://[^:/@]*):[^@]*@", r"\1:***@", url)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """A database that cannot be reached, drops the connection, or runs a
    read past its timeout is StoreUnavailable (the app answers 503, and the
    pool replaces the broken connection for the next request). A deadlock or
    serialization failure stays itself: ingest retries it."""
    try:
        yield
    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        raise
    except psycopg.errors.QueryCanceled as exc:
        raise StoreUnavailable(f"the database took longer than allowed: {_one_line(exc)}") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {_one_line(exc)}") from exc


# --- the dialect ---------------------------------------------------------------

@lru_cache(maxsize=2048)
def translate(sql: str, with_params: bool) -> str:
    """SQLite's SQL as the mixins write it, in PostgreSQL's dialect."""
    if "INSERT OR IGNORE INTO" in sql:
        sql = sql.replace("INSERT OR IGNORE INTO", "INSERT INTO")
        at = sql.find(" RETURNING ")
        sql = (sql[:at] + " ON CONFLICT DO NOTHING" + sql[at:] if at >= 0
               else sql + " ON CONFLICT DO NOTHING")
    if not with_params:
        return sql
    out, quoted = [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


def _params(params: Iterable, sql: str = "") -> tuple:
    # The schema stores flags as 0/1 integers, as SQLite does.
    out = tuple(int(p) if isinstance(p, bool) else p for p in params)
    if any(isinstance(p, str) and "\x00" in p for p in out):
        # PostgreSQL text cannot hold NUL, so nothing stored equals such a
        # value: a read looks for NULL instead (which matches no row), and a
        # write is refused before it changes anything.
        if not sql.lstrip().upper().startswith("SELECT"):
            raise StoreError("text with a NUL character cannot be stored")
        out = tuple(None if isinstance(p, str) and "\x00" in p else p for p in out)
    return out


class Row:
    """A result row readable as row[0], row["name"], dict(row) and by unpacking."""
    __slots__ = ("_values", "_index")

    def __init__(self, values, index: dict):
        self._values, self._index = values, index

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self):
        return self._index.keys()

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __eq__(self, other):
        return tuple(self) == tuple(other)

    def __repr__(self):
        return f"Row({dict(zip(self._index, self._values, strict=True))!r})"


def _row_factory(cursor):
    if cursor.description is None:
        return tuple
    index = {c.name: i for i, c in enumerate(cursor.description)}
    return lambda values: Row(values, index)


class _NumericLoader(Loader):
    """numeric as int when whole (sum() of a bigint column is numeric), else
    float: the callers do arithmetic and JSON with them, as with SQLite."""

    def load(self, data):
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


class Result:
    """A statement's rows, read before its connection went back to the pool."""

    def __init__(self, cur):
        self.rowcount = cur.rowcount
        self._rows = cur.fetchall() if cur.description is not None else []
        self._next = 0

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """What the mixins (and tests) call `store.conn`: execute, executemany,
    commit. Inside the store's write() it runs on the transaction's
    connection; outside, each statement borrows one from the pool and
    commits on its own (autocommit)."""

    def __init__(self, store: PgStore):
        self._store = store

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        held = self._store._held
        if held is not None:
            yield held
        else:
            with self._store._borrow() as conn:
                yield conn

    def execute(self, sql: str, params: Iterable = ()) -> Result:
        params = _params(params, sql)
        with unavailable_as_store_error(), self._connection() as conn, conn.cursor() as cur:
            cur.execute(translate(sql, bool(params)), params or None)
            return Result(cur)

    def executemany(self, sql: str, seq: Iterable) -> Result:
        rows = [_params(p, sql) for p in seq]
        with unavailable_as_store_error(), self._connection() as conn, conn.cursor() as cur:
            if rows:
                cur.executemany(translate(sql, True), rows)
            return Result(cur)

    def commit(self) -> None:
        """Statements outside write() are committed already."""

    def close(self) -> None:
        pass


# --- pools -----------------------------------------------------------------------

_pools: dict[tuple[int, str], ConnectionPool] = {}
_down_until: dict[str, float] = {}   # url -> monotonic time until which requests wait DOWN_WAIT_SECONDS
_options: dict[str, tuple[int, int]] = {}
_pools_lock = threading.Lock()


def configure(url: str, read_timeout_seconds: int = DEFAULT_READ_TIMEOUT_SECONDS,
              pool_size: int = DEFAULT_POOL_SIZE) -> None:
    """The statement timeout and pool size of this process's pool for `url`
    (from the settings, before its first connect)."""
    _options[url] = (read_timeout_seconds, pool_size)


def _pool(url: str) -> ConnectionPool:
    key = (os.getpid(), url)   # a forked worker makes its own pool
    pool = _pools.get(key)
    if pool is not None:
        return pool
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            timeout, size = _options.get(url, (DEFAULT_READ_TIMEOUT_SECONDS, DEFAULT_POOL_SIZE))

            def setup(conn: psycopg.Connection) -> None:
                conn.adapters.register_loader("numeric", _NumericLoader)
                # Reads (dashboards, exports, rankings) never run longer than
                # this; write() lifts it for its own transaction.
                conn.execute("SELECT set_config('statement_timeout', %s, false)",
                             (f"{timeout}s",))

            pool = _pools[key] = ConnectionPool(
                url, min_size=1, max_size=size, timeout=POOL_WAIT_SECONDS, open=True,
                name=f"sortwatch:{safe_url(url)}", configure=setup,
                kwargs={"autocommit": True, "row_factory": _row_factory,
                        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                        "application_name": "sortwatch"})
    return pool


def close_pools(url: str | None = None) -> None:
    """Close this process's pools (of one URL, or all)."""
    with _pools_lock:
        for key in [k for k in _pools if k[0] == os.getpid() and url in (None, k[1])]:
            _pools.pop(key).close()


atexit.register(close_pools)


def _connect_direct(url: str, variable: str = "SORTWATCH_DATABASE") -> psycopg.Connection:
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                               application_name="sortwatch")
    except psycopg.Error as exc:
        raise StoreUnavailable(f"{variable}={safe_url(url)}: cannot connect to "
                               f"PostgreSQL: {_one_line(exc)}") from None
    conn.adapters.register_loader("numeric", _NumericLoader)
    return conn


def migrate(url: str) -> list[str]:
    """Create or upgrade the schema; several hosts starting together run
    each migration once. Returns the migrations applied so far."""
    with _connect_direct(url) as conn:
        pg_migrations.apply(conn)
        return pg_migrations.applied(conn)


def check_replica(read_url: str, primary_url: str) -> None:
    """The read replica answers and holds the primary's schema (the same
    migrations); else StoreUnavailable naming SORTWATCH_DATABASE_READ."""
    with _connect_direct(read_url, "SORTWATCH_DATABASE_READ") as conn:
        try:
            on_replica = pg_migrations.applied(conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"SORTWATCH_DATABASE_READ={safe_url(read_url)} holds no sortwatch "
                                   f"schema: {_one_line(exc)}") from None
    if on_replica != applied_migrations(primary_url):
        raise StoreUnavailable(f"SORTWATCH_DATABASE_READ={safe_url(read_url)} is not a replica of "
                               f"SORTWATCH_DATABASE: its schema is at "
                               f"{on_replica[-1] if on_replica else 'nothing'}, the primary's at "
                               f"{applied_migrations(primary_url)[-1]}")


def applied_migrations(url: str) -> list[str]:
    with _connect_direct(url) as conn:
        return pg_migrations.applied(conn)


def connect(url: str) -> PgStore:
    return PgStore(url)


# --- the store -------------------------------------------------------------------

class PgStore(RegistryStore, EventStore, ReadStore, MaintenanceStore, SessionStore,
              InspectionStore, HouseholdStore, PointsStore, ScanStore, CaseStore, WebhookStore, SampleStore, AssignmentStore,
              StoreBase):
    _WRONG_INDEX = ""
    _FOR_UPDATE = " FOR UPDATE"
    _PERIOD_BACKFILL = pg_migrations.PERIOD_BACKFILL
    _MODEL_BACKFILL = pg_migrations.MODEL_BACKFILL

    def __init__(self, url: str):
        self.url, self.path = url, None
        self._held: psycopg.Connection | None = None
        self.conn = PgConnection(self)

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection]:
        """A connection of this process's pool. Once the database is seen gone, the next requests wait
        for the pool only DOWN_WAIT_SECONDS: each would otherwise hold a worker thread for the whole
        POOL_WAIT_SECONDS before its 503 while the database is away."""
        pool = _pool(self.url)
        wait = DOWN_WAIT_SECONDS if time.monotonic() < _down_until.get(self.url, 0.0) else POOL_WAIT_SECONDS
        try:
            with pool.connection(timeout=wait) as conn:
                yield conn
        except PoolTimeout:
            # No connection within the wait. With room in the pool for another, opening one failed: the
            # database is away. A full pool is load, not an outage, and keeps the long wait.
            stats = pool.get_stats()
            if stats.get("pool_size", 0) < stats.get("pool_max", 0):
                _down_until[self.url] = time.monotonic() + DOWN_WINDOW_SECONDS
            raise
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None or exc.sqlstate.startswith("57P"):  # connection lost, server shut down
                _down_until[self.url] = time.monotonic() + DOWN_WINDOW_SECONDS
            raise
        else:
            _down_until.pop(self.url, None)

    def close(self) -> None:
        """Nothing is held between statements."""

    @contextmanager
    def write(self, statement_timeout: str | None = None) -> Iterator[PgStore]:
        """One transaction on one borrowed connection. Nested calls are
        savepoints of the outer one."""
        if self._held is not None:
            with self._held.transaction():
                yield self
            return
        with unavailable_as_store_error(), self._borrow() as conn:
            self._held = conn
            try:
                with conn.transaction():
                    if statement_timeout is not None:
                        conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                     (statement_timeout,))
                    yield self
            finally:
                self._held = None

    def _maintenance_write(self):
        # Operator commands (bulk loads, rebuilds, pruning) may take minutes.
        return self.write(statement_timeout="0")

    # --- ingest: the ids are claimed in event_keys --------------------------------

    def ingest(self, events: list[dict], delta_for) -> tuple[list[dict], int]:
        """As EventStore.ingest: the batch goes to this process's group
        writer (pg_writer.py), which stores it with the batches of the other
        requests queued meanwhile, in one transaction."""
        url = self.url
        return pg_writer.submit((os.getpid(), url), lambda jobs: PgStore(url).ingest_group(jobs),
                                events, delta_for).result()

    def ingest_group(self, jobs: list[tuple[list[dict], object]]) -> list[tuple[list[dict], int]]:
        """Store several batches (events, delta_for) as one: their new ids
        claimed together, one delta over all their new events, one commit;
        a deadlock or serialization failure with another host's transaction
        is retried. Returns each batch's (stored events, duplicates)."""
        events = [e for batch, _ in jobs for e in batch]
        delta_for = jobs[0][1]
        for attempt in range(INGEST_ATTEMPTS):
            try:
                with self.write():
                    keep = self._claim_new_events(events)
                    new = [events[i] for i in keep]
                    self._store_new(new, [tuple(e.get(c) for c in self._EVENT_COLUMNS) for e in new],
                                    delta_for(new))
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == INGEST_ATTEMPTS - 1:
                    raise
        kept, results, at = set(keep), [], 0
        for batch, _ in jobs:
            stored = [events[i] for i in range(at, at + len(batch)) if i in kept]
            results.append((stored, len(batch) - len(stored)))
            at += len(batch)
        return results

    def _claim_new_events(self, events: list[dict]) -> list[int]:
        """Insert the batch's ids into event_keys; those really inserted are
        new. A second transaction inserting the same id waits for the first
        and, once it commits, inserts nothing: the id is a duplicate there."""
        # The tablet's feed reads a station's events after a cursor (rowid).
        # Rowids come from a sequence when a row is inserted, and PostgreSQL
        # commits concurrent transactions in any order: an earlier rowid
        # committed later would be behind a feed that already moved past it.
        # So one station's batches take their rowids and commit one after
        # the other (a device posts for its own station: no contention).
        for station in sorted({e["station_id"] for e in events}):
            self.conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))",
                              (STATION_FEED_LOCK, station))
        first: dict[str, int] = {}
        for i, e in enumerate(events):
            first.setdefault(e["event_id"], i)
        ids = sorted(first)   # one lock order for every host
        claimed: list[int] = []
        for at in range(0, len(ids), 1000):
            chunk = ids[at:at + 1000]
            rows = self.conn.execute(
                "INSERT INTO event_keys(event_id, day) VALUES "
                + ",".join(["(?, ?)"] * len(chunk)) + " ON CONFLICT DO NOTHING RETURNING event_id",
                [v for eid in chunk for v in (eid, events[first[eid]]["day"])]).fetchall()
            claimed.extend(first[r[0]] for r in rows)
        return sorted(claimed)

    # --- maintenance ---------------------------------------------------------------

    def backup_to(self, destination) -> int:
        raise StoreError(BACKUP_GUIDANCE.format(url=safe_url(self.url), destination=destination))

    def prune_events(self, before_day: str) -> tuple[int, int]:
        """Delete raw events (and evidence) of days before `before_day`:
        whole monthly partitions are dropped, the rest of the cutoff's month
        deleted; each household's months are kept (household_month).
        Returns (events, evidence images) deleted."""
        with self._maintenance_write():
            self.conn.execute(HOUSEHOLD_MONTH_KEEP, (before_day,))
            images = self.conn.execute(
                "DELETE FROM evidence WHERE event_id IN "
                "(SELECT event_id FROM event_keys WHERE day < ?)", (before_day,)).rowcount
            # One key per stored event: its count is the events pruned, without
            # counting the rows of the partitions about to be dropped.
            events = self.conn.execute("DELETE FROM event_keys WHERE day < ?",
                                       (before_day,)).rowcount
            held = self._held
            for name, _lo, hi in pg_migrations.month_partitions(held):
                if hi <= before_day:
                    held.execute(f"DROP TABLE {name}")
            self.conn.execute("DELETE FROM events WHERE day < ?", (before_day,))
            pg_migrations.ensure_partitions(held, date.today())
        return events, images

    def event_partitions(self) -> list[str]:
        """Names of the monthly partitions of the raw events (operators, tests)."""
        with self.write():
            return [name for name, _, _ in pg_migrations.month_partitions(self._held)]


BACKUP_GUIDANCE = (
    "the PostgreSQL store is backed up with PostgreSQL's own tools, not this command; "
    "nothing was written to {destination}. A logical backup: "
    "pg_dump --format=custom --file=sortwatch.dump '{url}' "
    "(restore into an empty database with pg_restore --dbname=URL sortwatch.dump). "
    "For point-in-time recovery: a base backup (pg_basebackup) and WAL archiving "
    "(archive_mode=on, archive_command) on the database server.")


__all__ = ["PgStore", "StoreUnavailable", "close_pools", "configure", "connect", "migrate"]
