"""Data stage of the model build: read the manifests, decode the photos, group near-duplicates and
split them deterministically (a group goes wholly to training or to validation), and the crops the
build learns from (random resized crops) and is judged on (the fixed degraded copy)."""
from __future__ import annotations

import csv
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge.model import degrade as dg
from edge.model.preprocess import DEFAULT_PREPROCESSING, resize

# The project's taxonomy over the suggested `item` column: paper and cardboard
# are one item (the sources disagree on the line between them, cardstdani
# merges them, and both go to the same bin); alkaline cells are "battery"
# (ordinary dry cells, which Beijing also accepts in the other-waste bin).
ITEM_MAP = {"paper": "paper_cardboard", "cardboard": "paper_cardboard", "battery_alkaline": "battery"}
DEGRADE_SEED = dg.DEFAULT_SEED


# ---------------------------------------------------------------- data

def read_manifests(folders: list[Path], rules) -> list[dict]:
    rows = []
    for folder in folders:
        manifest = folder / "manifest.csv"
        if not manifest.is_file():
            sys.exit(f"error: {manifest} not found (a --data folder needs a manifest.csv)")
        with manifest.open(newline="", encoding="utf-8") as f:
            for line, r in enumerate(csv.DictReader(f), start=2):
                item = ITEM_MAP.get(r["item"], r["item"])
                if item not in rules.item_rules:
                    sys.exit(f"error: {manifest}:{line}: item {r['item']!r} is not in rule set {rules.tag}")
                rows.append({**r, "item": item, "source_item": r["item"], "file": str(folder / r["path"]),
                             "key": f"{folder.name}/{r['path']}"})
    return rows


def dhash(image: np.ndarray) -> int:
    """64-bit difference hash of the grey image (9x8 thumbnail, horizontal gradients)."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    s = cv2.resize(g, (9, 8), interpolation=cv2.INTER_AREA)
    bits = (s[:, 1:] > s[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def thumbnail(image: np.ndarray) -> np.ndarray:
    """16x16 colour thumbnail used to confirm a near-duplicate candidate."""
    return cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)


def load_images(rows: list[dict]) -> list[np.ndarray]:
    images = []
    for r in tqdm(rows, desc="decode", unit="img"):
        im = cv2.imread(r["file"], cv2.IMREAD_COLOR)
        if im is None:
            sys.exit(f"error: cannot read {r['file']}")
        images.append(im)
        r["dhash"] = dhash(im)
        r["thumb"] = thumbnail(im)
    return images


def group_near_duplicates(hashes: list[int], thumbs: list[np.ndarray], max_distance: int = 6,
                          max_thumb_diff: float = 8.0) -> np.ndarray:
    """Union-find over near-duplicate pairs: dHash within `max_distance` bits AND 16x16 thumbnails
    within `max_thumb_diff` mean absolute difference (0-255). The thumbnail check stops flat,
    low-detail images (whose dHashes collide) from chaining unrelated photos into one group."""
    h = np.array(hashes, dtype=np.uint64)
    th = np.stack(thumbs)
    parent = np.arange(len(h))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(h)):
        d = np.bitwise_count(h[i + 1:] ^ h[i])
        for j in np.nonzero(d <= max_distance)[0] + i + 1:
            if np.abs(th[i] - th[j]).mean() > max_thumb_diff:
                continue
            a, b = find(i), find(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(len(h))])


def split(rows: list[dict], groups: np.ndarray, val_fraction: float) -> np.ndarray:
    """Deterministic group split stratified by item: True = validation."""
    is_val = np.zeros(len(rows), bool)
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(int(g), []).append(i)
    # a group's item is its most common one; order groups by a hash of their smallest key
    by_item: dict[str, list[tuple[str, list[int]]]] = {}
    for idx in members.values():
        items = [rows[i]["item"] for i in idx]
        item = max(set(items), key=items.count)
        key = hashlib.sha1(min(rows[i]["key"] for i in idx).encode()).hexdigest()
        by_item.setdefault(item, []).append((key, idx))
    for glist in by_item.values():
        total = sum(len(idx) for _, idx in glist)
        taken = 0
        for _, idx in sorted(glist):
            if taken >= val_fraction * total:
                break
            is_val[idx] = True
            taken += len(idx)
    return is_val



def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random resized crop (area 45-100 %, aspect 3:4-4:3), flips and quarter turns (items are seen from above)."""
    h, w = image.shape[:2]
    for _ in range(10):
        area = rng.uniform(0.45, 1.0) * h * w
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            image = image[y0:y0 + ch, x0:x0 + cw]
            break
    out = resize(image, (size, size))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    k = int(rng.integers(4))
    if k:
        out = np.rot90(out, k)
    return np.ascontiguousarray(out)


def degraded_copy(image: np.ndarray, index: int, seed: int = DEGRADE_SEED) -> np.ndarray:
    """The fixed degraded version of one validation image (seeded by its manifest row), at the input size."""
    return dg.degraded_view(image, index, seed, tuple(DEFAULT_PREPROCESSING["input_size"]))




# ---------------------------------------------------------------- the data stage of build_model.py

@dataclass(frozen=True)
class Dataset:
    """Every decoded image of the manifests with its label and side of the split."""
    rows: list[dict]
    labels: list[str]            # the model's labels, sorted
    item_category: list[int]     # index into CATEGORIES of each label's category
    y: np.ndarray                # label index of each row
    images: list[np.ndarray]
    n_groups: int
    train_idx: np.ndarray
    val_idx: np.ndarray

    @property
    def y_val(self) -> np.ndarray:
        return self.y[self.val_idx]

    def sources(self) -> dict:
        """Images, licence and origin per source (for the metadata and the card)."""
        out = {}
        for r in self.rows:
            s = out.setdefault(r["source"], {"images": 0, "license": r["license"] or "none stated",
                                             "origin": r["origin"]})
            s["images"] += 1
        return out


def prepare(folders: tuple[Path, ...], rules, categories: tuple[str, ...], val_fraction: float, max_train: int = 0,
            log=print) -> Dataset:
    """Read the manifests, decode and hash every image, group near-duplicates and split them."""
    rows = read_manifests(list(folders), rules)
    labels = sorted({r["item"] for r in rows})
    rules.check_items(labels)
    unseen = sorted(set(rules.items) - set(labels))
    if unseen:
        log(f"items of {rules.tag} without photos, which the model will not know: {', '.join(unseen)}")
    lab_index = {label: i for i, label in enumerate(labels)}
    y = np.array([lab_index[r["item"]] for r in rows])
    images = load_images(rows)
    groups = group_near_duplicates([r["dhash"] for r in rows], [r.pop("thumb") for r in rows])
    is_val = split(rows, groups, val_fraction)
    train_idx, val_idx = np.nonzero(~is_val)[0], np.nonzero(is_val)[0]
    if max_train:
        train_idx = np.random.default_rng(0).choice(train_idx, max_train, replace=False)
    ds = Dataset(rows=rows, labels=labels, item_category=[categories.index(rules.category(x)) for x in labels], y=y,
                 images=images, n_groups=len(set(groups.tolist())), train_idx=train_idx, val_idx=val_idx)
    log(f"{len(rows)} images, {ds.n_groups} near-duplicate groups; train {len(train_idx)}, validation {len(val_idx)}")
    return ds


def validation_sets(ds: Dataset) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The validation images as they are (clean) and their fixed degraded copies."""
    clean = [ds.images[i] for i in ds.val_idx]
    degraded = [degraded_copy(ds.images[i], int(i)) for i in tqdm(ds.val_idx, desc="degrade validation", unit="img")]
    return clean, degraded


def calibration_images(ds: Dataset, n: int, seed: int) -> list[np.ndarray]:
    """`n` training images for int8 calibration, every other one degraded (another seed than validation's)."""
    rng = np.random.default_rng(seed + 1)
    idx = rng.choice(ds.train_idx, min(n, len(ds.train_idx)), replace=False)
    return [ds.images[i] if k % 2 else degraded_copy(ds.images[i], int(i), seed=DEGRADE_SEED + 1)
            for k, i in enumerate(idx)]
