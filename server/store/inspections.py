"""What people check the camera against: inspectors' spot checks (查N错M)
and audits of single disposals, and the camera's outputs per model version
that the corrected accuracy needs (server/correction.py)."""
from __future__ import annotations

from ..rollups import CAMERA_OUTPUTS as OUTPUTS
from ..rollups import TRUTHS
from ..scopes import CITY
from .migrations import model_backfill

_INSPECTION_COLUMNS = ("station_id", "community_code", "day", "start_ts", "end_ts", "start_utc",
                       "end_utc", "checked", "wrong", "note", "username", "created_at")


def _no_audits() -> dict[str, dict[str, int]]:
    return {truth: dict.fromkeys(OUTPUTS, 0) for truth in TRUTHS}


class InspectionStore:
    # Refills rollup_model_period from the events (PgStore sets its dialect's).
    _MODEL_BACKFILL = model_backfill()

    # --- inspections ---------------------------------------------------------

    def add_inspection(self, record: dict) -> dict:
        marks = ",".join("?" * len(_INSPECTION_COLUMNS))
        with self.write():
            row = self.conn.execute(
                f"INSERT INTO inspections({','.join(_INSPECTION_COLUMNS)}) VALUES ({marks}) "
                "RETURNING id", tuple(record[c] for c in _INSPECTION_COLUMNS)).fetchone()
        return {"id": row[0], **record}

    def inspections(self, scope: str, first_day: str, last_day: str) -> list[dict]:
        """The inspections of stations inside `scope` that started in the day range, oldest first."""
        where, params = self._prefix_where("community_code", scope)
        return [dict(r) for r in self._all(
            f"SELECT * FROM inspections WHERE {where} AND day BETWEEN ? AND ? ORDER BY start_utc, id",
            (*params, first_day, last_day))]

    def inspection_totals(self, scope: str, first_day: str, last_day: str) -> dict:
        where, params = self._prefix_where("community_code", scope)
        row = self._one(f"SELECT count(*), coalesce(sum(checked), 0), coalesce(sum(wrong), 0) "
                        f"FROM inspections WHERE {where} AND day BETWEEN ? AND ?",
                        (*params, first_day, last_day))
        return {"inspections": int(row[0]), "checked": int(row[1]), "wrong": int(row[2])}

    def inspection_totals_many(self, length: int, within: str, first_day: str, last_day: str) -> dict:
        """inspection_totals of every scope of one length inside `within`: {scope: totals}."""
        lo, hi = self._member_range(within)
        return {scope: {"inspections": int(n), "checked": int(checked), "wrong": int(wrong)}
                for scope, n, checked, wrong in self._all(
                    "SELECT substr(community_code, 1, ?) AS scope, count(*), sum(checked), sum(wrong) "
                    "FROM inspections WHERE community_code >= ? AND community_code < ? "
                    "AND day BETWEEN ? AND ? GROUP BY scope", (length, lo, hi, first_day, last_day))}

    # --- audits --------------------------------------------------------------

    def record_audit(self, audit: dict) -> bool:
        """Store an audit; a second audit of the same event replaces the
        first. True when it is the event's first audit."""
        columns = ("event_id", "station_id", "community_code", "day", "model", "camera", "truth",
                   "item", "username", "role", "at")
        updates = ", ".join(f"{c} = excluded.{c}" for c in ("truth", "item", "username", "role", "at"))
        with self.write():
            existed = self._one(f"SELECT 1 FROM audits WHERE event_id = ?{self._FOR_UPDATE}",
                                (audit["event_id"],))
            self.conn.execute(
                f"INSERT INTO audits({','.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
                f"ON CONFLICT(event_id) DO UPDATE SET {updates}", tuple(audit[c] for c in columns))
        return existed is None

    def audit(self, event_id: str) -> dict | None:
        row = self._one("SELECT * FROM audits WHERE event_id = ?", (event_id,))
        return dict(row) if row else None

    def audit_counts(self, models: list[str]) -> dict[str, dict[str, dict[str, int]]]:
        """Audits pooled over the city, per model version: {model: {truth: {output: n}}}."""
        out = {m: _no_audits() for m in models}
        if not models:
            return out
        marks = ",".join("?" * len(models))
        for model, truth, camera, n in self._all(
                f"SELECT model, truth, camera, count(*) FROM audits WHERE model IN ({marks}) "
                "GROUP BY model, truth, camera", models):
            out[model][truth][camera] = int(n)
        return out

    # --- the camera's outputs per model version -------------------------------

    def camera_outputs(self, scope: str, kind: str, period: str) -> dict[str, dict[str, int]]:
        """Unassisted disposals of the scope and period by the camera's own
        output (before feedback), per model version: {model: {output: n}}."""
        return {model: {"correct": int(c), "wrong": int(w), "uncertain": int(u)}
                for model, c, w, u in self._all(
                    "SELECT model, correct, wrong, uncertain FROM rollup_model_period "
                    "WHERE scope = ? AND kind = ? AND period = ? ORDER BY model",
                    (scope or CITY, kind, period))}

    def camera_outputs_many(self, length: int, within: str, kind: str, period: str) -> dict:
        """camera_outputs of every scope of one length inside `within`: {scope: {model: {output: n}}}."""
        lo, hi = self._member_range(within)
        out: dict[str, dict[str, dict[str, int]]] = {}
        for scope, model, c, w, u in self._all(
                "SELECT scope, model, correct, wrong, uncertain FROM rollup_model_period "
                "WHERE scope >= ? AND scope < ? AND length(scope) = ? AND kind = ? AND period = ? "
                "ORDER BY scope, model", (lo, hi, length, kind, period)):
            out.setdefault(scope, {})[model] = {"correct": int(c), "wrong": int(w), "uncertain": int(u)}
        return out

    def rebuild_camera_outputs(self) -> None:
        """Recompute the per-model-version outputs from the stored events (to repair)."""
        with self._maintenance_write():
            self.conn.execute("DELETE FROM rollup_model_period")
            self.conn.execute(self._MODEL_BACKFILL)

    def camera_verdicts(self, station_id: str, first_day: str, last_day: str) -> list[dict]:
        """A station's disposals of a day range with the camera's own verdict
        (before feedback): for comparing with an inspector's window."""
        return [dict(r) for r in self._all(
            "SELECT ts, assisted, coalesce(original_verdict, verdict) AS camera FROM events "
            "WHERE station_id = ? AND day BETWEEN ? AND ? AND type = 'disposal'",
            (station_id, first_day, last_day))]

    def station_audit_counts(self, station_id: str, first_day: str, last_day: str) -> dict:
        """A station's audits of a day range, per model version: {model: {truth: {output: n}}}."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for model, truth, camera, n in self._all(
                "SELECT model, truth, camera, count(*) FROM audits WHERE station_id = ? "
                "AND day BETWEEN ? AND ? GROUP BY model, truth, camera", (station_id, first_day, last_day)):
            out.setdefault(model, _no_audits())[truth][camera] = int(n)
        return out
