"""Generated station scenes for the station-state model (bin openings, ground zones), and the
drawing that scripts/make_station_clip.py uses for its overflow and litter scenes.

There are no licensed photos of overflowing bins or littered station floors in ../shared, so the
scenes are drawn: a bin seen from above at an angle (front face in its colour, the open top as a
quadrilateral, a dark inside), and item cutouts of the shared photos (the item without its
background, where the border colour allows) or drawn rubbish bags inside it, heaped above its rim
or lying around it; a floor (concrete, tiles, asphalt, paving) with stains, lines and shadows, and
items lying on it. `bin_scene` and `ground_scene` draw one region as the edge crops it (the
bounding box of the region's polygon, with a random margin, as an operator would draw it), then
`camera` applies station-camera degradations from edge.model.degrade (no rotation of the whole
scene, no hand: a person in view is never judged).

States (labels of the model's heads):
- bin: `ok` (empty, partly filled below the rim, or lid closed), `full` (contents level with the
  rim: the inside is no longer visible), `overflow` (heaped above the rim, often spilled beside the
  bin too: rubbish beside a bin that is not heaped is the ground zone's litter);
- ground: `clean` (texture, stains, painted lines, shadows, a drain), `litter` (1-7 items or bags).

Everything is seeded by the caller's numpy Generator; nothing is random at import.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

BIN_STATES = ("ok", "full", "overflow")
GROUND_STATES = ("clean", "litter")
# Beijing bin colours (BGR): kitchen green, recyclable blue, hazardous red, other grey.
BIN_COLOURS = ((60, 150, 40), (170, 90, 20), (40, 40, 190), (120, 120, 120))
BAG_COLOURS = ((30, 30, 30), (40, 90, 40), (200, 200, 200), (40, 40, 160), (150, 80, 30), (60, 150, 200))


# --- item cutouts -------------------------------------------------------------------------------

def cutout_alpha(image: np.ndarray) -> np.ndarray:
    """A soft 0..1 mask of the item in a photo: pixels far from the border's colour, largest blob,
    closed and feathered; an ellipse when that leaves too little or too much (busy backgrounds)."""
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    ref = np.median(border, axis=0)
    spread = float(np.median(np.abs(border - ref).sum(1)))
    dist = np.abs(lab - ref).sum(2)
    mask = (dist > max(30.0, 3 * spread)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    share = 0.0
    if n > 1:
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = (labels == k).astype(np.uint8)
        share = mask.mean()
    if not 0.12 <= share <= 0.85:
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.42), int(h * 0.42)), 0, 0, 360, 1, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, min(h, w) / 120))
    return np.clip(alpha, 0, 1)


class Cutouts:
    """Item cutouts of the photos at `paths` (relative to `folder`), decoded once each."""

    def __init__(self, folder: Path, paths: list[str]):
        if not paths:
            raise ValueError("no photos to cut items from")
        self.folder = Path(folder)
        self.paths = list(paths)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one instance per build, photos are small
    def _load(self, path: str):
        img = cv2.imread(str(self.folder / path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read {self.folder / path}")
        return img, (cutout_alpha(img) * 255).astype(np.uint8)

    def take(self, rng: np.random.Generator, size: int, angle: float | None = None):
        """A random item, its long side `size` px, turned by `angle` (random when None): (bgr f32, alpha)."""
        img, alpha = self._load(self.paths[int(rng.integers(len(self.paths)))])
        return transform(img, alpha.astype(np.float32) / 255, size, rng.uniform(0, 360) if angle is None else angle)


def transform(img: np.ndarray, alpha: np.ndarray, size: int, angle: float):
    h, w = img.shape[:2]
    s = max(2, size) / max(h, w)
    img = cv2.resize(img, (max(2, round(w * s)), max(2, round(h * s))), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    if angle:
        h, w = img.shape[:2]
        side = int(np.ceil(np.hypot(h, w)))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        m[:, 2] += ((side - w) / 2, (side - h) / 2)
        img = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(alpha, m, (side, side), flags=cv2.INTER_LINEAR)
    return img.astype(np.float32), alpha.astype(np.float32)


def bag(rng: np.random.Generator, size: int):
    """A tied rubbish bag: a lumpy shaded blob with a knot, (bgr f32, alpha)."""
    w = max(4, int(size * rng.uniform(0.7, 1.0)))
    h = max(4, int(size * rng.uniform(0.6, 1.0)))
    mask = np.zeros((h + 4, w + 4), np.float32)
    cv2.ellipse(mask, ((w + 4) // 2, int((h + 4) * 0.58)), (w // 2, int(h * 0.4)), 0, 0, 360, 1.0, -1)
    for _ in range(3):
        cx, cy = rng.uniform(0.3, 0.7) * (w + 4), rng.uniform(0.35, 0.75) * (h + 4)
        cv2.ellipse(mask, (int(cx), int(cy)), (max(1, int(w * rng.uniform(0.15, 0.3))),
                                               max(1, int(h * rng.uniform(0.15, 0.3)))), 0, 0, 360, 1.0, -1)
    cv2.ellipse(mask, ((w + 4) // 2, max(2, int(h * 0.12))), (max(1, w // 10), max(1, h // 8)), 0, 0, 360, 1.0, -1)
    colour = np.array(BAG_COLOURS[int(rng.integers(len(BAG_COLOURS)))], np.float32) * rng.uniform(0.8, 1.15)
    yy, xx = np.mgrid[0:h + 4, 0:w + 4].astype(np.float32)
    shade = 0.75 + 0.45 * (1 - yy / (h + 4)) * (1 - np.abs(xx / (w + 4) - 0.4))
    wrinkles = 1 + 0.12 * np.sin(xx / max(2, w / rng.uniform(3, 8)) + rng.uniform(0, 6)) * \
        np.sin(yy / max(2, h / rng.uniform(2, 5)))
    img = np.clip(colour[None, None, :] * (shade * wrinkles)[..., None], 0, 255)
    return img.astype(np.float32), cv2.GaussianBlur(mask, (0, 0), 0.8)


def rubbish(cutouts: Cutouts, rng: np.random.Generator, size: int, bag_share: float = 0.35):
    return bag(rng, size) if rng.random() < bag_share else cutouts.take(rng, size)


def paste(canvas: np.ndarray, img: np.ndarray, alpha: np.ndarray, cx: float, cy: float,
          clip: np.ndarray | None = None) -> None:
    """Alpha-blend `img` centred at (cx, cy) into the float32 canvas, inside `clip` (0..1 mask) if given."""
    H, W = canvas.shape[:2]
    h, w = img.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    a = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    if clip is not None:
        a = a * clip[fy0:fy1, fx0:fx1]
    a = a[..., None]
    region = canvas[fy0:fy1, fx0:fx1]
    region[:] = region * (1 - a) + img[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] * a


# --- surfaces -----------------------------------------------------------------------------------

def floor(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A station floor: concrete, tiles, asphalt or paving, with its texture (float32 BGR)."""
    kind = rng.choice(["concrete", "tiles", "asphalt", "paving"])
    base = {"concrete": rng.uniform(95, 165), "tiles": rng.uniform(110, 190), "asphalt": rng.uniform(45, 85),
            "paving": rng.uniform(80, 150)}[kind]
    tint = np.array([rng.uniform(0.9, 1.08), rng.uniform(0.95, 1.05), rng.uniform(0.92, 1.15)], np.float32)
    img = np.full((h, w, 3), base, np.float32) * tint
    grain = rng.normal(0, {"asphalt": 9, "concrete": 5}.get(kind, 3.5), (h, w, 1)).astype(np.float32)
    img += cv2.GaussianBlur(grain, (0, 0), rng.uniform(0.5, 1.5)).reshape(h, w, 1)
    blotches = cv2.resize(rng.normal(0, rng.uniform(3, 10), (4, 4)).astype(np.float32), (w, h),
                          interpolation=cv2.INTER_CUBIC)
    img += blotches[..., None]
    if kind in ("tiles", "paving"):
        step = max(6, int(w * rng.uniform(0.08, 0.25)))
        line = tuple(float(v) for v in np.full(3, base * rng.uniform(0.6, 0.85)))
        off = int(rng.integers(step))
        for x in range(off, w, step):
            cv2.line(img, (x, 0), (x + int(rng.uniform(-0.2, 0.2) * h), h), line, 1)
        vstep = max(4, int(step * rng.uniform(0.35, 0.8)))  # rows closer: seen at an angle
        for y in range(off % vstep, h, vstep):
            cv2.line(img, (0, y), (w, y), line, 1)
    return img


def clean_marks(img: np.ndarray, rng: np.random.Generator) -> None:
    """What a clean floor still shows: stains, a painted line, a shadow band, a drain grate."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 4))):
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                    (max(2, int(w * rng.uniform(0.05, 0.25))), max(2, int(h * rng.uniform(0.03, 0.15)))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 40))[..., None]
        img *= 1 - mask * rng.uniform(0.1, 0.3)
    if rng.random() < 0.3:
        colour = (40, 200, 230) if rng.random() < 0.6 else (235, 235, 235)
        y = int(rng.uniform(0.1, 0.9) * h)
        cv2.line(img, (0, y), (w, y + int(rng.uniform(-0.2, 0.2) * h)), colour, max(2, int(h * 0.04)))
    if rng.random() < 0.35:
        shadow = np.zeros((h, w), np.float32)
        pts = np.array([[rng.uniform(0, w), 0], [rng.uniform(0, w), 0], [rng.uniform(0, w), h],
                        [rng.uniform(0, w), h]], np.int32)
        cv2.fillConvexPoly(shadow, cv2.convexHull(pts), 1.0)
        img *= 1 - cv2.GaussianBlur(shadow, (0, 0), max(1.0, w / 30))[..., None] * rng.uniform(0.2, 0.45)
    if rng.random() < 0.15:
        x, y = int(rng.uniform(0.1, 0.7) * w), int(rng.uniform(0.2, 0.7) * h)
        gw, gh = int(w * rng.uniform(0.15, 0.3)), int(h * rng.uniform(0.08, 0.18))
        cv2.rectangle(img, (x, y), (x + gw, y + gh), (60, 60, 60), -1)
        for gx in range(x + 3, x + gw, 5):
            cv2.line(img, (gx, y + 2), (gx, y + gh - 2), (25, 25, 25), 1)


def wall(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    top = rng.uniform(110, 200)
    g = np.linspace(top, top * rng.uniform(0.75, 0.95), h, dtype=np.float32)[:, None, None]
    tint = np.array([rng.uniform(0.85, 1.1), rng.uniform(0.9, 1.05), rng.uniform(0.9, 1.15)], np.float32)
    img = np.repeat(g, w, axis=1) * tint
    return img + rng.normal(0, 3, (h, w, 1)).astype(np.float32)


# --- bins ---------------------------------------------------------------------------------------

def bin_geometry(x0: float, x1: float, rim_y: float, bottom_y: float, depth: float) -> dict:
    """A bin seen from in front and above: its front face (x0..x1, rim_y..bottom_y) and its open
    top, a quadrilateral from the front rim up to the back rim `depth` px higher, a little narrower."""
    inset = (x1 - x0) * 0.04
    opening = np.array([[x0, rim_y], [x1, rim_y], [x1 - inset, rim_y - depth], [x0 + inset, rim_y - depth]],
                       np.float32)
    return {"x0": x0, "x1": x1, "rim_y": rim_y, "bottom_y": bottom_y, "depth": depth, "opening": opening}


def opening_mask(shape, geom: dict) -> np.ndarray:
    mask = np.zeros(shape[:2], np.float32)
    cv2.fillConvexPoly(mask, np.round(geom["opening"]).astype(np.int32), 1.0)
    return mask


def draw_bin(canvas: np.ndarray, geom: dict, colour, *, lid: bool = False, label: str | None = None) -> None:
    """The bin's front face, its rim and its dark inside (or a closed lid)."""
    colour = np.asarray(colour, np.float32)
    x0, x1, rim, bottom = (int(round(geom[k])) for k in ("x0", "x1", "rim_y", "bottom_y"))
    cv2.rectangle(canvas, (x0, rim), (x1, bottom), tuple(float(c) for c in colour), -1)
    cv2.rectangle(canvas, (x0, rim), (x1, rim + max(2, int((bottom - rim) * 0.08))),
                  tuple(float(c) for c in colour * 0.6), -1)
    pts = np.round(geom["opening"]).astype(np.int32)
    if lid:
        cv2.fillConvexPoly(canvas, pts, tuple(float(c) for c in colour * 0.85))
    else:
        cv2.fillConvexPoly(canvas, pts, (22.0, 22.0, 24.0))
        back = pts.copy()  # the inside of the back wall, lit a little
        back[:2, 1] = pts[2:, 1][::-1] + max(1, int(geom["depth"] * 0.45))
        cv2.fillConvexPoly(canvas, np.array([back[3], back[2], back[1], back[0]]), tuple(float(c) for c in colour * 0.3))
    cv2.polylines(canvas, [pts], True, tuple(float(c) for c in colour * 0.5), max(1, int((x1 - x0) * 0.015)),
                  cv2.LINE_AA)
    if label:
        scale = max(0.3, (x1 - x0) / 260)
        text = np.zeros(canvas.shape[:2], np.uint8)  # putText draws on 8-bit images only
        cv2.putText(text, label, (x0 + int(10 * scale), rim + int((bottom - rim) * 0.55)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, 255, max(1, int(2 * scale)), cv2.LINE_AA)
        a = text.astype(np.float32)[..., None] / 255
        canvas[:] = canvas * (1 - a) + 255 * a


def fill_bin(canvas, geom, cutouts, rng, level: float) -> None:
    """Contents seen through the opening: `level` 1 fills it to the rim, less leaves the back dark."""
    clip = opening_mask(canvas.shape, geom)
    if level < 1:  # only the front part of the opening shows contents below the rim
        cut = geom["rim_y"] - geom["depth"] * level
        clip[:max(0, int(cut))] = 0
    w = geom["x1"] - geom["x0"]
    n = int(12 * max(level, 0.2)) + int(rng.integers(0, 6))
    for _ in range(n):
        size = int(w * rng.uniform(0.25, 0.5))
        img, alpha = rubbish(cutouts, rng, size)
        cx = rng.uniform(geom["x0"], geom["x1"])
        cy = rng.uniform(geom["rim_y"] - geom["depth"] * min(1.0, level + 0.1), geom["rim_y"])
        paste(canvas, img, alpha, cx, cy, clip)
    if level >= 1:  # nothing dark left between the pieces: the heap's own shade fills the gaps
        hole = (clip > 0.5) & (canvas.mean(2) < 30)
        if hole.any():
            fillers = rng.uniform(60, 160, 3).astype(np.float32)
            canvas[hole] = fillers


def heap(canvas, geom, cutouts, rng, height: float) -> None:
    """Rubbish heaped above the rim, up to `height` (share of the bin's width) over the back rim."""
    fill_bin(canvas, geom, cutouts, rng, 1.0)
    w = geom["x1"] - geom["x0"]
    top = geom["rim_y"] - geom["depth"] - height * w
    n = 5 + int(height * 12) + int(rng.integers(0, 5))
    for i in range(n):
        t = i / max(1, n - 1)  # bottom layers first, narrower towards the top
        spread = 0.55 - 0.3 * t
        cx = (geom["x0"] + geom["x1"]) / 2 + rng.uniform(-spread, spread) * w
        cy = geom["rim_y"] - (geom["rim_y"] - top) * t * rng.uniform(0.75, 1.0) - geom["depth"] * 0.3
        img, alpha = rubbish(cutouts, rng, int(w * rng.uniform(0.28, 0.5)))
        paste(canvas, img, alpha, cx, cy)


def spill(canvas, geom, cutouts, rng, n: int) -> None:
    """Rubbish on the ground beside and in front of the bin's foot."""
    w = geom["x1"] - geom["x0"]
    for _ in range(n):
        side = rng.choice([-1, 1, 0])
        cx = (geom["x0"] + geom["x1"]) / 2 + side * rng.uniform(0.45, 0.8) * w if side else \
            rng.uniform(geom["x0"], geom["x1"])
        cy = geom["bottom_y"] + rng.uniform(-0.1, 0.15) * w
        img, alpha = rubbish(cutouts, rng, int(w * rng.uniform(0.2, 0.4)))
        paste(canvas, img, alpha, cx, cy)


def bin_contents(canvas, geom, state: str, cutouts, rng) -> None:
    """What a bin in `state` holds, drawn after draw_bin (the clip draws a state as the model learnt it)."""
    if state == "full":
        fill_bin(canvas, geom, cutouts, rng, 1.0)
    elif state == "overflow":  # heaped above the rim, and often spilled beside the bin too
        heap(canvas, geom, cutouts, rng, rng.uniform(0.2, 0.9))
        if rng.random() < 0.4:
            spill(canvas, geom, cutouts, rng, int(rng.integers(2, 6)))
    elif state == "ok" and rng.random() < 0.5:
        fill_bin(canvas, geom, cutouts, rng, rng.uniform(0.15, 0.6))
    elif state not in BIN_STATES:
        raise ValueError(f"unknown bin state {state!r}")


def bin_scene(state: str, cutouts: Cutouts, rng: np.random.Generator, width: int = 224) -> np.ndarray:
    """One bin-opening region in `state`, as the edge crops it (uint8 BGR, about `width` px wide)."""
    aspect = rng.uniform(0.7, 1.6)  # width / height of the operator's region
    W, H = width, max(32, int(width / aspect))
    # draw on a larger canvas, then crop the region (random margins) out of it
    bw = W * rng.uniform(0.5, 0.8)
    CW, CH = int(W * 2), int(H * 2.4)
    floor_y = int(CH * rng.uniform(0.55, 0.75))
    canvas = np.concatenate([wall(floor_y, CW, rng), floor(CH - floor_y, CW, rng)])
    if rng.random() < 0.5:
        clean_marks(canvas[floor_y:], rng)
    bx0 = CW / 2 - bw / 2
    height = bw * rng.uniform(0.9, 1.4)
    depth = bw * rng.uniform(0.15, 0.5)
    bottom = floor_y + bw * rng.uniform(0.05, 0.3)
    geom = bin_geometry(bx0, bx0 + bw, bottom - height, bottom, depth)
    colour = np.array(BIN_COLOURS[int(rng.integers(len(BIN_COLOURS)))], np.float32) * rng.uniform(0.75, 1.2)
    gap = bw * rng.uniform(0.05, 0.25)
    for side in (-1, 1):  # neighbours: empty or closed
        if rng.random() < 0.7:
            nx0 = bx0 + side * (bw + gap)
            ngeom = bin_geometry(nx0, nx0 + bw, geom["rim_y"], bottom, depth)
            draw_bin(canvas, ngeom, np.array(BIN_COLOURS[int(rng.integers(4))], np.float32),
                     lid=rng.random() < 0.4)
    lid = state == "ok" and rng.random() < 0.25
    draw_bin(canvas, geom, np.clip(colour, 0, 255), lid=lid)
    if not lid:
        bin_contents(canvas, geom, state, cutouts, rng)
    # the region: the opening and the space above it (heaps), with the operator's margins
    above = bw * rng.uniform(0.5, 1.1)
    top = geom["rim_y"] - depth - above
    below = (bottom - geom["rim_y"]) * rng.uniform(0.1, 0.6)
    side = bw * rng.uniform(0.05, 0.35)
    x0, x1 = int(bx0 - side), int(bx0 + bw + side)
    y0, y1 = int(max(0, top)), int(min(CH, geom["rim_y"] + below))
    crop = canvas[max(0, y0):y1, max(0, x0):min(CW, x1)]
    crop = cv2.resize(np.clip(crop, 0, 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_AREA)
    return crop


def litter(canvas, cutouts, rng, n: int, box=None) -> None:
    """`n` items or bags lying on the floor inside `box` (x0, y0, x1, y1; the canvas by default)."""
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = box or (0, 0, W, H)
    for _ in range(n):
        size = max(4, int(min((x1 - x0) * rng.uniform(0.08, 0.3), (y1 - y0) * rng.uniform(0.4, 1.0))))
        img, alpha = rubbish(cutouts, rng, size, bag_share=0.25)
        img = img * rng.uniform(0.7, 1.0)  # lying flat, less lit than when held
        mx, my = min(size / 3, (x1 - x0) / 2), min(size / 3, (y1 - y0) / 2)
        paste(canvas, img, alpha, rng.uniform(x0 + mx, x1 - mx), rng.uniform(y0 + my, y1 - my))


def ground_scene(state: str, cutouts: Cutouts, rng: np.random.Generator, width: int = 224) -> np.ndarray:
    """One ground region in `state` (uint8 BGR, about `width` px wide)."""
    if state not in GROUND_STATES:
        raise ValueError(f"unknown ground state {state!r}")
    aspect = rng.uniform(1.2, 6.0)  # a strip in front of the bins
    W, H = width, max(32, int(width / aspect))
    canvas = floor(H, W, rng)
    clean_marks(canvas, rng)
    if rng.random() < 0.4:  # the foot of the bins at the top edge
        y = int(H * rng.uniform(0.05, 0.2))
        x = 0
        while x < W:
            bw = int(W * rng.uniform(0.15, 0.3))
            cv2.rectangle(canvas, (x, 0), (x + bw, y),
                          tuple(float(c) for c in np.array(BIN_COLOURS[int(rng.integers(4))]) * 0.8), -1)
            x += bw + int(W * rng.uniform(0.02, 0.06))
    if state == "litter":
        litter(canvas, cutouts, rng, int(rng.integers(1, 8)))
    return np.clip(canvas, 0, 255).astype(np.uint8)


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Station-camera degradations of a whole region: resolution, blur, light, noise, compression."""
    from edge.model import degrade as dg

    out = image
    if rng.random() < 0.3:
        out = dg.perspective_tilt(out, rng.uniform(0, 0.15), int(rng.integers(4)))
    if rng.random() < 0.7:
        out = dg.small_then_enlarge(out, int(rng.uniform(48, 160)))
    if rng.random() < 0.25:
        out = dg.motion_blur(out, int(rng.integers(1, 6)), rng.uniform(0, 180))
    if rng.random() < 0.7:
        warm = rng.random() < 0.6
        tint = (rng.uniform(0.75, 0.95), rng.uniform(0.9, 1.05), rng.uniform(1.0, 1.25)) if warm \
            else tuple(rng.uniform(0.85, 1.15, 3))
        out = dg.lighting(out, rng.uniform(1.0, 2.2), rng.uniform(0.35, 1.2), tint)
    if rng.random() < 0.5:
        out = dg.sensor_noise(out, rng.uniform(0, 18), rng)
    if rng.random() < 0.7:
        out = dg.jpeg(out, int(rng.uniform(15, 60)))
    return out
