"""Learning samples: the device's upload (PUT /api/v1/events/<id>/sample)
and the labellers' queue, images and labels (server/samples.py)."""
from __future__ import annotations

import re

from flask import Blueprint, Response, g, request

from contract.limits import EVENT_ID_PATTERN, MAX_SAMPLE_BYTES

from .. import get_store, jsonbody
from ..access import labellable_sample, labelling_scope
from ..auth import authenticate_device, login_required
from ..errors import ApiError
from ..samples import check_label, label_choices, parse_sample
from ..timeutil import now_utc
from .events import json_body

bp = Blueprint("samples", __name__, url_prefix="/api/v1")


@bp.put("/events/<event_id>/sample")
def put_sample(event_id: str):
    store = get_store()
    device = authenticate_device(store)
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    if (request.content_length or 0) > MAX_SAMPLE_BYTES:
        raise ApiError(413, "too_large", f"a sample is at most {MAX_SAMPLE_BYTES} bytes")
    data = request.get_data(cache=False)
    if len(data) > MAX_SAMPLE_BYTES:
        raise ApiError(413, "too_large", f"a sample is at most {MAX_SAMPLE_BYTES} bytes")
    try:
        body = jsonbody.parse(data)
    except jsonbody.BodyError as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if isinstance(body, dict) and body.get("station_id") != device["station_id"]:
        # Checked before anything else is said about the event: no probing of other stations.
        raise ApiError(403, "forbidden", "a device may only send samples of its own station")
    event = store.event(event_id.lower())
    if event is None:
        raise ApiError(404, "not_found", f"no event {event_id}; send the event before its sample")
    record, label = parse_sample(body, device, event, now_utc().isoformat())
    created = store.put_sample(record, label)
    stored = store.sample(record["event_id"])
    return {"event_id": record["event_id"], "labelled": stored["label"] is not None}, 201 if created else 200


def public_sample(s: dict) -> dict:
    keep = ("event_id", "station_id", "ts", "model", "rules", "item", "verdict", "confidence",
            "rejection_score", "uncertainty", "probs", "label", "label_role", "label_by", "label_at")
    out = {k: s.get(k) for k in keep}
    out["image_url"] = f"/api/v1/samples/{s['event_id']}/image" if s.get("has_image") else None
    if "history" in s:
        out["history"] = s["history"]
    return out


def _skip(raw: str | None) -> tuple:
    ids = tuple(x.strip().lower() for x in (raw or "").split(",") if x.strip())[:200]
    if any(not re.fullmatch(EVENT_ID_PATTERN, x) for x in ids):
        raise ApiError(400, "invalid_request", "skip is a comma-separated list of event ids")
    return ids


@bp.get("/samples")
@login_required
def samples():
    store = get_store()
    scope = labelling_scope(g.user)
    state = request.args.get("state", "queue")
    try:
        limit = min(200, max(1, int(request.args.get("limit", "50"))))
    except ValueError:
        raise ApiError(400, "invalid_request", "limit is an integer") from None
    if state == "queue":
        rows = store.sample_queue(scope, limit, _skip(request.args.get("skip")))
    elif state == "labelled":
        rows = store.labelled_samples(scope, limit)
    else:
        raise ApiError(400, "invalid_request", "state is queue or labelled")
    tag = rows[0]["rules"] if rows else None
    return {"samples": [public_sample(s) for s in rows], "labels": label_choices(tag),
            "counts": store.sample_counts(scope)}


@bp.get("/samples/<event_id>")
@login_required
def sample(event_id: str):
    s = labellable_sample(get_store(), g.user, event_id)
    return dict(public_sample(s), labels=label_choices(s["rules"]))


@bp.get("/samples/<event_id>/image")
@login_required
def sample_image(event_id: str):
    store = get_store()
    s = labellable_sample(store, g.user, event_id)
    jpeg = store.sample_image(s["event_id"])
    if jpeg is None:
        raise ApiError(404, "not_found", "this sample's image is past its retention")
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@bp.post("/samples/<event_id>/label")
@login_required
def label(event_id: str):
    store = get_store()
    s = labellable_sample(store, g.user, event_id)
    value = check_label(json_body(), s["rules"])
    updated = store.label_sample(s["event_id"], value, g.user["role"], g.user["username"], now_utc().isoformat())
    return public_sample(updated)
