"""Device endpoints of the wire contract: events, evidence, heartbeat."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, request
from jsonschema import Draft202012Validator

from contract.limits import MAX_EVIDENCE_BYTES

from .. import get_store, jsonbody
from ..auth import authenticate_device
from ..contract import load
from ..errors import ApiError
from ..evidence import EvidenceRefused, check_evidence
from ..ingest import Preparer, check_batch
from ..rollups import RollupDelta
from ..timeutil import beijing, now_utc, parse_ts

bp = Blueprint("events", __name__, url_prefix="/api/v1")

_heartbeat_validator = Draft202012Validator(load("heartbeat.schema.json"))


def json_body():
    """The request's JSON value, parsed strictly (server/jsonbody.py); a 400 otherwise."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        body = jsonbody.parse(request.get_data(cache=True))
    except jsonbody.BodyError as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if body is None:
        raise ApiError(400, "invalid_json", "the body is JSON null; send an object")
    return body


def _delta(new_events: list[dict]) -> RollupDelta:
    delta = RollupDelta()
    for ev in new_events:
        delta.add(ev, ev["_household_reader"])
    return delta


@bp.post("/events")
def post_events():
    store = get_store()
    device = authenticate_device(store)
    events = check_batch(json_body(), device)
    preparer = Preparer(store, device, now_utc(), current_app.config["SETTINGS"])
    valid, rejected = [], []
    for index, ev in enumerate(events):
        prepared, errors = preparer.prepare(ev)
        if errors:
            event_id = ev.get("event_id") if isinstance(ev, dict) else None
            rejected.append({"index": index,
                             "event_id": event_id if isinstance(event_id, str) else None,
                             "errors": errors})
        else:
            valid.append(prepared)
    new, duplicates = store.ingest(valid, _delta) if valid else ([], 0)
    return {"accepted": len(new), "duplicates": duplicates, "rejected": rejected}


@bp.put("/events/<event_id>/evidence")
def put_evidence(event_id: str):
    store = get_store()
    device = authenticate_device(store)
    if request.mimetype != "image/jpeg":
        raise ApiError(415, "unsupported_media_type", "evidence must be sent as image/jpeg")
    if (request.content_length or 0) > MAX_EVIDENCE_BYTES:
        raise ApiError(413, "too_large", f"evidence is at most {MAX_EVIDENCE_BYTES} bytes")
    data = request.get_data(cache=False)
    if len(data) > MAX_EVIDENCE_BYTES:
        raise ApiError(413, "too_large", f"evidence is at most {MAX_EVIDENCE_BYTES} bytes")
    if not data.startswith(b"\xff\xd8"):
        raise ApiError(415, "unsupported_media_type", "evidence must be a JPEG image")
    try:
        check_evidence(data)
    except EvidenceRefused as exc:
        raise ApiError(400, "invalid_image", str(exc)) from None
    event = store.event(event_id.lower())
    if event is None:
        raise ApiError(404, "not_found", f"no event {event_id}; send the event before its evidence")
    if event["station_id"] != device["station_id"]:
        raise ApiError(403, "forbidden", "a device may only send evidence for its own station's events")
    created = store.put_evidence(event["event_id"], data, now_utc().isoformat())
    return {"event_id": event["event_id"], "bytes": len(data)}, 201 if created else 200


@bp.post("/heartbeat")
def heartbeat():
    store = get_store()
    device = authenticate_device(store)
    body = json_body()
    errors = [{"field": "/".join(map(str, e.absolute_path)), "message": e.message}
              for e in _heartbeat_validator.iter_errors(body)]
    if not errors:
        try:
            parse_ts(body["ts"])
        except ValueError as exc:
            errors.append({"field": "ts", "message": str(exc)})
    if errors:
        raise ApiError(400, "invalid_request", "the heartbeat does not match the contract", errors)
    if body["device_id"] != device["id"]:
        raise ApiError(403, "forbidden", f"this token belongs to device {device['id']}")
    station = store.station(device["station_id"])
    now = now_utc()
    limit = 2 * current_app.config["SETTINGS"].heartbeat_interval

    def credit(previous: str | None) -> int:
        # A station is online between two heartbeats that are close enough;
        # after a longer gap it only gets the usual interval's worth.
        if previous is None:
            return 0
        gap = (now - datetime.fromisoformat(previous)).total_seconds()
        return int(max(0, min(gap, limit)))

    seconds = store.record_heartbeat(station, device["id"], now.isoformat(),
                                     beijing(now).date().isoformat(), body, credit)
    from ..canary import offer_for
    return {"status": "ok", "station_id": station["id"], "online_seconds_credited": seconds,
            "assigned": {"model": offer_for(store, "model", station), "rules": offer_for(store, "rules", station)},
            "corrected": _corrected(store, station["id"], now)}


CORRECTED_HOURS = 6


def _corrected(store, station_id: str, now) -> list[str]:
    """The station's disposals corrected by its volunteer in the last hours: a
    station that keeps learning samples sends theirs (edge/learning)."""
    from datetime import timedelta
    since = now - timedelta(hours=CORRECTED_HOURS)
    return store.corrected_since(station_id, (beijing(since) - timedelta(days=1)).date().isoformat(),
                                 since.isoformat())
