"""Station-level reads and the volunteer's feedback, for logged-in people."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from .. import get_store, query
from ..access import correctable_event, readable_event, readable_station, require_scope
from ..agreement import station_agreement
from ..auth import login_required
from ..cases import camera_finding
from ..errors import ApiError
from ..feedback import change_for, parse_feedback
from ..scopes import CITY
from ..stations import station_health
from ..store.events import CURSOR_MAX
from ..timeutil import beijing, now_utc
from .events import json_body

bp = Blueprint("stations", __name__, url_prefix="/api/v1")


def visible_station(store, station_id: str) -> dict:
    """The station, if the logged-in user may read it (server/access.py)."""
    return readable_station(store, g.user, station_id)


def visible_event(store, event_id: str) -> dict:
    return readable_event(store, g.user, event_id)


def public_event(ev: dict) -> dict:
    keep = ("event_id", "type", "ts", "station_id", "bin", "item", "category", "verdict",
            "confidence", "assisted", "corrected_item", "original_item", "original_verdict",
            "model", "rules")
    out = {k: ev.get(k) for k in keep}
    out["assisted"] = bool(out["assisted"])
    if "cursor" in ev:
        out["cursor"] = ev["cursor"]
    out["evidence_url"] = (f"/api/v1/events/{ev['event_id']}/evidence"
                           if ev.get("has_evidence") else None)
    return out


@bp.get("/stations/<station_id>/agreement")
@login_required
def agreement(station_id: str):
    """Whether the station's camera agrees with its inspectors and audits."""
    store = get_store()
    station = visible_station(store, station_id)
    period = query.period(request.args)
    return station_agreement(store, station["id"], period, station["community_code"])


@bp.post("/events/<event_id>/feedback")
@login_required
def feedback(event_id: str):
    store = get_store()
    event = correctable_event(store, g.user, event_id)
    body = parse_feedback(json_body())
    settings = current_app.config["SETTINGS"]
    updated = store.apply_feedback(event["event_id"], change_for(body), g.user["username"],
                                   now_utc().isoformat(),
                                   lambda corrected, disposals: camera_finding(corrected, disposals, settings))
    return public_event(updated)


@bp.get("/events/<event_id>/evidence")
@login_required
def get_evidence(event_id: str):
    store = get_store()
    event = visible_event(store, event_id)
    jpeg = store.evidence(event["event_id"])
    if jpeg is None:
        raise ApiError(404, "not_found", "this event has no evidence image")
    return Response(jpeg, mimetype="image/jpeg",
                    headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/stations/<station_id>/events")
@login_required
def station_events(station_id: str):
    store = get_store()
    station = visible_station(store, station_id)
    try:
        after = int(request.args.get("after", "0"))
        limit = min(200, max(1, int(request.args.get("limit", "50"))))
        if not 0 <= after <= CURSOR_MAX:
            raise ValueError
    except ValueError:
        raise ApiError(400, "invalid_request",
                       "after is an integer cursor from 0 to 2^63-1, limit an integer") from None
    events = store.events_after(station["id"], after, limit)  # a range on events_station
    return {"station_id": station["id"], "events": [public_event(e) for e in events],
            "cursor": events[-1]["cursor"] if events else after}


@bp.get("/stations/<station_id>/today")
@login_required
def station_today(station_id: str):
    store = get_store()
    station = visible_station(store, station_id)
    day = beijing(now_utc()).date().isoformat()
    return {"station_id": station["id"], "day": day, **store.station_day_counts(station["id"], day)}


@bp.get("/stations/health")
@login_required
def health():
    code = query.within(request.args)
    require_scope(g.user, code)
    interval = current_app.config["SETTINGS"].heartbeat_interval
    return {"within": None if code == CITY else code,
            "stations": station_health(get_store(), code, interval)}
