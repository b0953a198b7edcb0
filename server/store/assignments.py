"""Which version of a model or rule set each scope runs (canaries), and the
figures per version that decide whether to promote it (server/canary.py)."""
from __future__ import annotations


class AssignmentStore:
    def assignments(self, kind: str) -> dict[str, dict]:
        return {r["scope"]: dict(r) for r in self._all(
            "SELECT kind, scope, version, previous, assigned_at FROM assignments WHERE kind = ?", (kind,))}

    def set_assignments(self, kind: str, put: dict[str, tuple[str, str | None]], remove: list[str], at: str) -> None:
        """In one transaction: delete the scopes in `remove`, then set each scope of `put` to (version, previous)."""
        with self.write():
            for scope in remove:
                self.conn.execute("DELETE FROM assignments WHERE kind = ? AND scope = ?", (kind, scope))
            for scope, (version, previous) in put.items():
                self.conn.execute(
                    "INSERT INTO assignments(kind, scope, version, previous, assigned_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(kind, scope) DO UPDATE SET version = excluded.version, "
                    "previous = excluded.previous, assigned_at = excluded.assigned_at",
                    (kind, scope, version, previous, at))

    def version_days(self, scope: str, first_day: str, column: str = "model") -> list[dict]:
        """Per version and day from `first_day` in `scope`: disposals, uncertain and corrected ones."""
        assert column in ("model", "rules")
        where, params = self._prefix_where("community_code", scope)
        return [dict(r) for r in self._all(
            f"SELECT {column} AS version, day, count(*) AS disposals, "
            "sum(CASE WHEN coalesce(original_verdict, verdict) = 'uncertain' THEN 1 ELSE 0 END) AS uncertain, "
            "sum(CASE WHEN corrected_item IS NOT NULL THEN 1 ELSE 0 END) AS corrected "
            f"FROM events WHERE type = 'disposal' AND day >= ? AND {where} AND {column} IS NOT NULL "
            f"GROUP BY {column}, day", (first_day, *params))]

    def audit_days(self, scope: str, first_day: str) -> list[dict]:
        """Per model and day: audited disposals, and those whose camera verdict the audit confirmed."""
        where, params = self._prefix_where("community_code", scope)
        return [dict(r) for r in self._all(
            "SELECT model AS version, day, count(*) AS audited, "
            "sum(CASE WHEN camera = truth THEN 1 ELSE 0 END) AS agreed "
            f"FROM audits WHERE day >= ? AND {where} AND camera <> 'uncertain' GROUP BY model, day",
            (first_day, *params))]
