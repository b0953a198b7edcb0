"""Disposal episodes: one item into one bin is one episode, and one event.

Each drop zone has a tracker. Motion for `start_frames` frames in a row starts
an episode; while it lasts, the frame where the item's blob is largest is kept
as the best crop (and a wider context for evidence); `end_quiet` seconds
without motion end it. Motion that goes on past `max_duration` ends the
episode too, and the tracker then waits for stillness before it can start
another, so a person standing in a zone makes one event, not one per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Episode:
    bin: str
    category: str
    start_index: int
    start_t: float
    start_wall: float
    end_t: float = 0.0
    end_wall: float = 0.0
    frames: int = 0
    best_area: float = 0.0
    best_t: float = 0.0
    crop: np.ndarray | None = field(default=None, repr=False)        # the item, for the model
    context: np.ndarray | None = field(default=None, repr=False)     # the item and some surroundings
    context_box: tuple | None = None                                  # the item's box inside `context`
    reaching: bool = False            # at the best frame, something bigger (an arm, a person) was attached
    truncated: bool = False


def _clip_box(x, y, w, h, width, height):
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(width, int(x + w)), min(height, int(y + h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def crop_with_margin(image, bbox, margin):
    """The bbox grown by `margin` (share of its size) on each side, clipped to the image."""
    x, y, w, h = bbox
    H, W = image.shape[:2]
    mx, my = w * margin, h * margin
    x0, y0, cw, ch = _clip_box(x - mx, y - my, w + 2 * mx, h + 2 * my, W, H)
    return image[y0:y0 + ch, x0:x0 + cw].copy(), (x0, y0)


class ZoneTracker:
    IDLE, STARTING, OPEN, COOLDOWN = range(4)

    def __init__(self, bin_name, category, *, start_frames=2, end_quiet=0.4, max_duration=10.0,
                 min_fraction=0.01, min_area=400, crop_margin=0.08, context_margin=0.6):
        self.bin = bin_name
        self.category = category
        self.start_frames = start_frames
        self.end_quiet = end_quiet
        self.max_duration = max_duration
        self.min_fraction = min_fraction
        self.min_area = min_area
        self.crop_margin = crop_margin
        self.context_margin = context_margin
        self.state = self.IDLE
        self.run = 0
        self.first = None  # (index, t, wall) of the first moving frame
        self.last_motion_t = 0.0
        self.episode: Episode | None = None

    def update(self, frame, motion) -> Episode | None:
        """Feed one frame and its ZoneMotion; return an Episode when one ends."""
        active = motion.active(self.min_fraction, self.min_area)
        t = frame.t
        if self.state == self.COOLDOWN:
            if active:
                self.last_motion_t = t
            elif t - self.last_motion_t >= self.end_quiet:
                self.state = self.IDLE
            return None
        if self.state in (self.IDLE, self.STARTING):
            if not active:
                self.state, self.run, self.episode = self.IDLE, 0, None
                return None
            if self.state == self.IDLE:
                self.first = (frame.index, t, frame.wall)
                self.state = self.STARTING
            self.run += 1
            self._keep_best(frame, motion)
            if self.run >= self.start_frames:
                self.state = self.OPEN
            self.last_motion_t = t
            return None
        # OPEN
        if active:
            self.last_motion_t = t
            self._keep_best(frame, motion)
            if t - self.episode.start_t >= self.max_duration:
                self.episode.truncated = True
                return self._finish(frame, cooldown=True)
            return None
        if t - self.last_motion_t >= self.end_quiet:
            return self._finish(frame, cooldown=False)
        return None

    def _keep_best(self, frame, motion):
        if self.episode is None:
            index, t, wall = self.first
            self.episode = Episode(self.bin, self.category, index, t, wall)
        ep = self.episode
        ep.frames += 1
        if motion.area > ep.best_area:
            ep.best_area = motion.area
            ep.best_t = frame.t
            ep.crop, _ = crop_with_margin(frame.image, motion.bbox, self.crop_margin)
            ep.context, (cx, cy) = crop_with_margin(frame.image, motion.bbox, self.context_margin)
            x, y, w, h = motion.bbox
            ep.context_box = (x - cx, y - cy, w, h)
            ep.reaching = motion.reaching

    def _finish(self, frame, cooldown):
        ep = self.episode
        ep.end_t = self.last_motion_t
        ep.end_wall = ep.start_wall + (ep.end_t - ep.start_t)
        self.episode = None
        self.run = 0
        self.state = self.COOLDOWN if cooldown else self.IDLE
        return ep

    def flush(self, frame=None) -> Episode | None:
        """End an open episode at the end of the source."""
        if self.state in (self.OPEN,) and self.episode is not None:
            ep = self.episode
            ep.end_t = self.last_motion_t if frame is None else frame.t
            ep.end_wall = ep.start_wall + (ep.end_t - ep.start_t)
            self.episode = None
            self.state = self.IDLE
            return ep
        self.episode = None
        self.state = self.IDLE
        return None
