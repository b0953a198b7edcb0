"""The city's hierarchy, stations, devices and people."""
from __future__ import annotations

import json

from ..scopes import CITY  # noqa: F401
from .errors import StoreError


class RegistryStore:
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
                same = self._one("SELECT id FROM stations WHERE community_code = ? AND name = ?",
                                 (station["community_code"], station["name"]))
                if same:
                    raise StoreError(f"community {station['community_code']} already has a station "
                                     f"named {station['name']} ({same[0]}); give this one another name")
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
        self.add_devices([(device_id, station_id, token_hash)], now)

    def add_devices(self, devices: list[tuple[str, str, str]], now: str) -> None:
        """Register (device id, station id, token hash) rows in one
        transaction; all or none."""
        with self.write():
            for device_id, station_id, token_hash in devices:
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
