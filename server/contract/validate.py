"""Fast per-event validation for the ingest hot path.

jsonschema is too slow for 25,000 events a second, so this is written out by
hand; tests/server/contract/test_validate.py checks on generated events that
it accepts and rejects exactly what event.schema.json does.
"""
from __future__ import annotations

import re

CATEGORIES = frozenset({"kitchen", "recyclable", "hazardous", "other"})
TYPES = frozenset({"disposal", "bin_full", "litter"})
VERDICTS = frozenset({"correct", "wrong", "uncertain"})
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TS = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$")
STATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ITEM = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HOUSEHOLD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

BASE_FIELDS = ("event_id", "type", "ts", "station_id", "bin")
DISPOSAL_FIELDS = ("item", "category", "verdict", "confidence", "model", "rules")
OPTIONAL_DISPOSAL = ("household", "assisted")
ALLOWED = {
    "disposal": frozenset(BASE_FIELDS + DISPOSAL_FIELDS + OPTIONAL_DISPOSAL),
    "bin_full": frozenset(BASE_FIELDS),
    "litter": frozenset(BASE_FIELDS),
}


def _is_str(v) -> bool:
    return isinstance(v, str)


def _match(pattern: re.Pattern, v) -> bool:
    # re's $ also matches before a final newline; the schema's ECMA $ does not.
    return isinstance(v, str) and pattern.match(v) is not None and not v.endswith("\n")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_field(name: str, v) -> str | None:
    """An error message for a present field, or None."""
    if name == "event_id":
        return None if _match(UUID, v) else "must be a UUID string"
    if name == "type":
        return None if _is_str(v) and v in TYPES else "must be one of disposal, bin_full, litter"
    if name == "ts":
        return None if _match(TS, v) else (
            "must be an ISO-8601 timestamp with an offset, e.g. 2026-11-29T07:42:13.250+08:00")
    if name == "station_id":
        return None if _match(STATION, v) else "must be a station id (letters, digits, _ . -)"
    if name in ("bin", "category"):
        return None if _is_str(v) and v in CATEGORIES else (
            "must be one of kitchen, recyclable, hazardous, other")
    if name == "item":
        return None if _match(ITEM, v) else "must be an item label (lowercase letters, digits, _)"
    if name == "verdict":
        return None if _is_str(v) and v in VERDICTS else "must be one of correct, wrong, uncertain"
    if name == "confidence":
        return None if _is_number(v) and 0 <= v <= 1 else "must be a number from 0 to 1"
    if name == "household":
        return None if v is None or _match(HOUSEHOLD, v) else (
            "must be null or an opaque token of 1-64 letters, digits, _ or -")
    if name == "assisted":
        return None if isinstance(v, bool) else "must be true or false"
    if name in ("model", "rules"):
        return None if _is_str(v) and 1 <= len(v) <= 80 else "must be a string of 1-80 characters"
    return "unknown field"


def event_errors(ev) -> list[dict]:
    """Schema-level errors of one event, as [{"field", "message"}]."""
    if not isinstance(ev, dict):
        return [{"field": "", "message": "each event must be a JSON object"}]
    errors = []
    kind = ev.get("type") if isinstance(ev.get("type"), str) else None
    required = BASE_FIELDS + (DISPOSAL_FIELDS if kind == "disposal" else ())
    for name in required:
        if name not in ev:
            errors.append({"field": name, "message": "is required"})
    allowed = ALLOWED.get(kind) if kind in TYPES else ALLOWED["disposal"]
    for name, value in ev.items():
        if name not in allowed:
            known = name in ALLOWED["disposal"]
            errors.append({"field": name, "message":
                           f"is not allowed on a {kind} event" if known else "unknown field"})
            continue
        message = _check_field(name, value)
        if message:
            errors.append({"field": name, "message": message})
    return errors
