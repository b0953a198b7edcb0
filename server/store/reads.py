"""Reads for the rates, the dashboards, rankings and exports: roll-ups only,
except the few latest wrong disposals."""
from __future__ import annotations

import json

from ..rollups import COUNTERS
from ..scopes import CITY


class ReadStore:
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

    def reader_day_counts(self, scope: str, day: str) -> dict[str, tuple[int, int]]:
        """Per station with a household reader: the day's disposals, and how
        many of them came with a household token."""
        where, params = self._prefix_where("s.community_code", scope)
        rows = self._all(
            "SELECT e.station_id, count(*), count(e.household) FROM events e "
            "JOIN stations s ON s.id = e.station_id "
            f"WHERE s.household_reader = 1 AND e.day = ? AND e.type = 'disposal' AND {where} "
            "GROUP BY e.station_id", (day, *params))
        return {r[0]: (r[1], r[2]) for r in rows}

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

    def rollup_periods(self) -> list[tuple[str, str]]:
        """Every (kind, period) the per-period roll-ups hold, in order."""
        return sorted({(r[0], r[1]) for table in ("rollup_period", "participation_period",
                                                  "awareness_period", "online_period")
                       for r in self._all(f"SELECT DISTINCT kind, period FROM {table}")})

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
            "GROUP BY r.station_id, s.name, s.community_code", (*params, start_day, end_day))]

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
            "CASE WHEN EXISTS(SELECT 1 FROM evidence v WHERE v.event_id = e.event_id) THEN 1 ELSE 0 END "
            f"AS has_evidence FROM events e {self._WRONG_INDEX} JOIN stations s ON s.id = e.station_id "
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

    def _period_values_many(self, table: str, columns: str, length: int, within: str,
                            kind: str, period: str) -> dict:
        """{scope: value or tuple of values} of a per-period table, for every
        scope of one length inside `within`."""
        lo, hi = self._member_range(within)
        rows = self._all(f"SELECT scope, {columns} FROM {table} WHERE scope >= ? AND scope < ? "
                         "AND length(scope) = ? AND kind = ? AND period = ?",
                         (lo, hi, length, kind, period))
        return {r[0]: (r[1] if len(r) == 2 else tuple(r[1:])) for r in rows}

    def participating_households_many(self, length: int, within: str, kind: str, period: str) -> dict:
        return self._period_values_many("participation_period", "households",
                                        length, within, kind, period)

    def registered_households_many(self, length: int, within: str) -> dict:
        lo, hi = self._member_range(within)
        return {r[0]: (r[1], r[2]) for r in self._all(
            "SELECT substr(code, 1, ?) AS scope, "
            "coalesce(sum(CASE WHEN reader_stations > 0 THEN households END), 0), "
            "coalesce(sum(households), 0) FROM communities WHERE code >= ? AND code < ? "
            "GROUP BY scope", (length, lo, hi))}

    def awareness_totals_many(self, length: int, within: str, kind: str, period: str) -> dict:
        return self._period_values_many("awareness_period", "respondents, aware",
                                        length, within, kind, period)

    def online_seconds_many(self, length: int, within: str, kind: str, period: str) -> dict:
        return self._period_values_many("online_period", "seconds", length, within, kind, period)

    def station_registrations(self, scope: str) -> list[str]:
        """When each station in the scope was registered (ISO times)."""
        where, params = self._prefix_where("community_code", scope)
        return [r[0] for r in self._all(f"SELECT created_at FROM stations WHERE {where}", params)]

    def station_registrations_many(self, length: int, within: str) -> dict[str, list[str]]:
        lo, hi = self._member_range(within)
        out: dict[str, list[str]] = {}
        for scope, created in self._all(
                "SELECT substr(community_code, 1, ?) AS scope, created_at FROM stations "
                "WHERE community_code >= ? AND community_code < ?", (length, lo, hi)):
            out.setdefault(scope, []).append(created)
        return out

