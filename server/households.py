"""Each household's sorting, for its own community only: one row per household
token and period, and the two lists door-to-door guidance (入户指导) starts
from: households that need a visit, and households not seen this period.

A household is known only by the opaque token its card or bag tag carries,
exactly as the station sent it (the edge reads it; it never holds a name, a
phone number or an address). Linking a token to a door stays with the
community, outside the system."""
from __future__ import annotations

import re
from datetime import timedelta

from contract.limits import looks_like_phone_number

from .exports import column as _col
from .points import community_balances
from .rankings import LEVELS_BELOW
from .rates import ratio
from .scopes import LEVEL_LENGTHS, level_of
from .timeutil import Period, beijing, now_utc

# How far back "not seen this period" looks for households the community knows.
SEEN_BEFORE_PERIODS = 3

# A phone number anywhere inside a free text (a reward's name): a mainland
# mobile, optionally after 86, or a landline with its area code, its digits
# possibly split by spaces, dots or dashes.
_PHONE_INSIDE = re.compile(r"(?<!\d)(?:(?:86)?1[3-9]\d{9}|0\d{2,3}\d{7,8})(?!\d)")


def contains_phone_number(text: str) -> bool:
    return _PHONE_INSIDE.search(re.sub(r"(?<=\d)[\s.\-_]+(?=\d)", "", text)) is not None


def household_errors(ev: dict) -> list[dict]:
    token = ev.get("household")
    if isinstance(token, str) and looks_like_phone_number(token):
        return [{"field": "household", "message": "looks like a phone number; a household is known only "
                 "by the opaque token on its card or tag, never by personal data"}]
    return []


def household_rows(store, community: str, period: Period, settings) -> list[dict]:
    """One row per household seen at the community's stations in the period:
    disposals, assisted, correct, wrong, uncertain, accuracy (correct over
    correct + wrong, unassisted, as the community's accuracy), days seen,
    last seen, the categories it gets wrong most (most first), whether it
    needs a visit, and its points: its balance today, whatever the period,
    as its card shows it at the station (None without a points rule)."""
    first, last = period.start.isoformat(), period.end.isoformat()
    balances = community_balances(store, community, beijing(now_utc()).date(), settings.event_retention_days)
    wrong_by = {}
    for r in store.household_wrong_categories(community, first, last):
        wrong_by.setdefault(r["household"], []).append((r["wrong"], r["category"]))
    rows = []
    for r in store.household_totals(community, first, last):
        judged = r["correct"] + r["wrong"]
        row = {**r, "accuracy": ratio(r["correct"], judged),
               "most_wrong": [c for _, c in sorted(wrong_by.get(r["household"], []), key=lambda x: (-x[0], x[1]))]}
        row["needs_visit"] = needs_visit(row, settings)
        row["points"] = None if balances is None else balances.get(r["household"], 0)
        rows.append(row)
    return rows


def visit_summary(store, scope: str, period: Period, settings) -> dict:
    """Above a household list: for a scope, the households seen in the
    period, how many need a visit and their share, in all and for each
    member one level down (the districts of the city, the streets of a
    district, the communities of a street). Counts only: no household token
    is read out of the database."""
    per_community = store.household_visit_counts(
        scope, period.start.isoformat(), period.end.isoformat(), settings.visit_min_disposals,
        settings.visit_accuracy_percent)
    below = LEVELS_BELOW[level_of(scope)]
    members = {}
    if below:
        length = 12 if below[0] == "community" else LEVEL_LENGTHS[below[0]]
        members = {code: {"code": code, "name": name, "households": 0, "needs_visit": 0}
                   for code, name in store.members(below[0], scope)}
        for r in per_community:
            member = members.get(r["community_code"][:length])
            if member is not None:
                member["households"] += r["households"]
                member["needs_visit"] += r["needs_visit"]
    seen = sum(r["households"] for r in per_community)
    visits = sum(r["needs_visit"] for r in per_community)
    return {"households": seen, "needs_visit": visits, "share": ratio(visits, seen),
            "members": [{**m, "share": ratio(m["needs_visit"], m["households"])} for m in members.values()],
            "member_level": below[0] if below else None}


def needs_visit(row: dict, settings) -> bool:
    judged = row["correct"] + row["wrong"]
    return (judged >= settings.visit_min_disposals
            and row["correct"] * 100 < settings.visit_accuracy_percent * judged)


def not_seen(store, community: str, period: Period, seen: set[str]) -> list[dict]:
    """Households seen in the SEEN_BEFORE_PERIODS periods before this one and
    not in it, with the last day they were seen, most recently seen first."""
    earliest = period
    for _ in range(SEEN_BEFORE_PERIODS):
        earliest = earliest.previous()
    rows = store.household_totals(community, earliest.start.isoformat(),
                                  (period.start - timedelta(days=1)).isoformat())
    missing = [{"household": r["household"], "last_seen": r["last_seen"]}
               for r in rows if r["household"] not in seen]
    return sorted(missing, key=lambda r: (r["last_seen"], r["household"]), reverse=True)


def public_row(row: dict) -> dict:
    keep = ("household", "disposals", "assisted", "correct", "wrong", "uncertain", "accuracy",
            "days_seen", "last_seen", "most_wrong", "needs_visit", "points")
    return {k: row[k] for k in keep}


SORT_KEYS = ("household", "disposals", "accuracy", "wrong", "last_seen", "points")


def sort_rows(rows: list[dict], key: str, descending: bool) -> list[dict]:
    """Rows ordered by `key`; households without an accuracy sort last either way."""
    def order(r):
        v = r[key]
        return (v is None, v if v is not None else 0, r["household"])
    present = sorted((r for r in rows if r[key] is not None), key=order, reverse=descending)
    return present + [r for r in rows if r[key] is None]


HOUSEHOLD_COLUMNS = [
    _col("household", "户卡编号", "household", "站点读到的户卡或袋码编号（不含姓名、电话、门牌）",
         "the token the station read from the household's card or bag tag (no name, phone or door)"),
    _col("disposals", "投放次数", "disposals", "本期在本社区桶站的投放次数", "disposals at the community's stations"),
    _col("correct", "正确", "correct", "自主投放中判为正确的次数", "unassisted disposals judged correct"),
    _col("wrong", "错误", "wrong", "自主投放中判为错误的次数", "unassisted disposals judged wrong"),
    _col("uncertain", "无法判断", "uncertain", "摄像头无法判断的次数，不计入准确率",
         "disposals the camera was not sure about; not in the accuracy"),
    _col("assisted", "协助投放", "assisted", "志愿者协助的投放，不计入准确率",
         "disposals a volunteer helped with; not in the accuracy"),
    _col("accuracy", "投放准确率", "accuracy", "正确 ÷（正确 + 错误）", "correct / (correct + wrong)", rate=True),
    _col("days_seen", "投放天数", "days seen", "本期有投放的天数", "days with a disposal in the period"),
    _col("last_seen", "最近投放日期", "last seen", "本期最后一次投放的日期", "the last day with a disposal"),
    _col("most_wrong", "常错类别", "most often wrong", "错投最多的垃圾类别，多者在前",
         "the categories it got wrong most, most first", get=lambda r: r["most_wrong_names"] or None),
    _col("points", "积分余额", "points", "今天的积分余额（与桶站平板上户卡显示的相同）；无积分规则时为空",
         "the points balance today (as the household's card shows it at the station); empty without a points rule"),
    _col("needs_visit", "需入户指导", "needs a visit", "✓：准确率低于设定值且判定次数达到下限",
         "✓: accuracy under the configured level over at least the minimum of judged disposals",
         get=lambda r: "✓" if r["needs_visit"] else None),
]
