"""The hierarchy is carried by the division codes themselves: a street code
is its district's code plus three digits, a community code its street's plus
three. A scope is one of those codes or 'city'."""
from __future__ import annotations

CITY = "city"
LEVEL_LENGTHS = {"district": 6, "street": 9, "community": 12}
LEVELS = ("city", "district", "street", "community")


def level_of(code: str) -> str:
    if code == CITY:
        return "city"
    for level, length in LEVEL_LENGTHS.items():
        if len(code) == length and code.isdigit():
            return level
    raise ValueError(f"not a division code: {code!r}")


def ancestors(community_code: str) -> tuple[str, str, str, str]:
    """The community itself, its street, its district and the city."""
    return (community_code, community_code[:9], community_code[:6], CITY)


def contains(outer: str, inner: str) -> bool:
    return outer == CITY or inner.startswith(outer)


def station_scope(station_id: str) -> str:
    """Key under which per-station rows sit beside the division codes."""
    return "st:" + station_id
