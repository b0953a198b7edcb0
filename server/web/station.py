"""The volunteer's tablet, /station/<id>, and its live stream.

The stream is server-sent events. One watcher thread per process (_Watcher)
asks the store every WEB_STREAM_POLL seconds (0.5), in one query, for the
latest event of every station that has a stream open in the process, and
wakes the streams of the stations that have a newer one; a woken stream reads
its new events. So the database sees one query per process and poll plus one
per new event's stream, not one per stream and poll, and an event stored by
any host reaches the tablets of every host within a poll. Should the watcher
stop answering (the database down), each stream polls for itself until it
answers again. A stream sends a comment every WEB_STREAM_HEARTBEAT seconds
(15) so that proxies keep the connection open, and ends after
WEB_STREAM_MAX_SECONDS (600); the browser then reconnects with Last-Event-ID
and misses nothing. Under gunicorn a stream also ends as soon as the tablet
hangs up (checked at every poll), so that a tablet that lost its network does
not hold a slot. Each open stream holds one server thread, so a process
serves at most WEB_STREAM_SLOTS streams at once (gunicorn.conf.py sets it
below the thread count, keeping threads free for ingest and pages); beyond
that a stream is refused with 503 and the tablet retries."""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for

from .. import get_store
from .. import store as store_pkg
from ..access import may_audit, may_correct, may_look_up_households, readable_station
from ..scans import fresh_since
from ..store.events import CURSOR_MAX
from ..timeutil import beijing, now_utc
from . import i18n
from .common import BIN_COLOURS, login_page, rules_for, setup_blueprint

bp = Blueprint("web_station", __name__, template_folder="templates")
setup_blueprint(bp)

DEFAULTS = {"WEB_STREAM_POLL": 0.5, "WEB_STREAM_HEARTBEAT": 15.0,
            "WEB_STREAM_MAX_SECONDS": 600.0, "WEB_STREAM_SLOTS": 64,
            "WEB_STREAM_RETRY_MS": 1500}
RECENT = 8

_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}
log = logging.getLogger(__name__)


def _setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])


def _slot_pool() -> threading.BoundedSemaphore:
    size = int(_setting("WEB_STREAM_SLOTS"))
    with _slots_lock:
        if size not in _slots:
            _slots[size] = threading.BoundedSemaphore(size)
        return _slots[size]


def today() -> str:
    return beijing(now_utc()).date().isoformat()


def _yesterday() -> str:
    return (beijing(now_utc()).date() - timedelta(days=1)).isoformat()


def describe(ev: dict, lang: str) -> dict:
    """What the tablet shows for one event, in the session's language."""
    rules = rules_for(ev.get("rules"))

    def named(fn, key):
        try:
            return fn(key, lang) if key else None
        except ValueError:
            return key
    right = ev.get("category")
    colour_zh = rules.categories.get(right, {}).get("bin_colour_zh", "") if right else ""
    colour_en = rules.categories.get(right, {}).get("bin_colour", "") if right else ""
    return {
        "cursor": ev.get("cursor"), "event_id": ev["event_id"], "type": ev["type"],
        "ts": ev["ts"], "bin": ev["bin"], "item": ev.get("item"), "category": right,
        "verdict": ev.get("verdict"), "assisted": bool(ev.get("assisted")),
        "corrected": bool(ev.get("corrected_item")),
        "item_name": named(rules.item_name, ev.get("item")),
        "category_name": named(rules.category_name, right),
        "bin_name": named(rules.category_name, ev["bin"]),
        "colour": BIN_COLOURS.get(right or "", "#455a64"),
        "bin_colour": BIN_COLOURS.get(ev["bin"], "#455a64"),
        "colour_name": colour_zh if lang == "zh" else colour_en,
        # the spoken prompt is in Mandarin whatever the screen's language
        "item_name_zh": named(lambda k, _: rules.item_name(k, "zh"), ev.get("item")),
        "bin_name_zh": named(lambda k, _: rules.category_name(k, "zh"), ev["bin"]),
        "category_name_zh": named(lambda k, _: rules.category_name(k, "zh"), right),
    }


def _counts(store, station_id: str) -> dict:
    counts = store.station_day_counts(station_id, today())
    judged = counts["correct"] + counts["wrong"]
    counts["accuracy"] = counts["correct"] / judged if judged else None
    return counts


@bp.get("/station/<station_id>")
@login_page
def tablet(station_id: str):
    station = readable_station(get_store(), g.user, station_id)
    store = get_store()
    lang = i18n.lang()
    recent = store.events_after(station["id"], 0, 5000, since_day=today())[-RECENT:]
    rules = rules_for(None)
    items = [{"key": k, "name": rules.item_name(k, lang), "category": rules.category(k),
              "bins": rules.accepted_bins(k)} for k in rules.items]
    categories = [{"key": c, "name": rules.category_name(c, lang),
                   "colour": BIN_COLOURS[c]} for c in rules.categories]
    config = {
        "station": station["id"],
        "may_correct": may_correct(g.user, station),
        "may_audit": may_audit(g.user, station),
        "may_redeem": may_correct(g.user, station),     # the station's own volunteer
        "audit": "/api/v1/events/{id}/audit",
        "household": f"/api/v1/stations/{station['id']}/households/{{token}}",
        "stream": url_for("web_station.stream", station_id=station["id"]),
        "feedback": "/api/v1/events/{id}/feedback",
        "today": f"/api/v1/stations/{station['id']}/today",
        "cases": f"/api/v1/cases?within={station['community_code']}&station={station['id']}",
        "case_transition": "/api/v1/cases/{id}/transition",
        "quiz_questions": f"/api/v1/quiz/questions?station={station['id']}&n=5",
        "quiz": "/api/v1/quiz",
        "me": "/api/v1/me",
        "login": url_for("web_auth.login", next=request.path),
        "lang": lang,
        "items": items,
        "categories": categories,
        "recent": [describe(e, lang) for e in reversed(recent)],
        "counts": _counts(store, station["id"]),
        "strings": {k: i18n.t(k) for k in i18n.STRINGS if k not in ("please_use", "speech_wrong")},
        "please_use": i18n.STRINGS["please_use"][0 if lang == "zh" else 1],
        "speech_wrong": i18n.STRINGS["speech_wrong"][0],
    }
    return render_template("tablet.html", station=station, config=config,
                           categories=categories)


def _sse(event: str, data, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/station/<station_id>/stream")
def stream(station_id: str):
    if g.get("user") is None:
        abort(401)
    station = readable_station(get_store(), g.user, station_id)
    store = get_store()
    raw = request.headers.get("Last-Event-ID") or request.args.get("after")
    try:
        after = int(raw) if raw not in (None, "") else store.latest_cursor(station["id"])
        if not 0 <= after <= CURSOR_MAX:
            raise ValueError
    except ValueError:
        abort(400, description="Last-Event-ID must be an integer cursor")
    # Cards read by the station's own reader: only for those who may look a
    # household up there, from the scan the tablet last saw (else from now on).
    cards = may_look_up_households(g.user, station)
    try:
        scan_after = (int(request.args["scan"]) if request.args.get("scan") else store.latest_scan(station["id"])) \
            if cards else 0
        if not 0 <= scan_after <= CURSOR_MAX:
            raise ValueError
    except ValueError:
        abort(400, description="scan must be an integer")
    slots = _slot_pool()
    if not slots.acquire(blocking=False):
        return Response("too many live streams in this process; retry\n", status=503,
                        headers={"Retry-After": "2"}, mimetype="text/plain")
    lang = i18n.lang()
    poll, beat = float(_setting("WEB_STREAM_POLL")), float(_setting("WEB_STREAM_HEARTBEAT"))
    lifetime, retry = float(_setting("WEB_STREAM_MAX_SECONDS")), int(_setting("WEB_STREAM_RETRY_MS"))
    database = current_app.config["SETTINGS"].database
    first_counts = _counts(store, station["id"])
    client = request.environ.get("gunicorn.socket")

    watcher = _watcher(database, poll)

    def generate():
        s = store_pkg.connect(database)
        wake = watcher.watch(station["id"])
        cursor, started, seen_scan = after, time.monotonic(), scan_after
        last_beat, last_counts_check, counts = started, started, first_counts
        fetch = True   # at the start: events after a Last-Event-ID
        try:
            yield f"retry: {retry}\n" + _sse("counts", counts, cursor)
            while time.monotonic() - started < lifetime:
                if not fetch:
                    woken = wake.wait(poll)
                    # Without a watcher that answers, every poll looks.
                    fetch = woken or not watcher.healthy()
                if client is not None and _client_gone(client):
                    return  # free the thread and the slot now, not at the next write
                events = []
                if fetch:
                    wake.clear()
                    # since_day bounds the index range the query reads to two
                    # days of this station's events (the index is (station, day));
                    # a disposal older than yesterday is no prompt for anyone.
                    events = s.events_after(station["id"], cursor, 100, since_day=_yesterday())
                    fetch = len(events) == 100   # more to read: read on at once
                    if cards:
                        scans = s.scans_after(station["id"], seen_scan, fresh_since(now_utc()))
                        if scans:
                            seen_scan = scans[-1]["id"]
                            # No SSE id: Last-Event-ID stays the events' cursor.
                            yield "".join(_sse("card", {"scan": c["id"], "household": c["household"],
                                                        "at": c["at"]}) for c in scans)
                            last_beat = time.monotonic()
                now = time.monotonic()
                if events:
                    chunk = []
                    for ev in events:
                        cursor = ev["cursor"]
                        chunk.append(_sse("disposal" if ev["type"] == "disposal" else ev["type"],
                                          describe(ev, lang), cursor))
                    counts = _counts(s, station["id"])
                    last_counts_check = now
                    chunk.append(_sse("counts", counts))
                    yield "".join(chunk)
                    last_beat = now
                elif now - last_counts_check >= 5:
                    # Feedback changes counts without new events.
                    last_counts_check = now
                    fresh = _counts(s, station["id"])
                    if fresh != counts:
                        counts = fresh
                        yield _sse("counts", counts)
                        last_beat = now
                if now - last_beat >= beat:
                    # The comment keeps proxies from closing an idle stream;
                    # the ping lets the page notice a silently dead network.
                    yield ": keep-alive\nevent: ping\ndata: {}\n\n"
                    last_beat = now
        finally:
            watcher.unwatch(station["id"], wake)
            s.close()

    return Response(_Released(generate(), slots.release), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache, no-transform",
                             "X-Accel-Buffering": "no"})


_watchers_lock = threading.Lock()
_watchers: dict[tuple, _Watcher] = {}


def _watcher(database, poll: float) -> _Watcher:
    key = (os.getpid(), str(database), poll)   # a forked worker has its own
    with _watchers_lock:
        if key not in _watchers:
            _watchers[key] = _Watcher(database, poll)
        return _watchers[key]


class _Watcher:
    """Looks for new events on behalf of all the streams of this process.

    Every `poll` seconds, while any stream is open, one query answers the
    latest cursor of each station with a stream; a station whose latest
    cursor grew since the last look has its streams woken (their Event set).
    A station's events get their cursors in the order they commit (on both
    stores), so a grown latest cursor is the only sign of new events. The
    thread ends when the last stream ends and starts again with the next."""

    CHUNK = 500   # stations per query

    def __init__(self, database, poll: float):
        self.database, self.poll = database, poll
        self._lock = threading.Lock()
        self._streams: dict[str, set[threading.Event]] = {}
        self._latest: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._answered = 0.0

    def watch(self, station_id: str) -> threading.Event:
        wake = threading.Event()
        with self._lock:
            self._streams.setdefault(station_id, set()).add(wake)
            if self._thread is None:
                self._answered = time.monotonic()   # as if: the streams look themselves meanwhile
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="sortwatch-stream-watcher")
                self._thread.start()
        return wake

    def unwatch(self, station_id: str, wake: threading.Event) -> None:
        with self._lock:
            waiting = self._streams.get(station_id)
            if waiting is not None:
                waiting.discard(wake)
                if not waiting:
                    del self._streams[station_id]
                    self._latest.pop(station_id, None)

    def healthy(self) -> bool:
        """Whether the watcher answered lately (else the streams poll)."""
        return time.monotonic() - self._answered < 2 * self.poll + 1.0

    def _run(self) -> None:
        s = None
        try:
            while True:
                time.sleep(self.poll)
                with self._lock:
                    stations = list(self._streams)
                    if not stations:
                        self._thread = None
                        return
                try:
                    if s is None:
                        s = store_pkg.connect(self.database)
                    latest = {}
                    for i in range(0, len(stations), self.CHUNK):
                        latest.update(_latest_cursors(s, stations[i:i + self.CHUNK]))
                except Exception as exc:   # the database away: the streams poll meanwhile
                    log.warning("stream watcher: %s", " ".join(str(exc).split())[:300])
                    if s is not None:
                        s.close()
                    s = None
                    continue
                with self._lock:
                    self._answered = time.monotonic()
                    for station_id, marks in latest.items():
                        # A station seen for the first time wakes its streams
                        # too: an event may have come between a stream's first
                        # read and this look. Marks are (latest event cursor,
                        # latest card scan): a newer scan wakes them as well.
                        old = self._latest.get(station_id)
                        if old is None or marks[0] > old[0] or marks[1] != old[1]:
                            self._latest[station_id] = marks
                            for wake in self._streams.get(station_id, ()):
                                wake.set()
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
            if s is not None:
                s.close()


def _latest_cursors(s, stations: list[str]) -> dict[str, tuple[int, int]]:
    """The latest cursor of each of these stations' events since yesterday
    and its latest card scan (0 without), in one statement that both stores
    run: an index probe per station (events(station_id, rowid)), in the
    partitions of the last two days only (PostgreSQL), as the streams read
    no older events; card_scans holds a minute of scans."""
    marks = ", ".join("?" * len(stations))
    rows = s.conn.execute(
        "SELECT st.id, (SELECT max(e.rowid) FROM events e "
        "WHERE e.station_id = st.id AND e.day >= ?), "
        "(SELECT max(c.id) FROM card_scans c WHERE c.station_id = st.id) "
        f"FROM stations st WHERE st.id IN ({marks})", (_yesterday(), *stations)).fetchall()
    return {row[0]: (row[1] or 0, row[2] or 0) for row in rows}


def _client_gone(sock) -> bool:
    """Whether the tablet closed its end. It sends nothing after its request,
    so a readable socket that gives no bytes means the connection is over."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


class _Released:
    """The stream's body; gives its slot back when the server closes it,
    even if the client left before the first byte (a generator that never
    started does not run its finally block)."""

    def __init__(self, body, release):
        self.body, self._release = body, release

    def __iter__(self):
        return self.body

    def close(self):
        release, self._release = self._release, None
        try:
            self.body.close()
        finally:
            if release is not None:
                release()
