"""m012 rebuilds SQLite's users table for the inspector role and keeps every
user and session."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from server.store import migrate
from server.store.migrations import migrations


def test_users_and_their_sessions_survive_the_rebuild(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    db.conn.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db, stop_before="m012_inspector_role")
    db.conn.execute("INSERT INTO users VALUES ('wang', 'h', 'community', '110102001001', 't')")
    db.conn.execute("INSERT INTO sessions VALUES ('s1', 'wang', 't', 't2')")
    db.conn.commit()
    try:
        db.conn.execute("INSERT INTO users VALUES ('li', 'h', 'inspector', '', 't')")
        raise AssertionError("the old schema took an inspector")
    except sqlite3.IntegrityError:
        pass
    db.close()
    migrate(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    assert conn.execute("SELECT username, role FROM users").fetchall() == [("wang", "community")]
    assert conn.execute("SELECT id_hash FROM sessions").fetchall() == [("s1",)]
    conn.execute("INSERT INTO users VALUES ('li', 'h', 'inspector', '', 't')")
    conn.execute("DELETE FROM users WHERE username = 'wang'")       # the cascade still holds
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
