"""Household cards read at a station, on their way to its tablet: the token
only, kept for server/scans.py's SCAN_SECONDS and then deleted."""
from __future__ import annotations


class ScanStore:
    def add_scan(self, station_id: str, household: str, at: str, forget_before: str) -> int:
        """Store one scan and delete every scan older than `forget_before`;
        the new scan's id. The station's row is locked first, so that a
        station's scans commit in the order of their ids (as its events do)
        and a tablet that has read up to an id never misses a lower one."""
        with self.write():
            self._one(f"SELECT 1 FROM stations WHERE id = ?{self._FOR_UPDATE}", (station_id,))
            self.conn.execute("DELETE FROM card_scans WHERE at < ?", (forget_before,))
            row = self._one("INSERT INTO card_scans(station_id, household, at) VALUES (?, ?, ?) RETURNING id",
                            (station_id, household, at))
        return int(row[0])

    def forget_scans(self, before: str) -> int:
        """Delete the scans made before `before` (prune-events); how many."""
        with self.write():
            return self.conn.execute("DELETE FROM card_scans WHERE at < ?", (before,)).rowcount

    def scans_after(self, station_id: str, after: int, since: str) -> list[dict]:
        """The station's scans with an id above `after`, made at `since` or later, oldest first."""
        return [dict(r) for r in self._all(
            "SELECT id, household, at FROM card_scans WHERE station_id = ? AND id > ? AND at >= ? "
            "ORDER BY id", (station_id, after, since))]

    def latest_scan(self, station_id: str) -> int:
        row = self._one("SELECT max(id) FROM card_scans WHERE station_id = ?", (station_id,))
        return int(row[0] or 0)
