"""Group commit: many threads, one writer, each batch all-or-nothing."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from server.store import writer


def open_db(path):
    def opener():
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        return conn
    return opener


def test_concurrent_jobs_are_all_committed_and_a_failing_one_alone_is_undone(tmp_path):
    path = tmp_path / "w.db"
    conn = open_db(path)()
    conn.execute("CREATE TABLE t (job INTEGER, n INTEGER)")
    conn.commit()

    def job_for(j):
        def job(c):
            c.executemany("INSERT INTO t VALUES (?, ?)", [(j, n) for n in range(10)])
            if j % 7 == 3:
                raise ValueError(f"job {j} fails after writing")
            return j
        return job

    results, errors = {}, {}

    def worker(j):
        try:
            results[j] = writer.submit(path, open_db(path), job_for(j)).result(timeout=30)
        except ValueError as exc:
            errors[j] = str(exc)

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failing = {j for j in range(60) if j % 7 == 3}
    assert set(errors) == failing and set(results) == set(range(60)) - failing
    rows = conn.execute("SELECT job, count(*) FROM t GROUP BY job").fetchall()
    assert dict(rows) == dict.fromkeys(results, 10)


def test_the_writer_stops_when_idle_and_starts_again(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "IDLE_SECONDS", 0.05)
    path = tmp_path / "w.db"
    assert writer.submit(path, open_db(path), lambda c: 1).result(timeout=10) == 1
    for _ in range(100):
        if str(path) not in writer._registry:
            break
        threading.Event().wait(0.02)
    assert str(path) not in writer._registry
    assert writer.submit(path, open_db(path), lambda c: 2).result(timeout=10) == 2


def test_a_failed_commit_fails_every_job_of_it(tmp_path):
    path = tmp_path / "w.db"
    # A job that ends the transaction itself makes the writer's own steps
    # (release, commit) fail: the job must get that error, not a result.
    future = writer.submit(path, open_db(path), lambda c: c.execute("ROLLBACK"))
    with pytest.raises(sqlite3.OperationalError):
        future.result(timeout=10)
