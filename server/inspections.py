"""The inspectors' method and the audits the camera is checked against
(docs/design.md, "Trusting the numbers"): reading a 查N错M record or an audit
from a request, and what a scope's accuracy gains beside the camera's value.
Pure except for the store reads in `accuracy_checks` and
`add_accuracy_checks`, and the registry's rule sets (`rules_for`)."""
from __future__ import annotations

from datetime import UTC, timedelta

from .artifacts import rules_for
from .correction import TRUTHS, Audits, corrected_accuracies
from .errors import ApiError
from .rates import ratio, wilson_interval
from .scopes import LEVEL_LENGTHS
from .timeutil import Period, beijing, parse_ts

INSPECTION_FIELDS = {"station_id", "start", "end", "checked", "wrong", "note"}
MAX_NOTE = 500
MAX_CHECKED = 100_000          # far more than one inspector can watch in a sitting
MAX_DURATION = timedelta(hours=24)
CLOCK_SLACK = timedelta(minutes=5)   # a phone's clock a little ahead is not "the future"
AUDIT_FIELDS = {"truth", "item"}


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", message, [{"field": field, "message": message}])


def _count(body: dict, field: str) -> int:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CHECKED:
        raise _invalid(field, f"{field} must be a whole number from 0 to {MAX_CHECKED}")
    return value


def parse_inspection(body, now) -> dict:
    """The record of `POST /api/v1/inspections`, checked; raises ApiError(400)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "send an object: station_id, start, end, checked, wrong, note")
    unknown = sorted(set(body) - INSPECTION_FIELDS)
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    if not isinstance(body.get("station_id"), str) or not body["station_id"]:
        raise _invalid("station_id", "station_id is required")
    times = {}
    for field in ("start", "end"):
        try:
            times[field] = parse_ts(body.get(field))
        except ValueError as exc:
            raise _invalid(field, f"{field} {exc}") from None
    if times["end"] <= times["start"]:
        raise _invalid("end", "end must be after start")
    if times["end"] - times["start"] > MAX_DURATION:
        raise _invalid("end", "an inspection lasts at most 24 hours")
    if times["end"] > now + CLOCK_SLACK:
        raise _invalid("end", "end is in the future")
    checked, wrong = _count(body, "checked"), _count(body, "wrong")
    if wrong > checked:
        raise _invalid("wrong", "wrong cannot be more than checked")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise _invalid("note", f"note must be text of at most {MAX_NOTE} characters")
    return {"station_id": body["station_id"], "start_ts": body["start"], "end_ts": body["end"],
            "start_utc": times["start"].astimezone(UTC).isoformat(),
            "end_utc": times["end"].astimezone(UTC).isoformat(),
            "day": beijing(times["start"]).date().isoformat(),
            "checked": checked, "wrong": wrong, "note": note}


def public_inspection(record: dict) -> dict:
    checked, wrong = record["checked"], record["wrong"]
    return {"id": record["id"], "station_id": record["station_id"], "start": record["start_ts"],
            "end": record["end_ts"], "checked": checked, "wrong": wrong, "note": record["note"],
            "accuracy": ratio(checked - wrong, checked), "inspector": record["username"],
            "recorded_at": record["created_at"]}


def parse_audit(body, event: dict) -> dict:
    """{"truth": "correct" | "wrong", "item"?} for one disposal; raises ApiError(400)."""
    if not isinstance(body, dict) or "truth" not in body:
        raise ApiError(400, "invalid_request", 'send {"truth": "correct"} or {"truth": "wrong", "item": "..."}')
    unknown = sorted(set(body) - AUDIT_FIELDS)
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    if body["truth"] not in TRUTHS:
        raise _invalid("truth", "truth must be correct or wrong")
    if event["type"] != "disposal":
        raise ApiError(400, "invalid_request", "audits apply to disposals only")
    item = body.get("item")
    if item is not None:
        rules = rules_for(event["rules"])
        if item not in rules.items:
            raise ApiError(400, "invalid_request", f"{item!r} is not an item of {rules.tag}",
                           [{"field": "item", "message": f"one of {', '.join(rules.items)}"}])
    camera = event["original_verdict"] if event.get("original_item") else event["verdict"]
    return {"event_id": event["event_id"], "station_id": event["station_id"],
            "community_code": event["community_code"], "day": event["day"],
            "model": event.get("model") or "", "camera": camera, "truth": body["truth"], "item": item}


NO_INSPECTIONS = {"inspections": 0, "checked": 0, "wrong": 0}


def inspected(totals: dict) -> dict | None:
    """The inspectors' accuracy (1 - wrong / checked) over a scope's inspections."""
    checked, wrong = totals["checked"], totals["wrong"]
    if not checked:
        return None
    return {"inspections": totals["inspections"], "checked": checked, "wrong": wrong,
            "value": round((checked - wrong) / checked, 4),
            "interval": [round(v, 4) for v in wilson_interval(checked - wrong, checked)]}


def _corrected(store, outputs: list[dict], settings) -> list[dict | None]:
    """The corrected accuracy of scopes given their camera outputs per model
    version ({model: {output: n}} each), in one bulk correction."""
    models = sorted({model for per in outputs for model in per})
    audits = {model: Audits(counts, model=model) for model, counts in store.audit_counts(models).items()}
    return corrected_accuracies([[(per[m], audits[m]) for m in sorted(per)] for per in outputs],
                                min_audits=settings.min_audits)


def accuracy_checks(store, code: str, period: Period, settings) -> dict:
    """What a scope's accuracy gains beside the camera's value: the
    inspectors' figure and the accuracy corrected for the camera's error."""
    totals = store.inspection_totals(code, period.start.isoformat(), period.end.isoformat())
    [corrected] = _corrected(store, [store.camera_outputs(code, period.kind, period.label)], settings)
    return {"inspected": inspected(totals), "corrected": corrected}


def add_accuracy_checks(store, reports: list[dict], level: str, within: str, period: Period,
                        settings) -> list[dict]:
    """accuracy_checks for every member report of `level` inside `within`
    (rankings, exports), read for all of them at once; the same figures as
    each member's own /api/v1/stats."""
    length = LEVEL_LENGTHS[level]
    totals = store.inspection_totals_many(length, within, period.start.isoformat(), period.end.isoformat())
    outputs = store.camera_outputs_many(length, within, period.kind, period.label)
    corrected = _corrected(store, [outputs.get(r["code"], {}) for r in reports], settings)
    for report, figure in zip(reports, corrected, strict=True):
        report["accuracy"].update(inspected=inspected(totals.get(report["code"], NO_INSPECTIONS)),
                                  corrected=figure)
    return reports
