"""The PostgreSQL schema: the same migrations, under the same names and in
the same order, as migrations.py has for SQLite. Never edit an applied
migration: add a new one here and there.

Differences from the SQLite schema, all for the city's scale:
- every text column sorts bytewise (COLLATE "C"), as SQLite's do, so that the
  range reads on division codes (code >= '110102' AND code < '110102:') mean
  the same whatever the database's locale;
- counters are bigint (a city's month of online seconds passes 2^31);
- raw events are partitioned by month (RANGE on day), one partition per month
  made ahead of time by ensure_partitions(), plus a DEFAULT partition so that
  an event of a month without its partition is still stored; prune-events
  drops whole partitions;
- a partitioned table cannot hold a unique index without its partition key,
  so the idempotency key lives in event_keys (event_id PRIMARY KEY, day): an
  ingest claims its ids there with INSERT … ON CONFLICT DO NOTHING RETURNING,
  which makes the same id sent to two hosts at once stored once;
- events.rowid is a bigint from a sequence: the tablet feed's cursor."""
from __future__ import annotations

from datetime import date

from . import migrations as sqlite_schema
from .migrations import migrations as sqlite_migrations

MIGRATION_SET = "sortwatch"
# pg_advisory_lock key of the migrations: any constant; every host of one
# database waits on it, so the migrations run once.
ADVISORY_LOCK = 0x534F5254  # "SORT"
MONTHS_BACK, MONTHS_AHEAD = 14, 3

T = 'TEXT COLLATE "C"'

SCOPE_COUNTERS = """
    disposals BIGINT NOT NULL DEFAULT 0,
    assisted BIGINT NOT NULL DEFAULT 0,
    correct BIGINT NOT NULL DEFAULT 0,
    wrong BIGINT NOT NULL DEFAULT 0,
    uncertain BIGINT NOT NULL DEFAULT 0,
    corrected BIGINT NOT NULL DEFAULT 0
"""

_INSPECTION_LABEL = ("CASE WHEN substr(day, 9, 2) >= '20' "
                     "THEN to_char(date_trunc('month', day::date) + interval '1 month', 'YYYY-MM') "
                     "ELSE substr(day, 1, 7) END")
# The PostgreSQL twin of migrations.PERIOD_BACKFILL (m005, rebuild_period_rollups).
PERIOD_BACKFILL = sqlite_schema.period_backfill(_INSPECTION_LABEL)

# The PostgreSQL twin of migrations.model_backfill() (m011, rebuild_camera_outputs).
MODEL_BACKFILL = sqlite_schema.model_backfill(_INSPECTION_LABEL)

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_hierarchy_and_devices", f"""
    CREATE TABLE districts (
        code {T} PRIMARY KEY CHECK (length(code) = 6),
        name {T} NOT NULL
    );
    CREATE TABLE streets (
        code {T} PRIMARY KEY CHECK (length(code) = 9),
        name {T} NOT NULL,
        district_code {T} NOT NULL REFERENCES districts(code)
    );
    CREATE TABLE communities (
        code {T} PRIMARY KEY CHECK (length(code) = 12),
        name {T} NOT NULL,
        street_code {T} NOT NULL REFERENCES streets(code),
        households BIGINT NOT NULL CHECK (households >= 0),
        reader_stations INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX communities_street ON communities(street_code);
    CREATE TABLE stations (
        id {T} PRIMARY KEY,
        community_code {T} NOT NULL REFERENCES communities(code),
        name {T} NOT NULL,
        bins {T} NOT NULL,
        household_reader INTEGER NOT NULL DEFAULT 0,
        staffed_windows {T} NOT NULL,
        created_at {T} NOT NULL
    );
    CREATE INDEX stations_community ON stations(community_code);
    CREATE TABLE devices (
        id {T} PRIMARY KEY,
        station_id {T} NOT NULL REFERENCES stations(id),
        token_hash {T} NOT NULL UNIQUE,
        created_at {T} NOT NULL,
        revoked_at {T}
    );
    CREATE INDEX devices_station ON devices(station_id);
    CREATE TABLE users (
        username {T} PRIMARY KEY,
        password_hash {T} NOT NULL,
        role {T} NOT NULL CHECK (role IN ('city','district','street','community','volunteer')),
        scope {T} NOT NULL DEFAULT '',
        created_at {T} NOT NULL
    );
    """),
    ("m002_events_and_rollups", f"""
    CREATE TABLE event_keys (
        event_id {T} PRIMARY KEY,
        day {T} NOT NULL
    );
    CREATE INDEX event_keys_day ON event_keys(day);
    CREATE SEQUENCE events_rowid AS BIGINT;
    CREATE TABLE events (
        rowid BIGINT NOT NULL DEFAULT nextval('events_rowid'),
        event_id {T} NOT NULL,
        type {T} NOT NULL CHECK (type IN ('disposal','bin_full','litter')),
        ts {T} NOT NULL,
        day {T} NOT NULL,
        hour INTEGER NOT NULL,
        station_id {T} NOT NULL REFERENCES stations(id),
        community_code {T} NOT NULL,
        device_id {T} NOT NULL,
        bin {T} NOT NULL,
        item {T},
        category {T},
        verdict {T},
        confidence DOUBLE PRECISION,
        household {T},
        assisted INTEGER NOT NULL DEFAULT 0,
        staffed INTEGER NOT NULL DEFAULT 0,
        model {T},
        rules {T},
        received_at {T} NOT NULL,
        corrected_item {T},
        original_item {T},
        original_verdict {T},
        feedback_by {T},
        feedback_at {T}
    ) PARTITION BY RANGE (day);
    ALTER SEQUENCE events_rowid OWNED BY events.rowid;
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    CREATE INDEX events_event_id ON events(event_id);
    CREATE INDEX events_station_day ON events(station_id, day);

    CREATE TABLE evidence (
        event_id {T} PRIMARY KEY REFERENCES event_keys(event_id) ON DELETE CASCADE,
        jpeg BYTEA NOT NULL,
        received_at {T} NOT NULL
    );
    CREATE TABLE rollup_day (
        scope {T} NOT NULL,
        day {T} NOT NULL,
        staffed INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        PRIMARY KEY (scope, day, staffed)
    );
    CREATE TABLE rollup_station_hour (
        station_id {T} NOT NULL,
        day {T} NOT NULL,
        hour INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        bin_full BIGINT NOT NULL DEFAULT 0,
        litter BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (station_id, day, hour)
    );
    CREATE TABLE household_period (
        community_code {T} NOT NULL,
        kind {T} NOT NULL,
        period {T} NOT NULL,
        household {T} NOT NULL,
        PRIMARY KEY (community_code, kind, period, household)
    );
    CREATE TABLE participation_period (
        scope {T} NOT NULL,
        kind {T} NOT NULL,
        period {T} NOT NULL,
        households BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    );
    CREATE TABLE awareness_day (
        scope {T} NOT NULL,
        day {T} NOT NULL,
        respondents BIGINT NOT NULL DEFAULT 0,
        aware BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, day)
    );
    CREATE TABLE station_status (
        station_id {T} PRIMARY KEY REFERENCES stations(id),
        device_id {T} NOT NULL,
        last_heartbeat {T} NOT NULL,
        health {T} NOT NULL
    );
    CREATE TABLE online_day (
        scope {T} NOT NULL,
        day {T} NOT NULL,
        seconds BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, day)
    );
    """),
    ("m003_awareness_sources", f"""
    CREATE TABLE quiz_results (
        nonce {T} PRIMARY KEY,
        station_id {T} NOT NULL REFERENCES stations(id),
        community_code {T} NOT NULL,
        day {T} NOT NULL,
        score INTEGER NOT NULL,
        questions INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        household {T},
        taken_by {T} NOT NULL,
        taken_at {T} NOT NULL
    );
    CREATE INDEX quiz_results_community_day ON quiz_results(community_code, day);
    CREATE TABLE surveys (
        community_code {T} NOT NULL REFERENCES communities(code),
        day {T} NOT NULL,
        respondents BIGINT NOT NULL CHECK (respondents > 0),
        aware BIGINT NOT NULL CHECK (aware >= 0 AND aware <= respondents),
        imported_at {T} NOT NULL,
        PRIMARY KEY (community_code, day)
    );
    """),
    ("m004_wrong_disposal_index", """
    CREATE INDEX events_wrong ON events(community_code, day, rowid)
        WHERE type = 'disposal' AND verdict = 'wrong' AND assisted = 0;
    """),
    ("m005_period_rollups", f"""
    CREATE TABLE rollup_period (
        scope {T} NOT NULL,
        kind {T} NOT NULL,
        period {T} NOT NULL,
        staffed INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        PRIMARY KEY (scope, kind, period, staffed)
    );
    CREATE TABLE awareness_period (
        scope {T} NOT NULL,
        kind {T} NOT NULL,
        period {T} NOT NULL,
        respondents BIGINT NOT NULL DEFAULT 0,
        aware BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    );
    CREATE TABLE online_period (
        scope {T} NOT NULL,
        kind {T} NOT NULL,
        period {T} NOT NULL,
        seconds BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    );
    """ + PERIOD_BACKFILL),
    ("m006_events_day_index", "CREATE INDEX events_day ON events(day);"),
    ("m007_events_by_station_in_order", """
    DROP INDEX events_station_day;
    CREATE INDEX events_station ON events(station_id, rowid);
    """),
    ("m008_sessions", f"""
    CREATE TABLE sessions (
        id_hash {T} PRIMARY KEY,
        username {T} NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        created_at {T} NOT NULL,
        expires_at {T} NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(username);
    """),
    ("m009_login_failures", f"""
    CREATE TABLE login_failures (
        key {T} NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX login_failures_key ON login_failures(key, at);
    """),
    ("m010_quiz_results_by_station",
     "CREATE INDEX quiz_results_station ON quiz_results(station_id, taken_at);"),
    ("m011_inspections_audits_and_model_rollups",
     sqlite_schema.INSPECTIONS_SCHEMA.format(text=T, id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                                             counter="BIGINT")
     + ";\n" + MODEL_BACKFILL),
    ("m012_inspector_role",
     "ALTER TABLE users DROP CONSTRAINT users_role_check; "
     f"ALTER TABLE users ADD CONSTRAINT users_role_check CHECK ({sqlite_schema.ROLES_CHECK});"),
    ("m013_cases_and_webhooks",
     f"ALTER TABLE events ADD COLUMN state {T};\n"
     + sqlite_schema.CASES_SCHEMA.format(text=T, id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                                         counter="BIGINT")),
    ("m014_household_points", sqlite_schema.POINTS_SCHEMA.format(text=T, counter="BIGINT") + ";"),
    ("m015_household_months", sqlite_schema.HOUSEHOLD_MONTH_SCHEMA.format(text=T, counter="BIGINT") + ";"),
    ("m016_card_scans_to_tablet",
     sqlite_schema.CARD_SCANS_SCHEMA.format(text=T, id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
     + ";"),
    ("m017_learning_and_canaries",
     sqlite_schema.SAMPLES_SCHEMA.format(text=T, real="DOUBLE PRECISION", blob="BYTEA", counter="INTEGER",
                                         id="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
     + ";\nALTER TABLE users DROP CONSTRAINT users_role_check; "
     f"ALTER TABLE users ADD CONSTRAINT users_role_check CHECK ({sqlite_schema.ROLES_CHECK_17});"),
]

assert [n for n, _ in MIGRATIONS] == [m.name for m in sqlite_migrations._migrations], \
    "the PostgreSQL migrations must follow the SQLite ones, name for name"

# Every table an operator's data lives in (tests empty them between tests).
TABLES = ("districts", "streets", "communities", "stations", "devices", "users",
          "event_keys", "events", "evidence", "rollup_day", "rollup_station_hour",
          "household_period", "participation_period", "awareness_day", "station_status",
          "online_day", "quiz_results", "surveys", "rollup_period", "awareness_period",
          "online_period", "sessions", "login_failures", "inspections", "audits",
          "rollup_model_period", "cases", "case_history", "webhooks", "webhook_deliveries",
          "points_rules", "point_accounts", "redemptions", "household_month", "card_scans", "samples",
          "sample_labels", "assignments")


def apply(conn, stop_before: str | None = None) -> list[str]:
    """Apply the pending migrations on an autocommit psycopg connection, each
    in its own transaction, under an advisory lock so that hosts starting
    together run them once; then make the coming months' partitions.
    Returns the names applied now."""
    conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (migration_set TEXT NOT NULL, "
                     "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                     "PRIMARY KEY (migration_set, name))")
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations WHERE migration_set = %s",
                                           (MIGRATION_SET,)).fetchall()}
        now = []
        for name, sql in MIGRATIONS:
            if name == stop_before:   # tests of a migration over older data
                return now
            if name in done:
                continue
            with conn.transaction():
                conn.execute(sql)
                conn.execute("INSERT INTO _migrations(migration_set, name) VALUES (%s, %s)",
                             (MIGRATION_SET, name))
            now.append(name)
        ensure_partitions(conn, date.today())
        return now
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK,))


def applied(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM _migrations WHERE migration_set = %s ORDER BY name",
        (MIGRATION_SET,)).fetchall()]


def _month(d: date, add: int) -> date:
    n = d.year * 12 + d.month - 1 + add
    return date(n // 12, n % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"events_p{month:%Y%m}"


def ensure_partitions(conn, today: date, restore: bool = False) -> list[str]:
    """Create the monthly partitions of events that do not exist yet, up to
    MONTHS_AHEAD months ahead: in a new database from MONTHS_BACK months ago
    (ingest accepts events up to the retention period old), later from the
    oldest partition on, so that the months prune-events dropped do not come
    back. A month whose events already sit in the DEFAULT partition keeps
    them there rather than failing. `conn` is a psycopg connection or
    cursor. `restore` makes the dropped months again too (tests, after
    emptying a database that prune-events ran on). Returns the partitions made."""
    months = month_partitions(conn)
    existing = {name for name, _, _ in months}
    first = _month(today, -MONTHS_BACK)
    if months and not restore:
        first = max(first, date.fromisoformat(months[0][1]))
    made = []
    k = 0
    while True:
        lo, hi = _month(first, k), _month(first, k + 1)
        k += 1
        if lo > _month(today, MONTHS_AHEAD):
            break
        name = partition_name(lo)
        if name in existing:
            continue
        if conn.execute("SELECT 1 FROM events_default WHERE day >= %s AND day < %s LIMIT 1",
                        (lo.isoformat(), hi.isoformat())).fetchone():
            continue
        conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                     f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
        made.append(name)
    return made


def month_partitions(conn) -> list[tuple[str, str, str]]:
    """(name, first day, first day after) of each monthly partition."""
    out = []
    for (name,) in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events\\_p%' "
            "ORDER BY 1").fetchall():
        lo = date(int(name[8:12]), int(name[12:14]), 1)
        out.append((name, lo.isoformat(), _month(lo, 1).isoformat()))
    return out
