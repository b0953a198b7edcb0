"""From a device's request body to events ready to store (docs/design.md §5).

Each event is judged on its own; the valid ones go to the store together."""
from __future__ import annotations

from datetime import datetime, timedelta

from contract.limits import MAX_EVENTS
from contract.rules import known_rule_sets

from .artifacts import app_registry
from .contract.validate import event_errors
from .errors import ApiError
from .households import household_errors
from .timeutil import beijing

BATCH_KEYS = {"device_id", "events"}
# A bin_full or litter event without a state (contract v1 before states) reports the finding's start.
DEFAULT_STATE = {"bin_full": "overflow", "litter": "litter"}


def check_batch(body, device: dict) -> list:
    """Whole-request checks; raises ApiError. Returns the events list."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object "
                       '{"device_id": ..., "events": [...]}')
    unknown = sorted(set(body) - BATCH_KEYS)
    missing = sorted(BATCH_KEYS - set(body))
    details = ([{"field": k, "message": "unknown field"} for k in unknown]
               + [{"field": k, "message": "is required"} for k in missing])
    if details:
        raise ApiError(400, "invalid_request", "the batch has missing or unknown fields", details)
    if body["device_id"] != device["id"]:
        raise ApiError(403, "forbidden", f"this token belongs to device {device['id']}, "
                       f"not {body['device_id']!r}")
    events = body["events"]
    if not isinstance(events, list):
        raise ApiError(400, "invalid_request", "events must be a list",
                       [{"field": "events", "message": "must be a list"}])
    if len(events) > MAX_EVENTS:
        raise ApiError(413, "too_many_events",
                       f"at most {MAX_EVENTS} events per request, got {len(events)}; split the batch")
    return events


def window_minutes(windows: list) -> list[tuple[int, int]]:
    """[["07:00", "09:00"], ...] as minutes of the day."""
    def minutes(hhmm: str) -> int:
        return int(hhmm[:2]) * 60 + int(hhmm[3:])
    return [(minutes(a), minutes(b)) for a, b in windows]


def in_windows(local: datetime, windows: list[tuple[int, int]]) -> bool:
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in windows)


def unicode_errors(ev: dict) -> list[dict]:
    """Strings must be well-formed Unicode: JSON lets a lone surrogate
    ("\\ud800") through, and the store cannot encode one."""
    def well_formed(value) -> bool:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return [{"field": name, "message": "is not well-formed Unicode (a lone surrogate)"}
            for name, value in ev.items() if isinstance(value, str) and not well_formed(value)]


def judgement_errors(ev: dict) -> list[dict]:
    """A disposal names a rule set the server ships (NAME@VERSION of a file in
    models/rules/) or one published in its registry, and its item and category
    belong to that rule set."""
    if ev["type"] != "disposal":
        return []
    known = known_rule_sets()
    rules = known.get(ev["rules"]) or app_registry().rule_set(ev["rules"])
    if rules is None:
        return [{"field": "rules", "message": "is not a rule set this server knows; "
                 f"known: {', '.join(sorted(known))}"}]
    if ev["item"] not in rules.item_rules:
        return [{"field": "item", "message": f"is not an item of rule set {rules.tag}"}]
    if ev["category"] != rules.category(ev["item"]):
        return [{"field": "category", "message":
                 f"{ev['item']} is {rules.category(ev['item'])} under rule set {rules.tag}"}]
    return []


class Preparer:
    """Validates events for one device and adds the columns the store keeps."""

    def __init__(self, store, device: dict, now: datetime, settings):
        self.store, self.device, self.now = store, device, now
        self.latest = now + timedelta(seconds=settings.max_future_seconds)
        self.earliest = now - timedelta(days=settings.event_retention_days)
        self.received_at = now.isoformat()
        self.stations: dict[str, dict | None] = {}

    def _station(self, station_id: str) -> dict | None:
        if station_id not in self.stations:
            station = self.store.station(station_id)
            if station is not None:
                station["windows"] = window_minutes(station["staffed_windows"])
            self.stations[station_id] = station
        return self.stations[station_id]


    def prepare(self, ev) -> tuple[dict | None, list[dict]]:
        errors = event_errors(ev) or unicode_errors(ev) or judgement_errors(ev) or household_errors(ev)
        if errors:
            return None, errors
        try:
            # the validator has checked the shape; this checks the calendar
            ts = datetime.fromisoformat(ev["ts"].replace("Z", "+00:00"))
        except ValueError:
            return None, [{"field": "ts", "message": "is not a real date and time"}]
        if ts > self.latest:
            errors.append({"field": "ts", "message": "is in the future; check the device clock"})
        elif ts < self.earliest:
            errors.append({"field": "ts", "message": "is older than the server keeps raw events"})
        station = self._station(ev["station_id"])
        if station is None:
            errors.append({"field": "station_id", "message": f"unknown station {ev['station_id']}"})
        elif station["id"] != self.device["station_id"]:
            errors.append({"field": "station_id", "message":
                           f"device {self.device['id']} may only post for station "
                           f"{self.device['station_id']}"})
        elif ev["bin"] not in station["bins"]:
            errors.append({"field": "bin", "message":
                           f"station {station['id']} has no {ev['bin']} bin"})
        if errors:
            return None, errors
        local = beijing(ts)
        day = local.date()
        disposal = ev["type"] == "disposal"
        return {
            "event_id": ev["event_id"].lower(),
            "type": ev["type"],
            "ts": ev["ts"],
            "day": day.isoformat(),
            "hour": local.hour,
            "station_id": station["id"],
            "community_code": station["community_code"],
            "device_id": self.device["id"],
            "bin": ev["bin"],
            "item": ev.get("item"),
            "category": ev.get("category"),
            "verdict": ev.get("verdict"),
            "confidence": ev.get("confidence"),
            "household": ev.get("household"),
            "assisted": bool(ev.get("assisted", False)) if disposal else False,
            "staffed": int(in_windows(local, station["windows"])),
            "model": ev.get("model"),
            "rules": ev.get("rules"),
            "state": None if disposal else ev.get("state") or DEFAULT_STATE[ev["type"]],
            "received_at": self.received_at,
            "_household_reader": station["household_reader"],
        }, []
