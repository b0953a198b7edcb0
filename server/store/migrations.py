"""The schema, as an ordered list of migrations. Never edit an applied
migration: add a new one."""
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("sortwatch")

SCOPE_COUNTERS = """
    disposals INTEGER NOT NULL DEFAULT 0,
    assisted INTEGER NOT NULL DEFAULT 0,
    correct INTEGER NOT NULL DEFAULT 0,
    wrong INTEGER NOT NULL DEFAULT 0,
    uncertain INTEGER NOT NULL DEFAULT 0,
    corrected INTEGER NOT NULL DEFAULT 0
"""


@migrations()
def m001_hierarchy_and_devices(db: Database) -> None:
    db.executescript("""
    CREATE TABLE districts (
        code TEXT PRIMARY KEY CHECK (length(code) = 6),
        name TEXT NOT NULL
    );
    CREATE TABLE streets (
        code TEXT PRIMARY KEY CHECK (length(code) = 9),
        name TEXT NOT NULL,
        district_code TEXT NOT NULL REFERENCES districts(code)
    );
    CREATE TABLE communities (
        code TEXT PRIMARY KEY CHECK (length(code) = 12),
        name TEXT NOT NULL,
        street_code TEXT NOT NULL REFERENCES streets(code),
        households INTEGER NOT NULL CHECK (households >= 0),
        reader_stations INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX communities_street ON communities(street_code);
    CREATE TABLE stations (
        id TEXT PRIMARY KEY,
        community_code TEXT NOT NULL REFERENCES communities(code),
        name TEXT NOT NULL,
        bins TEXT NOT NULL,              -- JSON list of bin categories
        household_reader INTEGER NOT NULL DEFAULT 0,
        staffed_windows TEXT NOT NULL,   -- JSON list of ["HH:MM", "HH:MM"]
        created_at TEXT NOT NULL
    );
    CREATE INDEX stations_community ON stations(community_code);
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        station_id TEXT NOT NULL REFERENCES stations(id),
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX devices_station ON devices(station_id);
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('city','district','street','community','volunteer')),
        scope TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    """)


@migrations()
def m002_events_and_rollups(db: Database) -> None:
    db.executescript(f"""
    -- A rowid table: new rows append at the end; the random UUIDs only go
    -- into the narrow unique index.
    CREATE TABLE events (
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL CHECK (type IN ('disposal','bin_full','litter')),
        ts TEXT NOT NULL,                -- as sent, with its offset
        day TEXT NOT NULL,               -- Beijing day YYYY-MM-DD
        hour INTEGER NOT NULL,           -- Beijing hour 0-23
        station_id TEXT NOT NULL REFERENCES stations(id),
        community_code TEXT NOT NULL,
        device_id TEXT NOT NULL,
        bin TEXT NOT NULL,
        item TEXT,
        category TEXT,
        verdict TEXT,
        confidence REAL,
        household TEXT,
        assisted INTEGER NOT NULL DEFAULT 0,
        staffed INTEGER NOT NULL DEFAULT 0,
        model TEXT,
        rules TEXT,
        received_at TEXT NOT NULL,
        -- A volunteer's feedback: "I helped" (assisted) or "the camera was
        -- wrong" with the right item; the original judgement is kept.
        corrected_item TEXT,
        original_item TEXT,
        original_verdict TEXT,
        feedback_by TEXT,
        feedback_at TEXT
    );
    CREATE INDEX events_station_day ON events(station_id, day);

    CREATE TABLE evidence (
        event_id TEXT PRIMARY KEY REFERENCES events(event_id),
        jpeg BLOB NOT NULL,
        received_at TEXT NOT NULL
    );

    -- Daily roll-up for every scope: a community, street or district code, or
    -- 'city'. Rates for any level and period read at most 62 rows from here.
    CREATE TABLE rollup_day (
        scope TEXT NOT NULL,
        day TEXT NOT NULL,
        staffed INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        PRIMARY KEY (scope, day, staffed)
    ) WITHOUT ROWID;

    -- Per station, day and hour: station health, worst hours, station lists.
    CREATE TABLE rollup_station_hour (
        station_id TEXT NOT NULL,
        day TEXT NOT NULL,
        hour INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        bin_full INTEGER NOT NULL DEFAULT 0,
        litter INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (station_id, day, hour)
    ) WITHOUT ROWID;

    -- Exact distinct households: one row per community, period and household;
    -- the counter below is bumped only when a row is new.
    CREATE TABLE household_period (
        community_code TEXT NOT NULL,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        household TEXT NOT NULL,
        PRIMARY KEY (community_code, kind, period, household)
    ) WITHOUT ROWID;
    CREATE TABLE participation_period (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        households INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    ) WITHOUT ROWID;

    -- Awareness: quiz results and imported surveys, per scope and day.
    CREATE TABLE awareness_day (
        scope TEXT NOT NULL,
        day TEXT NOT NULL,
        respondents INTEGER NOT NULL DEFAULT 0,
        aware INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, day)
    ) WITHOUT ROWID;

    -- Station health and the online share.
    CREATE TABLE station_status (
        station_id TEXT PRIMARY KEY REFERENCES stations(id),
        device_id TEXT NOT NULL,
        last_heartbeat TEXT NOT NULL,
        health TEXT NOT NULL             -- JSON, as the device reported it
    );
    CREATE TABLE online_day (
        scope TEXT NOT NULL,             -- station id, community/street/district code or 'city'
        day TEXT NOT NULL,
        seconds INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, day)
    ) WITHOUT ROWID;
    """)


def apply(db: Database) -> None:
    migrations.apply(db)


@migrations()
def m003_awareness_sources(db: Database) -> None:
    db.executescript("""
    -- One row per quiz taken on a tablet; the nonce of its signed question
    -- sheet makes a resubmission count once.
    CREATE TABLE quiz_results (
        nonce TEXT PRIMARY KEY,
        station_id TEXT NOT NULL REFERENCES stations(id),
        community_code TEXT NOT NULL,
        day TEXT NOT NULL,
        score INTEGER NOT NULL,
        questions INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        household TEXT,
        taken_by TEXT NOT NULL,
        taken_at TEXT NOT NULL
    );
    CREATE INDEX quiz_results_community_day ON quiz_results(community_code, day);
    -- Door-to-door survey results: one row per community and day; importing
    -- the same community and day again replaces the figures.
    CREATE TABLE surveys (
        community_code TEXT NOT NULL REFERENCES communities(code),
        day TEXT NOT NULL,
        respondents INTEGER NOT NULL CHECK (respondents > 0),
        aware INTEGER NOT NULL CHECK (aware >= 0 AND aware <= respondents),
        imported_at TEXT NOT NULL,
        PRIMARY KEY (community_code, day)
    );
    """)


@migrations()
def m004_wrong_disposal_index(db: Database) -> None:
    # The dashboard's "latest wrong disposals": a small partial index instead
    # of a scan of the raw events.
    db.executescript("""
    CREATE INDEX events_wrong ON events(community_code, day)
        WHERE type = 'disposal' AND verdict = 'wrong' AND assisted = 0;
    """)


_INSPECTION_LABEL = ("CASE WHEN substr(day, 9, 2) >= '20' "
                     "THEN strftime('%Y-%m', day, 'start of month', '+1 month') "
                     "ELSE substr(day, 1, 7) END")


_SUMS = "sum(disposals), sum(assisted), sum(correct), sum(wrong), sum(uncertain), sum(corrected)"


def period_backfill(inspection_label: str = _INSPECTION_LABEL) -> str:
    """Fills the period tables from the daily ones (m005 and
    rebuild_period_rollups); `inspection_label` is the dialect's expression
    of a day's inspection month."""
    return f"""
    INSERT INTO rollup_period SELECT scope, 'month', substr(day, 1, 7), staffed, {_SUMS}
        FROM rollup_day GROUP BY 1, 2, 3, 4;
    INSERT INTO rollup_period SELECT scope, 'inspection', {inspection_label}, staffed, {_SUMS}
        FROM rollup_day GROUP BY 1, 2, 3, 4;
    INSERT INTO awareness_period SELECT scope, 'month', substr(day, 1, 7),
        sum(respondents), sum(aware) FROM awareness_day GROUP BY 1, 2, 3;
    INSERT INTO awareness_period SELECT scope, 'inspection', {inspection_label},
        sum(respondents), sum(aware) FROM awareness_day GROUP BY 1, 2, 3;
    INSERT INTO online_period SELECT scope, 'month', substr(day, 1, 7), sum(seconds)
        FROM online_day GROUP BY 1, 2, 3;
    INSERT INTO online_period SELECT scope, 'inspection', {inspection_label}, sum(seconds)
        FROM online_day GROUP BY 1, 2, 3;
"""


PERIOD_BACKFILL = period_backfill()


@migrations()
def m005_period_rollups(db: Database) -> None:
    """Per-period roll-ups (calendar month and inspection month), so that a
    ranking or an export reads one row per member instead of one per day."""
    db.executescript(f"""
    CREATE TABLE rollup_period (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        staffed INTEGER NOT NULL,
        {SCOPE_COUNTERS},
        PRIMARY KEY (scope, kind, period, staffed)
    ) WITHOUT ROWID;
    CREATE TABLE awareness_period (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        respondents INTEGER NOT NULL DEFAULT 0,
        aware INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    ) WITHOUT ROWID;
    CREATE TABLE online_period (
        scope TEXT NOT NULL,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        seconds INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period)
    ) WITHOUT ROWID;
    """ + PERIOD_BACKFILL)


@migrations()
def m006_events_day_index(db: Database) -> None:
    # prune-events deletes by day.
    db.executescript("CREATE INDEX events_day ON events(day);")


@migrations()
def m007_events_by_station_in_order(db: Database) -> None:
    # An index on station_id alone ends in the rowid, so "a station's events
    # after cursor N" (the tablet's feed) is one range; (station_id, day) was not.
    db.executescript("""
    DROP INDEX events_station_day;
    CREATE INDEX events_station ON events(station_id);
    """)


@migrations()
def m008_sessions(db: Database) -> None:
    # Server-side sessions: the cookie holds a random id, this table its hash,
    # so that logging out, a password change or a removal ends a session.
    db.executescript("""
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions(username);
    """)


@migrations()
def m009_login_failures(db: Database) -> None:
    # Failed logins per key ('user:NAME' or 'addr:ADDRESS'), shared by every
    # worker and host that uses this store; old rows are deleted as new ones come.
    db.executescript("""
    CREATE TABLE login_failures (
        key TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX login_failures_key ON login_failures(key, at);
    """)


@migrations()
def m010_quiz_results_by_station(db: Database) -> None:
    # "The station's latest quiz" for the one-quiz-per-interval rule.
    db.executescript("CREATE INDEX quiz_results_station ON quiz_results(station_id, taken_at);")


@migrations()
def m011_inspections_audits_and_model_rollups(db: Database) -> None:
    # Inspectors' spot checks (查N错M), audits of single disposals, and the
    # camera's outputs per model version (docs/design.md, "Trusting the numbers").
    db.executescript(INSPECTIONS_SCHEMA.format(text="TEXT", id="INTEGER PRIMARY KEY", counter="INTEGER")
                     + " ; " + model_backfill())


INSPECTIONS_SCHEMA = """
    CREATE TABLE inspections (
        id {id},
        station_id {text} NOT NULL REFERENCES stations(id),
        community_code {text} NOT NULL,
        day {text} NOT NULL,             -- Beijing day of the start
        start_ts {text} NOT NULL,        -- as sent, with its offset
        end_ts {text} NOT NULL,
        start_utc {text} NOT NULL,       -- for comparing with the camera's events
        end_utc {text} NOT NULL,
        checked {counter} NOT NULL CHECK (checked >= 0),
        wrong {counter} NOT NULL CHECK (wrong >= 0 AND wrong <= checked),
        note {text} NOT NULL DEFAULT '',
        username {text} NOT NULL,
        created_at {text} NOT NULL
    );
    CREATE INDEX inspections_scope ON inspections(community_code, day);
    CREATE INDEX inspections_station ON inspections(station_id, day);
    CREATE TABLE audits (
        event_id {text} PRIMARY KEY,
        station_id {text} NOT NULL REFERENCES stations(id),
        community_code {text} NOT NULL,
        day {text} NOT NULL,
        model {text} NOT NULL,           -- '' when the event named none
        camera {text} NOT NULL CHECK (camera IN ('correct', 'wrong', 'uncertain')),
        truth {text} NOT NULL CHECK (truth IN ('correct', 'wrong')),
        item {text},
        username {text} NOT NULL,
        role {text} NOT NULL,
        at {text} NOT NULL
    );
    CREATE INDEX audits_model ON audits(model);
    CREATE INDEX audits_scope ON audits(community_code, day);
    CREATE TABLE rollup_model_period (
        scope {text} NOT NULL,
        kind {text} NOT NULL,
        period {text} NOT NULL,
        model {text} NOT NULL,
        correct {counter} NOT NULL DEFAULT 0,
        wrong {counter} NOT NULL DEFAULT 0,
        uncertain {counter} NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, kind, period, model)
    )
"""


def model_backfill(inspection_label: str = _INSPECTION_LABEL) -> str:
    """Fills rollup_model_period from the stored events (existing stores);
    `inspection_label` is the dialect's expression of a day's inspection month."""
    label = inspection_label
    output = "coalesce(original_verdict, verdict)"
    rows = f"""
        SELECT community_code AS community, day, coalesce(model, '') AS model,
               CASE {output} WHEN 'correct' THEN 1 ELSE 0 END AS c,
               CASE {output} WHEN 'wrong' THEN 1 ELSE 0 END AS w,
               CASE {output} WHEN 'uncertain' THEN 1 ELSE 0 END AS u
        FROM events WHERE type = 'disposal' AND assisted = 0"""
    scopes = ["community", "substr(community, 1, 9)", "substr(community, 1, 6)", "'city'"]
    periods = [("'month'", "substr(day, 1, 7)"), ("'inspection'", label)]
    selects = [f"SELECT {scope} AS scope, {kind} AS kind, {period} AS period, model, c, w, u FROM e"
               for scope in scopes for kind, period in periods]
    return (f"WITH e AS ({rows}) "
            "INSERT INTO rollup_model_period(scope, kind, period, model, correct, wrong, uncertain) "
            "SELECT scope, kind, period, model, sum(c), sum(w), sum(u) FROM ("
            + " UNION ALL ".join(selects) + ") x GROUP BY scope, kind, period, model;")


ROLES_CHECK = "role IN ('city','district','street','community','volunteer','inspector')"


@migrations(transactional=False)
def m012_inspector_role(db: Database) -> None:
    # SQLite cannot change a CHECK constraint: the users table is rebuilt
    # (SQLite's documented procedure, with foreign keys off so that the
    # sessions that reference users survive the swap).
    conn = db.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in (
                    f"""CREATE TABLE users_new (
                        username TEXT PRIMARY KEY,
                        password_hash TEXT NOT NULL,
                        role TEXT NOT NULL CHECK ({ROLES_CHECK}),
                        scope TEXT NOT NULL DEFAULT '',
                        created_at TEXT NOT NULL)""",
                    "INSERT INTO users_new SELECT username, password_hash, role, scope, created_at FROM users",
                    "DROP TABLE users",
                    "ALTER TABLE users_new RENAME TO users"):
                conn.execute(statement)   # one by one: executescript would commit first
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"m012 would break foreign keys: {problems[:3]}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


CASES_SCHEMA = """
    CREATE TABLE cases (
        id {id},
        kind {text} NOT NULL CHECK (kind IN ('overflow', 'litter', 'offline', 'camera')),
        station_id {text} NOT NULL REFERENCES stations(id),
        community_code {text} NOT NULL,
        bin {text},                      -- the overflowing bin; NULL for the other kinds
        event_id {text} UNIQUE,          -- the evidence: the event that opened it
        open_key {text} UNIQUE,          -- station/kind/bin while unresolved, then NULL
        detail {text} NOT NULL DEFAULT '',
        opened_at {text} NOT NULL,       -- UTC, ISO-8601
        state {text} NOT NULL CHECK (state IN ('open', 'dispatched', 'resolved', 'closed', 'false_alarm')),
        level {counter} NOT NULL DEFAULT 0,
        assignee {text} NOT NULL DEFAULT '',
        resolved_at {text},
        closed_at {text},
        outcome {text},
        note {text} NOT NULL DEFAULT '',
        updated_at {text} NOT NULL
    );
    CREATE INDEX cases_scope ON cases(community_code, opened_at);
    CREATE INDEX cases_station ON cases(station_id, state);
    CREATE INDEX cases_unresolved ON cases(state, opened_at);
    CREATE TABLE case_history (
        id {id},
        case_id {counter} NOT NULL REFERENCES cases(id),
        at {text} NOT NULL,
        action {text} NOT NULL,
        from_state {text},
        to_state {text} NOT NULL,
        level {counter} NOT NULL,
        by_name {text} NOT NULL,         -- a username, 'station' or 'system'
        by_role {text} NOT NULL,
        note {text} NOT NULL DEFAULT '',
        event_id {text}
    );
    CREATE INDEX case_history_case ON case_history(case_id, id);
    CREATE TABLE webhooks (
        id {id},
        scope {text} NOT NULL,
        url {text} NOT NULL,
        secret {text} NOT NULL,
        created_at {text} NOT NULL,
        UNIQUE (scope, url)
    );
    CREATE TABLE webhook_deliveries (
        id {id},
        delivery_id {text} NOT NULL UNIQUE,
        webhook_id {counter} NOT NULL REFERENCES webhooks(id),
        case_id {counter} NOT NULL REFERENCES cases(id),
        body {text} NOT NULL,
        created_at {text} NOT NULL,
        state {text} NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts {counter} NOT NULL DEFAULT 0,
        next_attempt_at {text} NOT NULL,
        last_attempt_at {text},
        last_status {counter},
        last_error {text},
        delivered_at {text}
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
    CREATE INDEX webhook_deliveries_order ON webhook_deliveries(webhook_id, case_id, id)
"""


POINTS_SCHEMA = """
    CREATE TABLE points_rules (
        scope {text} PRIMARY KEY,        -- 'city' or a community code
        rule {text} NOT NULL,            -- JSON, checked by server/points.py
        set_at {text} NOT NULL
    );
    -- One row per household that ever redeemed: what a redemption locks, so
    -- that two redemptions of one household never both spend the same points.
    CREATE TABLE point_accounts (
        community_code {text} NOT NULL,
        household {text} NOT NULL,
        PRIMARY KEY (community_code, household)
    );
    CREATE TABLE redemptions (
        redemption_id {text} PRIMARY KEY,   -- the tablet's own id: a second press is the same redemption
        community_code {text} NOT NULL,
        household {text} NOT NULL,
        points {counter} NOT NULL CHECK (points > 0),
        reward {text} NOT NULL,
        station_id {text} NOT NULL REFERENCES stations(id),
        username {text} NOT NULL,
        at {text} NOT NULL,
        day {text} NOT NULL
    );
    CREATE INDEX redemptions_household ON redemptions(community_code, household, day);
    CREATE INDEX events_household ON events(community_code, household, day) WHERE household IS NOT NULL
"""


@migrations()
def m013_cases_and_webhooks(db: Database) -> None:
    # Work orders (工单) opened from station findings, their history, and the
    # webhooks that carry every change to the city's grid system. Events gain
    # the start or end state of a bin_full or litter finding.
    db.executescript("ALTER TABLE events ADD COLUMN state TEXT; "
                     + CASES_SCHEMA.format(text="TEXT", id="INTEGER PRIMARY KEY", counter="INTEGER"))


@migrations()
def m014_household_points(db: Database) -> None:
    # Incentive points (积分): the rules as data, redemptions, and an index to
    # read one household's disposals (server/points.py).
    db.executescript(POINTS_SCHEMA.format(text="TEXT", counter="INTEGER") + ";")


HOUSEHOLD_MONTH_SCHEMA = """
    CREATE TABLE household_month (
        community_code {text} NOT NULL,
        household {text} NOT NULL,
        month {text} NOT NULL,           -- YYYY-MM (Beijing)
        disposals {counter} NOT NULL,
        assisted {counter} NOT NULL,
        correct {counter} NOT NULL,
        wrong {counter} NOT NULL,
        uncertain {counter} NOT NULL,
        days_seen {counter} NOT NULL,
        last_seen {text} NOT NULL,
        PRIMARY KEY (community_code, month, household)
    )
"""

# What prune-events keeps of the raw events it deletes, per household and
# month; both dialects (`?` is the cutoff day).
HOUSEHOLD_MONTH_KEEP = """
    INSERT INTO household_month(community_code, household, month, disposals, assisted, correct, wrong,
                                uncertain, days_seen, last_seen)
    SELECT community_code, household, substr(day, 1, 7), count(*), sum(assisted),
           sum(CASE WHEN assisted = 0 AND verdict = 'correct' THEN 1 ELSE 0 END),
           sum(CASE WHEN assisted = 0 AND verdict = 'wrong' THEN 1 ELSE 0 END),
           sum(CASE WHEN assisted = 0 AND verdict = 'uncertain' THEN 1 ELSE 0 END),
           count(DISTINCT day), max(day)
    FROM events WHERE day < ? AND type = 'disposal' AND household IS NOT NULL
    GROUP BY community_code, household, substr(day, 1, 7)
    ON CONFLICT (community_code, month, household) DO UPDATE SET
        disposals = household_month.disposals + excluded.disposals,
        assisted = household_month.assisted + excluded.assisted,
        correct = household_month.correct + excluded.correct,
        wrong = household_month.wrong + excluded.wrong,
        uncertain = household_month.uncertain + excluded.uncertain,
        days_seen = household_month.days_seen + excluded.days_seen,
        last_seen = CASE WHEN excluded.last_seen > household_month.last_seen
                         THEN excluded.last_seen ELSE household_month.last_seen END
"""


@migrations()
def m015_household_months(db: Database) -> None:
    # Each household's month, kept when prune-events deletes the raw events
    # it was counted from (server/households.py reads both).
    db.executescript(HOUSEHOLD_MONTH_SCHEMA.format(text="TEXT", counter="INTEGER") + ";")


CARD_SCANS_SCHEMA = """
    -- A household card read at a station, on its way to the station's
    -- tablet: the token only, kept about a minute (server/scans.py).
    CREATE TABLE card_scans (
        id {id},
        station_id {text} NOT NULL REFERENCES stations(id),
        household {text} NOT NULL,
        at {text} NOT NULL               -- when the server got it (UTC)
    );
    CREATE INDEX card_scans_station ON card_scans(station_id, id);
    CREATE INDEX card_scans_at ON card_scans(at)
"""


@migrations()
def m016_card_scans_to_tablet(db: Database) -> None:
    # The station's own card reader passes a scanned household to its tablet.
    db.executescript(CARD_SCANS_SCHEMA.format(text="TEXT", id="INTEGER PRIMARY KEY") + ";")


# Learning samples (docs/design.md §12): the item crop, the model's embedding
# and scores of an uncertain or volunteer-corrected disposal, and every label
# given to it (who, as which role, when). A sample outlives its event's raw
# row on its own retention (prune-events); a labelled one then keeps its
# embedding and label but loses its image.
SAMPLES_SCHEMA = """
    CREATE TABLE samples (
        event_id {text} PRIMARY KEY,
        station_id {text} NOT NULL REFERENCES stations(id),
        community_code {text} NOT NULL,
        device_id {text} NOT NULL,
        ts {text} NOT NULL,              -- the disposal's time, as sent
        model {text} NOT NULL,           -- the version that judged it (name@sha8)
        rules {text} NOT NULL,
        item {text} NOT NULL,            -- the model's item
        verdict {text} NOT NULL,         -- the verdict at the station
        confidence {real} NOT NULL,
        rejection_score {real},
        uncertainty {real} NOT NULL,     -- the queue's order: 1 - confidence
        probs {text} NOT NULL,           -- JSON: the model's probabilities, in its label order
        embedding {blob} NOT NULL,       -- float32, little-endian
        dims {counter} NOT NULL,
        jpeg {blob},                     -- NULL after the retention (labelled samples only)
        received_at {text} NOT NULL,
        label {text},                    -- an item of the rule set, or 'not_waste'
        label_role {text},
        label_by {text},
        label_at {text}
    );
    CREATE INDEX samples_queue ON samples(uncertainty) WHERE label IS NULL;
    CREATE INDEX samples_received ON samples(received_at);
    CREATE TABLE sample_labels (
        id {id},
        event_id {text} NOT NULL REFERENCES samples(event_id) ON DELETE CASCADE,
        label {text} NOT NULL,
        role {text} NOT NULL,
        username {text} NOT NULL,
        at {text} NOT NULL
    );
    CREATE INDEX sample_labels_event ON sample_labels(event_id, at);
    -- Canaries (server/canary.py): the version of a kind that a scope (a
    -- station id, a division code or 'city') runs, over the registry's
    -- default. `previous` is what the scope ran before, for rollback.
    CREATE TABLE assignments (
        kind {text} NOT NULL CHECK (kind IN ('model', 'rules')),
        scope {text} NOT NULL,
        version {text} NOT NULL,
        previous {text},
        assigned_at {text} NOT NULL,
        PRIMARY KEY (kind, scope)
    )
"""

ROLES_CHECK_17 = ("role IN ('city','district','street','community','volunteer','inspector',"
                  "'labeller')")


@migrations(transactional=False)
def m017_learning_and_canaries(db: Database) -> None:
    # The samples and their labels, the assignments of versions per scope,
    # and the labeller role: the users table is rebuilt for its CHECK as in m012.
    conn = db.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            statements = [s for s in SAMPLES_SCHEMA.format(
                text="TEXT", real="REAL", blob="BLOB", counter="INTEGER",
                id="INTEGER PRIMARY KEY AUTOINCREMENT").split(";") if s.strip()]
            statements += [
                f"""CREATE TABLE users_new (
                    username TEXT PRIMARY KEY,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL CHECK ({ROLES_CHECK_17}),
                    scope TEXT NOT NULL DEFAULT '',
                    created_at TEXT NOT NULL)""",
                "INSERT INTO users_new SELECT username, password_hash, role, scope, created_at FROM users",
                "DROP TABLE users",
                "ALTER TABLE users_new RENAME TO users"]
            for statement in statements:
                conn.execute(statement)
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"m016 would break foreign keys: {problems[:3]}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
