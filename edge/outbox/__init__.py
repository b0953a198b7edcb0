"""The outbox: events waiting for the server, in SQLite, durable across power loss.

Durability: the database runs in WAL mode with `synchronous=FULL`, so every
committed transaction has been fsynced to the WAL before `put()` returns. In
WAL mode `synchronous=NORMAL` would be faster but may lose the last commits on
power loss (they stay durable across a crash of the process only); an event
the camera saw once cannot be seen again, so the outbox pays the fsync.

Order: events are delivered in `seq` order, which is the order they were
stored (the order disposals ended). Evidence images wait until their event has
been delivered.

Disk: `max_bytes` bounds the database. When a write would pass it, or SQLite
reports a full disk, the oldest evidence and learning samples are deleted
first; events are kept. Learning samples wait like evidence, and a wrong
verdict's sample waits until the server names it corrected (`want_samples`)
or its hold time passes (`drop_unwanted_samples`).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time

from contract.limits import MAX_BODY_BYTES, MAX_EVENTS

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
MIGRATIONS = {
    1: [
        """CREATE TABLE events (
               seq INTEGER PRIMARY KEY AUTOINCREMENT,
               event_id TEXT NOT NULL UNIQUE,
               ts TEXT NOT NULL,
               body TEXT NOT NULL,
               created REAL NOT NULL,
               attempts INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE evidence (
               event_id TEXT PRIMARY KEY,
               jpeg BLOB NOT NULL,
               created REAL NOT NULL,
               ready INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX evidence_ready ON evidence (ready, created)",
        """CREATE TABLE dead_letter (
               event_id TEXT PRIMARY KEY,
               body TEXT NOT NULL,
               reason TEXT NOT NULL,
               at REAL NOT NULL)""",
        """CREATE TABLE delivered (
               event_id TEXT PRIMARY KEY,
               at REAL NOT NULL)""",
        "CREATE INDEX delivered_at ON delivered (at)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
    # Learning samples ([learning] samples): sent once their event was
    # delivered (`delivered`) and they are wanted (`wanted`: at once for an
    # uncertain verdict, for a wrong one when the server says its volunteer
    # corrected it); a wrong one not wanted within the hold time is deleted.
    2: [
        """CREATE TABLE samples (
               event_id TEXT PRIMARY KEY,
               body TEXT NOT NULL,
               created REAL NOT NULL,
               delivered INTEGER NOT NULL DEFAULT 0,
               wanted INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX samples_ready ON samples (delivered, wanted, created)",
    ],
}

DELIVERED_KEEP = 200_000  # ids remembered so a replayed source is not re-sent


class OutboxFull(Exception):
    """The disk is full even after all evidence was dropped."""


def _is_full(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(error)


class Outbox:
    def __init__(self, path, max_bytes: int = 512 * 1024 * 1024, clock=time.time):
        self.path = str(path)
        self.max_bytes = max_bytes
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Event()  # set when something new waits for upload
        self.dropped_evidence = 0
        self.inserted = 0
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                    timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- setup ---------------------------------------------------------------

    def _migrate(self):
        with self.lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for v in sorted(MIGRATIONS):
                if v > version:
                    self.conn.execute("BEGIN IMMEDIATE")
                    for sql in MIGRATIONS[v]:
                        self.conn.execute(sql)
                    self.conn.execute(f"PRAGMA user_version={v}")
                    self.conn.execute("COMMIT")

    def pragma(self, name):
        return self.conn.execute(f"PRAGMA {name}").fetchone()[0]

    def close(self):
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()

    # -- meta ------------------------------------------------------------------

    def meta_get(self, key, default=None):
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_setdefault(self, key, value):
        """Store value under key unless present; return the stored value."""
        with self.lock:
            self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                              (key, json.dumps(value)))
            return self.meta_get(key)

    def meta_set(self, key, value) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- writing -----------------------------------------------------------------

    def put(self, event: dict, evidence: bytes | None = None, sample: tuple[dict, bool] | None = None) -> bool:
        """Store one event (and optional evidence, and an optional learning
        sample: its body and whether it is wanted now) durably; False if already known."""
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        sample_row = None if sample is None else (json.dumps(sample[0], separators=(",", ":")), sample[1])
        if sample_row is not None:
            self._make_room(len(sample_row[0]) + 4096)
        now = self.clock()
        if evidence is not None and len(evidence) > self.max_bytes // 8:
            log.warning("evidence of %d bytes exceeds the outbox budget; not kept", len(evidence))
            evidence = None
        if evidence is not None:
            self._make_room(len(evidence) + len(body) + 4096)
        while True:
            try:
                with self.lock:
                    return self._insert(event, body, evidence, now, sample_row)
            except sqlite3.OperationalError as e:
                if not _is_full(e):
                    raise
            log.warning("outbox: disk full while storing an event; dropping the oldest evidence")
            if self.drop_oldest_evidence(count=16):
                continue
            if evidence is not None or sample_row is not None:
                evidence = sample_row = None  # keep the event even without its own evidence
                self.dropped_evidence += 1
                continue
            break
        raise OutboxFull(f"cannot store event {event['event_id']}: disk full")

    def _insert(self, event, body, evidence, now, sample_row=None) -> bool:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            known = c.execute("SELECT 1 FROM delivered WHERE event_id=? UNION ALL "
                              "SELECT 1 FROM dead_letter WHERE event_id=?",
                              (event["event_id"], event["event_id"])).fetchone()
            if known:
                c.execute("ROLLBACK")
                return False
            cur = c.execute("INSERT OR IGNORE INTO events(event_id, ts, body, created) VALUES (?,?,?,?)",
                            (event["event_id"], event["ts"], body, now))
            if cur.rowcount and evidence is not None:
                c.execute("INSERT OR REPLACE INTO evidence(event_id, jpeg, created) VALUES (?,?,?)",
                          (event["event_id"], evidence, now))
            if cur.rowcount and sample_row is not None:
                c.execute("INSERT OR REPLACE INTO samples(event_id, body, created, wanted) VALUES (?,?,?,?)",
                          (event["event_id"], sample_row[0], now, int(sample_row[1])))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        if cur.rowcount:
            self.changed.set()
            self.inserted += 1
            if self.inserted % 100 == 0 and self.used_bytes() > self.max_bytes:
                log.warning("outbox holds more than its %d-byte budget in events alone; events are kept",
                            self.max_bytes)
        return bool(cur.rowcount)

    # -- disk budget ---------------------------------------------------------------

    def used_bytes(self) -> int:
        page = self.pragma("page_size")
        used = (self.pragma("page_count") - self.pragma("freelist_count")) * page
        with contextlib.suppress(OSError):
            used += os.path.getsize(self.path + "-wal")
        return used

    def _make_room(self, needed: int):
        with self.lock:
            while self.used_bytes() + needed > self.max_bytes:
                if not self.drop_oldest_evidence(count=8):
                    break
                self.checkpoint()

    def drop_oldest_evidence(self, count: int | None = 8) -> int:
        """Delete the oldest evidence images; return how many went."""
        with self.lock:
            limit = -1 if count is None else count
            try:
                cur = self.conn.execute(
                    "DELETE FROM evidence WHERE event_id IN "
                    "(SELECT event_id FROM evidence ORDER BY created, rowid LIMIT ?)", (limit,))
                if not cur.rowcount:
                    cur = self.conn.execute(
                        "DELETE FROM samples WHERE event_id IN "
                        "(SELECT event_id FROM samples ORDER BY created, rowid LIMIT ?)", (limit,))
            except sqlite3.OperationalError as e:
                if not _is_full(e):
                    raise
                return 0
            if cur.rowcount:
                self.dropped_evidence += cur.rowcount
                log.warning("outbox over budget: dropped %d oldest evidence image(s)", cur.rowcount)
            return cur.rowcount

    def checkpoint(self):
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- reading for upload ---------------------------------------------------------

    def pending(self, limit: int = MAX_EVENTS, max_body: int = MAX_BODY_BYTES) -> list[tuple[int, dict]]:
        """The oldest undelivered events, in order, within `limit` and `max_body` bytes."""
        with self.lock:
            rows = self.conn.execute("SELECT seq, body FROM events ORDER BY seq LIMIT ?",
                                     (limit,)).fetchall()
        out, size = [], 64
        for seq, body in rows:
            size += len(body.encode()) + 1
            if out and size > max_body:
                break
            out.append((seq, json.loads(body)))
        return out

    def mark_delivered(self, event_ids):
        now = self.clock()
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            for eid in event_ids:
                c.execute("DELETE FROM events WHERE event_id=?", (eid,))
                c.execute("INSERT OR IGNORE INTO delivered(event_id, at) VALUES (?, ?)", (eid, now))
                c.execute("UPDATE evidence SET ready=1 WHERE event_id=?", (eid,))
                c.execute("UPDATE samples SET delivered=1 WHERE event_id=?", (eid,))
            c.execute("DELETE FROM delivered WHERE event_id IN (SELECT event_id FROM delivered "
                      "ORDER BY at DESC LIMIT -1 OFFSET ?)", (DELIVERED_KEEP,))
            c.execute("COMMIT")

    def dead_letter(self, event_id: str, reason: str):
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT body FROM events WHERE event_id=?", (event_id,)).fetchone()
            if row:
                c.execute("INSERT OR REPLACE INTO dead_letter(event_id, body, reason, at) VALUES (?,?,?,?)",
                          (event_id, row[0], reason, self.clock()))
                c.execute("DELETE FROM events WHERE event_id=?", (event_id,))
                c.execute("DELETE FROM evidence WHERE event_id=?", (event_id,))
                c.execute("DELETE FROM samples WHERE event_id=?", (event_id,))
            c.execute("COMMIT")
        log.error("event %s rejected by the server, kept in dead_letter: %s", event_id, reason)

    def bump_attempts(self, seqs):
        with self.lock:
            self.conn.executemany("UPDATE events SET attempts=attempts+1 WHERE seq=?",
                                  [(s,) for s in seqs])

    def ready_evidence(self, limit: int = 1) -> list[tuple[str, bytes]]:
        with self.lock:
            return self.conn.execute("SELECT event_id, jpeg FROM evidence WHERE ready=1 "
                                     "ORDER BY created, rowid LIMIT ?", (limit,)).fetchall()

    def evidence_done(self, event_id: str):
        with self.lock:
            self.conn.execute("DELETE FROM evidence WHERE event_id=?", (event_id,))

    # -- learning samples ----------------------------------------------------------------

    def ready_samples(self, limit: int = 1) -> list[tuple[str, dict]]:
        with self.lock:
            rows = self.conn.execute("SELECT event_id, body FROM samples WHERE delivered=1 AND wanted=1 "
                                     "ORDER BY created, rowid LIMIT ?", (limit,)).fetchall()
        return [(eid, json.loads(body)) for eid, body in rows]

    def sample_done(self, event_id: str):
        with self.lock:
            self.conn.execute("DELETE FROM samples WHERE event_id=?", (event_id,))

    def want_samples(self, event_ids) -> int:
        """The server named these disposals corrected: their samples are to be sent."""
        ids = [e for e in event_ids if isinstance(e, str)]
        if not ids:
            return 0
        with self.lock:
            changed = 0
            for eid in ids:
                changed += self.conn.execute("UPDATE samples SET wanted=1 WHERE event_id=? AND wanted=0",
                                             (eid,)).rowcount
        if changed:
            self.changed.set()
        return changed

    def drop_unwanted_samples(self, hold_seconds: float) -> int:
        """Delete the samples nobody asked for within `hold_seconds` (wrong verdicts not corrected)."""
        with self.lock:
            return self.conn.execute("DELETE FROM samples WHERE wanted=0 AND created < ?",
                                     (self.clock() - hold_seconds,)).rowcount

    # -- health ----------------------------------------------------------------------

    def counts(self) -> dict:
        with self.lock:
            c = self.conn
            return {
                "pending": c.execute("SELECT count(*) FROM events").fetchone()[0],
                "evidence": c.execute("SELECT count(*) FROM evidence").fetchone()[0],
                "evidence_ready": c.execute("SELECT count(*) FROM evidence WHERE ready=1").fetchone()[0],
                "dead_letter": c.execute("SELECT count(*) FROM dead_letter").fetchone()[0],
                "delivered": c.execute("SELECT count(*) FROM delivered").fetchone()[0],
            }

    def sample_counts(self) -> dict:
        """Learning samples to send (wanted) and waiting for a correction (held)."""
        with self.lock:
            c = self.conn
            return {"wanted": c.execute("SELECT count(*) FROM samples WHERE wanted=1").fetchone()[0],
                    "held": c.execute("SELECT count(*) FROM samples WHERE wanted=0").fetchone()[0]}

    def oldest_pending_ts(self) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT ts FROM events ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def requeue_dead_letters(self) -> int:
        """Move every dead letter back to the queue (after the cause was fixed, e.g. the clock)."""
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            rows = c.execute("SELECT event_id, body FROM dead_letter ORDER BY at").fetchall()
            for event_id, body in rows:
                ts = json.loads(body).get("ts", "")
                c.execute("INSERT OR IGNORE INTO events(event_id, ts, body, created) VALUES (?,?,?,?)",
                          (event_id, ts, body, self.clock()))
            c.execute("DELETE FROM dead_letter")
            c.execute("COMMIT")
        if rows:
            self.changed.set()
        return len(rows)

    def dead_letters(self) -> list[dict]:
        with self.lock:
            rows = self.conn.execute("SELECT event_id, body, reason, at FROM dead_letter ORDER BY at").fetchall()
        return [{"event_id": r[0], "event": json.loads(r[1]), "reason": r[2], "at": r[3]} for r in rows]
