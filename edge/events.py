"""Making an event: from a judged disposal to the wire contract's event (docs/design.md §5).

Event ids (docs/design.md §4.5): for a file or folder source the id of a
disposal is derived from the source's identity, the bin and the frame where
the disposal started, and its time from a start time stored in the outbox, so
a run restarted on the same file makes the same events. Live cameras get
random ids and wall-clock times.
"""
from __future__ import annotations

import base64
import logging
import time
import uuid
from datetime import datetime

from edge.episodes import crop_with_margin
from edge.privacy.evidence import make_evidence, make_sample_crop

log = logging.getLogger("edge.events")

EVENT_NAMESPACE = uuid.UUID("6c1f0a52-3b7e-4f4e-9a57-1d5e2c0b7a11")


def iso(ts: float, tz) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="milliseconds")


class EventMaker:
    def __init__(self, config, judge, tokens=None, source_id=None, epoch=0.0,
                 wall_clock=time.time):
        self.config = config
        self.wall_clock = wall_clock
        self.judge = judge
        self.tokens = tokens
        self.source_id = source_id
        self.epoch = epoch

    def event(self, ep, judgement) -> dict:
        station = self.config.station.id
        if self.source_id:
            ts = self.epoch + ep.start_t
            event_id = uuid.uuid5(EVENT_NAMESPACE, f"{station}/{self.source_id}/{ep.bin}/{ep.start_index}")
        else:
            ts = ep.start_wall
            event_id = uuid.uuid4()
        event = {
            "event_id": str(event_id),
            "type": "disposal",
            "ts": iso(ts, self.config.tz),
            "station_id": station,
            "bin": ep.category,
            "item": judgement.item,
            "category": judgement.category,
            "verdict": judgement.verdict,
            "confidence": judgement.confidence,
            "assisted": False,
            "model": self.judge.model,
            "rules": self.judge.rules.tag,
        }
        household = self.tokens.take(at=self._token_time(ep)) if self.tokens else None
        if household:
            event["household"] = household
        return event

    def finding(self, f) -> dict:
        """A `bin_full` or `litter` event of a region's new state (edge/condition): its start
        (full, overflow; litter) or its end (ok; clean)."""
        station = self.config.station.id
        if self.source_id:
            ts = self.epoch + f.t
            event_id = uuid.uuid5(EVENT_NAMESPACE, f"{station}/{self.source_id}/{f.type}/{f.region.name}/"
                                                   f"{f.index}/{f.state}")
        else:
            ts, event_id = f.wall, uuid.uuid4()
        return {"event_id": str(event_id), "type": f.type, "ts": iso(ts, self.config.tz), "station_id": station,
                "bin": f.region.category, "state": f.state}

    def finding_evidence(self, f) -> bytes | None:
        """With `condition.evidence`, one small JPEG of a start: the region sharp, everything around
        it pixelated (the evidence rules; nobody was in view when it was judged)."""
        if not (self.config.condition.evidence and f.start and f.frame is not None):
            return None
        x, y, w, h = f.region.box
        context, (cx, cy) = crop_with_margin(f.frame, (x, y, w, h), 0.3)
        return make_evidence(context, (x - cx, y - cy, w, h), self.config.privacy.evidence_max_px,
                             self.config.privacy.evidence_quality)

    def _token_time(self, ep) -> float:
        """When the disposal ended, on the token reader's clock: judging may
        lag, and a card scanned after the disposal ended is the next resident's."""
        ended_ago = max(0.0, self.wall_clock() - ep.end_wall) if ep.end_wall else 0.0
        return self.tokens.clock() - ended_ago

    def evidence(self, ep, event) -> bytes | None:
        """One small JPEG for a wrong verdict, where only the item is sharp (docs/design.md §7)."""
        p = self.config.privacy
        if not (p.evidence and event["verdict"] == "wrong" and ep.context is not None):
            return None
        if ep.reaching:
            # A person or arm was attached to the item in its best frame: no picture at all.
            log.info("no evidence for %s: someone reached into the drop zone", event["event_id"][:8])
            return None
        return make_evidence(ep.context, ep.context_box, p.evidence_max_px, p.evidence_quality)

    def sample(self, ep, event, judgement) -> tuple[dict, bool] | None:
        """A learning sample of an uncertain or wrong verdict ([learning] samples):
        (the upload's body, whether it is wanted now). An uncertain one is sent;
        a wrong one waits for its volunteer's correction (the heartbeat's
        `corrected`). None when off, for a correct verdict, or when a person or
        arm touched the item (the evidence rules)."""
        if not self.config.learning.samples or event["verdict"] not in ("uncertain", "wrong"):
            return None
        p = judgement.prediction
        if p is None or ep.crop is None or ep.crop.size == 0:
            return None
        if ep.reaching:
            log.info("no learning sample for %s: someone reached into the drop zone", event["event_id"][:8])
            return None
        learning = self.config.learning
        embedding = p.embedding.astype("<f4").ravel()
        body = {
            "station_id": event["station_id"],
            "crop": base64.b64encode(make_sample_crop(ep.crop, learning.max_px, learning.quality)).decode(),
            "embedding": base64.b64encode(embedding.tobytes()).decode(),
            "dims": int(embedding.size),
            "probs": [round(min(1.0, max(0.0, float(x))), 6) for x in p.probs],
            "confidence": event["confidence"],
            "rejection_score": None if p.rejection_score is None else round(float(p.rejection_score), 4),
        }
        return body, event["verdict"] == "uncertain"
