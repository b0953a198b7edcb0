"""Item pictures drawn with OpenCV, for running the demo without any photos.

Writes a folder in the shared manifest format (path, source, source_label,
item, license, origin, width, height). The shapes are crude: the model was
trained on photos, so expect more uncertain and wrong verdicts than with
real photos.

    python scripts/draw_items.py --out DIR [--per-item 6]
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import cv2
import numpy as np

SIZE = 240


def _canvas(rng):
    shade = rng.randint(215, 250)
    return np.full((SIZE, SIZE, 3), shade, np.uint8)


def battery(img, rng):
    x, w = rng.randint(80, 100), rng.randint(50, 70)
    cv2.rectangle(img, (x, 40), (x + w, 200), (30, 30, 30), -1)
    cv2.rectangle(img, (x, 40), (x + w, 90), (0, 140, 230), -1)
    cv2.rectangle(img, (x + w // 3, 28), (x + 2 * w // 3, 40), (160, 160, 160), -1)


def plastic(img, rng):
    colour = (rng.randint(180, 230), rng.randint(150, 200), 90)
    cv2.rectangle(img, (85, 70), (155, 215), colour, -1)
    cv2.rectangle(img, (105, 35), (135, 70), colour, -1)
    cv2.rectangle(img, (100, 25), (140, 38), (40, 120, 40), -1)
    cv2.rectangle(img, (85, 120), (155, 150), (250, 250, 250), -1)


def glass(img, rng):
    cv2.ellipse(img, (120, 150), (40, 60), 0, 0, 360, (40, 110, 30), -1)
    cv2.rectangle(img, (108, 30), (132, 100), (40, 110, 30), -1)


def metal(img, rng):
    cv2.rectangle(img, (80, 60), (160, 200), (170, 170, 175), -1)
    cv2.ellipse(img, (120, 60), (40, 12), 0, 0, 360, (200, 200, 205), -1)
    cv2.rectangle(img, (80, 110), (160, 150), (40, 40, 200), -1)


def food_waste(img, rng):
    cv2.ellipse(img, (120, 130), (80, 35), rng.randint(-30, 30), 200, 340, (40, 210, 240), 22)
    for _ in range(4):
        cv2.circle(img, (rng.randint(60, 180), rng.randint(150, 200)), rng.randint(8, 16),
                   (30, 80, 160), -1)


def paper_cardboard(img, rng):
    pts = np.array([[50, 90], [170, 70], [200, 170], [70, 195]], np.int32)
    cv2.fillPoly(img, [pts], (90, 140, 190))
    cv2.polylines(img, [pts], True, (60, 100, 140), 3)


ITEMS = {"battery": battery, "plastic": plastic, "glass": glass, "metal": metal,
         "food_waste": food_waste, "paper_cardboard": paper_cardboard}


def draw(out: Path, per_item: int = 6, seed: int = 0) -> int:
    rng = random.Random(seed)
    rows = []
    for item, painter in ITEMS.items():
        (out / "drawn" / item).mkdir(parents=True, exist_ok=True)
        for i in range(per_item):
            img = _canvas(rng)
            painter(img, rng)
            img = cv2.GaussianBlur(img, (3, 3), 0)
            rel = f"drawn/{item}/{i:02d}.jpg"
            cv2.imwrite(str(out / rel), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            rows.append({"path": rel, "source": "drawn", "source_label": item, "item": item,
                         "license": "generated", "origin": "scripts/draw_items.py",
                         "width": SIZE, "height": SIZE})
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-item", type=int, default=6)
    args = parser.parse_args()
    print(f"{draw(args.out, args.per_item)} drawn items in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
