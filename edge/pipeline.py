"""Building the station's pipeline from its config (docs/design.md §4):
outbox, model and rules, capture, household reader, event maker, uploader."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from contract.rules import load_rules
from edge.capture import IMAGE_SUFFIXES, Capture, fingerprint, is_live, open_source
from edge.condition import ConditionMonitor, regions_of
from edge.events import EventMaker
from edge.model import load_classifier
from edge.outbox import Outbox
from edge.privacy.household import HouseholdTokens, LineReader
from edge.updates import Slots, Updater, start_versions
from edge.uploader import Client, Uploader
from edge.uploader.scans import ScanSender
from edge.verdict import Judge

log = logging.getLogger(__name__)


def source_duration(spec, fps: float) -> float:
    """Seconds of video in a file or folder source (0 when unknown)."""
    path = Path(spec)
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) / fps
    cap = cv2.VideoCapture(str(path))
    try:
        frames, rate = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return frames / rate if frames > 0 and rate > 0 else 0.0


@dataclass
class Pipeline:
    live: bool
    outbox: Outbox
    rules: object
    judge: Judge
    capture: Capture
    tokens: HouseholdTokens | None
    reader: LineReader | None
    events: EventMaker
    uploader: Uploader
    updater: Updater | None = None
    scans: ScanSender | None = None
    condition: ConditionMonitor | None = None


def slots_of(config) -> Slots | None:
    """The updates folder, or None when the station's file names no public key (updates off)."""
    key = config.public_key()
    return None if key is None else Slots(config.updates.dir, key)


def make_judge(config, classifier=None, rules=None) -> Judge:
    """The model and the rule set; a bin whose category the rule set lacks is refused here.

    With updates on, the versions the update pointers name (or their previous
    ones) come first; a pair that does not judge together falls back to the
    config's own."""
    slots = slots_of(config)
    if slots is not None and (classifier is None or rules is None):
        categories = [b.category for b in config.bins]
        updated_classifier, updated_rules = start_versions(slots, config.classifier.threads, categories)
        try:
            return make_judge(config, classifier or updated_classifier or _config_classifier(config),
                              rules or updated_rules or load_rules(config.station.rules))
        except ValueError as e:
            log.error("the updated model and rule set do not judge together (%s); using the config's", e)
    if rules is None:
        rules = load_rules(config.station.rules)
    if classifier is None:
        classifier = _config_classifier(config)
    for b in config.bins:
        rules.accepts(rules.items[0], b.category)  # raises for an unknown category
    return Judge(classifier, rules, config.classifier.threshold)


def _config_classifier(config):
    c = config.classifier
    return load_classifier(str(c.model) if c.model else None, threads=c.threads)


def heartbeat_answer(config, outbox: Outbox, updater: Updater | None):
    """What the station does with the server's answer to a heartbeat: offer
    the assigned versions to the updater; with learning samples on, send
    the samples of the disposals the server names corrected and forget
    those nobody corrected within the hold time."""
    learning = config.learning.samples

    def on_answer(answer: dict) -> None:
        if learning:
            corrected = answer.get("corrected")
            if isinstance(corrected, list) and outbox.want_samples(corrected):
                log.info("the volunteer corrected %d disposal(s): sending their learning samples",
                         len(corrected))
            outbox.drop_unwanted_samples(config.learning.hold_minutes * 60)
        if updater is not None:
            updater.offer(answer)

    return on_answer if learning or updater is not None else None


def make_condition(config, model=None) -> ConditionMonitor | None:
    """The bin openings' and ground zones' monitor, or None when the station file names no region."""
    regions = regions_of(config)
    if not regions:
        return None
    c = config.condition
    if model is None:
        from edge.model.station import load_station_model
        model = load_station_model(str(c.model) if c.model else None, threads=config.classifier.threads)
    log.info("station condition: %d region(s), judged every %g s, reported after %g s, model %s",
             len(regions), c.interval, c.hold, getattr(model, "version", "?"))
    return ConditionMonitor(regions, model, interval=c.interval, hold=c.hold, quiet=c.quiet)


def build_pipeline(config, *, once: bool, health, classifier=None, rules=None, station_model=None) -> Pipeline:
    spec = config.camera.source
    live = is_live(spec)
    if once and live:
        raise ValueError("--once needs a file or folder source, not a live camera")
    os.makedirs(os.path.dirname(os.path.abspath(config.outbox.path)), exist_ok=True)
    outbox = Outbox(config.outbox.path, max_bytes=config.outbox.max_bytes)
    judge = make_judge(config, classifier, rules)

    # A file replayed as a camera (realtime, loop) gets live ids and wall-clock times.
    cam = config.camera
    source_id = None if live or cam.loop or cam.realtime else fingerprint(spec)
    epoch = 0.0
    if source_id:
        # A file is taken as recorded just before it was first processed: its last frame
        # is "now", so no event lies in the future, and a restart reuses the same times.
        duration = source_duration(spec, cam.fps)
        epoch = outbox.meta_setdefault(f"source:{source_id}:epoch", time.time() - duration)
    capture = Capture(lambda: open_source(spec, cam.fps), live=live, queue_size=cam.queue_size,
                      realtime=cam.realtime, loop=cam.loop, reconnect_min=cam.reconnect_min,
                      reconnect_max=cam.reconnect_max, stall_timeout=cam.stall_timeout)

    p = config.privacy
    tokens = HouseholdTokens(p.household_window) if p.household_reader else None
    reader = LineReader(p.household_reader, tokens) if tokens else None

    s = config.server
    client = Client(s.url, s.device_id, config.token(), timeout=s.timeout)
    slots = slots_of(config)
    updater = None if slots is None else Updater(slots, client, judge, categories=[b.category for b in config.bins],
                                                 threads=config.classifier.threads)
    uploader = Uploader(outbox, client, batch_size=s.batch_size, backoff_min=s.backoff_min,
                        backoff_max=s.backoff_max, heartbeat_interval=s.heartbeat_interval, health=health,
                        on_heartbeat=heartbeat_answer(config, outbox, updater))
    # Each card read also goes to the station's tablet, at once, on its own
    # thread and connection (a requests session is not shared across threads).
    scans = (ScanSender(Client(s.url, s.device_id, config.token(), timeout=min(s.timeout, 5.0)))
             if tokens and p.household_to_tablet else None)
    if scans:
        tokens.on_read = scans.offer
    events = EventMaker(config, judge, tokens, source_id, epoch)
    condition = make_condition(config, station_model)
    if condition is not None and live:
        # a live camera goes on from the states it last reported; a file is judged afresh each time
        condition.restore(outbox.meta_get)
    return Pipeline(live, outbox, judge.rules, judge, capture, tokens, reader, events, uploader, updater, scans,
                    condition)
