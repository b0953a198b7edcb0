"""copy-store: a pilot's SQLite store into an empty PostgreSQL database,
checked rate for rate; refused, changing nothing, when the target is not empty."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import psycopg
import pytest
from PIL import Image

from server import create_app
from server.store import StoreError, postgres
from server.store import copy as store_copy

from ..support import BEIJING, disposal, login, make_settings, post_events

pytestmark = pytest.mark.parametrize("db_path", ["sqlite"], indirect=True)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def _pilot(client, city, runner, tmp_path) -> list[dict]:
    now = datetime.now(BEIJING)
    events = [disposal(ts=(now - timedelta(days=d)).isoformat(timespec="milliseconds"),
                       verdict=v, household=f"hh-{d % 7}")
              for d in (0, 3, 25, 40, 70, 100) for v in ("correct", "wrong", "uncertain")]
    events += [disposal(station="st-c", bin="other", verdict="correct", item="battery")]
    assert post_events(client, city, events[:-1]).get_json()["accepted"] == len(events) - 1
    assert post_events(client, city, events[-1:], station="st-c").get_json()["accepted"] == 1
    r = client.put(f"/api/v1/events/{events[1]['event_id']}/evidence", data=_jpeg(),
                   content_type="image/jpeg", headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert r.status_code == 201
    login(client, "vol")
    assert client.post(f"/api/v1/events/{events[1]['event_id']}/feedback",
                       json={"assisted": True}).status_code == 200
    surveys = tmp_path / "surveys.csv"
    surveys.write_text(f"community_code,date,respondents,aware\n110102001001,{now:%Y-%m-%d},40,37\n",
                       encoding="utf-8")
    result = runner.invoke(args=["import-surveys", str(surveys)])
    assert result.exit_code == 0, result.output
    return events


def _stats(client, month: str) -> list:
    """The stats of a few scopes, without what moves with the clock: the
    online share's possible seconds grow while the two stores are asked."""
    login(client, "city")
    out = []
    for level, extra in (("city", {}), ("district", {"code": "110102"}),
                         ("community", {"code": "110102001001"})):
        body = client.get("/api/v1/stats", query_string={"level": level, "month": month, **extra}).get_json()
        body["online_share"] = body["online_share"]["online_seconds"]
        out.append(body)
    return out


def test_copy_store_moves_a_pilot_and_the_rates_agree(app, client, city, runner, tmp_path, fresh_pg_url):
    events = _pilot(client, city, runner, tmp_path)
    result = runner.invoke(args=["copy-store", "--to", fresh_pg_url])
    assert result.exit_code == 0, result.output
    assert f"({len(events)} events)" in result.output and "are equal on both" in result.output
    reports = int(result.output.split("; ")[-1].split()[0])
    assert reports >= 4 * 2 * 10    # 4+ months, two kinds; city, 2 districts, 3 streets, 4 communities

    copied = create_app({"SETTINGS": make_settings(fresh_pg_url), "TESTING": True})
    pg_client = copied.test_client()
    for back in (0, 1, 2, 3):
        month = (datetime.now(BEIJING) - timedelta(days=31 * back)).strftime("%Y-%m")
        assert _stats(pg_client, month) == _stats(client, month)
    # What is not a rate came along too: evidence, feedback, the tablets' cursors.
    source = postgres.connect(fresh_pg_url)
    assert source.evidence(events[1]["event_id"]) == _jpeg()
    assert source.event(events[1]["event_id"])["assisted"] == 1
    from server.store import connect
    pilot = connect(app.config["SETTINGS"].database)
    assert source.latest_cursor("st-a") == pilot.latest_cursor("st-a") > 0
    # The devices' tokens work on the copy, and a new event gets a cursor
    # past every copied one.
    assert post_events(pg_client, city, [disposal()]).get_json()["accepted"] == 1
    assert source.latest_cursor("st-a") > pilot.latest_cursor("st-a")
    pilot.close()

    # A second copy into the same database is refused and changes nothing.
    with psycopg.connect(fresh_pg_url) as conn:
        before = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    again = runner.invoke(args=["copy-store", "--to", fresh_pg_url])
    assert again.exit_code == 1 and "already holds data: districts (2)" in again.output, again.output
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == before


def test_a_failed_check_leaves_the_target_empty(app, client, city, runner, tmp_path, fresh_pg_url):
    _pilot(client, city, runner, tmp_path)

    def disagree(source, copied):
        assert copied.row_counts(["events"]) == source.row_counts(["events"])  # seen inside the copy
        raise StoreError("reports differ")
    with pytest.raises(StoreError, match="reports differ"):
        store_copy.copy_sqlite_to_postgres(app.config["SETTINGS"].database, fresh_pg_url, disagree)
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM districts").fetchone()[0] == 0
    store_copy.refuse_unless_empty(fresh_pg_url)   # still a fit target


def test_copy_store_refusals(app, runner, fresh_pg_url):
    with psycopg.connect(fresh_pg_url) as conn:
        conn.execute("CREATE TABLE something_else (x int)")
    result = runner.invoke(args=["copy-store", "--to", fresh_pg_url])
    assert result.exit_code == 1 and "not a sortwatch store" in result.output, result.output
    with psycopg.connect(fresh_pg_url) as conn:
        assert conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None
    for target, words in (("/tmp/x.db", "--to must be a PostgreSQL URL"),
                          ("mysql://x/y", "--to must be a file path")):
        result = runner.invoke(args=["copy-store", "--to", target])
        assert result.exit_code == 1 and words in result.output, result.output
