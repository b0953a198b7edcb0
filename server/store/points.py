"""Points rules, redemptions, and one household's disposals day by day
(server/points.py works the points out from them)."""
from __future__ import annotations

from collections.abc import Callable

from ..scopes import CITY


class RedemptionConflict(Exception):
    """A redemption id already used for a different redemption."""


class PointsStore:
    def points_rule(self, community: str) -> str | None:
        """The community's own rule (JSON text), else the city's, else None."""
        rows = {r["scope"]: r["rule"] for r in self._all(
            "SELECT scope, rule FROM points_rules WHERE scope IN (?, ?)", (community, CITY))}
        return rows.get(community) or rows.get(CITY)

    def set_points_rule(self, scope: str, rule: str, now: str) -> None:
        with self.write():
            self.conn.execute("INSERT INTO points_rules(scope, rule, set_at) VALUES (?, ?, ?) "
                              "ON CONFLICT(scope) DO UPDATE SET rule = excluded.rule, set_at = excluded.set_at",
                              (scope, rule, now))

    def household_days(self, community: str, household: str, first_day: str) -> dict[str, dict]:
        """Per day from `first_day`: the household's correct, wrong and
        uncertain unassisted disposals and its assisted ones, as counted."""
        rows = self._all(
            "SELECT day, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'correct' THEN 1 ELSE 0 END) AS correct, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'wrong' THEN 1 ELSE 0 END) AS wrong, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'uncertain' THEN 1 ELSE 0 END) AS uncertain, "
            "sum(assisted) AS assisted FROM events "
            "WHERE community_code = ? AND household = ? AND day >= ? AND type = 'disposal' GROUP BY day",
            (community, household, first_day))
        return {r["day"]: {k: r[k] for k in ("correct", "wrong", "uncertain", "assisted")} for r in rows}

    def community_household_days(self, community: str, first_day: str) -> dict[str, dict[str, dict]]:
        """household_days for every household of the community at once:
        {household: {day: counts}}, in one statement."""
        rows = self._all(
            "SELECT household, day, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'correct' THEN 1 ELSE 0 END) AS correct, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'wrong' THEN 1 ELSE 0 END) AS wrong, "
            "sum(CASE WHEN assisted = 0 AND verdict = 'uncertain' THEN 1 ELSE 0 END) AS uncertain, "
            "sum(assisted) AS assisted FROM events "
            "WHERE community_code = ? AND household IS NOT NULL AND day >= ? AND type = 'disposal' "
            "GROUP BY household, day", (community, first_day))
        out: dict[str, dict[str, dict]] = {}
        for r in rows:
            out.setdefault(r["household"], {})[r["day"]] = {
                k: r[k] for k in ("correct", "wrong", "uncertain", "assisted")}
        return out

    def community_redemptions(self, community: str, first_day: str) -> dict[str, list[dict]]:
        """Every redemption of the community's households from `first_day`, by household."""
        out: dict[str, list[dict]] = {}
        for r in self._all("SELECT household, day, points FROM redemptions "
                           "WHERE community_code = ? AND day >= ? ORDER BY at", (community, first_day)):
            out.setdefault(r["household"], []).append({"day": r["day"], "points": r["points"]})
        return out

    def household_recent(self, community: str, household: str, limit: int) -> list[dict]:
        return [dict(r) for r in self._all(
            "SELECT event_id, ts, day, bin, item, category, verdict, assisted, rules FROM events "
            "WHERE community_code = ? AND household = ? AND type = 'disposal' "
            "ORDER BY day DESC, ts DESC LIMIT ?", (community, household, limit))]

    def redemptions_of(self, community: str, household: str) -> list[dict]:
        return [dict(r) for r in self._all(
            "SELECT * FROM redemptions WHERE community_code = ? AND household = ? ORDER BY at",
            (community, household))]

    def redemption(self, redemption_id: str) -> dict | None:
        row = self._one("SELECT * FROM redemptions WHERE redemption_id = ?", (redemption_id,))
        return dict(row) if row else None

    def redeem(self, record: dict, available: Callable[[], int]) -> tuple[dict, bool]:
        """Store a redemption once: (the stored redemption, True if new).
        Under a lock on the household, `available()` (read inside the same
        transaction) must cover it, or ValueError and nothing is stored; a
        resend of the same redemption id returns the stored one."""
        columns = ("redemption_id", "community_code", "household", "points", "reward", "station_id",
                   "username", "at", "day")
        with self.write():
            self.conn.execute("INSERT INTO point_accounts(community_code, household) VALUES (?, ?) "
                              "ON CONFLICT DO NOTHING", (record["community_code"], record["household"]))
            self._one("SELECT 1 FROM point_accounts WHERE community_code = ? AND household = ?"
                      f"{self._FOR_UPDATE}", (record["community_code"], record["household"]))
            existing = self._one("SELECT * FROM redemptions WHERE redemption_id = ?",
                                 (record["redemption_id"],))
            if existing is not None:
                existing = dict(existing)
                same = all(existing[k] == record[k] for k in ("community_code", "household", "points",
                                                              "reward", "station_id"))
                if not same:
                    raise RedemptionConflict(record["redemption_id"])
                return existing, False
            have = available()
            if record["points"] > have:
                raise ValueError(have)
            self.conn.execute(f"INSERT INTO redemptions({','.join(columns)}) "
                              f"VALUES ({','.join('?' * len(columns))})", tuple(record[c] for c in columns))
        return dict(record), True
