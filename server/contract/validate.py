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


def _match(pattern: re.Pattern):
    # re's $ also matches before a final newline; the schema's ECMA $ does not.
    return lambda v: isinstance(v, str) and pattern.match(v) is not None and v[-1:] != "\n"


def _one_of(values: frozenset):
    return lambda v: isinstance(v, str) and v in values


def _is_number_0_1(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1


# field -> (check, message when the check fails)
CHECKS = {
    "event_id": (_match(UUID), "must be a UUID string"),
    "type": (_one_of(TYPES), "must be one of disposal, bin_full, litter"),
    "ts": (_match(TS), "must be an ISO-8601 timestamp with an offset, "
                       "e.g. 2026-11-29T07:42:13.250+08:00"),
    "station_id": (_match(STATION), "must be a station id (letters, digits, _ . -)"),
    "bin": (_one_of(CATEGORIES), "must be one of kitchen, recyclable, hazardous, other"),
    "category": (_one_of(CATEGORIES), "must be one of kitchen, recyclable, hazardous, other"),
    "item": (_match(ITEM), "must be an item label (lowercase letters, digits, _)"),
    "verdict": (_one_of(VERDICTS), "must be one of correct, wrong, uncertain"),
    "confidence": (_is_number_0_1, "must be a number from 0 to 1"),
    "household": (lambda v: v is None or _match(HOUSEHOLD)(v),
                  "must be null or an opaque token of 1-64 letters, digits, _ or -"),
    "assisted": (lambda v: isinstance(v, bool), "must be true or false"),
    "model": (lambda v: isinstance(v, str) and 1 <= len(v) <= 80,
              "must be a string of 1-80 characters"),
    "rules": (lambda v: isinstance(v, str) and 1 <= len(v) <= 80,
              "must be a string of 1-80 characters"),
}


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
        check, message = CHECKS[name]
        if not check(value):
            errors.append({"field": name, "message": message})
    return errors
