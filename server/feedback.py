"""A volunteer's word on a disposal (docs/design.md §1): "I helped"
takes it out of self-directed accuracy; "the camera was wrong" replaces the
item and judges the bin again under the event's rule set (shipped, or published in the registry)."""
from __future__ import annotations

from .artifacts import rules_for
from .errors import ApiError

FIELDS = {"assisted", "camera_wrong", "item"}


def parse_feedback(body) -> dict:
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "invalid_request",
                       'send {"assisted": true} or {"camera_wrong": true, "item": "..."}')
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    if "assisted" in body and not isinstance(body["assisted"], bool):
        raise ApiError(400, "invalid_request", "assisted must be true or false",
                       [{"field": "assisted", "message": "must be true or false"}])
    if body.get("camera_wrong") is not None and body.get("camera_wrong") is not True:
        raise ApiError(400, "invalid_request", "camera_wrong can only be true",
                       [{"field": "camera_wrong", "message": "must be true"}])
    if body.get("camera_wrong") and not isinstance(body.get("item"), str):
        raise ApiError(400, "invalid_request", "say which item it really was",
                       [{"field": "item", "message": "is required with camera_wrong"}])
    if "item" in body and not body.get("camera_wrong"):
        raise ApiError(400, "invalid_request", "item goes with camera_wrong",
                       [{"field": "item", "message": "only with camera_wrong: true"}])
    return body


def change_for(body: dict):
    """The store's `change(event) -> new values` for this feedback."""
    def change(event: dict) -> dict:
        out = {}
        if "assisted" in body:
            out["assisted"] = body["assisted"]
        if body.get("camera_wrong"):
            rules = rules_for(event["rules"])
            item = body["item"]
            if item not in rules.items:
                raise ApiError(400, "invalid_request", f"{item!r} is not an item of {rules.tag}",
                               [{"field": "item", "message": f"one of {', '.join(rules.items)}"}])
            out.update(item=item, category=rules.category(item),
                       verdict="correct" if rules.accepts(item, event["bin"]) else "wrong")
        return out
    return change
