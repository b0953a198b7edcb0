"""Evidence: one small JPEG of a wrong disposal, with people made unrecognisable on the device.

No face detector ships offline with OpenCV 5 (its wheels have no Haar cascades
and YuNet's weights are a download), and a detector that misses a face would
leak it. So the evidence does not depend on finding faces:

1. only the item's box stays sharp: the moving region inside the drop zone
   (plus a tenth of the zone's height), which lies at bin height; everything
   around it is pixelated to blocks of 1/12 of the image's longer side, too
   coarse for a face;
2. when the item was still attached to something bigger in its best frame (a
   person leaning into the zone, an arm), the runtime makes no evidence at all
   (`Episode.reaching`);
3. the image is shrunk to at most `max_px` on its longer side and encoded as
   JPEG; it never exceeds the server's 256 KiB.

A skin-colour filter inside the item's box was tried and dropped: cardboard,
wood and food fall in the skin range, so it blurred the very items the
evidence is for. `skin_share` remains for tests and diagnostics.
"""
from __future__ import annotations

import cv2
import numpy as np

from contract.limits import MAX_EVIDENCE_BYTES as MAX_BYTES


def pixelate(image: np.ndarray, block: int) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def skin_mask(image: np.ndarray) -> np.ndarray:
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    mask = cv2.inRange(ycrcb, (40, 135, 85), (255, 175, 128))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


def skin_share(image: np.ndarray) -> float:
    return float(skin_mask(image).mean() / 255)


def make_evidence(context: np.ndarray, item_box, max_px: int = 320, quality: int = 70) -> bytes:
    """JPEG bytes of `context` with everything but the item box (x, y, w, h) pixelated."""
    h, w = context.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1.0:
        context = cv2.resize(context, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
        item_box = tuple(int(round(v * scale)) for v in item_box)
    h, w = context.shape[:2]
    block = max(8, max(h, w) // 12)
    out = pixelate(context, block)
    x, y, bw, bh = item_box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = context[y0:y1, x0:x1]
    return encode_jpeg(out, quality)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes within the evidence limit, lowering the quality if need be."""
    for q in (quality, 50, 30):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        if ok and len(data) <= MAX_BYTES:
            return data.tobytes()
    raise ValueError("evidence image does not fit in 256 KiB")


def make_sample_crop(crop: np.ndarray, max_px: int = 224, quality: int = 80) -> bytes:
    """A learning sample's image: the crop the model judged (the item's box
    with a small margin, nothing around it), shrunk to `max_px`. The caller
    makes none when a person or arm touched the item (`Episode.reaching`)."""
    h, w = crop.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    return encode_jpeg(crop, quality)
