"""Per-event validation for the ingest hot path, compiled from the schema.

fastjsonschema turns contract/event.schema.json into Python code once, at
import: a valid event (nearly all of them) costs one call of that code. An
invalid event is then explained field by field, each field checked by its own
compiled sub-schema, so a device learns every problem of the event at once;
each message comes from the property's "x-expected" in the schema.
"""
from __future__ import annotations

import copy
import re

import fastjsonschema

from contract import load
from contract.limits import CATEGORIES, STATION_ID_PATTERN  # noqa: F401 (server/cli.py reads them here)

SCHEMA = load("event.schema.json")
_PROPERTIES: dict = SCHEMA["properties"]
_BASE_REQUIRED = tuple(SCHEMA["required"])
# The schema's conditions: a disposal needs its judgement (and has no state),
# other events carry the base fields and a state of their own type.
_CONDITION = SCHEMA["allOf"][0]
_JUDGED_TYPE = _CONDITION["if"]["properties"]["type"]["const"]
_JUDGEMENT_REQUIRED = tuple(_CONDITION["then"]["required"])
_JUDGED_FORBIDDEN = frozenset(k for k, v in _CONDITION["then"]["properties"].items() if v is False)
_UNJUDGED_ALLOWED = frozenset(_CONDITION["else"]["propertyNames"]["enum"])
STATES = {c["if"]["properties"]["type"]["const"]: tuple(c["then"]["properties"]["state"]["enum"])
          for c in SCHEMA["allOf"][1:]}



def _compile(schema: dict):
    # A copy: fastjsonschema rewrites the references of what it is given.
    # No defaults written into the event, no formats (the schema uses none).
    return fastjsonschema.compile(copy.deepcopy(schema), use_default=False, use_formats=False)


def _field_schema(prop: dict) -> dict:
    """A property's schema on its own, its local "#/$defs/..." reference inlined
    (a sub-schema has no $id, so a reference left in it would be fetched)."""
    ref = prop.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**SCHEMA["$defs"][ref.removeprefix("#/$defs/")],
                **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


_whole_event = _compile(SCHEMA)
_one_field = {name: _compile(_field_schema(prop)) for name, prop in _PROPERTIES.items()}

STATION = re.compile(STATION_ID_PATTERN)  # for server/cli.py; use fullmatch


def event_errors(ev) -> list[dict]:
    """Schema-level errors of one event, as [{"field", "message"}]."""
    if not isinstance(ev, dict):
        return [{"field": "", "message": "each event must be a JSON object"}]
    try:
        _whole_event(ev)
        return []
    except fastjsonschema.JsonSchemaValueException as whole:
        return _explain(ev) or [{"field": ".".join(map(str, whole.path[1:])), "message": whole.message}]


def _explain(ev: dict) -> list[dict]:
    kind = ev.get("type")
    judged = isinstance(kind, str) and kind == _JUDGED_TYPE
    required = _BASE_REQUIRED + (_JUDGEMENT_REQUIRED if judged else ())
    errors = [{"field": name, "message": "is required"} for name in required if name not in ev]
    for name, value in ev.items():
        if name not in _PROPERTIES:
            errors.append({"field": name, "message": "unknown field"})
            continue
        if (name not in _UNJUDGED_ALLOWED) if not judged else (name in _JUDGED_FORBIDDEN):
            shown = kind if isinstance(kind, str) else "non-disposal"
            errors.append({"field": name, "message": f"is not allowed on a {shown} event"})
            continue
        try:
            _one_field[name](value)
        except fastjsonschema.JsonSchemaValueException:
            errors.append({"field": name, "message": f"must be {_PROPERTIES[name]['x-expected']}"})
            continue
        if name == "state" and isinstance(kind, str) and kind in STATES and value not in STATES[kind]:
            errors.append({"field": name, "message": f"must be one of {', '.join(STATES[kind])} "
                                                     f"on a {kind} event"})
    return errors
