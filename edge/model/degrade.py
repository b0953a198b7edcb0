"""Station-camera degradation: pure functions over BGR uint8 images.

The shared photos are clean (one item, well lit, filling the frame). A camera
over a waste station sees the item small, from above at an angle, moving,
under dim or yellow light, half covered by a hand, through heavy compression.
These functions reproduce that, for training-time augmentation and for the
degraded validation set. Every function takes an HxWx3 uint8 BGR array and
returns a new uint8 array of the same shape; none modifies its input.

Realistic ranges for a station camera (720p, 2-3 m above the bins, a cheap
lens, H.264 at a low bit rate). `degrade` samples every parameter in these ranges:

| effect | parameter | range | why |
| --- | --- | --- | --- |
| small apparent size | `size` (px of the long side) | 64 - 160 | an item is 100-160 px across in a 720p frame, less for small items and far bins |
| perspective tilt | `tilt` (fraction of the side squeezed) | 0 - 0.25 | camera looks down at 30-60 degrees, not straight |
| rotation | `angle` (degrees) | -180 - 180 | items fall in any orientation |
| motion blur | `length` (px at 224) | 1 - 15 | a dropped item moves 0.3-1 m/s at 1/30-1/60 s exposure |
| low light | `gamma` | 1 - 2.2 | dim evening light, crushed shadows |
| gain | `gain` | 0.35 - 1.2 | exposure from under-exposed to slightly bright |
| colour cast | `tint` (per-channel gain) | 0.75 - 1.25 | sodium / warm LED street light: yellow-orange; some cool LEDs |
| sensor noise | `sigma` (of 255) | 0 - 18 | small sensor at high gain at night |
| occlusion | `fraction` (of the side covered) | 0 - 0.4 | a hand or sleeve entering from an edge |
| JPEG | `quality` | 15 - 60 | heavy video compression |

`degrade(image, rng)` applies a random subset in a fixed realistic order; with
the same seed it produces the same image.
"""
from __future__ import annotations

import cv2
import numpy as np

RANGES = {
    "size": (64, 160),
    "tilt": (0.0, 0.25),
    "angle": (-180.0, 180.0),
    "blur_length": (1, 15),
    "gamma": (1.0, 2.2),
    "gain": (0.35, 1.2),
    "tint": (0.75, 1.25),
    "noise_sigma": (0.0, 18.0),
    "occlusion": (0.0, 0.4),
    "jpeg_quality": (15, 60),
}

# How often each effect is applied by `degrade` (strength 1.0).
PROBABILITIES = {
    "small": 0.7, "tilt": 0.6, "rotate": 0.6, "blur": 0.5, "light": 0.7,
    "noise": 0.5, "occlude": 0.4, "jpeg": 0.7,
}


def _check(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {getattr(image, 'shape', None)} "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    return image


def small_then_enlarge(image: np.ndarray, size: int) -> np.ndarray:
    """Shrink so the long side is `size` px (area interpolation), then enlarge back (bilinear)."""
    image = _check(image)
    h, w = image.shape[:2]
    scale = min(1.0, float(size) / max(h, w))
    if scale >= 1.0:
        return image.copy()
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def perspective_tilt(image: np.ndarray, tilt: float, side: int = 0) -> np.ndarray:
    """Seen from above at an angle: squeeze one side (0 top, 1 right, 2 bottom, 3 left) by `tilt`."""
    image = _check(image)
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = src.copy()
    dx, dy = tilt * w / 2, tilt * h / 2
    if side % 4 == 0:
        dst[0, 0] += dx
        dst[1, 0] -= dx
    elif side % 4 == 1:
        dst[1, 1] += dy
        dst[2, 1] -= dy
    elif side % 4 == 2:
        dst[3, 0] += dx
        dst[2, 0] -= dx
    else:
        dst[0, 1] += dy
        dst[3, 1] -= dy
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def rotate(image: np.ndarray, angle: float) -> np.ndarray:
    """Rotate by `angle` degrees about the centre, keeping the size (borders reflected)."""
    image = _check(image)
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle), 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def motion_blur(image: np.ndarray, length: int, angle: float = 0.0) -> np.ndarray:
    """Linear motion blur of `length` px in direction `angle` (degrees)."""
    image = _check(image)
    length = int(length)
    if length <= 1:
        return image.copy()
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(angle), 1.0)
    k = cv2.warpAffine(k, m, (length, length))
    s = k.sum()
    if s <= 0:
        return image.copy()
    return cv2.filter2D(image, -1, k / s, borderType=cv2.BORDER_REFLECT_101)


def lighting(image: np.ndarray, gamma: float = 1.0, gain: float = 1.0,
             tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Low light and colour cast: out = 255 * gain * tint_c * (in/255) ** gamma, clipped. `tint` is (B, G, R)."""
    image = _check(image)
    x = (image.astype(np.float32) / 255.0) ** float(gamma)
    x *= float(gain) * np.asarray(tint, np.float32).reshape(1, 1, 3)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def sensor_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise (sigma in 0-255 units), mostly luminance with some chroma."""
    image = _check(image)
    h, w = image.shape[:2]
    luma = rng.normal(0.0, sigma, (h, w, 1)).astype(np.float32)
    chroma = rng.normal(0.0, sigma * 0.4, (h, w, 3)).astype(np.float32)
    return np.clip(image.astype(np.float32) + luma + chroma, 0, 255).astype(np.uint8)


def occlude(image: np.ndarray, fraction: float, side: int, rng: np.random.Generator) -> np.ndarray:
    """A hand-like shape (a skin- or sleeve-coloured ellipse with finger bumps) entering from `side`, covering about `fraction` of it."""
    image = _check(image)
    out = image.copy()
    h, w = image.shape[:2]
    if fraction <= 0:
        return out
    # work in a frame where the hand enters from the left, then rotate back
    canvas_h, canvas_w = (h, w) if side % 2 == 0 else (w, h)
    mask = np.zeros((canvas_h, canvas_w), np.uint8)
    reach = int(fraction * canvas_w)
    cy = int(rng.uniform(0.25, 0.75) * canvas_h)
    palm_h = max(2, int(canvas_h * rng.uniform(0.2, 0.35)))
    cv2.ellipse(mask, (0, cy), (max(1, reach), palm_h), 0, 0, 360, 255, -1)
    finger_len = max(1, int(reach * 0.35))
    for i in range(4):
        fy = cy - palm_h + int((i + 0.5) * 2 * palm_h / 4)
        cv2.ellipse(mask, (reach, fy), (finger_len, max(1, palm_h // 5)), 0, 0, 360, 255, -1)
    mask = np.rot90(mask, k=side % 4).copy() if side % 4 else mask
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    skin = rng.random() < 0.7
    base = np.array([rng.uniform(90, 160), rng.uniform(120, 180), rng.uniform(170, 230)]) if skin \
        else rng.uniform(20, 200, 3)  # bare skin (BGR) or a glove/sleeve
    shade = np.linspace(0.75, 1.05, w, dtype=np.float32)[None, :, None]
    colour = np.clip(base[None, None, :] * shade, 0, 255).astype(np.uint8)
    colour = np.broadcast_to(colour, (h, w, 3))
    soft = cv2.GaussianBlur(mask, (0, 0), 1.5).astype(np.float32)[..., None] / 255.0
    return np.clip(out * (1 - soft) + colour * soft, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at `quality` (1-100)."""
    image = _check(image)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def degrade(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Apply a random station-camera degradation (each effect with its probability, scaled by `strength`).

    The order follows the physics: geometry (pose, size), motion, light, the
    occluding hand, sensor noise, then compression.
    """
    image = _check(image)
    p = {k: min(1.0, v * strength) for k, v in PROBABILITIES.items()}
    u = lambda key: rng.uniform(*RANGES[key])  # noqa: E731
    out = image
    if rng.random() < p["rotate"]:
        out = rotate(out, u("angle"))
    if rng.random() < p["tilt"]:
        out = perspective_tilt(out, u("tilt"), int(rng.integers(4)))
    if rng.random() < p["small"]:
        # size is relative to a 224 px crop; scale to this image
        out = small_then_enlarge(out, int(u("size") * max(out.shape[:2]) / 224))
    if rng.random() < p["blur"]:
        out = motion_blur(out, int(rng.integers(RANGES["blur_length"][0], RANGES["blur_length"][1] + 1)
                                   * max(out.shape[:2]) / 224), rng.uniform(0, 180))
    if rng.random() < p["light"]:
        warm = rng.random() < 0.6  # street lights are mostly warm
        lo, hi = RANGES["tint"]
        if warm:
            tint = (rng.uniform(lo, 0.95), rng.uniform(0.9, 1.05), rng.uniform(1.0, hi))
        else:
            tint = tuple(rng.uniform(lo + 0.1, hi - 0.1, 3))
        out = lighting(out, u("gamma"), u("gain"), tint)
    if rng.random() < p["occlude"]:
        out = occlude(out, u("occlusion"), int(rng.integers(4)), rng)
    if rng.random() < p["noise"]:
        out = sensor_noise(out, u("noise_sigma"), rng)
    if rng.random() < p["jpeg"]:
        out = jpeg(out, int(u("jpeg_quality")))
    return out if out is not image else image.copy()


DEFAULT_SEED = 20261129


def degraded_view(image: np.ndarray, index: int, seed: int = DEFAULT_SEED,
                  size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """The fixed degraded version of image number `index` of a set, at the model's input size.

    The build makes its degraded validation set this way (`index` is the row of
    the manifest) and `scripts/eval_model.py --degrade` does the same, so both
    see identical images for the same seed.
    """
    from .preprocess import resize

    return degrade(resize(_check(image), size), np.random.default_rng([int(seed), int(index)]))
