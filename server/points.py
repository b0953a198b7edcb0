"""Incentive points (积分) for households, from a points rule kept as data.

A rule says what a disposal earns by its counted verdict, at most how much a
household earns in a day, and after how many days points expire:

    {"correct": 1, "wrong": 0, "uncertain": 0, "assisted": 0,
     "daily_cap": 5, "expiry_days": 365}

The city has one rule, a community may have its own (`flask --app server
set-points-rule SCOPE FILE`). A household's points are never stored as a
running total: they are worked out from its disposals (as counted, so a
volunteer's correction changes them exactly) and its redemptions, day by day,
the oldest points spent and expired first. Points expire after `expiry_days`
but the raw events they come from are kept only for the retention period, so
a rule's expiry may not exceed it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

VERDICT_KEYS = ("correct", "wrong", "uncertain", "assisted")
MAX_POINTS_PER_DISPOSAL = 100


class PointsRuleError(ValueError):
    """A points rule that does not parse, or makes no sense."""


@dataclass(frozen=True)
class PointsRule:
    correct: int
    wrong: int
    uncertain: int
    assisted: int
    daily_cap: int | None
    expiry_days: int

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in (*VERDICT_KEYS, "daily_cap", "expiry_days")}


def parse_rule(text: str, retention_days: int) -> PointsRule:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PointsRuleError(f"a points rule is a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise PointsRuleError("a points rule is a JSON object")
    allowed = {*VERDICT_KEYS, "daily_cap", "expiry_days"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PointsRuleError(f"unknown fields {', '.join(unknown)}; a rule has {', '.join(sorted(allowed))}")

    def whole(name, low, high, default=None, optional=False):
        value = data.get(name, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PointsRuleError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        return value

    points = {k: whole(k, 0, MAX_POINTS_PER_DISPOSAL, default=0) for k in VERDICT_KEYS}
    if "correct" not in data:
        raise PointsRuleError("correct is required: the points a correct disposal earns")
    cap = whole("daily_cap", 1, 10_000, optional=True)
    expiry = whole("expiry_days", 1, retention_days, default=retention_days)
    return PointsRule(**points, daily_cap=cap, expiry_days=expiry)


def day_points(rule: PointsRule, counts: dict) -> int:
    """What one day's disposals earn: counts of correct, wrong, uncertain
    (unassisted) and assisted, capped."""
    earned = sum(getattr(rule, k) * counts.get(k, 0) for k in VERDICT_KEYS)
    return earned if rule.daily_cap is None else min(earned, rule.daily_cap)


def balance(rule: PointsRule, days: dict[str, dict], redemptions: list[dict], today: date) -> dict:
    """The household's points as of `today` (Beijing): earned, redeemed,
    expired and the balance. `days` maps YYYY-MM-DD to that day's counts;
    `redemptions` have `day` and `points`. Each day, points earned that day
    come first, then points older than expiry_days expire, then that day's
    redemptions spend the oldest points first. A redemption that a later
    correction left uncovered spends what there is; the balance never goes
    below zero."""
    by_day: dict[str, list[int]] = {}
    for r in redemptions:
        by_day.setdefault(r["day"], []).append(r["points"])
    lots: list[list] = []      # [day earned, points left], oldest first
    earned = redeemed = expired = 0
    timeline = sorted(set(days) | set(by_day) | {today.isoformat()})
    for label in timeline:
        if label > today.isoformat():
            break
        current = date.fromisoformat(label)
        gained = day_points(rule, days.get(label, {}))
        if gained:
            lots.append([current, gained])
            earned += gained
        cutoff = current - timedelta(days=rule.expiry_days)
        while lots and lots[0][0] <= cutoff:
            expired += lots.pop(0)[1]
        for wanted in by_day.get(label, []):
            while wanted and lots:
                spent = min(wanted, lots[0][1])
                lots[0][1] -= spent
                wanted -= spent
                redeemed += spent
                if lots[0][1] == 0:
                    lots.pop(0)
    return {"balance": sum(left for _, left in lots), "earned": earned, "redeemed": redeemed,
            "expired": expired}


def household_points(store, community: str, household: str, today: date, retention_days: int) -> dict | None:
    """The household's points under its community's rule (None without a rule)."""
    text = store.points_rule(community)
    if text is None:
        return None
    rule = parse_rule(text, retention_days)
    # Every day the raw events still hold, so that earned and expired count
    # them all; the balance itself only needs the last expiry_days.
    first = (today - timedelta(days=retention_days)).isoformat()
    days = store.household_days(community, household, first)
    spent = [r for r in store.redemptions_of(community, household) if r["day"] >= first]
    return {**balance(rule, days, spent, today), "rule": rule.as_json()}


def community_balances(store, community: str, today: date, retention_days: int) -> dict[str, int] | None:
    """Every household's balance in the community as of `today`, worked out
    as household_points does for one (None without a rule; a household
    without points is missing, i.e. 0)."""
    text = store.points_rule(community)
    if text is None:
        return None
    rule = parse_rule(text, retention_days)
    first = (today - timedelta(days=retention_days)).isoformat()
    days = store.community_household_days(community, first)
    spent = store.community_redemptions(community, first)
    return {h: balance(rule, days.get(h, {}), spent.get(h, []), today)["balance"]
            for h in sorted(set(days) | set(spent))}
