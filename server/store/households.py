"""Reads of each household's disposals in its community, from the raw events
(kept for the retention period), by the token the station sent."""
from __future__ import annotations

from datetime import date, timedelta

from ..scopes import CITY


class HouseholdStore:
    def household_totals(self, community: str, first_day: str, last_day: str) -> list[dict]:
        """Per household token seen at the community's stations between the
        two days (inclusive): disposals, assisted, and over the unassisted
        ones correct, wrong and uncertain as counted (after volunteers'
        corrections); days seen and the last day seen. From the raw events,
        plus what prune-events kept of the whole months in the range
        (household_month): a disposal is in one or the other, never both."""
        raw = self._all(
            "SELECT e.household, count(*) AS disposals, sum(e.assisted) AS assisted, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'correct' THEN 1 ELSE 0 END) AS correct, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'wrong' THEN 1 ELSE 0 END) AS wrong, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'uncertain' THEN 1 ELSE 0 END) AS uncertain, "
            "count(DISTINCT e.day) AS days_seen, max(e.day) AS last_seen "
            "FROM events e JOIN stations s ON s.id = e.station_id "
            "WHERE s.community_code = ? AND e.day BETWEEN ? AND ? AND e.type = 'disposal' "
            "AND e.household IS NOT NULL GROUP BY e.household",
            (community, first_day, last_day))
        kept = self._all(
            "SELECT household, disposals, assisted, correct, wrong, uncertain, days_seen, last_seen "
            "FROM household_month WHERE community_code = ? AND month >= ? AND month <= ?",
            (community, *_whole_months(first_day, last_day)))
        out: dict[str, dict] = {}
        for r in [*map(dict, raw), *map(dict, kept)]:
            mine = out.get(r["household"])
            if mine is None:
                out[r["household"]] = r
                continue
            for k in ("disposals", "assisted", "correct", "wrong", "uncertain", "days_seen"):
                mine[k] += r[k]
            mine["last_seen"] = max(mine["last_seen"], r["last_seen"])
        return [out[k] for k in sorted(out)]

    def household_visit_counts(self, scope: str, first_day: str, last_day: str, min_judged: int,
                               accuracy_percent: int) -> list[dict]:
        """Per community inside `scope` (a division code or 'city'): the
        households seen between the two days and how many of them need a
        visit (at least `min_judged` judged disposals, correct under
        `accuracy_percent` of them), counted as household_totals counts them
        (raw events plus the whole months prune-events kept), in the
        database: no household leaves it."""
        if scope == CITY:
            lo, hi = "0" * 12, "9" * 12
        else:
            lo, hi = scope.ljust(12, "0"), scope.ljust(12, "9")
        first_month, last_month = _whole_months(first_day, last_day)
        return [dict(r) for r in self._all(
            "SELECT community_code, count(*) AS households, "
            "sum(CASE WHEN correct + wrong >= ? AND correct * 100 < ? * (correct + wrong) "
            "THEN 1 ELSE 0 END) AS needs_visit FROM ("
            " SELECT community_code, household, sum(correct) AS correct, sum(wrong) AS wrong FROM ("
            "  SELECT community_code, household, "
            "  CASE WHEN assisted = 0 AND verdict = 'correct' THEN 1 ELSE 0 END AS correct, "
            "  CASE WHEN assisted = 0 AND verdict = 'wrong' THEN 1 ELSE 0 END AS wrong "
            "  FROM events WHERE community_code BETWEEN ? AND ? AND household IS NOT NULL "
            "  AND day BETWEEN ? AND ? AND type = 'disposal' "
            "  UNION ALL SELECT community_code, household, correct, wrong FROM household_month "
            "  WHERE community_code BETWEEN ? AND ? AND month >= ? AND month <= ?"
            " ) AS seen GROUP BY community_code, household"
            ") AS per_household GROUP BY community_code ORDER BY community_code",
            (min_judged, accuracy_percent, lo, hi, first_day, last_day, lo, hi, first_month, last_month))]

    def household_wrong_categories(self, community: str, first_day: str, last_day: str) -> list[dict]:
        """Per household and item category: its unassisted wrong disposals."""
        return [dict(r) for r in self._all(
            "SELECT e.household, e.category, count(*) AS wrong "
            "FROM events e JOIN stations s ON s.id = e.station_id "
            "WHERE s.community_code = ? AND e.day BETWEEN ? AND ? AND e.type = 'disposal' "
            "AND e.household IS NOT NULL AND e.assisted = 0 AND e.verdict = 'wrong' "
            "AND e.category IS NOT NULL GROUP BY e.household, e.category",
            (community, first_day, last_day))]


def _whole_months(first_day: str, last_day: str) -> tuple[str, str]:
    """The first and last YYYY-MM lying wholly inside the range of days (an
    empty range when none does)."""
    first = first_day[:7] if first_day.endswith("-01") else _next_month(first_day[:7])
    following = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
    last = last_day[:7] if following.endswith("-01") else _previous_month(last_day[:7])
    return first, last


def _next_month(label: str) -> str:
    y, m = int(label[:4]), int(label[5:])
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def _previous_month(label: str) -> str:
    y, m = int(label[:4]), int(label[5:])
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"
