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
attached to the next disposal within `privacy.household_window` seconds,
passed to the station's tablet (`privacy.household_to_tablet`,
edge/uploader/scans.py: the token only, never written to disk) and
logged only as a hash; with `privacy.evidence`, a wrong verdict gets one
small JPEG in which only the item is sharp (edge/privacy/evidence.py).

Station condition (condition/, with the bin openings and [[ground]] zones of
the station file): every `condition.interval` seconds of frame time, when
nobody has been in view for `condition.quiet` seconds (no disposal starting or
open, nothing moving from frame to frame in the zones), the regions are judged
by models/station-state-int8.onnx; a state that held for `condition.hold`
seconds becomes a bin_full or litter event in the same outbox.

Modules: pipeline.py builds the stages from the config, frames.py processes a
frame (motion, episodes), recorder.py turns a disposal into a stored event
(judge, event, evidence, outbox), events.py makes the event (ids, times,
evidence); this module starts and stops them and decides the exit code.
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

from edge.capture import END
from edge.config import ConfigError, load_config
from edge.events import iso
from edge.frames import Frames
from edge.pipeline import build_pipeline
from edge.recorder import Recorder

log = logging.getLogger("edge.runtime")


class Runtime:
    def __init__(self, config, *, classifier=None, rules=None, once=False, station_model=None):
        self.config = config
        self.once = once
        self._classifier = classifier
        self._rules = rules
        self._station_model = station_model
        self.condition = None
        self.stop_event = threading.Event()
        self.frames = Frames(config)
        self.recorder = None
        self.capture = self.outbox = self.uploader = self.judge = self.rules = None
        self.tokens = self.reader = self.events = self.updater = self.scans = None
        self.tz = config.tz
        self.started = time.time()
        self.dead_letters_at_start = 0

    def setup(self):
        p = build_pipeline(self.config, once=self.once, health=self.health,
                           classifier=self._classifier, rules=self._rules, station_model=self._station_model)
        self.condition = p.condition
        self.live, self.outbox, self.rules, self.judge = p.live, p.outbox, p.rules, p.judge
        self.capture, self.tokens, self.reader = p.capture, p.tokens, p.reader
        self.events, self.uploader, self.updater, self.scans = p.events, p.uploader, p.updater, p.scans
        self.recorder = Recorder(self.judge, self.events, self.outbox, self.config.in_window)
        self.dead_letters_at_start = self.outbox.counts()["dead_letter"]

    @property
    def processed(self) -> int:
        return self.frames.processed

    @property
    def fps(self) -> float:
        return self.frames.fps

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
            "pending_events": counts["pending"] + (len(self.recorder.unsaved) if self.recorder else 0),
            "oldest_pending": self.outbox.oldest_pending_ts(),
            "dead_letters": counts["dead_letter"],
            "camera": self.capture.camera_state() if self.capture else "starting",
            "uptime_s": round(time.time() - self.started, 1),
            "version": "sortwatch-edge/1",
        }
        if self.judge:
            health["model"] = self.judge.model
            health["rules"] = self.judge.rules.tag
        if self.updater and self.updater.error:
            # Only when there is one, so a server without a registry never sees the key.
            health["update_error"] = self.updater.error[:500]
        if disk_free is not None:
            health["disk_free"] = int(disk_free)
        return health

    def process(self) -> bool:
        """Consume frames until the source ends (True) or stop() is called (False)."""
        while not self.stop_event.is_set():
            self.recorder.retry_unsaved()
            try:
                item = self.capture.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is END:
                for ep in self.frames.flush():
                    self.recorder.record_safely(ep)
                return True
            for ep in self.frames.process(item):
                self.recorder.record_safely(ep)
            if self.condition is not None:
                self.observe_condition(item)
            self.swap_updates()
        return False

    def observe_condition(self, frame) -> None:
        """Judge the bin openings and ground zones when due; a region the frame does not hold
        stops the judgements (logged), never the disposals."""
        try:
            findings = self.condition.observe(frame, self.frames.quiet_for(frame.t))
        except ValueError as e:
            log.error("station condition off: %s", e)
            self.condition = None
            return
        for finding in findings:
            self.recorder.record_finding(finding)

    def swap_updates(self) -> None:
        """Swap in a verified, loaded update, but never while a disposal is open."""
        if self.updater is not None:
            self.updater.swap_if_idle(self.frames.idle)

    # -- run -------------------------------------------------------------------------------

    def delivered_all(self) -> bool:
        c = self.outbox.counts()
        return (c["pending"] == 0 and c["evidence"] == 0 and self.outbox.sample_counts()["wanted"] == 0
                and not self.recorder.unsaved)

    def start(self):
        if self.outbox is None:
            self.setup()
        self.uploader.start()
        if self.scans:
            self.scans.start()
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
        if self.scans:
            self.scans.stop()
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
                    self.recorder.retry_unsaved()
                    self.swap_updates()
                    if self.delivered_all():
                        break
                    self.outbox.changed.set()
                    time.sleep(0.05)
                c = self.outbox.counts()
                new_dead = c["dead_letter"] - self.dead_letters_at_start
                log.info("source done: %d frames, %d dropped, %d disposals; %d pending, %d evidence, "
                         "%d dead letters", self.processed, self.capture.dropped, self.recorder.episodes,
                         c["pending"], c["evidence"], new_dead)
                return 0 if self.delivered_all() and new_dead == 0 and self.recorder.errors == 0 else 1
            # A file that ended, or stop(): keep delivering until stopped.
            if ended:
                log.info("source ended; still delivering and sending heartbeats")
            while not self.stop_event.wait(0.5):
                self.recorder.retry_unsaved()
                self.swap_updates()
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
