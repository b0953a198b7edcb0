"""Cases (工单), their history and the webhook deliveries each change makes.

Every change of a case writes, in the same transaction, one history row and
one delivery row per webhook whose scope holds the case's community: a
change is never lost between the store and the city's grid system, and a
delivery never goes out for a change that was rolled back."""
from __future__ import annotations

import json
import uuid
from datetime import datetime

from ..cases import EVENT_STATES, UNRESOLVED, case_json, open_key, utc_iso
from ..scopes import CITY, ancestors
from .errors import StoreError

_CASE_COLUMNS = ("kind", "station_id", "community_code", "bin", "event_id", "open_key", "detail",
                 "opened_at", "state", "level", "assignee", "updated_at")
_CHANGEABLE = {"state", "level", "assignee", "resolved_at", "closed_at", "outcome", "note",
               "open_key"}


class CaseStore:
    # --- opening and resolving (inside the caller's transaction) ------------

    def _open_case(self, kind: str, station_id: str, community: str, at: str, now: str, *,
                   bin_: str | None = None, event_id: str | None = None, detail: str = "",
                   by: tuple[str, str] = ("station", "station")) -> int | None:
        """Open a case unless one is unresolved for the same station, kind
        and bin, or the event already opened one. Returns its id, or None."""
        values = {"kind": kind, "station_id": station_id, "community_code": community, "bin": bin_,
                  "event_id": event_id, "open_key": open_key(kind, station_id, bin_),
                  "detail": detail, "opened_at": at, "state": "open", "level": 0,
                  "assignee": "", "updated_at": now}
        row = self.conn.execute(
            f"INSERT OR IGNORE INTO cases({','.join(_CASE_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(_CASE_COLUMNS))}) RETURNING id",
            tuple(values[c] for c in _CASE_COLUMNS)).fetchone()
        if row is None:
            return None
        case = self._case_row(row[0])
        self._record_change(case, {"action": "opened", "from_state": None, "by_name": by[0],
                                   "by_role": by[1], "note": detail, "event_id": event_id}, at, now)
        return row[0]

    def _resolve_unresolved(self, kind: str, station_id: str, at: str, now: str, *,
                            bin_: str | None = None,
                            event_id: str | None = None, by: tuple[str, str] = ("station", "station"),
                            note: str = "") -> int | None:
        row = self._one(f"SELECT id FROM cases WHERE open_key = ?{self._FOR_UPDATE}",
                        (open_key(kind, station_id, bin_),))
        if row is None:
            return None
        case = self._case_row(row[0])
        # An end reported before the start it ends (a clock step) resolves at the start.
        at = max(at, case["opened_at"])
        self._apply_change(case, {"state": "resolved", "resolved_at": at, "open_key": None},
                           {"action": "resolved", "by_name": by[0], "by_role": by[1], "note": note,
                            "event_id": event_id}, at, now)
        return row[0]

    def _cases_from_events(self, events: list[dict], now: str) -> None:
        """Open and resolve cases for a batch's new bin_full and litter events,
        in the order they happened (ingest's transaction: exactly once)."""
        findings = sorted((e for e in events if e["type"] != "disposal"),
                          key=lambda e: datetime.fromisoformat(e["ts"].replace("Z", "+00:00")))
        for e in findings:
            opens, resolves = EVENT_STATES[(e["type"], e["state"])]
            at = utc_iso(datetime.fromisoformat(e["ts"].replace("Z", "+00:00")))
            bin_ = e["bin"] if "overflow" in (opens, resolves) else None
            if opens:
                self._open_case(opens, e["station_id"], e["community_code"], at, now, bin_=bin_,
                                event_id=e["event_id"])
            if resolves:
                self._resolve_unresolved(resolves, e["station_id"], at, now, bin_=bin_,
                                         event_id=e["event_id"],
                                         note="the station reported the end")

    # --- changes -------------------------------------------------------------

    def _case_row(self, case_id: int) -> dict:
        return dict(self._one("SELECT * FROM cases WHERE id = ?", (case_id,)))

    def _apply_change(self, case: dict, updates: dict, history: dict, at: str,
                      now: str | None = None) -> dict:
        """`at`: when the change happened (an end event's time); `now`: when it is stored."""
        now = now or at
        bad = set(updates) - _CHANGEABLE
        if bad:
            raise StoreError(f"cases cannot change {sorted(bad)}")
        updates = {**updates, "updated_at": now}
        self.conn.execute(f"UPDATE cases SET {', '.join(f'{k} = ?' for k in updates)} WHERE id = ?",
                          (*updates.values(), case["id"]))
        new = {**case, **updates}
        self._record_change(new, {"from_state": case["state"], **history}, at, now)
        return new

    def _record_change(self, case: dict, history: dict, at: str, now: str) -> None:
        """The history row, and a delivery for each webhook of a scope holding the case."""
        row = {"case_id": case["id"], "at": at, "action": history["action"],
               "from_state": history.get("from_state"), "to_state": case["state"],
               "level": case["level"], "by_name": history["by_name"], "by_role": history["by_role"],
               "note": history.get("note", ""), "event_id": history.get("event_id")}
        cols = tuple(row)
        self.conn.execute(f"INSERT INTO case_history({','.join(cols)}) "
                          f"VALUES ({','.join('?' * len(cols))})", tuple(row.values()))
        hooks = self._all("SELECT id, scope FROM webhooks WHERE scope IN (?, ?, ?, ?) ORDER BY id",
                          ancestors(case["community_code"]))
        for hook_id, scope in hooks:
            delivery = str(uuid.uuid4())
            body = {"delivery_id": delivery, "scope": scope, "change": {
                k: row[k] for k in ("at", "action", "from_state", "to_state", "level", "by_name",
                                    "by_role", "note", "event_id")}, "case": case_json(case)}
            self.conn.execute(
                "INSERT INTO webhook_deliveries(delivery_id, webhook_id, case_id, body, created_at, "
                "state, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (delivery, hook_id, case["id"], json.dumps(body, ensure_ascii=False, sort_keys=True),
                 now, now))

    def change_case(self, case_id: int, change, now: str, by: tuple[str, str]) -> dict:
        """Apply `change(case, now) -> (updates, history)` (which may raise)
        to a case, in one transaction with its history and deliveries."""
        with self.write():
            row = self._one(f"SELECT * FROM cases WHERE id = ?{self._FOR_UPDATE}", (case_id,))
            if row is None:
                raise StoreError(f"no case {case_id}")
            updates, history = change(dict(row), now)
            return self._apply_change(dict(row), updates,
                                      {**history, "by_name": by[0], "by_role": by[1]}, now)

    def open_case(self, kind: str, station: dict, at: str, now: str, detail: str = "",
                  event_id: str | None = None) -> int | None:
        """Open a case in a transaction of its own (offline, camera)."""
        with self.write():
            return self._open_case(kind, station["id"], station["community_code"], at, now,
                                   event_id=event_id, detail=detail, by=("system", "system"))

    def resolve_offline(self, station_id: str, at: str) -> int | None:
        """The station is heard from again: its offline case is resolved."""
        with self.write():
            return self._resolve_unresolved("offline", station_id, at, at, by=("station", "station"),
                                            note="the station is online again")

    def raise_levels(self, levels: dict[int, int], now: str) -> int:
        """Store age escalations {case id: level}; returns the cases raised."""
        raised = 0
        with self.write():
            for case_id, level in sorted(levels.items()):
                row = self._one(f"SELECT * FROM cases WHERE id = ?{self._FOR_UPDATE}", (case_id,))
                if row is None or row["state"] not in UNRESOLVED or row["level"] >= level:
                    continue
                self._apply_change(dict(row), {"level": level},
                                   {"action": "escalated", "by_name": "system", "by_role": "system",
                                    "note": "left unresolved"}, now)
                raised += 1
        return raised

    # --- reads ---------------------------------------------------------------

    def case(self, case_id: int) -> dict | None:
        row = self._one("SELECT * FROM cases WHERE id = ?", (case_id,))
        return dict(row) if row else None

    def case_history(self, case_id: int) -> list[dict]:
        return [dict(r) for r in self._all(
            "SELECT * FROM case_history WHERE case_id = ? ORDER BY id", (case_id,))]

    def cases(self, scope: str, *, state: str | None = None, kind: str | None = None,
              station_id: str | None = None, opened_from: str | None = None,
              opened_before: str | None = None, limit: int = 1000) -> list[dict]:
        """Cases of stations inside `scope`, newest first."""
        where, params = self._prefix_where("community_code", scope)
        clauses, args = [where], list(params)
        for column, value in (("state", state), ("kind", kind), ("station_id", station_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if opened_from is not None:
            clauses.append("opened_at >= ?")
            args.append(opened_from)
        if opened_before is not None:
            clauses.append("opened_at < ?")
            args.append(opened_before)
        return [dict(r) for r in self._all(
            f"SELECT * FROM cases WHERE {' AND '.join(clauses)} ORDER BY opened_at DESC, id DESC "
            "LIMIT ?", (*args, limit))]

    def case_rates_many(self, length: int, within: str, start: str, end: str) -> dict[str, tuple[int, int]]:
        """(resolved, counted) of the cases opened in [start, end) per member
        code of `length` digits inside `within` (length 0: the whole scope);
        false alarms are not counted."""
        where, params = self._prefix_where("community_code", within)
        code, group = (f"substr(community_code, 1, {int(length)})", " GROUP BY 1") if length else ("'all'", "")
        rows = self._all(
            f"SELECT {code} AS code, "
            "sum(CASE WHEN resolved_at IS NOT NULL AND state <> 'false_alarm' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN state <> 'false_alarm' THEN 1 ELSE 0 END) "
            f"FROM cases WHERE {where} AND opened_at >= ? AND opened_at < ?{group}",
            (*params, start, end))
        return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}

    def unresolved_cases(self, scope: str = CITY, station_id: str | None = None) -> list[dict]:
        where, params = self._prefix_where("community_code", scope)
        sql = f"SELECT * FROM cases WHERE state IN ('open', 'dispatched') AND {where}"
        if station_id is not None:
            sql += " AND station_id = ?"
            params = (*params, station_id)
        return [dict(r) for r in self._all(sql + " ORDER BY opened_at, id", params)]

    def overflow_cases_overlapping(self, scope: str, start: str, end: str) -> list[dict]:
        """Overflow cases that began before `end` and were unresolved after `start`."""
        where, params = self._prefix_where("community_code", scope)
        return [dict(r) for r in self._all(
            f"SELECT * FROM cases WHERE kind = 'overflow' AND {where} AND opened_at < ? "
            "AND (resolved_at IS NULL OR resolved_at > ?)", (*params, end, start))]

    def stations_silent_since(self, cutoff: str) -> list[dict]:
        """Stations whose last heartbeat is older than `cutoff` and that have
        no unresolved offline case (stations never heard from are left out)."""
        return [dict(r) for r in self._all(
            "SELECT s.id, s.community_code, t.last_heartbeat FROM stations s "
            "JOIN station_status t ON t.station_id = s.id WHERE t.last_heartbeat < ? "
            "AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.open_key = s.id || '|offline|') "
            "ORDER BY s.id", (cutoff,))]
