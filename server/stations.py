"""Station health for managers (docs/design.md §1, §4.7) and a station's day."""
from __future__ import annotations

from datetime import datetime, timedelta

from .agreement import window_agreement
from .timeutil import beijing, make_period, now_utc

OFFLINE_AFTER_HEARTBEATS = 3
# A reader station that judged this many disposals in a whole day without one
# household token has a reader problem, not a community that took no part.
READER_SILENT_DISPOSALS = 10


def _reader_silent(day: tuple[int, int] | None) -> bool:
    disposals, with_token = day or (0, 0)
    return disposals >= READER_SILENT_DISPOSALS and with_token == 0


def station_health(store, scope: str, heartbeat_interval: int, now: datetime | None = None) -> list[dict]:
    """Per station: online or offline since when, last heartbeat, events today,
    dead letters, model and rule versions, overflow and litter reports today,
    whether its household reader stayed silent through yesterday, and
    whether its camera disagrees with this month's inspectors."""
    now = now or now_utc()
    today = beijing(now).date().isoformat()
    totals = store.station_day_totals(scope, today)
    yesterday = (beijing(now).date() - timedelta(days=1)).isoformat()
    readers = store.reader_day_counts(scope, yesterday)
    month = make_period(beijing(now).strftime("%Y-%m"))
    checked: dict[str, list[dict]] = {}
    for r in store.inspections(scope, month.start.isoformat(), month.end.isoformat()):
        checked.setdefault(r["station_id"], []).append(r)
    limit = timedelta(seconds=OFFLINE_AFTER_HEARTBEATS * heartbeat_interval)
    out = []
    for st in store.stations_in(scope):
        last = st["last_heartbeat"]
        health = st["health"] or {}
        online = last is not None and now - datetime.fromisoformat(last) <= limit
        day = totals.get(st["id"], {})
        out.append({
            "station_id": st["id"], "name": st["name"],
            "community_code": st["community_code"], "community": st["community"],
            "online": online,
            "offline_since": None if online else last,   # None with online=False: never seen
            "last_heartbeat": last,
            "camera": health.get("camera"),
            "events_today": day.get("disposals", 0) or 0,
            "wrong_today": day.get("wrong", 0) or 0,
            "bin_full_today": day.get("bin_full", 0) or 0,
            "litter_today": day.get("litter", 0) or 0,
            "dead_letters": health.get("dead_letters"),
            "pending_events": health.get("pending_events"),
            "model": health.get("model"), "rules": health.get("rules"),
            "reader_silent": _reader_silent(readers.get(st["id"])),
            # this month's inspectors and the camera over their windows disagree
            "camera_disagrees": bool(st["id"] in checked and
                                     window_agreement(store, checked[st["id"]])["disagrees"]),
        })
    return out
