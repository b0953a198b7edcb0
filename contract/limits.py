"""The contract's limits and vocabularies, read from its JSON documents so
that each is written once: the edge sizes its batches and evidence by them,
the server enforces them.

>>> MAX_EVENTS, MAX_BODY_BYTES, MAX_EVIDENCE_BYTES
(500, 1048576, 262144)
>>> CATEGORIES
('kitchen', 'recyclable', 'hazardous', 'other')
"""
from __future__ import annotations

import re

from . import load

_EVENT = load("event.schema.json")
_OPENAPI = load("openapi.json")
_PATHS = _OPENAPI["paths"]
_EVIDENCE_BODY = _PATHS["/api/v1/events/{event_id}/evidence"]["put"]["requestBody"]

# POST /api/v1/events: events per request and bytes per request body.
MAX_EVENTS: int = _OPENAPI["components"]["schemas"]["EventBatch"]["properties"]["events"]["maxItems"]
MAX_BODY_BYTES: int = _PATHS["/api/v1/events"]["post"]["requestBody"]["x-max-bytes"]
# PUT /api/v1/events/<id>/evidence: one small JPEG.
MAX_EVIDENCE_BYTES: int = _EVIDENCE_BODY["x-max-bytes"]
MAX_EVIDENCE_PIXELS: int = _EVIDENCE_BODY["x-max-pixels"]
MAX_EVIDENCE_SIDE: int = _EVIDENCE_BODY["x-max-side"]  # px of the longer side

# The four categories of bins and items, in their canonical order.
CATEGORIES: tuple[str, ...] = tuple(_EVENT["$defs"]["category"]["enum"])
EVENT_TYPES: tuple[str, ...] = tuple(_EVENT["properties"]["type"]["enum"])
VERDICTS: tuple[str, ...] = tuple(_EVENT["properties"]["verdict"]["enum"])

# Patterns of the ids, in the schema's ECMA-262 syntax (also valid Python re
# syntax; use re.fullmatch, since Python's $ also matches before a final newline).
EVENT_ID_PATTERN: str = _EVENT["properties"]["event_id"]["pattern"]
STATION_ID_PATTERN: str = _EVENT["properties"]["station_id"]["pattern"]
HOUSEHOLD_PATTERN: str = _EVENT["properties"]["household"]["pattern"]
TS_PATTERN: str = _EVENT["properties"]["ts"]["pattern"]

# A household token is an opaque card or tag id; one that reads as a phone
# number (a mainland mobile, optionally after 86, or a landline with its area
# code) is personal data: the station drops it and the server refuses it. A
# bare 8-digit number stays allowed: card serials look like a local landline.
_PHONE = re.compile(r"(?:86)?1[3-9]\d{9}|0\d{2,3}\d{7,8}")


def looks_like_phone_number(token: str) -> bool:
    return _PHONE.fullmatch(token.replace("-", "").replace("_", "")) is not None

# PUT /api/v1/events/<id>/sample: a learning sample (a crop under the
# evidence limits, an embedding and scores) as one JSON body.
MAX_SAMPLE_BYTES: int = _PATHS["/api/v1/events/{event_id}/sample"]["put"]["requestBody"]["x-max-bytes"]
