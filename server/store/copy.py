"""Moving a pilot into the city store: copy a SQLite store, table by table,
into an empty PostgreSQL database, in one transaction that a failed check
rolls back (`flask copy-store --to postgresql://…`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import pg_migrations, postgres
from .errors import StoreError

# Parents before children (the foreign keys are checked as rows arrive);
# event_keys is filled from events, not copied (SQLite has no such table).
COPY_ORDER = ("districts", "streets", "communities", "stations", "devices", "users", "sessions",
              "station_status", "quiz_results", "surveys", "events", "evidence", "rollup_day",
              "rollup_station_hour", "household_period", "participation_period", "awareness_day",
              "online_day", "rollup_period", "awareness_period", "online_period", "login_failures",
              "inspections", "audits", "rollup_model_period", "cases", "case_history", "webhooks",
              "webhook_deliveries", "points_rules", "point_accounts", "redemptions", "household_month",
              "card_scans", "samples", "sample_labels", "assignments")
# Tables whose ids come from an identity column: new rows go on after the copied ids.
IDENTITY_TABLES = ("inspections", "cases", "case_history", "webhooks", "webhook_deliveries", "card_scans",
                   "sample_labels")
assert set(COPY_ORDER) | {"event_keys"} == set(pg_migrations.TABLES)


def refuse_unless_empty(url: str) -> None:
    """Refuse a target that holds anything: tables of something else, or
    rows in a sortwatch store. Changes nothing."""
    with postgres._connect_direct(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
        if not tables:
            return
        if "_migrations" not in tables:
            raise StoreError(f"{postgres.safe_url(url)} is not empty and not a sortwatch store "
                             f"(it has {len(tables)} tables, e.g. {sorted(tables)[0]}); "
                             "copy into a new, empty database")
        full = [f"{t} ({n})" for t in pg_migrations.TABLES if t in tables
                for n in [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]] if n]
        if full:
            raise StoreError(f"{postgres.safe_url(url)} already holds data: {', '.join(full)}; "
                             "copy-store only fills an empty database")


def copy_sqlite_to_postgres(source: Path, url: str,
                            check: Callable[[object, object], None]) -> dict[str, int]:
    """Copy every table of the SQLite store at `source` into the empty
    PostgreSQL store at `url` (migrated first), then run check(source_store,
    target_store) inside the same transaction: if it raises, nothing stays.
    Returns the rows copied per table."""
    from .sqlite import SqliteStore, _open
    refuse_unless_empty(url)
    postgres.migrate(url)
    refuse_unless_empty(url)            # a copy that started meanwhile
    src = _open(source)
    copied: dict[str, int] = {}
    try:
        src.execute("BEGIN")            # one snapshot of a live pilot (WAL)
        with postgres._connect_direct(url) as conn:
            conn.row_factory = postgres._row_factory
            with conn.transaction():
                conn.execute("LOCK TABLE districts IN EXCLUSIVE MODE")   # one copier at a time
                for table in COPY_ORDER:
                    columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                    if table == "events":
                        columns = ["rowid", *columns]   # the tablets' cursors carry over
                    rows = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    n = 0
                    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(tuple(row))
                            n += 1
                    copied[table] = n
                    if table == "events":
                        conn.execute("INSERT INTO event_keys(event_id, day) SELECT event_id, day FROM events")
                        conn.execute("SELECT setval('events_rowid', coalesce(max(rowid), 0) + 1, false) "
                                     "FROM events")
                    if table in IDENTITY_TABLES:
                        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"coalesce(max(id), 0) + 1, false) FROM {table}")
                target = postgres.PgStore(url)
                target._held = conn     # reads inside this transaction
                check(SqliteStore(src, None), target)
    finally:
        src.close()
    return copied
