"""Station condition (docs/design.md §10): each bin's opening (ok, full, overflow) and the ground
zones in front of the bins (clean, litter), judged every `condition.interval` seconds, never
while someone is in view, and reported only when a new state has held for `condition.hold`.

    Debouncer        one region's reported state: pure, driven by (time, state) judgements
    ConditionMonitor the regions of a station: crops, the model, the debouncers -> Findings

A region's state starts as its base (`ok`, `clean`); a change of the reported state is a Finding,
which becomes a `bin_full` event (state full or overflow: a start; ok: the end) or a `litter`
event (litter: a start; clean: the end). Times are the frames' times (video time for a file
source), so a clip is judged as it would be live, however fast it is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

BASE = {"bin": "ok", "ground": "clean"}
EVENT_TYPE = {"bin": "bin_full", "ground": "litter"}


class Debouncer:
    """The reported state of one region. A judgement that differs from the reported state starts a
    candidate; the candidate is reported once judgements of it have spanned `hold` seconds with
    no other state judged in between. Judgements while someone is in view are ignored."""

    def __init__(self, hold: float, initial: str):
        self.hold = float(hold)
        self.state = initial
        self.candidate: str | None = None
        self.since: float | None = None

    def update(self, t: float, state: str, busy: bool = False) -> str | None:
        """Feed one judgement at time `t`; returns the new reported state when it changes, else None."""
        if busy:
            return None
        if state == self.state:
            self.candidate = self.since = None
            return None
        if state != self.candidate:
            self.candidate, self.since = state, t
        if t - self.since >= self.hold:
            self.state, self.candidate, self.since = state, None, None
            return state
        return None


@dataclass(frozen=True)
class Region:
    head: str                 # "bin" (an opening) or "ground"
    name: str                 # the bin's or ground zone's name
    category: str             # the bin the event names
    polygon: tuple
    box: tuple = ()           # x, y, w, h in frame pixels, set once the frame size is known


@dataclass
class Finding:
    region: Region
    state: str
    previous: str
    t: float
    index: int
    wall: float
    confidence: float
    frame: np.ndarray | None = field(default=None, repr=False)

    @property
    def type(self) -> str:
        return EVENT_TYPE[self.region.head]

    @property
    def start(self) -> bool:
        return self.state != BASE[self.region.head]


def state_key(region: Region) -> str:
    """The outbox meta key under which a region's reported state survives a restart."""
    return f"condition:{region.head}:{region.name}"


def regions_of(config) -> list[Region]:
    out = [Region("bin", b.name, b.category, b.opening) for b in config.bins if b.opening]
    out += [Region("ground", g.name, g.bin, g.zone) for g in config.ground]
    return out


def bounding_box(polygon, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(np.round(np.array(polygon, np.float32)).astype(np.int32))
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"region {polygon} lies outside the {width}x{height} frame")
    return x0, y0, x1 - x0, y1 - y0


class ConditionMonitor:
    """Judges the station's regions every `interval` seconds of frame time while nobody is in view
    (`quiet` seconds since the last motion) and returns the Findings of their debouncers."""

    def __init__(self, regions: list[Region], model, *, interval: float, hold: float, quiet: float):
        self.regions = regions
        self.model = model
        self.interval, self.quiet = float(interval), float(quiet)
        self.debouncers = [Debouncer(hold, BASE[r.head]) for r in regions]
        self.last_judged: float | None = None
        self.judgements = 0
        self.skipped_busy = 0
        self.last: list = []  # the last judgements, for logs and tests

    def restore(self, stored) -> None:
        """Start each region from its last reported state (`stored(key, default)`: the outbox's
        meta), so an overflow reported before a restart still gets its end event."""
        for region, debouncer in zip(self.regions, self.debouncers, strict=True):
            debouncer.state = stored(state_key(region), debouncer.state)

    def observe(self, frame, quiet_for: float) -> list[Finding]:
        """Feed a frame and how long nobody has been in view; judge when due."""
        if self.last_judged is not None and frame.t < self.last_judged:
            # time went back (a looped file starts again): a new timeline, no candidate carries over
            self.last_judged = None
            for d in self.debouncers:
                d.candidate = d.since = None
        if not self.regions or (self.last_judged is not None and frame.t - self.last_judged < self.interval):
            return []
        self.last_judged = frame.t
        if quiet_for < self.quiet:
            self.skipped_busy += 1
            return []
        image = frame.image
        if not self.regions[0].box:
            h, w = image.shape[:2]
            self.regions = [Region(r.head, r.name, r.category, r.polygon, bounding_box(r.polygon, w, h))
                            for r in self.regions]
        crops = [image[y:y + h, x:x + w] for x, y, w, h in (r.box for r in self.regions)]
        judgements = self.model.judge_regions(crops, [r.head for r in self.regions])
        self.judgements += 1
        self.last = judgements
        found = []
        for region, debouncer, j in zip(self.regions, self.debouncers, judgements, strict=True):
            if not j.sure:
                continue
            previous = debouncer.state
            if debouncer.update(frame.t, j.state) is not None:
                found.append(Finding(region, j.state, previous, frame.t, frame.index, frame.wall, j.confidence,
                                     image))
        return found
