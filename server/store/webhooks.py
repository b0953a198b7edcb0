"""Webhooks and their deliveries: what the delivery worker reads and writes
(server/webhooks.py). The deliveries themselves are written with each case
change (server/store/cases.py)."""
from __future__ import annotations

from .errors import StoreError


class WebhookStore:
    def add_webhook(self, scope: str, url: str, secret: str, now: str) -> int:
        with self.write():
            if self._one("SELECT 1 FROM webhooks WHERE scope = ? AND url = ?", (scope, url)):
                raise StoreError(f"{url} is already registered for {scope}")
            return self.conn.execute(
                "INSERT INTO webhooks(scope, url, secret, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (scope, url, secret, now)).fetchone()[0]

    def webhooks(self) -> list[dict]:
        """Each webhook with its deliveries counted by state (no secrets)."""
        rows = self._all(
            "SELECT w.id, w.scope, w.url, w.created_at, "
            "sum(CASE WHEN d.state = 'pending' THEN 1 ELSE 0 END) AS pending, "
            "sum(CASE WHEN d.state = 'delivered' THEN 1 ELSE 0 END) AS delivered, "
            "sum(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END) AS failed "
            "FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id "
            "GROUP BY w.id, w.scope, w.url, w.created_at ORDER BY w.id")
        return [{**dict(r), **{k: int(r[k] or 0) for k in ("pending", "delivered", "failed")}}
                for r in rows]

    def deliveries(self, limit: int = 50, webhook_id: int | None = None) -> list[dict]:
        """The latest deliveries, newest first, with their last status."""
        where, params = ("WHERE webhook_id = ?", (webhook_id,)) if webhook_id else ("", ())
        return [dict(r) for r in self._all(
            "SELECT id, delivery_id, webhook_id, case_id, created_at, state, attempts, "
            "next_attempt_at, last_attempt_at, last_status, last_error, delivered_at "
            f"FROM webhook_deliveries {where} ORDER BY id DESC LIMIT ?", (*params, limit))]

    def due_deliveries(self, now: str, limit: int = 100) -> list[dict]:
        """Pending deliveries due by `now`, each the oldest pending one of its
        webhook and case, so that a case's changes arrive in order."""
        return [dict(r) for r in self._all(
            "SELECT d.id, d.delivery_id, d.webhook_id, d.case_id, d.body, d.created_at, d.attempts, "
            "d.next_attempt_at, w.url, w.secret FROM webhook_deliveries d "
            "JOIN webhooks w ON w.id = d.webhook_id "
            "WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND NOT EXISTS ("
            "SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id "
            "AND p.case_id = d.case_id AND p.state = 'pending' AND p.id < d.id) "
            "ORDER BY d.id LIMIT ?", (now, limit))]

    def claim_delivery(self, delivery: dict, lease_until: str) -> bool:
        """Take a due delivery for one attempt (another worker that read it too
        finds it moved on and leaves it)."""
        with self.write():
            return self.conn.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND state = 'pending' "
                "AND next_attempt_at = ?", (lease_until, delivery["id"],
                                            delivery["next_attempt_at"])).rowcount == 1

    def record_attempt(self, delivery_id: int, now: str, status: int | None, error: str | None,
                       outcome: str, next_attempt_at: str | None = None) -> None:
        """outcome: delivered, pending (retry at next_attempt_at) or failed (given up)."""
        if outcome not in ("delivered", "pending", "failed"):
            raise StoreError(f"unknown delivery outcome {outcome}")
        with self.write():
            self.conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, "
                "last_status = ?, last_error = ?, state = ?, next_attempt_at = coalesce(?, next_attempt_at), "
                "delivered_at = ? WHERE id = ?",
                (now, status, error, outcome, next_attempt_at,
                 now if outcome == "delivered" else None, delivery_id))
