"""Points rules and the day-by-day points of a household (server/points.py),
checked against a second, simpler bookkeeping: every point a token of its
own, spent oldest first, dropped when it expires."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.points import PointsRule, PointsRuleError, balance, parse_rule

START = date(2026, 1, 1)


def tokens_oracle(rule: PointsRule, days: dict, redemptions: list[dict], today: date) -> dict:
    earned_tokens: list[date] = []      # one entry per point: the day it was earned
    earned = redeemed = expired = 0
    for offset in range((today - START).days + 1):
        day = START + timedelta(days=offset)
        counts = days.get(day.isoformat(), {})
        gained = sum(getattr(rule, k) * counts.get(k, 0) for k in ("correct", "wrong", "uncertain", "assisted"))
        if rule.daily_cap is not None:
            gained = min(gained, rule.daily_cap)
        earned_tokens += [day] * gained
        earned += gained
        alive = [d for d in earned_tokens if (day - d).days < rule.expiry_days]
        expired += len(earned_tokens) - len(alive)
        earned_tokens = alive
        for r in redemptions:
            if r["day"] == day.isoformat():
                take = min(r["points"], len(earned_tokens))
                earned_tokens = earned_tokens[take:]
                redeemed += take
    return {"balance": len(earned_tokens), "earned": earned, "redeemed": redeemed, "expired": expired}


rules = st.builds(PointsRule, correct=st.integers(0, 5), wrong=st.integers(0, 2), uncertain=st.integers(0, 2),
                  assisted=st.integers(0, 2), daily_cap=st.one_of(st.none(), st.integers(1, 8)),
                  expiry_days=st.integers(1, 40))
day_labels = st.integers(0, 60).map(lambda n: (START + timedelta(days=n)).isoformat())
counts = st.fixed_dictionaries({k: st.integers(0, 4) for k in ("correct", "wrong", "uncertain", "assisted")})


@settings(max_examples=300, deadline=None)
@given(rules, st.dictionaries(day_labels, counts, max_size=25),
       st.lists(st.fixed_dictionaries({"day": day_labels, "points": st.integers(1, 12)}), max_size=10),
       st.integers(0, 70))
def test_points_equal_a_point_by_point_bookkeeping(rule, days, redemptions, today_offset):
    today = START + timedelta(days=today_offset)
    got = balance(rule, days, redemptions, today)
    assert got == tokens_oracle(rule, days, redemptions, today)
    assert got["balance"] >= 0
    assert got["earned"] == got["balance"] + got["redeemed"] + got["expired"]


def test_a_day_is_capped_and_old_points_expire():
    rule = parse_rule('{"correct": 2, "daily_cap": 5, "expiry_days": 10}', 400)
    days = {"2026-01-01": {"correct": 4}, "2026-01-05": {"correct": 1}}
    assert balance(rule, days, [], date(2026, 1, 5))["balance"] == 7            # 5 (capped) + 2
    assert balance(rule, days, [], date(2026, 1, 11)) == {"balance": 2, "earned": 7, "redeemed": 0, "expired": 5}
    spent = [{"day": "2026-01-06", "points": 6}]                             # the oldest 5, then 1 of the 2
    assert balance(rule, days, spent, date(2026, 1, 11)) == {"balance": 1, "earned": 7, "redeemed": 6, "expired": 0}


@pytest.mark.parametrize("text, message", [
    ("not json", "JSON object"), ("[1]", "JSON object"), ('{"wrong": 1}', "correct is required"),
    ('{"correct": -1}', "correct must be a whole number from 0 to 100"),
    ('{"correct": 1.5}', "whole number"), ('{"correct": true}', "whole number"),
    ('{"correct": 1, "daily_cap": 0}', "daily_cap"), ('{"correct": 1, "expiry_days": 401}', "from 1 to 400"),
    ('{"correct": 1, "bonus": 3}', "unknown fields bonus"),
])
def test_a_rule_that_does_not_parse_is_refused_with_a_reason(text, message):
    with pytest.raises(PointsRuleError, match=message):
        parse_rule(text, 400)


def test_a_rule_defaults_to_no_cap_and_the_retention_period():
    rule = parse_rule('{"correct": 1}', 400)
    assert rule.as_json() == {"correct": 1, "wrong": 0, "uncertain": 0, "assisted": 0, "daily_cap": None,
                              "expiry_days": 400}
