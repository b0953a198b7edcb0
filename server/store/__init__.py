"""All storage goes through this package. The API and the rate logic call
Store methods only, never SQL. `database` (Settings.database) is a SQLite
file path or a PostgreSQL URL; these functions pick the store from it, so
domain code never learns which backend it runs on."""
from __future__ import annotations

from pathlib import Path

from ..settings import is_postgres_url
from .errors import StoreError, StoreUnavailable
from .sqlite import SqliteStore
from .sqlite import SqliteStore as Store


def migrate(database: Path | str) -> None:
    """Create or upgrade the schema; safe with several processes starting."""
    if is_postgres_url(database):
        from . import postgres
        postgres.migrate(database)
    else:
        from . import sqlite
        sqlite.migrate(Path(database))


def connect(database: Path | str):
    if is_postgres_url(database):
        from . import postgres
        return postgres.connect(database)
    from . import sqlite
    return sqlite.connect(Path(database))


def configure(database: Path | str, read_timeout_seconds: int, pool_size: int) -> None:
    """Per-process options of a PostgreSQL store (nothing for SQLite)."""
    if is_postgres_url(database):
        from . import postgres
        postgres.configure(database, read_timeout_seconds, pool_size)


def applied_migrations(database: Path | str) -> list[str]:
    if is_postgres_url(database):
        from . import postgres
        return postgres.applied_migrations(database)
    from sqlite_utils import Database

    from .migrations import migrations
    with Database(str(database)) as db:
        return [m.name for m in migrations.applied(db)]


def describe(database: Path | str) -> str:
    """The database for messages (a URL without its password)."""
    if is_postgres_url(database):
        from .postgres import safe_url
        return safe_url(database)
    return str(database)


__all__ = ["SqliteStore", "Store", "StoreError", "StoreUnavailable", "applied_migrations",
           "configure", "connect", "describe", "migrate"]
