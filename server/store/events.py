"""Writes that come from stations and tablets: events and their roll-ups,
evidence, feedback, heartbeats, quizzes and surveys."""
from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from ..cases import utc_iso
from ..rollups import COUNTERS, RollupDelta, periods_of
from ..scopes import ancestors, station_scope
from . import writer
from .errors import StoreError

# A cursor is an events rowid: SQLite integers stop at 2^63 - 1.
CURSOR_MAX = 2**63 - 1



def _add_excluded(table: str, columns) -> str:
    """The SET list of an upsert that adds the new row's counts to the stored
    row's; the stored columns are named with their table, which PostgreSQL
    requires and SQLite accepts."""
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)


def _shared(scope: str) -> bool:
    """A street's, a district's or the city's row (a community's belongs to
    few devices)."""
    return len(scope) < 12


def _split_delta(delta: RollupDelta) -> tuple[dict[str, dict], dict[str, dict]]:
    """The delta's roll-up rows as (local, shared) parts, per table."""
    local: dict[str, dict] = {"station_hour": dict(delta.station_hour)}
    shared: dict[str, dict] = {"station_hour": {}}
    for table, rows in (("day", delta.day), ("period", delta.period), ("camera", delta.camera)):
        local[table] = {k: c for k, c in rows.items() if not _shared(k[0])}
        shared[table] = {k: c for k, c in rows.items() if _shared(k[0])}
    return local, shared


class EventStore:
    # --- ingest ------------------------------------------------------------

    def existing_event_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._all(
                f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk))
        return found

    _EVENT_COLUMNS = ("event_id", "type", "ts", "day", "hour", "station_id", "community_code",
                      "device_id", "bin", "item", "category", "verdict", "confidence",
                      "household", "assisted", "staffed", "model", "rules", "state", "received_at")

    def ingest(self, events: list[dict], delta_for) -> tuple[list[dict], int]:
        """Store the events whose ids are new, with their roll-ups, atomically
        (group commit, see writer.py). `delta_for(events)` builds the
        RollupDelta. Returns (stored events, duplicates).

        The delta of the whole batch is built before the write transaction,
        which every request waits for; only when some events turn out to be
        duplicates is it built again, inside, for the new ones."""
        rows = [tuple(e.get(c) for c in self._EVENT_COLUMNS) for e in events]
        delta = delta_for(events)

        def job(conn: sqlite3.Connection):
            return type(self)(conn)._ingest_in_transaction(events, rows, delta, delta_for)
        return writer.submit(self.path, lambda: self.open_connection(self.path), job).result()

    def _claim_new_events(self, events: list[dict]) -> list[int]:
        """Indexes of the events whose ids are neither stored yet nor earlier
        in the batch. SQLite's writer holds the only write transaction, so a
        look-up is enough; PgStore claims the ids instead."""
        seen = self.existing_event_ids([e["event_id"] for e in events])
        keep = []
        for i, e in enumerate(events):
            if e["event_id"] not in seen:
                seen.add(e["event_id"])
                keep.append(i)
        return keep

    def _ingest_in_transaction(self, events, rows, delta, delta_for) -> tuple[list[dict], int]:
        keep = self._claim_new_events(events)
        duplicates = len(events) - len(keep)
        if duplicates:
            events = [events[i] for i in keep]
            rows = [rows[i] for i in keep]
            delta = delta_for(events)
        self._store_new(events, rows, delta)
        return events, duplicates

    def _store_new(self, events: list[dict], rows: list[tuple], delta: RollupDelta) -> None:
        """Inside the ingest transaction, for events whose ids were claimed:
        the rows, their roll-ups, and the cases their findings open or resolve."""
        self._insert_events(rows)
        self._apply_delta(delta)
        if any(e["type"] != "disposal" for e in events):
            self._cases_from_events(events, utc_iso(datetime.now(UTC)))

    def _insert_events(self, rows: list[tuple]) -> None:
        marks = ",".join("?" * len(self._EVENT_COLUMNS))
        self.conn.executemany(
            f"INSERT INTO events({','.join(self._EVENT_COLUMNS)}) VALUES ({marks})", rows)

    def _apply_delta(self, delta: RollupDelta) -> None:
        """Add a batch's (or a correction's) deltas to the roll-ups.

        Every batch of the city adds to the same rows of its street, its
        district and the city, and holds their row locks until it commits
        (PostgreSQL; SQLite has one writer anyway). So those shared rows are
        written last, just before the commit, after the rows of the batch's
        own community and station: one batch waits for another only for
        those last statements and the commit, not for the whole batch. Each
        part takes its rows in key order, the same for every batch, so
        concurrent batches cannot deadlock on them."""
        local, shared = _split_delta(delta)
        self._upsert_rollups(local)
        bumps: dict[tuple, int] = {}
        rows = sorted(delta.households)
        for i in range(0, len(rows), 1000):
            chunk = rows[i:i + 1000]
            # RETURNING yields only the rows that were really inserted: the
            # households not yet seen in that community and period.
            inserted = self.conn.execute(
                "INSERT OR IGNORE INTO household_period(community_code, kind, period, household) "
                "VALUES " + ",".join(["(?, ?, ?, ?)"] * len(chunk)) +
                " RETURNING community_code, kind, period",
                [v for row in chunk for v in row]).fetchall()
            for community, kind, period in inserted:
                for scope in ancestors(community):
                    bumps[(scope, kind, period)] = bumps.get((scope, kind, period), 0) + 1
        local["participation"] = {k: n for k, n in bumps.items() if not _shared(k[0])}
        shared["participation"] = {k: n for k, n in bumps.items() if _shared(k[0])}
        self._upsert_participation(local["participation"])
        self._upsert_rollups(shared)
        self._upsert_participation(shared["participation"])

    def _upsert_rollups(self, part: dict[str, dict]) -> None:
        cols = ",".join(COUNTERS)
        marks = ",".join("?" * len(COUNTERS))
        self.conn.executemany(
            f"INSERT INTO rollup_day(scope, day, staffed, {cols}) VALUES (?, ?, ?, {marks}) "
            f"ON CONFLICT(scope, day, staffed) DO UPDATE SET {_add_excluded('rollup_day', COUNTERS)}",
            sorted((*k, *c) for k, c in part["day"].items()))
        self.conn.executemany(
            f"INSERT INTO rollup_period(scope, kind, period, staffed, {cols}) "
            f"VALUES (?, ?, ?, ?, {marks}) ON CONFLICT(scope, kind, period, staffed) "
            f"DO UPDATE SET {_add_excluded('rollup_period', COUNTERS)}",
            sorted((*k, *c) for k, c in part["period"].items()))
        self.conn.executemany(
            f"INSERT INTO rollup_station_hour(station_id, day, hour, {cols}, bin_full, litter) "
            f"VALUES (?, ?, ?, {marks}, ?, ?) ON CONFLICT(station_id, day, hour) DO UPDATE SET "
            + _add_excluded("rollup_station_hour", COUNTERS + ("bin_full", "litter")),
            sorted((*k, *c) for k, c in part["station_hour"].items()))
        self.conn.executemany(
            "INSERT INTO rollup_model_period(scope, kind, period, model, correct, wrong, uncertain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(scope, kind, period, model) DO UPDATE SET "
            + _add_excluded("rollup_model_period", ("correct", "wrong", "uncertain")),
            sorted((*k, *c) for k, c in part["camera"].items()))

    def _upsert_participation(self, bumps: dict[tuple, int]) -> None:
        self.conn.executemany(
            "INSERT INTO participation_period(scope, kind, period, households) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, kind, period) DO UPDATE SET "
            + _add_excluded("participation_period", ("households",)),
            sorted((*k, n) for k, n in bumps.items()))

    def event(self, event_id: str) -> dict | None:
        row = self._one("SELECT * FROM events WHERE event_id = ?", (event_id,))
        return dict(row) if row else None

    def events_between(self, start_day: str, end_day: str) -> list[dict]:
        """Raw events of a day range: for recomputation checks and exports of
        raw data, never for dashboards."""
        return [dict(r) for r in self._all(
            "SELECT * FROM events WHERE day BETWEEN ? AND ? ORDER BY ts", (start_day, end_day))]

    def events_after(self, station_id: str, after: int, limit: int = 50,
                     since_day: str | None = None) -> list[dict]:
        """A station's events with a cursor greater than `after`, oldest
        first: the tablet's live feed. `cursor` is the event's rowid."""
        sql = ("SELECT rowid AS cursor, e.*, "
               "CASE WHEN EXISTS(SELECT 1 FROM evidence v WHERE v.event_id = e.event_id) THEN 1 ELSE 0 END "
               "AS has_evidence "
               "FROM events e WHERE station_id = ? AND rowid > ?")
        params: list = [station_id, after]
        if since_day:
            sql += " AND day >= ?"
            params.append(since_day)
        sql += " ORDER BY rowid LIMIT ?"
        params.append(limit)
        return [dict(r) for r in self._all(sql, params)]

    def latest_cursor(self, station_id: str) -> int:
        row = self._one("SELECT max(rowid) FROM events WHERE station_id = ?", (station_id,))
        return row[0] or 0

    def station_day_counts(self, station_id: str, day: str) -> dict:
        """The day's counters of one station, from its hourly roll-up."""
        names = COUNTERS + ("bin_full", "litter")
        sums = ", ".join(f"coalesce(sum({c}), 0) AS {c}" for c in names)
        row = self._one(f"SELECT {sums} FROM rollup_station_hour WHERE station_id = ? AND day = ?",
                        (station_id, day))
        return {c: row[c] for c in names}

    def apply_feedback(self, event_id: str, change, who: str, now: str,
                       camera_finding=None) -> dict:
        """Apply a volunteer's feedback to a stored disposal and move its
        roll-up counts with it, in one transaction. `change(event) -> dict`
        gives the new values of assisted, item, category and verdict (or
        raises). `camera_finding(corrected, disposals)` says, from the
        station's day, whether its camera needs a case (a detail, or None).
        Returns the updated event."""
        with self.write():
            row = self._one(f"SELECT * FROM events WHERE event_id = ?{self._FOR_UPDATE}", (event_id,))
            if row is None:
                raise StoreError(f"no event {event_id}")
            old = dict(row)
            if old["type"] != "disposal":
                raise StoreError("feedback applies to disposals only")
            changes = change(old)
            new = dict(old, **changes)
            if old["original_item"] is None and new["item"] != old["item"]:
                new["original_item"], new["original_verdict"] = old["item"], old["verdict"]
            original = new["original_item"]
            new["corrected_item"] = (new["item"] if original is not None
                                     and new["item"] != original else None)
            new["feedback_by"], new["feedback_at"] = who, now
            self.conn.execute(
                "UPDATE events SET assisted = ?, item = ?, category = ?, verdict = ?, "
                "corrected_item = ?, original_item = ?, original_verdict = ?, feedback_by = ?, "
                "feedback_at = ? WHERE event_id = ?",
                (int(new["assisted"]), new["item"], new["category"], new["verdict"],
                 new["corrected_item"], new["original_item"], new["original_verdict"],
                 who, now, event_id))
            delta = RollupDelta()
            delta.add(old, False, sign=-1)
            delta.add(new, False, sign=+1)
            self._apply_delta(delta)
            if "item" in changes:
                # The volunteer named the item: its learning sample (if any) is labelled by it.
                self._label_if_sampled(event_id, new["item"], "volunteer", who, now)
            if camera_finding is not None and new["corrected_item"] is not None:
                counts = self.station_day_counts(old["station_id"], old["day"])
                detail = camera_finding(counts["corrected"], counts["disposals"])
                if detail:
                    at = utc_iso(datetime.fromisoformat(now))
                    self._open_case("camera", old["station_id"], old["community_code"], at, at,
                                    event_id=event_id, detail=detail, by=(who, "volunteer"))
            return new

    def put_evidence(self, event_id: str, jpeg: bytes, now: str) -> bool:
        """Store or replace the evidence image; True if there was none yet."""
        with self.write():
            existed = self._one("SELECT 1 FROM evidence WHERE event_id = ?", (event_id,))
            self.conn.execute(
                "INSERT INTO evidence(event_id, jpeg, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET jpeg = excluded.jpeg, "
                "received_at = excluded.received_at", (event_id, jpeg, now))
            return existed is None

    def evidence(self, event_id: str) -> bytes | None:
        row = self._one("SELECT jpeg FROM evidence WHERE event_id = ?", (event_id,))
        return bytes(row[0]) if row else None

    # --- heartbeats and online time ----------------------------------------

    def record_heartbeat(self, station: dict, device_id: str, now: str, day: str,
                         health: dict, credit_seconds) -> int:
        """Store the station's latest health and credit online seconds since
        its previous heartbeat (`credit_seconds(previous_ts) -> int`)."""
        with self.write():
            prev = self._one("SELECT last_heartbeat FROM station_status WHERE station_id = ?"
                             + self._FOR_UPDATE, (station["id"],))
            seconds = credit_seconds(prev[0] if prev else None)
            heard = utc_iso(datetime.fromisoformat(now))
            self._resolve_unresolved("offline", station["id"], heard, heard,
                                     note="the station is online again")
            self.conn.execute(
                "INSERT INTO station_status(station_id, device_id, last_heartbeat, health) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(station_id) DO UPDATE SET "
                "device_id = excluded.device_id, last_heartbeat = excluded.last_heartbeat, "
                "health = excluded.health", (station["id"], device_id, now, json.dumps(health)))
            if seconds > 0:
                scopes = (station_scope(station["id"]), *ancestors(station["community_code"]))
                self.conn.executemany(
                    "INSERT INTO online_day(scope, day, seconds) VALUES (?, ?, ?) "
                    "ON CONFLICT(scope, day) DO UPDATE SET " + _add_excluded("online_day", ("seconds",)),
                    sorted((s, day, seconds) for s in scopes))
                self.conn.executemany(
                    "INSERT INTO online_period(scope, kind, period, seconds) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(scope, kind, period) DO UPDATE SET "
                    + _add_excluded("online_period", ("seconds",)),
                    sorted((s, kind, label, seconds) for s in scopes for kind, label in periods_of(day)))
            return seconds

    def station_status(self, station_id: str) -> dict | None:
        row = self._one("SELECT * FROM station_status WHERE station_id = ?", (station_id,))
        if row is None:
            return None
        d = dict(row)
        d["health"] = json.loads(d["health"])
        return d

    # --- awareness ----------------------------------------------------------

    def _add_awareness(self, community: str, day: str, respondents: int, aware: int) -> None:
        self.conn.executemany(
            "INSERT INTO awareness_day(scope, day, respondents, aware) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, day) DO UPDATE SET "
            + _add_excluded("awareness_day", ("respondents", "aware")),
            sorted((scope, day, respondents, aware) for scope in ancestors(community)))
        self.conn.executemany(
            "INSERT INTO awareness_period(scope, kind, period, respondents, aware) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(scope, kind, period) DO UPDATE SET "
            + _add_excluded("awareness_period", ("respondents", "aware")),
            sorted((scope, kind, label, respondents, aware) for scope in ancestors(community)
                   for kind, label in periods_of(day)))

    def record_quiz(self, result: dict, not_after: str | None = None) -> bool | None:
        """Store a scored quiz once per nonce; False if it was already stored,
        None (nothing stored) if the station has a quiz taken after `not_after`."""
        with self.write():
            if self._one("SELECT 1 FROM quiz_results WHERE nonce = ?", (result["nonce"],)):
                return False
            if not_after is not None and self._one(
                    "SELECT 1 FROM quiz_results WHERE station_id = ? AND taken_at > ?",
                    (result["station_id"], not_after)):
                return None
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO quiz_results(nonce, station_id, community_code, day, score, "
                "questions, passed, household, taken_by, taken_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                tuple(result[k] for k in ("nonce", "station_id", "community_code", "day", "score",
                                          "questions", "passed", "household", "taken_by",
                                          "taken_at")))
            if cur.rowcount == 0:
                return False
            self._add_awareness(result["community_code"], result["day"], 1, int(result["passed"]))
            return True

    def import_surveys(self, rows: list[dict], now: str) -> dict:
        """Add or replace survey results per community and day, all or none."""
        summary = {"added": 0, "replaced": 0, "unchanged": 0}
        with self.write():
            for r in rows:
                if self._one("SELECT 1 FROM communities WHERE code = ?", (r["community_code"],)) is None:
                    raise StoreError(f"line {r['line']}: unknown community {r['community_code']}")
                old = self._one("SELECT respondents, aware FROM surveys WHERE community_code = ? "
                                "AND day = ?", (r["community_code"], r["day"]))
                if old and (old[0], old[1]) == (r["respondents"], r["aware"]):
                    summary["unchanged"] += 1
                    continue
                summary["replaced" if old else "added"] += 1
                self.conn.execute(
                    "INSERT INTO surveys(community_code, day, respondents, aware, imported_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(community_code, day) DO UPDATE SET "
                    "respondents = excluded.respondents, aware = excluded.aware, "
                    "imported_at = excluded.imported_at",
                    (r["community_code"], r["day"], r["respondents"], r["aware"], now))
                self._add_awareness(r["community_code"], r["day"],
                                    r["respondents"] - (old[0] if old else 0),
                                    r["aware"] - (old[1] if old else 0))
        return summary
