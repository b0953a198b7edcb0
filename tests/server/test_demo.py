"""The demo district as `flask --app server load-demo` writes it, read back
from the real SQLite file."""
from __future__ import annotations

import sqlite3

from server import create_app

from .support import make_settings


def _loaded(tmp_path):
    db = tmp_path / "demo.db"
    app = create_app({"SETTINGS": make_settings(db), "TESTING": True})
    result = app.test_cli_runner().invoke(args=["load-demo"])
    assert result.exit_code == 0, result.output
    return sqlite3.connect(db)


def test_demo_names_are_unique(tmp_path):
    with _loaded(tmp_path) as conn:
        communities = [r[0] for r in conn.execute("SELECT name FROM communities")]
        stations = [r[0] for r in conn.execute("SELECT name FROM stations")]
    assert len(communities) == 60 and len(set(communities)) == 60
    assert "三里河社区" in communities and "示例社区 01" in communities
    assert len(stations) == len(set(stations)) == 3
