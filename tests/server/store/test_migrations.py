"""Migrations: applied once, and m005's backfill files each day under the
same periods as live ingest does."""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from sqlite_utils import Database

from server.rollups import periods_of
from server.store import migrate
from server.store.migrations import migrations


def test_period_backfill_matches_live_period_labels(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    migrations.apply(db, stop_before="m005_period_rollups")
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(0, 400, 3)]
    db.conn.executemany(
        "INSERT INTO rollup_day(scope, day, staffed, disposals, correct) VALUES ('city', ?, 0, 1, 1)",
        [(d.isoformat(),) for d in days])
    db.conn.commit()
    db.close()
    migrate(path)
    migrate(path)      # a second start applies nothing again
    conn = sqlite3.connect(path)
    got = {(kind, label): n for kind, label, n in conn.execute(
        "SELECT kind, period, disposals FROM rollup_period WHERE scope = 'city'")}
    want: dict = {}
    for d in days:
        for key in periods_of(d.isoformat()):
            want[key] = want.get(key, 0) + 1
    assert got == want
    applied = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    assert applied == len(migrations._migrations)


def test_rebuilding_period_rollups_reproduces_what_ingest_kept(app, client, city):
    from server import store as store_pkg

    from ..support import disposal, post_events
    events = [disposal(ts=f"2026-{m:02d}-{d:02d}T08:00:00+08:00", verdict=v)
              for m in (8, 9, 10) for d in (3, 19, 20, 28) for v in ("correct", "wrong")]
    settings = app.config["SETTINGS"]
    assert post_events(client, city, events).get_json()["accepted"] == len(events)
    s = store_pkg.connect(settings.database)
    live = s.conn.execute("SELECT * FROM rollup_period ORDER BY 1, 2, 3, 4").fetchall()
    s.rebuild_period_rollups()
    rebuilt = s.conn.execute("SELECT * FROM rollup_period ORDER BY 1, 2, 3, 4").fetchall()
    s.close()
    assert [tuple(r) for r in live] == [tuple(r) for r in rebuilt] and len(live) > 0
