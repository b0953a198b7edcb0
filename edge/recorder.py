"""One disposal, from its episode to a stored event: judge the crop (model and
rules), make the event and its evidence, store both in the outbox. An event
the disk cannot take now (outbox full) is held in memory and retried, so a
disposal is never dropped while the program runs."""
from __future__ import annotations

import logging
import time
from datetime import datetime

from edge.condition import state_key
from edge.outbox import OutboxFull

log = logging.getLogger("edge.recorder")


class Recorder:
    def __init__(self, judge, events, outbox, in_window):
        self.judge, self.events, self.outbox = judge, events, outbox
        self.in_window = in_window  # minute of the day -> whether the station is open
        self.episodes = 0
        self.stored = 0
        self.errors = 0
        self.findings = 0
        self.unsaved: list = []  # (event, evidence) the outbox could not take yet

    def record_safely(self, ep) -> None:
        """record(), but a failure to judge one disposal is logged and counted, not fatal."""
        try:
            self.record(ep)
        except Exception:  # noqa: BLE001 - the station must keep running for the next disposal
            self.errors += 1
            log.exception("disposal in %s at %.2f s could not be judged", ep.bin, ep.start_t)

    def record(self, ep) -> None:
        self.episodes += 1
        if ep.crop is None or ep.crop.size == 0:
            log.warning("episode in %s at %.2f s had no crop; skipped", ep.bin, ep.start_t)
            return
        t0 = time.perf_counter()
        judgement = self.judge.judge(ep.crop, ep.category)
        model_ms = (time.perf_counter() - t0) * 1000
        event = self.events.event(ep, judgement)
        evidence = self.events.evidence(ep, event)
        sample = self.events.sample(ep, event, judgement)
        minute = datetime.fromisoformat(event["ts"])
        if not self.in_window(minute.hour * 60 + minute.minute):
            log.info("disposal outside the station's opening windows")
        try:
            stored = self.outbox.put(event, evidence, sample)
        except OutboxFull as e:
            log.error("%s; holding the event in memory", e)
            self.unsaved.append((event, None))
            return
        if stored:
            self.stored += 1
        log.info("disposal %s bin=%s item=%s verdict=%s conf=%.2f model=%.0fms%s%s%s",
                 event["event_id"][:8], ep.bin, judgement.item, judgement.verdict, judgement.confidence,
                 model_ms, " evidence" if evidence else "", " sample" if sample else "",
                 "" if stored else " (already known)")

    def record_finding(self, f) -> None:
        """A region's new state (edge/condition) as a bin_full or litter event, through the outbox."""
        event = self.events.finding(f)
        try:
            evidence = self.events.finding_evidence(f)
        except Exception:  # noqa: BLE001 - the event matters more than its picture
            log.exception("no evidence for %s", event["event_id"][:8])
            evidence = None
        try:
            stored = self.outbox.put(event, evidence)
        except OutboxFull as e:
            log.error("%s; holding the event in memory", e)
            self.unsaved.append((event, None))
            return
        self.findings += 1
        self.outbox.meta_set(state_key(f.region), f.state)
        log.info("%s %s %s: %s -> %s (conf=%.2f)%s%s", event["type"], event["event_id"][:8], f.region.name,
                 f.previous, f.state, f.confidence, " evidence" if evidence else "",
                 "" if stored else " (already known)")

    def retry_unsaved(self) -> None:
        while self.unsaved:
            event, evidence = self.unsaved[0]
            try:
                self.outbox.put(event, evidence)
            except OutboxFull:
                return
            self.unsaved.pop(0)
