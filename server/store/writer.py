"""Group commit: one writer thread per process and database file.

With synchronous=FULL every commit waits for the disk (3 ms here, more when
the disk is busy). Request threads hand their batch to the writer, which
stores everything queued in one transaction, each batch under its own
savepoint, then commits once and answers each batch. A batch that fails is
rolled back alone. The thread exits after a few idle seconds."""
from __future__ import annotations

import fcntl
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

IDLE_SECONDS = 5.0
MAX_JOBS_PER_COMMIT = 32

_registry: dict[str, GroupWriter] = {}
_registry_lock = threading.Lock()


@contextmanager
def exclusive(path) -> Iterator[None]:
    """Take the database's write turn. Writers in other processes (gunicorn
    workers, operator commands) queue on a file lock that wakes the next one
    at once; SQLite's own busy handler would make them sleep and poll."""
    with open(str(path) + ".write.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def submit(path: Path, open_conn: Callable[[], sqlite3.Connection], job) -> Future:
    """Run job(conn) in the writer's transaction; the future holds its result."""
    future: Future = Future()
    with _registry_lock:
        writer = _registry.get(str(path))
        if writer is None:
            writer = _registry[str(path)] = GroupWriter(str(path), open_conn)
        writer.jobs.put((job, future))
    return future


class GroupWriter:
    def __init__(self, key: str, open_conn):
        self.key, self.open_conn = key, open_conn
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, name=f"sqlite-writer:{key}", daemon=True).start()

    def _run(self) -> None:
        conn = self.open_conn()
        try:
            while True:
                try:
                    first = self.jobs.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with _registry_lock:
                        if self.jobs.empty():
                            del _registry[self.key]
                            return
                    continue
                batch = [first]
                while len(batch) < MAX_JOBS_PER_COMMIT:
                    try:
                        batch.append(self.jobs.get_nowait())
                    except queue.Empty:
                        break
                with exclusive(self.key):
                    self._commit(conn, batch)
        finally:
            conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list) -> None:
        done = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, future in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = job(conn)
                except Exception as exc:  # this batch only; the others go on
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE SAVEPOINT job")
                    future.set_exception(exc)
                else:
                    conn.execute("RELEASE SAVEPOINT job")
                    done.append((future, result))
            conn.commit()
        except Exception as exc:  # the commit itself failed: nobody's data is stored
            if conn.in_transaction:
                conn.rollback()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in done:
            future.set_result(result)
