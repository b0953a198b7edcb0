"""The PostgreSQL group writer (server/store/pg_writer.py): batches posted at
once by many requests of one process are stored in fewer transactions, each
request gets its own answer, and one batch that cannot be stored fails
alone."""
from __future__ import annotations

import threading
from concurrent.futures import Future

import psycopg
import pytest

from server.api.events import _delta
from server.store import pg_writer
from server.store.postgres import PgStore

from ..support import disposal, post_events


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_batches_posted_at_once_share_transactions_and_each_gets_its_answer(app, city, db_path,
                                                                            monkeypatch):
    groups = []
    ingest_group = PgStore.ingest_group

    def counted(self, jobs):
        groups.append(len(jobs))
        return ingest_group(self, jobs)
    monkeypatch.setattr(PgStore, "ingest_group", counted)
    shared = [disposal(station="st-a") for _ in range(5)]     # in every st-a batch: stored once
    batches = [[disposal(station=("st-a", "st-b")[i % 2]) for _ in range(3)] + (shared, [])[i % 2]
               for i in range(40)]
    barrier, answers = threading.Barrier(len(batches)), [None] * len(batches)

    def device(i):
        client = app.test_client()
        station = ("st-a", "st-b")[i % 2]
        barrier.wait()
        answers[i] = post_events(client, city, batches[i], station=station).get_json()
    threads = [threading.Thread(target=device, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None and a["rejected"] == [] for a in answers), answers
    assert sum(a["accepted"] for a in answers) == 40 * 3 + 5
    assert sum(a["duplicates"] for a in answers) == 19 * 5
    assert all(a["accepted"] + a["duplicates"] == len(b) for a, b in zip(answers, batches, strict=True))
    assert sum(groups) == 40 and len(groups) < 40, groups
    with psycopg.connect(db_path) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (125, 125)
        assert conn.execute("SELECT sum(disposals) FROM rollup_day WHERE scope = 'city'").fetchone() == (125,)
        assert conn.execute("SELECT sum(disposals) FROM rollup_station_hour").fetchone() == (125,)


@pytest.mark.parametrize("db_path", ["postgresql"], indirect=True)
def test_a_batch_that_cannot_be_stored_fails_alone_and_its_group_is_stored(app, city, db_path):
    """A batch that PostgreSQL refuses (here an event whose hour, after
    validation, is not a number) fails the combined transaction: the group
    is tried again batch by batch, and only that batch fails."""
    from server.ingest import Preparer
    from server.timeutil import now_utc
    store = PgStore(db_path)
    device = store._one("SELECT * FROM devices WHERE id = 'dev-st-a'")
    preparer = Preparer(store, dict(device), now_utc(), app.config["SETTINGS"])

    def prepared(**fields):
        ev, errors = preparer.prepare(disposal(station="st-a", **fields))
        assert errors == [], errors
        return ev
    good, bad, also_good = [prepared()], [dict(prepared(), hour="noon")], [prepared(), prepared()]
    writer = pg_writer.PgGroupWriter(("test", db_path), lambda jobs: store.ingest_group(jobs))
    group = [((batch, _delta), Future()) for batch in (good, bad, also_good)]
    writer._store(group)
    assert [len(f.result()[0]) for f in (group[0][1], group[2][1])] == [1, 2]
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        group[1][1].result()
    with psycopg.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)
        assert conn.execute("SELECT sum(disposals) FROM rollup_day WHERE scope = 'city'").fetchone() == (3,)
