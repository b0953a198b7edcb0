"""The embedded SQLite store (sqlite-utils), one file, WAL."""
from __future__ import annotations

import fcntl
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from sqlite_utils import Database

from ..rollups import COUNTERS, RollupDelta, periods_of
from ..scopes import CITY, ancestors, station_scope
from . import migrations, writer


class StoreError(Exception):
    """A write the store refused: unknown key, duplicate id, and the like."""


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: an acknowledged batch survives a power cut; devices delete events
    # from their outbox as soon as we acknowledge them.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of page cache
    return conn


def migrate(path: Path) -> None:
    """Create or upgrade the schema; safe with several processes starting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = _open(path)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(Database(conn, execute_plugins=False))
        finally:
            conn.close()


def connect(path: Path) -> "SqliteStore":
    return SqliteStore(_open(path), path)


_UPSERT_SET = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTERS)


class SqliteStore:
    def __init__(self, conn: sqlite3.Connection, path: Path | None = None):
        self.conn, self.path = conn, path

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator["SqliteStore"]:
        """One write transaction, taken up front so concurrent writers queue
        on the lock instead of failing on upgrade."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def _one(self, sql: str, params: Iterable = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def backup_to(self, destination: Path) -> int:
        """Online backup into a new file; returns its page count."""
        target = sqlite3.connect(str(destination))
        try:
            self.conn.backup(target)
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise StoreError(f"the backup in {destination} failed its integrity check")
            return target.execute("PRAGMA page_count").fetchone()[0]
        finally:
            target.close()

    def ping(self) -> bool:
        return self._one("SELECT 1")[0] == 1

    # --- hierarchy -------------------------------------------------------

    def import_regions(self, rows: list[dict]) -> dict:
        """Add new districts, streets and communities; update household counts
        and names of existing ones. Never deletes. Caller validated rows."""
        summary = dict.fromkeys(
            ("districts_added", "streets_added", "communities_added",
             "communities_updated", "communities_unchanged"), 0)
        with self.write():
            for r in rows:
                for table, code, name, parent in (
                        ("districts", r["district_code"], r["district"], None),
                        ("streets", r["street_code"], r["street"], r["district_code"])):
                    if parent is None:
                        cur = self.conn.execute(
                            "INSERT OR IGNORE INTO districts(code, name) VALUES (?, ?)", (code, name))
                    else:
                        cur = self.conn.execute(
                            "INSERT OR IGNORE INTO streets(code, name, district_code) "
                            "VALUES (?, ?, ?)", (code, name, parent))
                    summary[f"{table}_added"] += cur.rowcount
                    self.conn.execute(f"UPDATE {table} SET name = ? WHERE code = ? AND name != ?",
                                      (name, code, name))
                old = self._one("SELECT name, households FROM communities WHERE code = ?",
                                (r["community_code"],))
                if old is None:
                    self.conn.execute(
                        "INSERT INTO communities(code, name, street_code, households) "
                        "VALUES (?, ?, ?, ?)",
                        (r["community_code"], r["community"], r["street_code"], r["households"]))
                    summary["communities_added"] += 1
                elif (old["name"], old["households"]) != (r["community"], r["households"]):
                    self.conn.execute(
                        "UPDATE communities SET name = ?, households = ? WHERE code = ?",
                        (r["community"], r["households"], r["community_code"]))
                    summary["communities_updated"] += 1
                else:
                    summary["communities_unchanged"] += 1
        return summary

    def region_names(self) -> dict[str, str]:
        rows = self._all("SELECT code, name FROM districts UNION ALL "
                         "SELECT code, name FROM streets UNION ALL "
                         "SELECT code, name FROM communities")
        return {r["code"]: r["name"] for r in rows}

    def region(self, code: str) -> dict | None:
        """Name (and households for a community) of a division code."""
        table = {6: "districts", 9: "streets", 12: "communities"}.get(len(code))
        if table is None:
            return None
        row = self._one(f"SELECT * FROM {table} WHERE code = ?", (code,))
        return dict(row) if row else None

    def count_regions(self) -> dict:
        return {t: self._one(f"SELECT count(*) FROM {t}")[0]
                for t in ("districts", "streets", "communities")}

    # --- stations, devices, users ------------------------------------------

    def add_station(self, station: dict) -> None:
        self.add_stations([station])

    def add_stations(self, stations: list[dict]) -> None:
        """Register stations in one transaction; all or none."""
        with self.write():
            for station in stations:
                if self._one("SELECT 1 FROM stations WHERE id = ?", (station["id"],)):
                    raise StoreError(f"station {station['id']} already exists")
                if not self._one("SELECT 1 FROM communities WHERE code = ?",
                                 (station["community_code"],)):
                    raise StoreError(f"unknown community {station['community_code']}; "
                                     "import the hierarchy first (import-regions)")
                self.conn.execute(
                    "INSERT INTO stations(id, community_code, name, bins, household_reader, "
                    "staffed_windows, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (station["id"], station["community_code"], station["name"],
                     json.dumps(station["bins"]), int(station["household_reader"]),
                     json.dumps(station["staffed_windows"]), station["created_at"]))
                if station["household_reader"]:
                    self.conn.execute("UPDATE communities SET reader_stations = reader_stations + 1 "
                                      "WHERE code = ?", (station["community_code"],))

    ROLLUP_TABLES = {"rollup_day", "rollup_period", "rollup_station_hour",
                     "participation_period", "awareness_day", "awareness_period",
                     "online_day", "online_period"}

    def prune_events(self, before_day: str) -> tuple[int, int]:
        """Delete raw events (and their evidence) of days before `before_day`;
        roll-ups stay. Returns (events, evidence images) deleted."""
        with self.write():
            images = self.conn.execute(
                "DELETE FROM evidence WHERE event_id IN "
                "(SELECT event_id FROM events WHERE day < ?)", (before_day,)).rowcount
            events = self.conn.execute("DELETE FROM events WHERE day < ?", (before_day,)).rowcount
        return events, images

    def rebuild_period_rollups(self) -> None:
        """Recompute the per-period roll-ups from the daily ones (after a
        bulk load, or to repair)."""
        with self.write():
            for table in ("rollup_period", "awareness_period", "online_period"):
                self.conn.execute(f"DELETE FROM {table}")
            for statement in migrations.PERIOD_BACKFILL.split(";"):
                if statement.strip():
                    self.conn.execute(statement)

    def bulk_load(self, table: str, columns: tuple[str, ...], rows) -> int:
        """Add generated roll-up rows in one transaction (benchmarks and demo
        history only; live data always comes through ingest)."""
        if table not in self.ROLLUP_TABLES:
            raise StoreError(f"bulk_load only fills roll-up tables, not {table}")
        marks = ",".join("?" * len(columns))
        with self.write():
            cur = self.conn.executemany(
                f"INSERT INTO {table}({','.join(columns)}) VALUES ({marks})", rows)
            return cur.rowcount

    def station(self, station_id: str) -> dict | None:
        row = self._one("SELECT * FROM stations WHERE id = ?", (station_id,))
        if row is None:
            return None
        d = dict(row)
        d["bins"] = json.loads(d["bins"])
        d["staffed_windows"] = json.loads(d["staffed_windows"])
        d["household_reader"] = bool(d["household_reader"])
        return d

    def add_device(self, device_id: str, station_id: str, token_hash: str, now: str) -> None:
        with self.write():
            if self._one("SELECT 1 FROM devices WHERE id = ?", (device_id,)):
                raise StoreError(f"device {device_id} already exists; "
                                 "revoke it and register a new id to rotate its token")
            if not self._one("SELECT 1 FROM stations WHERE id = ?", (station_id,)):
                raise StoreError(f"unknown station {station_id}; add it first (add-station)")
            self.conn.execute("INSERT INTO devices(id, station_id, token_hash, created_at) "
                              "VALUES (?, ?, ?, ?)", (device_id, station_id, token_hash, now))

    def revoke_device(self, device_id: str, now: str) -> None:
        with self.write():
            cur = self.conn.execute("UPDATE devices SET revoked_at = ? WHERE id = ? "
                                    "AND revoked_at IS NULL", (now, device_id))
            if cur.rowcount == 0:
                if not self._one("SELECT 1 FROM devices WHERE id = ?", (device_id,)):
                    raise StoreError(f"unknown device {device_id}")
                raise StoreError(f"device {device_id} is already revoked")

    def device_by_token_hash(self, token_hash: str) -> dict | None:
        row = self._one("SELECT * FROM devices WHERE token_hash = ?", (token_hash,))
        return dict(row) if row else None

    def add_user(self, user: dict) -> None:
        with self.write():
            if self._one("SELECT 1 FROM users WHERE username = ?", (user["username"],)):
                raise StoreError(f"user {user['username']} already exists")
            self.conn.execute(
                "INSERT INTO users(username, password_hash, role, scope, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (user["username"], user["password_hash"], user["role"], user["scope"],
                 user["created_at"]))

    def user(self, username: str) -> dict | None:
        row = self._one("SELECT * FROM users WHERE username = ?", (username,))
        return dict(row) if row else None

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
                      "household", "assisted", "staffed", "model", "rules", "received_at")

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
            return SqliteStore(conn)._ingest_in_transaction(events, rows, delta, delta_for)
        return writer.submit(self.path, lambda: _open(self.path), job).result()

    def _ingest_in_transaction(self, events, rows, delta, delta_for) -> tuple[list[dict], int]:
        seen = self.existing_event_ids([e["event_id"] for e in events])
        keep = []
        for i, e in enumerate(events):
            if e["event_id"] not in seen:
                seen.add(e["event_id"])
                keep.append(i)
        duplicates = len(events) - len(keep)
        if duplicates:
            events = [events[i] for i in keep]
            rows = [rows[i] for i in keep]
            delta = delta_for(events)
        marks = ",".join("?" * len(self._EVENT_COLUMNS))
        self.conn.executemany(
            f"INSERT INTO events({','.join(self._EVENT_COLUMNS)}) VALUES ({marks})", rows)
        self._apply_delta(delta)
        return events, duplicates

    def _apply_delta(self, delta: RollupDelta) -> None:
        cols = ",".join(COUNTERS)
        marks = ",".join("?" * len(COUNTERS))
        self.conn.executemany(
            f"INSERT INTO rollup_day(scope, day, staffed, {cols}) VALUES (?, ?, ?, {marks}) "
            f"ON CONFLICT(scope, day, staffed) DO UPDATE SET {_UPSERT_SET}",
            [(*k, *c) for k, c in delta.day.items()])
        self.conn.executemany(
            f"INSERT INTO rollup_period(scope, kind, period, staffed, {cols}) "
            f"VALUES (?, ?, ?, ?, {marks}) "
            f"ON CONFLICT(scope, kind, period, staffed) DO UPDATE SET {_UPSERT_SET}",
            [(*k, *c) for k, c in delta.period.items()])
        self.conn.executemany(
            f"INSERT INTO rollup_station_hour(station_id, day, hour, {cols}, bin_full, litter) "
            f"VALUES (?, ?, ?, {marks}, ?, ?) ON CONFLICT(station_id, day, hour) DO UPDATE SET "
            f"{_UPSERT_SET}, bin_full = bin_full + excluded.bin_full, "
            "litter = litter + excluded.litter",
            [(*k, *c) for k, c in delta.station_hour.items()])
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
        self.conn.executemany(
            "INSERT INTO participation_period(scope, kind, period, households) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, kind, period) DO UPDATE SET households = households + excluded.households",
            [(*k, n) for k, n in bumps.items()])

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
               "EXISTS(SELECT 1 FROM evidence v WHERE v.event_id = e.event_id) AS has_evidence "
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

    def apply_feedback(self, event_id: str, change, who: str, now: str) -> dict:
        """Apply a volunteer's feedback to a stored disposal and move its
        roll-up counts with it, in one transaction. `change(event) -> dict`
        gives the new values of assisted, item, category and verdict (or
        raises). Returns the updated event."""
        from ..rollups import RollupDelta
        with self.write():
            row = self._one("SELECT * FROM events WHERE event_id = ?", (event_id,))
            if row is None:
                raise StoreError(f"no event {event_id}")
            old = dict(row)
            if old["type"] != "disposal":
                raise StoreError("feedback applies to disposals only")
            new = dict(old, **change(old))
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
            prev = self._one("SELECT last_heartbeat FROM station_status WHERE station_id = ?",
                             (station["id"],))
            seconds = credit_seconds(prev[0] if prev else None)
            self.conn.execute(
                "INSERT INTO station_status(station_id, device_id, last_heartbeat, health) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(station_id) DO UPDATE SET "
                "device_id = excluded.device_id, last_heartbeat = excluded.last_heartbeat, "
                "health = excluded.health", (station["id"], device_id, now, json.dumps(health)))
            if seconds > 0:
                scopes = (station_scope(station["id"]), *ancestors(station["community_code"]))
                self.conn.executemany(
                    "INSERT INTO online_day(scope, day, seconds) VALUES (?, ?, ?) "
                    "ON CONFLICT(scope, day) DO UPDATE SET seconds = seconds + excluded.seconds",
                    [(s, day, seconds) for s in scopes])
                self.conn.executemany(
                    "INSERT INTO online_period(scope, kind, period, seconds) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(scope, kind, period) DO UPDATE SET seconds = seconds + excluded.seconds",
                    [(s, kind, label, seconds) for s in scopes for kind, label in periods_of(day)])
            return seconds

    def station_status(self, station_id: str) -> dict | None:
        row = self._one("SELECT * FROM station_status WHERE station_id = ?", (station_id,))
        if row is None:
            return None
        d = dict(row)
        d["health"] = json.loads(d["health"])
        return d

    def stations_in(self, scope: str) -> list[dict]:
        where, params = self._prefix_where("s.community_code", scope)
        rows = self._all(
            "SELECT s.id, s.name, s.community_code, c.name AS community, s.household_reader, "
            "st.last_heartbeat, st.health, st.device_id FROM stations s "
            "JOIN communities c ON c.code = s.community_code "
            f"LEFT JOIN station_status st ON st.station_id = s.id WHERE {where} ORDER BY s.id",
            params)
        out = []
        for r in rows:
            d = dict(r)
            d["health"] = json.loads(d["health"]) if d["health"] else None
            out.append(d)
        return out

    def station_day_totals(self, scope: str, day: str) -> dict[str, dict]:
        """Per station of the scope: the day's disposals, wrong, bin_full, litter."""
        where, params = self._prefix_where("s.community_code", scope)
        rows = self._all(
            "SELECT r.station_id, sum(r.disposals) AS disposals, sum(r.wrong) AS wrong, "
            "sum(r.bin_full) AS bin_full, sum(r.litter) AS litter FROM rollup_station_hour r "
            f"JOIN stations s ON s.id = r.station_id WHERE r.day = ? AND {where} "
            "GROUP BY r.station_id", (day, *params))
        return {r["station_id"]: dict(r) for r in rows}

    # --- awareness ----------------------------------------------------------

    def _add_awareness(self, community: str, day: str, respondents: int, aware: int) -> None:
        self.conn.executemany(
            "INSERT INTO awareness_day(scope, day, respondents, aware) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, day) DO UPDATE SET respondents = respondents + excluded.respondents, "
            "aware = aware + excluded.aware",
            [(scope, day, respondents, aware) for scope in ancestors(community)])
        self.conn.executemany(
            "INSERT INTO awareness_period(scope, kind, period, respondents, aware) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(scope, kind, period) DO UPDATE SET "
            "respondents = respondents + excluded.respondents, aware = aware + excluded.aware",
            [(scope, kind, label, respondents, aware) for scope in ancestors(community)
             for kind, label in periods_of(day)])

    def record_quiz(self, result: dict) -> bool:
        """Store a scored quiz once per nonce; False if it was already stored."""
        with self.write():
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

    # --- reads for the rates -------------------------------------------------

    def rollup_totals(self, scope: str, kind: str, period: str) -> dict[int, dict]:
        """Counters of a period, keyed by staffed (0 or 1)."""
        out = {0: dict.fromkeys(COUNTERS, 0), 1: dict.fromkeys(COUNTERS, 0)}
        for r in self._all(f"SELECT staffed, {','.join(COUNTERS)} FROM rollup_period "
                           "WHERE scope = ? AND kind = ? AND period = ?", (scope, kind, period)):
            out[r["staffed"]] = {c: r[c] for c in COUNTERS}
        return out

    def participating_households(self, scope: str, kind: str, period: str) -> int:
        row = self._one("SELECT households FROM participation_period WHERE scope = ? "
                        "AND kind = ? AND period = ?", (scope, kind, period))
        return row[0] if row else 0

    def registered_households(self, scope: str) -> tuple[int, int]:
        """(households of communities whose stations identify households,
        households of all communities) within the scope."""
        where, params = self._prefix_where("code", scope)
        row = self._one(
            "SELECT coalesce(sum(CASE WHEN reader_stations > 0 THEN households END), 0), "
            f"coalesce(sum(households), 0) FROM communities WHERE {where}", params)
        return row[0], row[1]

    def awareness_totals(self, scope: str, kind: str, period: str) -> tuple[int, int]:
        row = self._one("SELECT respondents, aware FROM awareness_period WHERE scope = ? "
                        "AND kind = ? AND period = ?", (scope, kind, period))
        return (row[0], row[1]) if row else (0, 0)

    def online_seconds(self, scope: str, kind: str, period: str) -> int:
        row = self._one("SELECT seconds FROM online_period WHERE scope = ? AND kind = ? "
                        "AND period = ?", (scope, kind, period))
        return row[0] if row else 0

    def station_count(self, scope: str) -> int:
        where, params = self._prefix_where("community_code", scope)
        return self._one(f"SELECT count(*) FROM stations WHERE {where}", params)[0]

    # --- dashboard reads ------------------------------------------------------

    def rollup_by_day(self, scope: str, start_day: str, end_day: str) -> list[dict]:
        sums = ", ".join(f"sum({c}) AS {c}" for c in COUNTERS)
        return [dict(r) for r in self._all(
            f"SELECT day, {sums} FROM rollup_day WHERE scope = ? AND day BETWEEN ? AND ? "
            "GROUP BY day ORDER BY day", (scope, start_day, end_day))]

    def station_totals(self, scope: str, start_day: str, end_day: str) -> list[dict]:
        where, params = self._prefix_where("s.community_code", scope)
        return [dict(r) for r in self._all(
            "SELECT r.station_id, s.name, s.community_code, sum(r.disposals) AS disposals, "
            "sum(r.correct) AS correct, sum(r.wrong) AS wrong FROM rollup_station_hour r "
            f"JOIN stations s ON s.id = r.station_id WHERE {where} AND r.day BETWEEN ? AND ? "
            "GROUP BY r.station_id", (*params, start_day, end_day))]

    def hour_totals(self, scope: str, start_day: str, end_day: str) -> list[dict]:
        where, params = self._prefix_where("s.community_code", scope)
        return [dict(r) for r in self._all(
            "SELECT r.hour, sum(r.disposals) AS disposals, sum(r.correct) AS correct, "
            "sum(r.wrong) AS wrong FROM rollup_station_hour r JOIN stations s ON s.id = r.station_id "
            f"WHERE {where} AND r.day BETWEEN ? AND ? GROUP BY r.hour ORDER BY r.hour",
            (*params, start_day, end_day))]

    def latest_wrong(self, scope: str, since_day: str, limit: int) -> list[dict]:
        where, params = self._prefix_where("e.community_code", scope)
        return [dict(r) for r in self._all(
            "SELECT e.rowid AS cursor, e.*, s.name AS station_name, "
            "EXISTS(SELECT 1 FROM evidence v WHERE v.event_id = e.event_id) AS has_evidence "
            "FROM events e INDEXED BY events_wrong JOIN stations s ON s.id = e.station_id "
            f"WHERE {where} AND e.day >= ? AND e.type = 'disposal' AND e.verdict = 'wrong' "
            "AND e.assisted = 0 ORDER BY e.rowid DESC LIMIT ?", (*params, since_day, limit))]

    # --- the same reads for every member of a level at once (rankings, exports)

    @staticmethod
    def _member_range(within: str) -> tuple[str, str]:
        """Bounds of the scope keys that are division codes inside `within`."""
        return ("0", ":") if within == CITY else (within, within + ":")

    def members(self, level: str, within: str) -> list[tuple[str, str]]:
        table = {"district": "districts", "street": "streets", "community": "communities"}[level]
        lo, hi = self._member_range(within)
        return [(r[0], r[1]) for r in self._all(
            f"SELECT code, name FROM {table} WHERE code >= ? AND code < ? ORDER BY code", (lo, hi))]

    def rollup_totals_many(self, length: int, within: str, kind: str, period: str) -> dict:
        lo, hi = self._member_range(within)
        out: dict[str, dict] = {}
        for r in self._all(f"SELECT scope, staffed, {','.join(COUNTERS)} FROM rollup_period "
                           "WHERE scope >= ? AND scope < ? AND length(scope) = ? AND kind = ? "
                           "AND period = ?", (lo, hi, length, kind, period)):
            per = out.setdefault(r["scope"], {0: dict.fromkeys(COUNTERS, 0),
                                              1: dict.fromkeys(COUNTERS, 0)})
            per[r["staffed"]] = {c: r[c] for c in COUNTERS}
        return out

    def participating_households_many(self, length: int, within: str, kind: str, period: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: r[1] for r in self._all(
            "SELECT scope, households FROM participation_period WHERE scope >= ? AND scope < ? "
            "AND length(scope) = ? AND kind = ? AND period = ?", (lo, hi, length, kind, period))}

    def registered_households_many(self, length: int, within: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: (r[1], r[2]) for r in self._all(
            "SELECT substr(code, 1, ?) AS scope, "
            "coalesce(sum(CASE WHEN reader_stations > 0 THEN households END), 0), "
            "coalesce(sum(households), 0) FROM communities WHERE code >= ? AND code < ? "
            "GROUP BY scope", (length, lo, hi))}

    def awareness_totals_many(self, length: int, within: str, kind: str, period: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: (r[1], r[2]) for r in self._all(
            "SELECT scope, respondents, aware FROM awareness_period WHERE scope >= ? AND scope < ? "
            "AND length(scope) = ? AND kind = ? AND period = ?", (lo, hi, length, kind, period))}

    def online_seconds_many(self, length: int, within: str, kind: str, period: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: r[1] for r in self._all(
            "SELECT scope, seconds FROM online_period WHERE scope >= ? AND scope < ? "
            "AND length(scope) = ? AND kind = ? AND period = ?", (lo, hi, length, kind, period))}

    def station_counts_many(self, length: int, within: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: r[1] for r in self._all(
            "SELECT substr(community_code, 1, ?) AS scope, count(*) FROM stations "
            "WHERE community_code >= ? AND community_code < ? GROUP BY scope", (length, lo, hi))}

    @staticmethod
    def _prefix_where(column: str, scope: str) -> tuple[str, tuple]:
        if scope == CITY:
            return "1 = 1", ()
        # A range on the indexed column instead of LIKE, which SQLite will not
        # use an index for with the default case-insensitive LIKE.
        return f"{column} >= ? AND {column} < ?", (scope, scope + ":")
