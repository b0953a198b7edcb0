"""SORTWATCH_DATABASE_READ: dashboards, stats, rankings and exports read the
replica; ingest, logins and sessions use the primary. Two real databases:
the "replica" is a second database that the test fills differently, so each
answer shows which one it came from."""
from __future__ import annotations

import psycopg
import pytest

from server import create_app
from server.settings import Settings, SettingsError

from ..support import City, disposal, login, make_settings, post_events


@pytest.fixture
def replica(fresh_pg_url, tmp_path):
    """A second database with the same city, holding 5 correct disposals of st-a."""
    app = create_app({"SETTINGS": make_settings(fresh_pg_url), "TESTING": True})
    built = City(app.test_cli_runner(), tmp_path)
    r = post_events(app.test_client(), built, [disposal(verdict="correct") for _ in range(5)])
    assert r.get_json()["accepted"] == 5
    return fresh_pg_url


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_reads_come_from_the_replica_and_writes_go_to_the_primary(db_path, city, replica):
    app = create_app({"SETTINGS": make_settings(db_path, database_read=replica), "TESTING": True})
    client = app.test_client()
    # Ingest goes to the primary: 3 wrong disposals there, the replica unchanged.
    r = post_events(client, city, [disposal(verdict="wrong") for _ in range(3)])
    assert r.get_json()["accepted"] == 3
    assert (count(db_path), count(replica)) == (3, 5)
    # The login and its session are the primary's: the session row is written
    # there and read back there on the next request (the replica has none of it).
    login(client, "city")
    stats = client.get("/api/v1/stats", query_string={"level": "community", "code": "110102001001"})
    assert stats.status_code == 200
    assert stats.get_json()["disposals"] == 5            # the replica's, not the primary's 3
    ranking = client.get("/api/v1/rankings", query_string={"level": "community", "within": "110102001",
                                                            "metric": "accuracy"})
    assert ranking.status_code == 200
    mine = next(m for m in ranking.get_json()["members"] if m["code"] == "110102001001")
    assert mine["value"] == 1.0                           # 5 of 5 correct; the primary's are all wrong
    export = client.get("/exports/stats.csv", query_string={"level": "community", "within": "110102001"})
    assert export.status_code == 200
    line = next(x for x in export.get_data(as_text=True).splitlines() if "110102001001" in x)
    assert ",5," in line, line
    page = client.get("/dashboard/110102001001")
    assert page.status_code == 200
    # Without the replica the same app reads the primary.
    plain = create_app({"SETTINGS": make_settings(db_path), "TESTING": True}).test_client()
    login(plain, "city")
    assert plain.get("/api/v1/stats", query_string={"level": "community", "code": "110102001001"}
                     ).get_json()["disposals"] == 3


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_a_bad_read_url_stops_the_start_naming_the_variable(db_path, fresh_pg_url):
    with pytest.raises(SettingsError, match=r"^SORTWATCH_DATABASE_READ=postgresql://root@127\.0\.0\.1:1/x: "
                                            "cannot connect"):
        create_app({"SETTINGS": make_settings(db_path, database_read="postgresql://root@127.0.0.1:1/x"),
                    "TESTING": True})
    # An empty database is no replica of this one.
    with pytest.raises(SettingsError, match="^SORTWATCH_DATABASE_READ=.* holds no sortwatch schema"):
        create_app({"SETTINGS": make_settings(db_path, database_read=fresh_pg_url), "TESTING": True})
    with pytest.raises(SettingsError, match="^SORTWATCH_DATABASE_READ must be a postgresql://"):
        Settings.from_env({"SORTWATCH_ENV": "test", "SORTWATCH_DATABASE": db_path,
                           "SORTWATCH_DATABASE_READ": "/srv/replica.db"})
    with pytest.raises(SettingsError, match="needs SORTWATCH_DATABASE to be PostgreSQL"):
        Settings.from_env({"SORTWATCH_ENV": "test", "SORTWATCH_DATABASE": "/srv/city.db",
                           "SORTWATCH_DATABASE_READ": db_path})
    with pytest.raises(SettingsError, match="^SORTWATCH_DATABASE_READ is not a usable PostgreSQL URL"):
        Settings.from_env({"SORTWATCH_ENV": "test", "SORTWATCH_DATABASE": db_path,
                           "SORTWATCH_DATABASE_READ": "postgresql://bad host/city"})
