"""Processing a frame: motion per drop zone, then each zone's episode tracker.

`Frames.process(frame)` returns the episodes (disposals) that ended with this
frame; `Frames.flush()` those still open when the source ends. The motion
gate is built on the first frame, when the frame size is known.
"""
from __future__ import annotations

import time

from edge.episodes import ZoneTracker
from edge.motion import MotionGate, Presence


class Frames:
    def __init__(self, config):
        self.config = config
        e, m = config.episode, config.motion
        self.trackers = [ZoneTracker(b.name, b.category, start_frames=e.start_frames, end_quiet=e.end_quiet,
                                     max_duration=e.max_duration, min_fraction=m.min_fraction,
                                     min_area=e.min_area) for b in config.bins]
        self.gate = None
        self.presence = None
        self.busy_t: float | None = None  # frame time of the last motion or open disposal
        self.last_frame = None
        self.processed = 0
        self.fps = 0.0
        self._last = time.monotonic()

    def process(self, frame) -> list:
        if self.gate is None:
            h, w = frame.image.shape[:2]
            m = self.config.motion
            self.gate = MotionGate((w, h), [b.zone for b in self.config.bins], width=m.width,
                                   threshold=m.threshold, background_alpha=m.background_alpha)
            condition = [b.opening for b in self.config.bins if b.opening] + [g.zone for g in self.config.ground]
            if condition:  # only a station that judges its condition asks who is in view
                self.presence = Presence((w, h), [b.zone for b in self.config.bins] + condition,
                                         threshold=m.threshold)
        motions = self.gate.process(frame.image)
        ended = [tracker.update(frame, motion) for tracker, motion in zip(self.trackers, motions, strict=True)]
        if self.presence is not None and (self.presence.moving(frame.image) or self.in_progress
                                          or self.busy_t is None or frame.t < self.busy_t):
            self.busy_t = frame.t
        self.last_frame = frame
        self.processed += 1
        now = time.monotonic()
        dt, self._last = now - self._last, now
        if dt > 0:
            self.fps = 1 / dt if self.fps == 0 else 0.95 * self.fps + 0.05 / dt
        return [ep for ep in ended if ep is not None]

    @property
    def in_progress(self) -> bool:
        """A disposal is starting or open in some zone: someone is at the bins."""
        return any(t.state in (t.STARTING, t.OPEN) for t in self.trackers)

    def quiet_for(self, t: float) -> float:
        """Seconds of frame time since the last motion or open disposal (0 while someone is in view)."""
        return 0.0 if self.busy_t is None else t - self.busy_t

    @property
    def idle(self) -> bool:
        """No disposal is open in any zone: the moment an update may be swapped in."""
        return all(t.episode is None for t in self.trackers)

    def flush(self) -> list:
        ended = [tracker.flush(self.last_frame) for tracker in self.trackers]
        return [ep for ep in ended if ep is not None]
