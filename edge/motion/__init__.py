"""Motion gating per drop zone: the model stays idle while nothing moves.

Frames are shrunk to `width` pixels, turned grey and blurred, and compared
with a running background. A global change of light (a lamp, a cloud) is
taken out first by scaling the background to the frame's median brightness,
so it does not count as motion. A zone is active when enough of it changed
(`min_fraction` of the zone, and `min_area` pixels). The crop of the moving
thing is the box of the blobs that touch the zone, cut to the zone's bounding
box grown by a tenth of its height: draw a drop zone tall enough for a whole
item, and an arm reaching in from above stays (mostly) out of the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class ZoneMotion:
    fraction: float                 # share of the zone's pixels that changed
    bbox: tuple | None              # x, y, w, h in full-frame pixels: the blobs touching the zone,
                                    # cut to the zone's bounding box grown by `ZONE_MARGIN`
    area: float                     # changed pixels inside the zone, in full-frame pixels
    reaching: bool = False          # the blobs went on beyond the grown zone box (an arm, a person)

    def active(self, min_fraction: float, min_area: float) -> bool:
        return self.fraction >= min_fraction and self.area >= min_area and self.bbox is not None


ZONE_MARGIN = 0.1  # share of the zone's height: how far a crop may reach outside the zone


def shrink_grey(image, size):
    """The frame as the gates compare it: shrunk to `size`, grey, blurred, float32."""
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)


def light_gain(grey, reference) -> float:
    """How much brighter this frame is than `reference` overall (a lamp, a cloud): the reference
    is scaled by it before comparing, so a global change of light is not motion."""
    return (float(np.median(grey)) + 1.0) / (float(np.median(reference)) + 1.0)


class MotionGate:
    def __init__(self, frame_size, zones, width=320, threshold=25, background_alpha=0.05):
        w, h = frame_size
        self.frame_size = (w, h)
        self.scale = min(1.0, width / w)
        self.size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        self.threshold = threshold
        self.alpha = background_alpha
        self.masks = []
        self.limits = []  # per zone: x0, y0, x1, y1 a crop may span (small-frame pixels)
        for polygon in zones:
            mask = np.zeros((self.size[1], self.size[0]), np.uint8)
            pts = np.round(np.array(polygon, np.float32) * self.scale).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
            self.masks.append(mask.astype(bool))
            x, y, w, h = cv2.boundingRect(pts)
            m = h * ZONE_MARGIN
            self.limits.append((x - m, y - m, x + w + m, y + h + m))
        self.areas = [max(1, int(m.sum())) for m in self.masks]
        self.background: np.ndarray | None = None
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.changed = None  # last motion mask, for inspection

    def _prepare(self, image):
        if (image.shape[1], image.shape[0]) != self.frame_size:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, zones are for "
                             f"{self.frame_size[0]}x{self.frame_size[1]}")
        return shrink_grey(image, self.size)

    def process(self, image) -> list[ZoneMotion]:
        grey = self._prepare(image)
        if self.background is None:
            self.background = grey
            return [ZoneMotion(0.0, None, 0.0) for _ in self.masks]
        bg = self.background
        # Global light changes: compare against the background scaled to this frame's brightness.
        gain = light_gain(grey, bg)
        diff = np.abs(grey - bg * gain)
        changed = (diff > self.threshold).astype(np.uint8)
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self.kernel)
        self.changed = changed
        # The background follows slow changes; pixels that move follow 20 times slower, so
        # something left in a zone is absorbed in the end instead of moving forever.
        rate = np.where(changed > 0, self.alpha / 20, self.alpha).astype(np.float32)
        self.background = bg * gain * (1 - rate) + grey * rate
        out = []
        if not changed.any():
            return [ZoneMotion(0.0, None, 0.0) for _ in self.masks]
        count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        inv = 1.0 / self.scale
        moving = changed.astype(bool)
        for mask, area, (lx0, ly0, lx1, ly1) in zip(self.masks, self.areas, self.limits, strict=True):
            zone_changed = moving & mask
            count = int(zone_changed.sum())
            if count == 0:
                out.append(ZoneMotion(0.0, None, 0.0))
                continue
            ids = np.unique(labels[zone_changed])
            ids = ids[ids > 0]
            x0, y0, x1, y1 = 1 << 30, 1 << 30, -1, -1
            for i in ids:
                x, y, w, h, _ = stats[i]
                x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x + w), max(y1, y + h)
            # An arm that reaches in from above belongs to the blob but not to the crop.
            reaching = x0 < lx0 or y0 < ly0 or x1 > lx1 or y1 > ly1
            x0, y0, x1, y1 = max(x0, lx0), max(y0, ly0), min(x1, lx1), min(y1, ly1)
            bbox = (int(x0 * inv), int(y0 * inv), int(np.ceil((x1 - x0) * inv)), int(np.ceil((y1 - y0) * inv)))
            out.append(ZoneMotion(count / area, bbox, count * inv * inv, reaching))
        return out


class Presence:
    """Whether anything moves from one frame to the next inside `polygons` (the drop zones and the
    condition regions): a person in view. Frames are shrunk to `width`, grey, blurred; a global
    change of light is taken out as in MotionGate."""

    def __init__(self, frame_size, polygons, width=160, threshold=25, min_fraction=0.003):
        w, h = frame_size
        self.scale = min(1.0, width / w)
        self.size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        mask = np.zeros((self.size[1], self.size[0]), np.uint8)
        for polygon in polygons:
            cv2.fillPoly(mask, [np.round(np.array(polygon, np.float32) * self.scale).astype(np.int32)], 1)
        self.mask = mask.astype(bool)
        self.area = max(1, int(self.mask.sum()))
        self.threshold, self.min_fraction = threshold, min_fraction
        self.previous = None

    def moving(self, image) -> bool:
        grey = shrink_grey(image, self.size)
        previous, self.previous = self.previous, grey
        if previous is None:
            return False
        changed = np.abs(grey - previous * light_gain(grey, previous)) > self.threshold
        return int((changed & self.mask).sum()) >= self.min_fraction * self.area
