"""Group commit for PostgreSQL ingest: one writer thread per process and
database URL.

Every batch of the city adds to the same roll-up rows (its street's, its
district's and the city's) and holds their row locks until it commits. One
transaction per request would make the city's 4,000 one-event requests a
second queue on those rows one commit at a time. Request threads hand their
batch to the writer instead, which stores all the batches queued meanwhile
as one batch: their new ids claimed together, their events inserted, one
delta over all of them added to the roll-ups, one commit. Each request then
gets its own share of the answer (its stored events, its duplicates).

If the combined transaction fails (not a deadlock, which is retried), each
batch is tried again alone, so one bad batch fails only its own request.
The thread exits after a few idle seconds."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from .errors import StoreUnavailable

IDLE_SECONDS = 5.0
MAX_BATCHES_PER_COMMIT = 64
MAX_EVENTS_PER_COMMIT = 5000

_writers: dict[tuple[int, str], PgGroupWriter] = {}
_writers_lock = threading.Lock()


def submit(key: tuple[int, str], ingest_group: Callable, events: list[dict], delta_for) -> Future:
    """Queue a batch; `ingest_group(jobs)` stores a list of (events,
    delta_for) in one transaction and returns each job's (stored, duplicates)."""
    future: Future = Future()
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = PgGroupWriter(key, ingest_group)
        writer.jobs.put(((events, delta_for), future))
    return future


class PgGroupWriter:
    def __init__(self, key: tuple[int, str], ingest_group: Callable):
        self.key, self.ingest_group = key, ingest_group
        self.jobs: queue.Queue = queue.Queue()
        self._next = None     # a job that did not fit the last group
        threading.Thread(target=self._run, name="pg-writer", daemon=True).start()

    def _take(self, timeout: float | None):
        if self._next is not None:
            job, self._next = self._next, None
            return job
        return self.jobs.get(timeout=timeout) if timeout else self.jobs.get_nowait()

    def _run(self) -> None:
        while True:
            try:
                first = self._take(IDLE_SECONDS)
            except queue.Empty:
                with _writers_lock:
                    if self.jobs.empty():
                        if _writers.get(self.key) is self:
                            del _writers[self.key]
                        return
                continue
            group, events = [first], len(first[0][0])
            while len(group) < MAX_BATCHES_PER_COMMIT and events < MAX_EVENTS_PER_COMMIT:
                try:
                    job = self._take(None)
                except queue.Empty:
                    break
                if job[0][1] is not first[0][1]:     # one delta over the group needs one delta_for
                    self._next = job
                    break
                group.append(job)
                events += len(job[0][0])
            self._store(group)

    def _store(self, group: list) -> None:
        try:
            results = self.ingest_group([job for job, _ in group])
        except Exception as exc:
            if len(group) == 1 or isinstance(exc, StoreUnavailable):
                for _, future in group:
                    future.set_exception(exc)
                return
            for one in group:     # each alone: only the batch at fault fails
                self._store([one])
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)
