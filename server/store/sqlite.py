"""The embedded SQLite store (sqlite-utils), one file, WAL.

SqliteStore is put together from one class per area (registry.py,
events.py, reads.py, maintenance.py); this module holds the connection and
transaction handling they share."""
from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlite_utils import Database

from . import migrations, writer
from .assignments import AssignmentStore
from .base import StoreBase
from .cases import CaseStore
from .errors import StoreError  # noqa: F401 (part of this module's interface)
from .events import EventStore
from .households import HouseholdStore
from .inspections import InspectionStore
from .maintenance import MaintenanceStore
from .points import PointsStore
from .reads import ReadStore
from .registry import RegistryStore
from .samples import SampleStore
from .scans import ScanStore
from .sessions import SessionStore
from .webhooks import WebhookStore


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: an acknowledged batch survives a power cut; devices delete events
    # from their outbox as soon as we acknowledge them.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of page cache
    return conn


def migrate(path: Path) -> None:
    """Create or upgrade the schema; safe with several processes starting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = _open(path)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(Database(conn, execute_plugins=False))
        finally:
            conn.close()


def connect(path: Path) -> SqliteStore:
    return SqliteStore(_open(path), path)


class SqliteStore(RegistryStore, EventStore, ReadStore, MaintenanceStore, SessionStore,
                  InspectionStore, HouseholdStore, PointsStore, ScanStore, CaseStore, WebhookStore, SampleStore, AssignmentStore,
                  StoreBase):
    open_connection = staticmethod(_open)

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None):
        self.conn, self.path = conn, path

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[SqliteStore]:
        """One write transaction, taken up front so concurrent writers queue
        on the lock instead of failing on upgrade."""
        with writer.exclusive(self.path) if self.path else nullcontext():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
