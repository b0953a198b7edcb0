"""Learning samples (docs/design.md §12): checking what a station sends of an
uncertain or corrected disposal, and the labels people give them.

A sample is the crop the model judged (a small JPEG under the evidence
rules, checked like evidence before anything decodes it), the model's
embedding (float32) and its scores. Its item, verdict and model version are
those of the stored event, so a device cannot make them up. A label is an
item of the event's rule set, or NOT_WASTE ("not waste / not visible")."""
from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np
from jsonschema import Draft202012Validator

from contract.rules import RuleSetError, rule_set

from .artifacts import rules_for
from .contract import load
from .errors import ApiError
from .evidence import EvidenceRefused, check_evidence
from .store.samples import NOT_WASTE

_validator = Draft202012Validator(load("openapi.json")["components"]["schemas"]["LearningSampleUpload"])


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_request", f"{field} is not base64",
                       [{"field": field, "message": "not base64"}]) from None


def model_item(event: dict) -> tuple[str, str]:
    """The model's own item and verdict of an event (before any correction)."""
    if event.get("original_item") is not None:
        return event["original_item"], event["original_verdict"]
    return event["item"], event["verdict"]


def parse_sample(body, device: dict, event: dict, now: str) -> tuple[dict, dict | None]:
    """(the sample's row, the volunteer's label if the disposal was already
    corrected). Raises ApiError: 400 for a body or image that is not one,
    403 for another station's event."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "send a JSON object")
    errors = [{"field": "/".join(map(str, e.absolute_path)), "message": e.message}
              for e in _validator.iter_errors(body)]
    if errors:
        raise ApiError(400, "invalid_request", "the sample does not match the contract", errors)
    if body["station_id"] != device["station_id"] or event["station_id"] != device["station_id"]:
        raise ApiError(403, "forbidden", "a device may only send samples of its own station's events")
    if event["type"] != "disposal" or event.get("item") is None:
        raise ApiError(400, "invalid_request", "samples are of disposals")
    dims = body["dims"]
    raw = _b64(body["embedding"], "embedding")
    if len(raw) != 4 * dims:
        raise ApiError(400, "invalid_request", f"the embedding has {len(raw)} bytes, not {dims} float32",
                       [{"field": "embedding", "message": f"must be {4 * dims} bytes"}])
    embedding = np.frombuffer(raw, dtype="<f4")
    if not np.all(np.isfinite(embedding)):
        raise ApiError(400, "invalid_request", "the embedding holds a NaN or an infinity",
                       [{"field": "embedding", "message": "must be finite"}])
    score = body.get("rejection_score")
    if score is not None and not math.isfinite(score):
        raise ApiError(400, "invalid_request", "rejection_score must be finite")
    jpeg = _b64(body["crop"], "crop")
    try:
        check_evidence(jpeg)
    except EvidenceRefused as exc:
        raise ApiError(400, "invalid_image", str(exc)) from None
    item, verdict = model_item(event)
    record = {
        "event_id": event["event_id"], "station_id": event["station_id"],
        "community_code": event["community_code"], "device_id": device["id"], "ts": event["ts"],
        "model": event.get("model") or "", "rules": event.get("rules") or "", "item": item,
        "verdict": verdict, "confidence": float(body["confidence"]),
        "rejection_score": None if score is None else float(score),
        "uncertainty": round(1.0 - float(body["confidence"]), 6),
        "probs": json.dumps([round(float(p), 6) for p in body["probs"]]),
        "embedding": raw, "dims": dims, "jpeg": jpeg, "received_at": now,
    }
    label = None
    if event.get("original_item") is not None and event.get("feedback_by"):
        label = {"label": event["item"], "role": "volunteer", "username": event["feedback_by"],
                 "at": event["feedback_at"]}
    return record, label


def label_rules(tag: str | None):
    """The rule set a sample judged under `tag` is labelled with: the newest shipped version of that
    city's rules, which names every item the older one did and more (what the item is does not depend
    on the rules the station judged it by, and train-head learns the newest rule set's items)."""
    rules = rules_for(tag)
    try:
        newest = rule_set(rules.name)
    except RuleSetError:
        return rules
    return newest if set(rules.items) <= set(newest.items) else rules


def label_choices(tag: str | None) -> list[dict]:
    """The labels a sample of rule set `tag` may get: its items, then NOT_WASTE."""
    rules = label_rules(tag)
    out = [{"label": item, "zh": rules.item_name(item, "zh"), "en": rules.item_name(item, "en"),
            "category": rules.category(item)} for item in rules.items]
    out.append({"label": NOT_WASTE, "zh": "不是垃圾 / 看不清", "en": "not waste / not visible", "category": None})
    return out


def check_label(body, tag: str | None) -> str:
    """The label of a POST .../label body; 400 unless it is in the rule set (or NOT_WASTE)."""
    if not isinstance(body, dict) or set(body) != {"label"} or not isinstance(body["label"], str):
        raise ApiError(400, "invalid_request", 'send {"label": "<item>"}',
                       [{"field": "label", "message": "required, a string, and the only field"}])
    label = body["label"]
    rules = label_rules(tag)
    if label != NOT_WASTE and label not in rules.items:
        raise ApiError(400, "invalid_request", f"{label!r} is not an item of {rules.tag}",
                       [{"field": "label", "message": f"one of {', '.join(rules.items)}, or {NOT_WASTE}"}])
    return label
