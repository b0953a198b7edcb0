"""Operator maintenance: backup, pruning, rebuilding and bulk loading roll-ups."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import StoreError
from .migrations import HOUSEHOLD_MONTH_KEEP


class MaintenanceStore:
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

    def prune_events(self, before_day: str) -> tuple[int, int]:
        """Delete raw events (and their evidence) of days before `before_day`;
        roll-ups stay, and each household's months (household_month).
        Returns (events, evidence images) deleted."""
        with self.write():
            self.conn.execute(HOUSEHOLD_MONTH_KEEP, (before_day,))
            images = self.conn.execute(
                "DELETE FROM evidence WHERE event_id IN "
                "(SELECT event_id FROM events WHERE day < ?)", (before_day,)).rowcount
            events = self.conn.execute("DELETE FROM events WHERE day < ?", (before_day,)).rowcount
        return events, images

    def row_counts(self, tables) -> dict[str, int]:
        """Rows per table (operators' checks: copy-store)."""
        return {t: self._one(f"SELECT count(*) FROM {t}")[0] for t in tables}

    def rebuild_period_rollups(self) -> None:
        """Recompute the per-period roll-ups from the daily ones (after a
        bulk load, or to repair)."""
        with self._maintenance_write():
            for table in ("rollup_period", "awareness_period", "online_period"):
                self.conn.execute(f"DELETE FROM {table}")
            for statement in self._PERIOD_BACKFILL.split(";"):
                if statement.strip():
                    self.conn.execute(statement)

    def bulk_load(self, table: str, columns: tuple[str, ...], rows) -> int:
        """Add generated roll-up rows in one transaction (benchmarks and demo
        history only; live data always comes through ingest)."""
        if table not in self.ROLLUP_TABLES:
            raise StoreError(f"bulk_load only fills roll-up tables, not {table}")
        marks = ",".join("?" * len(columns))
        with self._maintenance_write():
            cur = self.conn.executemany(
                f"INSERT INTO {table}({','.join(columns)}) VALUES ({marks})", rows)
            return cur.rowcount
