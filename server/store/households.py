"""Reads of each household's disposals in its community, from the raw events
(kept for the retention period), by the token the station sent."""
from __future__ import annotations


class HouseholdStore:
    def household_totals(self, community: str, first_day: str, last_day: str) -> list[dict]:
        """Per household token seen at the community's stations between the
        two days (inclusive): disposals, assisted, and over the unassisted
        ones correct, wrong and uncertain as counted (after volunteers'
        corrections); days seen and the last day seen."""
        return [dict(r) for r in self._all(
            "SELECT e.household, count(*) AS disposals, sum(e.assisted) AS assisted, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'correct' THEN 1 ELSE 0 END) AS correct, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'wrong' THEN 1 ELSE 0 END) AS wrong, "
            "sum(CASE WHEN e.assisted = 0 AND e.verdict = 'uncertain' THEN 1 ELSE 0 END) AS uncertain, "
            "count(DISTINCT e.day) AS days_seen, max(e.day) AS last_seen "
            "FROM events e JOIN stations s ON s.id = e.station_id "
            "WHERE s.community_code = ? AND e.day BETWEEN ? AND ? AND e.type = 'disposal' "
            "AND e.household IS NOT NULL GROUP BY e.household ORDER BY e.household",
            (community, first_day, last_day))]

    def household_wrong_categories(self, community: str, first_day: str, last_day: str) -> list[dict]:
        """Per household and item category: its unassisted wrong disposals."""
        return [dict(r) for r in self._all(
            "SELECT e.household, e.category, count(*) AS wrong "
            "FROM events e JOIN stations s ON s.id = e.station_id "
            "WHERE s.community_code = ? AND e.day BETWEEN ? AND ? AND e.type = 'disposal' "
            "AND e.household IS NOT NULL AND e.assisted = 0 AND e.verdict = 'wrong' "
            "AND e.category IS NOT NULL GROUP BY e.household, e.category",
            (community, first_day, last_day))]
