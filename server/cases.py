"""Cases (工单): what a station's finding becomes until someone closes it
(docs/design.md §10). The state machine, the levels and the rules for
opening one live here; the store keeps them (server/store/cases.py).

    open ──▶ dispatched ──▶ resolved ──▶ closed
      │          │
      └──────────┴──▶ false_alarm (误报)

A case opens for the station's community on an overflowing bin, litter on
the ground, a station offline too long, or a camera its volunteer keeps
correcting. The station's own end event (the bin emptied, the ground
cleaned) and its next heartbeat (offline) resolve the case by themselves.
"""
from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .errors import ApiError

KINDS = ("overflow", "litter", "offline", "camera")
STATES = ("open", "dispatched", "resolved", "closed", "false_alarm")
UNRESOLVED = ("open", "dispatched")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("dispatched", "resolved", "false_alarm"),
    "dispatched": ("resolved", "false_alarm"),
    "resolved": ("closed",),
    "closed": (),
    "false_alarm": (),
}
# A closed case was either put right (done) or found badly managed (管理不规范).
OUTCOMES = ("done", "mismanaged")
# Levels: by age (滞留 after the first age, 超级滞留 after the second) and by
# a street's or a district's 督办. A level never goes down.
LEVELS = ("new", "overdue", "long_overdue", "street_supervised", "district_supervised")
SUPERVISION_LEVEL = {"street": 3, "district": 4, "city": 4}
# What each event state means for cases: (kind it opens, kind it resolves).
EVENT_STATES = {("bin_full", "overflow"): ("overflow", None), ("bin_full", "full"): (None, None),
                ("bin_full", "ok"): (None, "overflow"), ("litter", "litter"): ("litter", None),
                ("litter", "clean"): (None, "litter")}
NOTE_MAX, ASSIGNEE_MAX = 500, 40
TRANSITION_FIELDS = {"to", "note", "assignee", "outcome"}
# An assignee is a role or a team (物业, 保洁, 3号楼保洁员), never a person's
# contact: a run of 7 or more digits (a phone number) is refused.
_PHONE_LIKE = re.compile(r"[0-9０-９]{7,}")


def utc_iso(ts: datetime) -> str:
    """The form every case time is stored in (comparable as text)."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


def open_key(kind: str, station_id: str, bin_: str | None = None) -> str:
    """One unresolved case per station and kind (and bin, for an overflow)."""
    return f"{station_id}|{kind}|{bin_ or ''}"


def age_level(opened_at: str, now: datetime, settings) -> int:
    age = now - datetime.fromisoformat(opened_at)
    if age >= timedelta(minutes=settings.case_long_overdue_minutes):
        return 2
    if age >= timedelta(minutes=settings.case_overdue_minutes):
        return 1
    return 0


def current_level(case: dict, now: datetime, settings) -> int:
    """The stored level, raised by the age the case reached unresolved (now,
    or when it was resolved or closed), so that a read is right even between
    two runs of check-stations."""
    until = case["resolved_at"] or case["closed_at"]
    return max(case["level"], age_level(case["opened_at"],
                                        datetime.fromisoformat(until) if until else now, settings))


def resolve_seconds(case: dict) -> float | None:
    if case["resolved_at"] is None:
        return None
    return (datetime.fromisoformat(case["resolved_at"])
            - datetime.fromisoformat(case["opened_at"])).total_seconds()


def case_json(case: dict, level: int | None = None) -> dict:
    """A case as the API, the webhooks and the exports give it."""
    level = case["level"] if level is None else level
    return {"id": case["id"], "kind": case["kind"], "station_id": case["station_id"],
            "community_code": case["community_code"], "bin": case["bin"],
            "evidence_event_id": case["event_id"], "detail": case["detail"],
            "opened_at": case["opened_at"], "state": case["state"], "level": level,
            "level_name": LEVELS[level], "assignee": case["assignee"],
            "resolved_at": case["resolved_at"], "closed_at": case["closed_at"],
            "outcome": case["outcome"], "note": case["note"],
            "resolve_seconds": resolve_seconds(case), "updated_at": case["updated_at"]}


def public_case(case: dict, now: datetime, settings) -> dict:
    level = current_level(case, now, settings)
    out = case_json(case, level)
    out["age_seconds"] = round((now - datetime.fromisoformat(case["opened_at"])).total_seconds())
    return out


def history_json(row: dict) -> dict:
    return {"at": row["at"], "action": row["action"], "from": row["from_state"],
            "to": row["to_state"], "level": row["level"], "by": row["by_name"],
            "role": row["by_role"], "note": row["note"], "event_id": row["event_id"]}


# --- requests ----------------------------------------------------------------------

def _bad(field: str, message: str, detail: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, [{"field": field, "message": detail or message}])


def _text(body: dict, field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise _bad(field, f"{field} is at most {limit} characters")
    return value


def parse_transition(body) -> dict:
    """{"to": STATE, "note": ..., "assignee": ..., "outcome": ...}; raises ApiError(400)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", 'send {"to": "<state>", "note": "..."}')
    unknown = sorted(set(body) - TRANSITION_FIELDS)
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise _bad("to", "say which state the case goes to", "is required")
    out = {"to": to, "note": _text(body, "note", NOTE_MAX) or ""}
    assignee = _text(body, "assignee", ASSIGNEE_MAX)
    if assignee is not None:
        if to != "dispatched":
            raise _bad("assignee", "an assignee goes with to=dispatched")
        if _PHONE_LIKE.search(assignee):
            raise _bad("assignee", "name a role or a team (物业, 保洁), not a phone number",
                       "must not hold a phone number")
        out["assignee"] = assignee
    outcome = body.get("outcome")
    if outcome is not None:
        if to != "closed":
            raise _bad("outcome", "an outcome goes with to=closed")
        if outcome not in OUTCOMES:
            raise _bad("outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        out["outcome"] = outcome
    return out


def parse_escalation(body) -> str:
    """{"note": ...}: the note of a 督办."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", 'send {"note": "..."}')
    unknown = sorted(set(body) - {"note"})
    if unknown:
        raise ApiError(400, "invalid_request", "unknown fields",
                       [{"field": k, "message": "unknown field"} for k in unknown])
    return _text(body, "note", NOTE_MAX) or ""


def transition_change(request: dict, allowed_for) -> Callable:
    """The store's `change(case) -> (updates, history)` for a transition.
    `allowed_for(case, to)` raises when this user may not make it."""
    def change(case: dict, now: str):
        to, state = request["to"], case["state"]
        allowed = TRANSITIONS[state]
        if to not in allowed:
            raise ApiError(400, "invalid_transition",
                           f"a case that is {state} can go to: {', '.join(allowed) or 'nothing (it is final)'}",
                           [{"field": "to", "message": f"one of {', '.join(allowed)}" if allowed
                             else "no transition is allowed"}])
        allowed_for(case, to)
        updates = {"state": to}
        if to == "dispatched":
            updates["assignee"] = request.get("assignee", case["assignee"])
        if to == "resolved":
            updates.update(resolved_at=now, open_key=None)
        if to == "false_alarm":
            updates.update(closed_at=now, outcome="false_alarm", open_key=None, note=request["note"])
        if to == "closed":
            updates.update(closed_at=now, outcome=request.get("outcome", "done"), note=request["note"])
        return updates, {"action": to, "note": request["note"]}
    return change


def escalation_change(note: str, role: str) -> Callable:
    def change(case: dict, now: str):
        if case["state"] not in UNRESOLVED:
            raise ApiError(400, "invalid_transition",
                           f"a case that is {case['state']} is no longer supervised; "
                           "督办 applies to open and dispatched cases",
                           [{"field": "state", "message": "must be open or dispatched"}])
        level = max(case["level"], SUPERVISION_LEVEL[role])
        return {"level": level}, {"action": "supervised", "note": note}
    return change


# --- opening from corrections ---------------------------------------------------

def camera_finding(corrected: int, disposals: int, settings) -> str | None:
    """The detail of a camera case when the day's corrections reach the
    thresholds, else None."""
    if corrected >= settings.case_corrections and disposals and \
            corrected / disposals >= settings.case_correction_share:
        return f"volunteers corrected {corrected} of {disposals} disposals today"
    return None


# --- figures ---------------------------------------------------------------------

def management_rate(resolved: int, counted: int, target: float) -> dict:
    """Station management (桶站管理) as a rate beside the three: 整改率, the
    share of the period's cases (false alarms left out) that were resolved.
    No case in the period is no data, not 100 %."""
    value = resolved / counted if counted else None
    return {"value": value, "numerator": resolved, "denominator": counted, "target": target,
            "met": None if value is None else value >= target}


def _percentile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between order statistics."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summary(cases: list[dict], overflows: list[dict], start: datetime, end: datetime,
            now: datetime) -> dict:
    """Figures over the cases opened in [start, end): by kind, 整改率
    (resolved ÷ opened, where resolved counts every case that reached
    resolved, including those closed since; false alarms are left out of
    both sides), the median and 90th percentile time to resolve; and from
    the overflow cases that overlap the period, the hours each station's
    bins overflowed within it (until resolved, or until now)."""
    kinds = {k: {"opened": 0, "resolved": 0, "false_alarm": 0, "unresolved": 0} for k in KINDS}
    times: list[float] = []
    overflow: dict[str, float] = {}
    for c in cases:
        k = kinds[c["kind"]]
        k["opened"] += 1
        if c["state"] == "false_alarm":
            k["false_alarm"] += 1
        elif c["resolved_at"] is not None:
            k["resolved"] += 1
            times.append(resolve_seconds(c))
        else:
            k["unresolved"] += 1
    for c in overflows:
        if c["state"] != "false_alarm":
            lo = max(datetime.fromisoformat(c["opened_at"]), start)
            hi = min(datetime.fromisoformat(c["resolved_at"]) if c["resolved_at"] else now, end)
            if hi > lo:
                overflow[c["station_id"]] = overflow.get(c["station_id"], 0) + \
                    (hi - lo).total_seconds() / 3600
    opened = sum(k["opened"] - k["false_alarm"] for k in kinds.values())
    resolved = sum(k["resolved"] for k in kinds.values())
    times.sort()
    return {"by_kind": kinds, "opened": opened + sum(k["false_alarm"] for k in kinds.values()),
            "false_alarms": sum(k["false_alarm"] for k in kinds.values()),
            "resolved": resolved,
            "rectification_rate": resolved / opened if opened else None,
            "resolve_seconds": {"median": _percentile(times, 0.5), "p90": _percentile(times, 0.9),
                                "count": len(times)},
            "overflow_hours": [{"station_id": s, "hours": round(h, 2)}
                               for s, h in sorted(overflow.items(), key=lambda x: (-x[1], x[0]))]}


# --- the periodic check ------------------------------------------------------------

def check_stations(store, settings, now: datetime) -> dict:
    """Open an offline case for every station silent longer than
    case_offline_minutes (opened when the silence passed that limit), and
    store the age escalations of unresolved cases, each with its history
    and webhook deliveries. Run from cron (`flask check-stations`)."""
    limit = timedelta(minutes=settings.case_offline_minutes)
    opened = 0
    for s in store.stations_silent_since((now - limit).isoformat()):
        last = datetime.fromisoformat(s["last_heartbeat"])
        detail = f"no heartbeat since {utc_iso(last)}"
        if store.open_case("offline", s, utc_iso(last + limit), utc_iso(now), detail) is not None:
            opened += 1
    camera = open_camera_checks(store, now)
    levels = {}
    for c in store.unresolved_cases():
        level = age_level(c["opened_at"], now, settings)
        if level > c["level"]:
            levels[c["id"]] = level
    return {"offline_opened": opened, "camera_opened": camera,
            "escalated": store.raise_levels(levels, utc_iso(now))}


def open_camera_checks(store, now: datetime) -> int:
    """A "camera check" case for every station whose camera this month
    disagrees with its inspectors beyond both intervals (server/agreement.py,
    the same test as the dashboards' flag). Returns the cases opened."""
    from .agreement import window_agreement
    from .scopes import CITY
    from .timeutil import beijing, make_period
    month = make_period(beijing(now).strftime("%Y-%m"))
    by_station: dict[str, list[dict]] = {}
    for r in store.inspections(CITY, month.start.isoformat(), month.end.isoformat()):
        by_station.setdefault(r["station_id"], []).append(r)
    opened = 0
    for station_id, records in sorted(by_station.items()):
        found = window_agreement(store, records)
        if not found["disagrees"]:
            continue
        i, c = found["inspected"], found["camera"]
        detail = (f"camera {c['value']:.0%} against the inspectors' {i['value']:.0%} over "
                  f"{found['inspections']} inspections this month (95% intervals apart)")
        if store.open_case("camera", store.station(station_id), utc_iso(now), utc_iso(now), detail) is not None:
            opened += 1
    return opened
