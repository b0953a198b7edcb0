"""`python -m edge run`: the station, from camera to verdict to durable upload.

    python -m edge run --config station.toml [--source S] [--server URL]
                       [--device-id ID] [--token-file F] [--once [--timeout SEC]]

Pipeline (docs/design.md §4), one folder per stage:

    capture/ (thread, bounded queue) -> motion/ (per drop zone) -> episodes/
      -> verdict.py (model + rules) -> outbox/ (SQLite) -> uploader/ (thread)

`--once` reads a file or folder source to its end, then waits until the
outbox is empty (or `--timeout` passes) and exits 0 only if every disposal
became an event and every event (and evidence image) was delivered, none
rejected; 1 otherwise; 2 for a config, model or usage error. Without
`--once` the program runs until SIGTERM or SIGINT; after a file ends it goes
on delivering and sending heartbeats (camera "ended").

Privacy: no frame is stored or sent. A household token from the reader is
attached to the next disposal within `privacy.household_window` seconds and
logged only as a hash; with `privacy.evidence`, a wrong verdict gets one
small JPEG in which only the item is sharp (edge/privacy/evidence.py).

Event ids: for a file or folder source the id of a disposal is derived from
the source's identity, the bin and the frame where the disposal started, and
its timestamps from a start time stored in the outbox, so a run that is killed
and restarted on the same file produces the same events and the server counts
each once. Live cameras (and files replayed as one, `realtime` or `loop`) get
random (UUID4) ids and wall-clock timestamps.
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import sys
import threading
import time
import uuid
from datetime import datetime

log = logging.getLogger("edge.runtime")

EVENT_NAMESPACE = uuid.UUID("6c1f0a52-3b7e-4f4e-9a57-1d5e2c0b7a11")


def source_duration(spec, fps: float) -> float:
    """Seconds of video in a file or folder source (0 when unknown)."""
    from pathlib import Path
    path = Path(spec)
    if path.is_dir():
        from edge.capture import IMAGE_SUFFIXES
        return sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) / fps
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        frames, rate = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return frames / rate if frames > 0 and rate > 0 else 0.0


def iso(ts: float, tz) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="milliseconds")


class Runtime:
    def __init__(self, config, *, classifier=None, rules=None, once=False):
        self.config = config
        self.once = once
        self._classifier = classifier
        self._rules = rules
        self.stop_event = threading.Event()
        self.processed = 0
        self.fps = 0.0
        self.episodes = 0
        self.events_stored = 0
        self.errors = 0
        self.unsaved: list = []  # events that could not be stored (disk full), retried
        self.capture = None
        self.outbox = None
        self.uploader = None
        self.judge = None
        self.tokens = None
        self.reader = None
        self.tz = config.tz
        self.started = time.time()
        self.dead_letters_at_start = 0

    # -- setup -------------------------------------------------------------------------

    def _load_model(self):
        from edge.verdict import Judge
        if self._rules is None:
            from edge.rules import load_rules
            self._rules = load_rules(self.config.station.rules)
        if self._classifier is None:
            from edge.model import load_classifier
            c = self.config.classifier
            self._classifier = load_classifier(str(c.model) if c.model else None, threads=c.threads)
        self.rules = self._rules
        self.judge = Judge(self._classifier, self._rules, self.config.classifier.threshold)
        for b in self.config.bins:
            self.rules.accepts(self.rules.items[0], b.category)  # raises for an unknown category

    def setup(self):
        from edge.capture import Capture, fingerprint, is_live, open_source
        from edge.outbox import Outbox
        from edge.uploader import Client, Uploader

        cfg = self.config
        spec = cfg.camera.source
        self.live = is_live(spec)
        if self.once and self.live:
            raise ValueError("--once needs a file or folder source, not a live camera")
        os.makedirs(os.path.dirname(os.path.abspath(cfg.outbox.path)), exist_ok=True)
        self.outbox = Outbox(cfg.outbox.path, max_bytes=cfg.outbox.max_bytes)
        self.dead_letters_at_start = self.outbox.counts()["dead_letter"]
        self._load_model()

        # A file replayed as a camera (realtime, loop) gets live ids and wall-clock times.
        as_camera = self.live or cfg.camera.loop or cfg.camera.realtime
        self.source_id = None if as_camera else fingerprint(spec)
        if self.source_id:
            # A file is taken as recorded just before it was first processed: its last frame
            # is "now", so no event lies in the future, and a restart reuses the same times.
            duration = source_duration(spec, cfg.camera.fps)
            self.epoch = self.outbox.meta_setdefault(f"source:{self.source_id}:epoch", time.time() - duration)
        fps = cfg.camera.fps
        self.capture = Capture(lambda: open_source(spec, fps), live=self.live,
                               queue_size=cfg.camera.queue_size, realtime=cfg.camera.realtime,
                               loop=cfg.camera.loop, reconnect_min=cfg.camera.reconnect_min,
                               reconnect_max=cfg.camera.reconnect_max,
                               stall_timeout=cfg.camera.stall_timeout)

        p = cfg.privacy
        if p.household_reader:
            from edge.privacy.household import HouseholdTokens, LineReader
            self.tokens = HouseholdTokens(p.household_window)
            self.reader = LineReader(p.household_reader, self.tokens)

        s = cfg.server
        client = Client(s.url, s.device_id, cfg.token(), timeout=s.timeout)
        self.uploader = Uploader(self.outbox, client, batch_size=s.batch_size,
                                 backoff_min=s.backoff_min, backoff_max=s.backoff_max,
                                 heartbeat_interval=s.heartbeat_interval, health=self.health)

    # -- health --------------------------------------------------------------------------

    def health(self) -> dict:
        try:
            disk_free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.config.outbox.path))).free
        except OSError:
            disk_free = None
        counts = self.outbox.counts()
        health = {
            "ts": iso(time.time(), self.tz),
            "fps": round(self.fps, 2),
            "dropped_frames": self.capture.dropped if self.capture else 0,
            "queue_depth": self.capture.queue.qsize() if self.capture else 0,
            "pending_events": counts["pending"] + len(self.unsaved),
            "oldest_pending": self.outbox.oldest_pending_ts(),
            "dead_letters": counts["dead_letter"],
            "camera": self.capture.camera_state() if self.capture else "starting",
            "uptime_s": round(time.time() - self.started, 1),
            "version": "sortwatch-edge/1",
        }
        if self.judge:
            health["model"] = self.judge.model
            health["rules"] = self.rules.tag
        if disk_free is not None:
            health["disk_free"] = int(disk_free)
        return health

    # -- the pipeline ----------------------------------------------------------------------

    def _trackers(self):
        from edge.episodes import ZoneTracker
        e, m = self.config.episode, self.config.motion
        return [ZoneTracker(b.name, b.category, start_frames=e.start_frames, end_quiet=e.end_quiet,
                            max_duration=e.max_duration, min_fraction=m.min_fraction,
                            min_area=e.min_area) for b in self.config.bins]

    def process(self):
        """Consume frames until the source ends or stop() is called."""
        from edge.capture import END
        from edge.motion import MotionGate

        m = self.config.motion
        gate = None
        trackers = self._trackers()
        last = time.monotonic()
        frame = None
        while not self.stop_event.is_set():
            self._retry_unsaved()
            try:
                item = self.capture.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is END:
                for tracker in trackers:
                    ep = tracker.flush(frame)
                    if ep is not None:
                        self.emit_safely(ep)
                return True
            frame = item
            if gate is None:
                h, w = frame.image.shape[:2]
                gate = MotionGate((w, h), [b.zone for b in self.config.bins], width=m.width,
                                  threshold=m.threshold, background_alpha=m.background_alpha)
            motions = gate.process(frame.image)
            for tracker, motion in zip(trackers, motions, strict=True):
                ep = tracker.update(frame, motion)
                if ep is not None:
                    self.emit_safely(ep)
            self.processed += 1
            now = time.monotonic()
            dt, last = now - last, now
            if dt > 0:
                self.fps = 1 / dt if self.fps == 0 else 0.95 * self.fps + 0.05 / dt
        return False

    def event_for(self, ep, judgement) -> dict:
        cfg = self.config
        if self.source_id:
            ts = self.epoch + ep.start_t
            event_id = uuid.uuid5(EVENT_NAMESPACE, f"{cfg.station.id}/{self.source_id}/{ep.bin}/{ep.start_index}")
        else:
            ts = ep.start_wall
            event_id = uuid.uuid4()
        event = {
            "event_id": str(event_id),
            "type": "disposal",
            "ts": iso(ts, self.tz),
            "station_id": cfg.station.id,
            "bin": ep.category,
            "item": judgement.item,
            "category": judgement.category,
            "verdict": judgement.verdict,
            "confidence": judgement.confidence,
            "assisted": False,
            "model": self.judge.model,
            "rules": self.rules.tag,
        }
        return event

    def emit_safely(self, ep):
        """emit(), but a failure to judge one disposal is logged and counted, not fatal."""
        try:
            self.emit(ep)
        except Exception:  # noqa: BLE001 - the station must keep running for the next disposal
            self.errors += 1
            log.exception("disposal in %s at %.2f s could not be judged", ep.bin, ep.start_t)

    def emit(self, ep):
        from edge.outbox import OutboxFull
        self.episodes += 1
        if ep.crop is None or ep.crop.size == 0:
            log.warning("episode in %s at %.2f s had no crop; skipped", ep.bin, ep.start_t)
            return
        t0 = time.perf_counter()
        judgement = self.judge.judge(ep.crop, ep.category)
        model_ms = (time.perf_counter() - t0) * 1000
        event = self.event_for(ep, judgement)
        household = self.tokens.take() if self.tokens else None
        if household:
            event["household"] = household
        evidence = None
        p = self.config.privacy
        if p.evidence and judgement.verdict == "wrong" and ep.context is not None:
            if ep.reaching:
                # A person or arm was attached to the item in its best frame: no picture at all.
                log.info("no evidence for %s: someone reached into the drop zone", event["event_id"][:8])
            else:
                from edge.privacy.evidence import make_evidence
                evidence = make_evidence(ep.context, ep.context_box, p.evidence_max_px,
                                         p.evidence_quality)
        minute = datetime.fromisoformat(event["ts"])
        if not self.config.in_window(minute.hour * 60 + minute.minute):
            log.info("disposal outside the station's opening windows")
        try:
            stored = self.outbox.put(event, evidence)
        except OutboxFull as e:
            log.error("%s; holding the event in memory", e)
            self.unsaved.append((event, None))
            return
        if stored:
            self.events_stored += 1
        log.info("disposal %s bin=%s item=%s verdict=%s conf=%.2f model=%.0fms%s%s",
                 event["event_id"][:8], ep.bin, judgement.item, judgement.verdict, judgement.confidence,
                 model_ms, " evidence" if evidence else "",
                 "" if stored else " (already known)")

    def _retry_unsaved(self):
        from edge.outbox import OutboxFull
        while self.unsaved:
            event, evidence = self.unsaved[0]
            try:
                self.outbox.put(event, evidence)
            except OutboxFull:
                return
            self.unsaved.pop(0)

    # -- run -------------------------------------------------------------------------------

    def delivered_all(self) -> bool:
        c = self.outbox.counts()
        return c["pending"] == 0 and c["evidence"] == 0 and not self.unsaved

    def start(self):
        if self.outbox is None:
            self.setup()
        self.uploader.start()
        if self.reader:
            self.reader.start()
        self.capture.start()

    def stop(self):
        self.stop_event.set()
        if self.capture:
            self.capture.stop()

    def shutdown(self):
        self.stop()
        if self.reader:
            self.reader.stop()
        if self.uploader:
            self.uploader.stop()
            self.uploader.join(10)
            if not self.uploader.is_alive():
                self.uploader.send_heartbeat()  # the last word: camera ended, what is still pending
        if self.outbox:
            self.outbox.close()

    def run(self, timeout: float = 120.0) -> int:
        self.start()
        try:
            ended = self.process()
            if self.capture.state == "failed" or (ended and self.processed == 0):
                log.error("the source could not be read (%d frames)", self.processed)
                if self.once:
                    return 1
            if self.once:
                if not ended:
                    return 1
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and not self.stop_event.is_set():
                    self._retry_unsaved()
                    if self.delivered_all():
                        break
                    self.outbox.changed.set()
                    time.sleep(0.05)
                c = self.outbox.counts()
                new_dead = c["dead_letter"] - self.dead_letters_at_start
                log.info("source done: %d frames, %d dropped, %d disposals; %d pending, %d evidence, "
                         "%d dead letters", self.processed, self.capture.dropped, self.episodes,
                         c["pending"], c["evidence"], new_dead)
                return 0 if self.delivered_all() and new_dead == 0 and self.errors == 0 else 1
            # A file that ended, or stop(): keep delivering until stopped.
            if ended:
                log.info("source ended; still delivering and sending heartbeats")
            while not self.stop_event.wait(0.5):
                self._retry_unsaved()
            return 0
        finally:
            self.shutdown()


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="station config (TOML)")
    parser.add_argument("--source", help="camera source: USB index, URL, video file or folder of images")
    parser.add_argument("--server", help="server base URL")
    parser.add_argument("--device-id", help="device id")
    parser.add_argument("--token-file", help="file holding the device token")
    parser.add_argument("--once", action="store_true",
                        help="process a file source to its end, wait for the outbox to empty, exit")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="with --once: seconds to wait for delivery (default 120)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")


def main(args) -> int:
    from edge.config import ConfigError, load_config

    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    source = args.source
    if source is not None and source.isdigit():
        source = int(source)
    overrides = {"camera.source": source, "server.url": args.server, "server.device_id": args.device_id,
                 "server.token_file": args.token_file}
    try:
        config = load_config(args.config, overrides)
    except ConfigError as e:
        for line in e.lines():
            print(line, file=sys.stderr)
        return 2
    runtime = Runtime(config, once=args.once)

    def on_signal(signum, _frame):
        log.info("signal %d: stopping", signum)
        runtime.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return runtime.run(timeout=args.timeout)
    except (ValueError, OSError, RuntimeError) as e:  # a model, rule set or token that cannot be used
        print(f"run: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
