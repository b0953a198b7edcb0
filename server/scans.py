"""A household card read by the station's own reader, passed to the
station's tablet so that the volunteer sees the household's card panel
without typing the token.

The station program posts each card it reads (POST /api/v1/scans, with its
device token); the server keeps the token, the station and the time for
SCAN_SECONDS, deletes it with the next scan after that, and the tablet's
live stream (server/web/station.py) sends it as a `card` event to the
station's own volunteer or its community's manager only, never to anyone
else reading the station. Nothing but the token is sent or kept, and the
tablet looks the household up as if it had been typed."""
from __future__ import annotations

from datetime import timedelta

from . import query
from .errors import ApiError
from .household_lookup import checked_token

SCAN_SECONDS = 60
SCAN_FIELDS = {"device_id", "household"}


def parse_scan(body, device: dict) -> str:
    """The household token of a scan {"device_id", "household"}; ApiError otherwise."""
    if not isinstance(body, dict):
        raise query.invalid("body", 'a scan is {"device_id": ..., "household": ...}')
    unknown, missing = sorted(set(body) - SCAN_FIELDS), sorted(SCAN_FIELDS - set(body))
    if unknown or missing:
        raise ApiError(400, "invalid_request", "the scan has missing or unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown]
                       + [{"field": k, "message": "is required"} for k in missing])
    if body["device_id"] != device["id"]:
        raise ApiError(403, "forbidden", f"this token belongs to device {device['id']}, "
                       f"not {body['device_id']!r}")
    if not isinstance(body["household"], str):
        raise query.invalid("household", "household is the token read from the card")
    return checked_token(body["household"])


def record_scan(store, device: dict, household: str, now) -> dict:
    at = now.isoformat()
    forget = (now - timedelta(seconds=SCAN_SECONDS)).isoformat()
    scan_id = store.add_scan(device["station_id"], household, at, forget)
    return {"scan": scan_id, "station_id": device["station_id"], "expires_in": SCAN_SECONDS}


def fresh_since(now) -> str:
    """Scans made before this are no longer shown."""
    return (now - timedelta(seconds=SCAN_SECONDS)).isoformat()
