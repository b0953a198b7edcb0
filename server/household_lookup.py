"""What the tablet shows when a household's card is scanned at the station:
the household's points, its last ten disposals with their verdicts, and the
right bin for the item it most often gets wrong. Nothing else about anyone."""
from __future__ import annotations

import re
from collections import Counter

from contract.limits import HOUSEHOLD_PATTERN, looks_like_phone_number

from . import query
from .artifacts import rules_for
from .points import household_points
from .timeutil import beijing, now_utc

RECENT = 10
_TOKEN = re.compile(HOUSEHOLD_PATTERN)


def checked_token(token: str) -> str:
    if not _TOKEN.fullmatch(token) or looks_like_phone_number(token):
        raise query.invalid("household", "a household is the token on its card: 1-64 letters, digits, _ or -, "
                            "never a phone number")
    return token


def lookup(store, station: dict, household: str, settings, lang: str = "zh") -> dict:
    community = station["community_code"]
    today = beijing(now_utc()).date()
    recent = store.household_recent(community, household, RECENT)
    points = household_points(store, community, household, today, settings.event_retention_days)
    return {"household": household, "station_id": station["id"], "community": community,
            "points": points, "recent": [_public(e, lang) for e in recent], "advice": advice(recent, lang)}


def _public(ev: dict, lang: str) -> dict:
    rules = rules_for(ev["rules"])
    name = rules.item_name(ev["item"], lang) if ev["item"] in rules.item_rules else ev["item"]
    return {"ts": ev["ts"], "item": ev["item"], "item_name": name, "category": ev["category"],
            "bin": ev["bin"], "verdict": ev["verdict"], "assisted": bool(ev["assisted"])}


def advice(recent: list[dict], lang: str) -> dict | None:
    """The item the household got wrong most often among its recent
    disposals, and the bins that accept it."""
    wrong = Counter((e["item"], e["rules"]) for e in recent if e["verdict"] == "wrong" and not e["assisted"]
                    and e["item"])
    if not wrong:
        return None
    (item, tag), times = max(wrong.items(), key=lambda kv: (kv[1], kv[0][0]))
    rules = rules_for(tag)
    if item not in rules.item_rules:
        return None
    bins = rules.accepted_bins(item)
    return {"item": item, "item_name": rules.item_name(item, lang), "times": times, "bins": bins,
            "bin_names": [rules.category_name(b, lang) for b in bins]}
