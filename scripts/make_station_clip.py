"""Build a test clip of a waste station from real item photos.

    python scripts/make_station_clip.py --items ../shared/datasets/waste-images \\
        --drops 12 --seed 1 --station-id st-demo-01 --out /tmp/clip

writes into OUT:
- clip.mp4: a station seen from in front (1280x720 by default): a wall and
  floor, four bins in their Beijing colours, items carried down by a hand
  into the drop zone above a bin (some into the wrong bin), let go and falling
  in while the arm is drawn back, idle stretches without drops, slow light
  changes and a sudden one, sensor noise;
- station.toml: a matching station config (drop zones, source = clip.mp4,
  token_file = "token" beside it: write the device token there, or pass
  --token-file to `python -m edge run`);
- truth.jsonl: one line per drop, in order: t (seconds into the clip when the
  item reaches the drop zone), t_end, bin, item (rule-set label), category,
  source_item and path (the manifest's row), wrong (the bin does not accept
  the item), household (the token of the resident's card, or null: see
  --households).

With --households N the drops come from N households of the station, and a
share of the residents (--card-share) scan their card before they drop;
station.toml then reads tokens from `reader.txt` beside it, which whoever
plays the clip writes as the residents scan (scripts/demo.py does). --live
makes station.toml replay the clip at its own pace like a live camera.

With --condition overflow,litter (either or both) the station is drawn as the
station-condition model sees it (scripts/modelbuild/scenes.py: bins from above
at an angle with their openings, floor in front of them), and after the drops
the listed scenes happen in turn as cuts: a bin heaped above its rim, then
emptied; items lying on the ground, then cleaned up. station.toml then has an
`opening` region for each bin, a [[ground]] zone and a [condition] section
(--hold, --interval), and condition.jsonl says when each scene starts and ends.

The item folder is any folder with a manifest.csv in the shared format (path,
item, ... columns); images are read in place.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "scripts")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from modelbuild import scenes  # noqa: E402

BINS = [  # name, category, BGR colour, label
    ("kitchen", "kitchen", (60, 150, 40), "KITCHEN"),
    ("recyclable", "recyclable", (170, 90, 20), "RECYCLABLE"),
    ("hazardous", "hazardous", (40, 40, 190), "HAZARDOUS"),
    ("other", "other", (120, 120, 120), "OTHER"),
]

# Manifest item labels that the rule set names differently.
ITEM_ALIASES = {
    "cardboard": "paper_cardboard",
    "paper": "paper_cardboard",
    "battery_alkaline": "battery",
}


def load_rules(name="beijing"):
    from contract.rules import load_rules as load
    return load(name)


def read_manifest(folder: Path, rules, only: set | None = None) -> list[dict]:
    rows = []
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            item = ITEM_ALIASES.get(row["item"], row["item"])
            if item not in rules.items or (only is not None and row["path"] not in only):
                continue
            path = folder / row["path"]
            if path.exists():
                rows.append({"path": row["path"], "source_item": row["item"], "item": item,
                             "category": rules.category(item)})
    if not rows:
        raise SystemExit(f"{folder}/manifest.csv: no usable images")
    return rows


def layout(width, height):
    """Bin rectangles and drop zones for a frame of this size."""
    margin = width * 0.03
    gap = width * 0.03
    bin_w = (width - 2 * margin - 3 * gap) / 4
    top = height * 0.62
    bottom = height * 0.97
    bins = []
    for i, (name, category, colour, label) in enumerate(BINS):
        x0 = margin + i * (bin_w + gap)
        x1 = x0 + bin_w
        zone = [[round(x0), round(height * 0.30)], [round(x1), round(height * 0.30)],
                [round(x1), round(top)], [round(x0), round(top)]]
        bins.append({"name": name, "category": category, "colour": colour, "label": label,
                     "box": (x0, top, x1, bottom), "zone": zone})
    return bins


CONDITIONS = ("overflow", "litter")


def condition_layout(width, height):
    """Bins seen from above at an angle, higher in the frame, with floor in front of them; each
    with its drop zone above its opening and its opening region; and the ground zone."""
    margin = gap = width * 0.04
    bin_w = (width - 2 * margin - 3 * gap) / 4
    rim, bottom = height * 0.42, height * 0.64
    depth = bin_w * 0.28
    bins = []
    for i, (name, category, colour, label) in enumerate(BINS):
        x0 = margin + i * (bin_w + gap)
        x1 = x0 + bin_w
        geom = scenes.bin_geometry(x0, x1, rim, bottom, depth)
        zone_bottom = round(rim - depth * 0.3)
        zone = [[round(x0), round(height * 0.05)], [round(x1), round(height * 0.05)],
                [round(x1), zone_bottom], [round(x0), zone_bottom]]
        top = max(0, round(rim - depth - bin_w * 0.8))
        side, below = bin_w * 0.1, round(rim + (bottom - rim) * 0.3)
        opening = [[round(x0 - side), top], [round(x1 + side), top], [round(x1 + side), below],
                   [round(x0 - side), below]]
        bins.append({"name": name, "category": category, "colour": colour, "label": label,
                     "box": (x0, rim, x1, bottom), "zone": zone, "geom": geom, "opening": opening})
    ground = [[round(margin), round(height * 0.66)], [round(width - margin), round(height * 0.66)],
              [round(width - margin), round(height * 0.98)], [round(margin), round(height * 0.98)]]
    return bins, ground


def condition_background(width, height, bins, rng: np.random.Generator):
    floor_y = int(height * 0.5)
    img = np.concatenate([scenes.wall(floor_y, width, rng), scenes.floor(height - floor_y, width, rng)])
    for b in bins:
        scenes.draw_bin(img, b["geom"], b["colour"], label=b["label"])
    return np.clip(img, 0, 255).astype(np.uint8)


def condition_scenes(items_dir, rows, bins, ground, conditions, start, fps, nprng, bg):
    """Each listed condition as (first frame, last frame, image of the station in that state)."""
    cutouts = scenes.Cutouts(items_dir, [r["path"] for r in rows])
    out, frame = [], start
    for kind in conditions:
        img = bg.astype(np.float32)
        if kind == "overflow":
            b = bins[int(nprng.integers(len(bins)))]
            scenes.heap(img, b["geom"], cutouts, nprng, 0.6)
            region = b["name"]
        else:
            (x0, y0), (x1, y1) = ground[0], ground[2]
            h = y1 - y0
            scenes.litter(img, cutouts, nprng, 4, box=(x0 + h, y0, x1 - h, y1))
            region = "ground"
        length = int(fps * 12)  # a heap in a drop zone first makes a disposal: room for it and the hold
        out.append({"kind": kind, "region": region, "first": frame, "last": frame + length - 1,
                    "image": np.clip(img, 0, 255).astype(np.float32)})
        frame += length + int(fps * 10)  # then as before, long enough for the end to be reported
    return out, frame


def background(width, height, bins, rng: np.random.Generator):
    img = np.zeros((height, width, 3), np.float32)
    wall = np.linspace(150, 120, int(height * 0.55))[:, None, None] * np.array([1.0, 1.02, 0.96])
    img[: wall.shape[0]] = wall
    img[wall.shape[0]:] = np.array([95, 100, 105], np.float32)
    img += rng.normal(0, 4, (height, width, 1)).astype(np.float32)  # plaster and concrete texture
    img = np.clip(img, 0, 255).astype(np.uint8)
    for b in bins:
        x0, y0, x1, y1 = (int(v) for v in b["box"])
        cv2.rectangle(img, (x0, y0), (x1, y1), b["colour"], -1)
        cv2.rectangle(img, (x0, y0), (x1, y0 + int((y1 - y0) * 0.12)), tuple(int(c * 0.45) for c in b["colour"]), -1)
        scale = max(0.4, (x1 - x0) / 260)
        cv2.putText(img, b["label"], (x0 + int(10 * scale), y0 + int((y1 - y0) * 0.55)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    return img


def plan(rows, bins, drops, rng: random.Random, wrong_share, fps, item_px):
    """Which item goes where and when (frame numbers)."""
    by_category = {}
    for r in rows:
        by_category.setdefault(r["category"], []).append(r)
    categories = sorted(by_category)
    schedule = []
    frame = int(fps * rng.uniform(1.0, 1.5))  # the background settles first
    for _ in range(drops):
        row = rng.choice(by_category[rng.choice(categories)])
        right = [b for b in bins if b["category"] == row["category"]]
        if right and rng.random() >= wrong_share:
            target = rng.choice(right)
        else:
            target = rng.choice([b for b in bins if b["category"] != row["category"]])
        descent = int(fps * rng.uniform(0.9, 1.3))
        fall = max(2, int(fps * 0.2))
        idle = int(fps * rng.uniform(1.2, 3.0))
        size = int(item_px * rng.uniform(0.85, 1.1))
        schedule.append({"row": row, "bin": target, "start": frame, "descent": descent, "fall": fall,
                         "size": size, "drift": rng.uniform(-0.15, 0.15)})
        frame += descent + fall + idle
    return schedule, frame + int(fps * 1.0)


def item_image(folder, row, size):
    img = cv2.imread(str(folder / row["path"]), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {folder / row['path']}")
    h, w = img.shape[:2]
    s = size / max(h, w)
    return cv2.resize(img, (max(2, round(w * s)), max(2, round(h * s))), interpolation=cv2.INTER_AREA)


def paste(frame, img, cx, cy):
    """`img` centred at (cx, cy), opaque, cut at the frame's edges."""
    scenes.paste(frame, img, np.ones(img.shape[:2], np.float32), cx, cy)


SKIN = (125, 160, 215)  # BGR
SLEEVE = (90, 60, 50)


def draw_hand(canvas, d, k, h, fps):
    """A forearm and hand holding the item by its top edge, then drawn back after the release."""
    speed = (d["y_to"] - d["y_from"]) / d["descent"]  # pixels per frame
    release_k = (d["release_y"] - d["y_from"]) / speed
    if k <= release_k:
        hy = d["y_from"] + speed * k - h / 2
    else:
        hy = d["release_y"] - h / 2 - (k - release_k) * 1.5 * speed  # pulled back up, faster
    if hy < -h:
        return
    hand = (int(d["x"]), int(hy))
    width = max(6, int(h * 0.22))
    ax, ay = d["arm_from"]
    cv2.line(canvas, (int(ax), int(ay)), hand, SLEEVE, width + 4, cv2.LINE_AA)
    mid = (int((ax + hand[0]) / 2 * 0.3 + hand[0] * 0.7), int((ay + hand[1]) / 2 * 0.3 + hand[1] * 0.7))
    cv2.line(canvas, mid, hand, SKIN, width, cv2.LINE_AA)
    cv2.ellipse(canvas, hand, (max(4, int(h * 0.2)), max(3, int(h * 0.12))), 0, 0, 360, SKIN, -1, cv2.LINE_AA)


def lighting(total, fps, rng: random.Random):
    """A gain per frame: slow drifts and one sudden step (a lamp switched on)."""
    gain = np.ones(total, np.float32)
    t = np.arange(total) / fps
    gain *= 1 + 0.08 * np.sin(2 * np.pi * t / max(8.0, total / fps / 1.5) + rng.uniform(0, 6))
    if total > fps * 4:
        step = rng.randint(int(total * 0.3), int(total * 0.7))
        gain[step:] *= rng.choice([0.85, 1.15])
    return gain


def render(items_dir: Path, out: Path, *, drops, seed, station_id, width=1280, height=720, fps=15,
           wrong_share=0.3, server="http://127.0.0.1:8000", device_id=None, rules_name="beijing", evidence=False,
           only_paths=None, hands=True, households=0, card_share=0.8, live=False, conditions=(),
           hold=3.0, interval=1.0):
    rules = load_rules(rules_name)
    rows = read_manifest(items_dir, rules, only_paths)
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    if conditions:
        bins, ground = condition_layout(width, height)
        bg = condition_background(width, height, bins, nprng).astype(np.float32)
    else:
        bins, ground = layout(width, height), None
        bg = background(width, height, bins, nprng).astype(np.float32)
    item_px = int(min((bins[0]["box"][2] - bins[0]["box"][0]) * 0.7, height * 0.26))
    schedule, total = plan(rows, bins, drops, rng, wrong_share, fps, item_px)
    states = []
    if conditions:
        states, total = condition_scenes(items_dir, rows, bins, ground, conditions, total, fps, nprng, bg)
        total += int(fps * 1.0)
    gains = lighting(total, fps, rng)
    # three channels of the same noise, so one saturating cv2.addWeighted makes each frame
    noise = [np.repeat(nprng.normal(0, 2.0, (height, width, 1)).astype(np.float32), 3, axis=2) for _ in range(4)]

    out.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit("cv2.VideoWriter cannot write mp4v here")
    truth = []
    images = {}
    card_rng = random.Random(f"{seed}/cards")
    for d in schedule:
        z = d["bin"]["zone"]
        x0, x1 = z[0][0], z[1][0]
        zone_top, opening = z[0][1], z[2][1]
        img = item_image(items_dir, d["row"], d["size"])
        images[id(d)] = img
        h = img.shape[0]
        d["x"] = (x0 + x1) / 2 + d["drift"] * (x1 - x0) / 2
        d["y_from"], d["y_to"] = -h / 2, opening - h / 2
        # The hand lets go when a quarter of the item is inside the drop zone; its arm comes
        # down from the top edge at a slant and stays above the zone.
        d["release_y"] = zone_top - h / 4
        d["arm_from"] = (d["x"] + rng.choice([-1, 1]) * rng.uniform(0.3, 0.6) * (x1 - x0), -30.0)
        # the item's lower edge reaches the zone's top edge at:
        frac = (zone_top - h / 2 - d["y_from"]) / (d["y_to"] - d["y_from"])
        t_zone = (d["start"] + max(0.0, frac) * d["descent"]) / fps
        wrong = not rules.accepts(d["row"]["item"], d["bin"]["category"])
        truth.append({"t": round(t_zone, 3), "t_end": round((d["start"] + d["descent"] + d["fall"]) / fps, 3),
                      "bin": d["bin"]["name"], "item": d["row"]["item"], "category": d["row"]["category"],
                      "source_item": d["row"]["source_item"], "path": d["row"]["path"], "wrong": wrong,
                      "household": household_token(station_id, card_rng, households, card_share)})
    active = 0
    for f in range(total):
        scene = next((c["image"] for c in states if c["first"] <= f <= c["last"]), bg)
        frame = scene.copy()
        while active < len(schedule) and schedule[active]["start"] + schedule[active]["descent"] + \
                schedule[active]["fall"] < f:
            active += 1
        canvas = frame
        for d in schedule[active:active + 2]:
            k = f - d["start"]
            if k < 0:
                continue
            img = images[id(d)]
            if k < d["descent"]:
                y = d["y_from"] + (d["y_to"] - d["y_from"]) * (k / d["descent"])
                paste(canvas, img.astype(np.float32), d["x"], y)
            elif k < d["descent"] + d["fall"]:
                s = 1 - (k - d["descent"] + 1) / (d["fall"] + 1)
                small = cv2.resize(img, (max(2, int(img.shape[1] * s)), max(2, int(img.shape[0] * s))))
                paste(canvas, small.astype(np.float32), d["x"], d["y_to"] + img.shape[0] / 2 * (1 - s))
            if hands:
                draw_hand(canvas, d, k, img.shape[0], fps)
        writer.write(cv2.addWeighted(canvas, float(gains[f]), noise[f % 4], 1.0, 0.0, dtype=cv2.CV_8U))
    writer.release()

    with open(out / "truth.jsonl", "w", encoding="utf-8") as f:
        for t in truth:
            f.write(json.dumps(t) + "\n")
    if conditions:
        with open(out / "condition.jsonl", "w", encoding="utf-8") as f:
            for c in states:
                f.write(json.dumps({"kind": c["kind"], "region": c["region"], "start": round(c["first"] / fps, 3),
                                    "end": round((c["last"] + 1) / fps, 3)}) + "\n")
    (out / "station.toml").write_text(station_toml(station_id, device_id or f"dev-{station_id}", server,
                                                   bins, rules_name, evidence, households > 0, live,
                                                   ground=ground, hold=hold, interval=interval),
                                      encoding="utf-8")
    return truth, total / fps


def household_token(station_id: str, rng: random.Random, households: int, card_share: float) -> str | None:
    """The opaque token on the card of one of the station's households, if the
    resident scanned it (a card holds no name or door number)."""
    if households <= 0 or rng.random() >= card_share:
        return None
    n = rng.randrange(households)
    return "hh-" + hashlib.sha256(f"{station_id}/{n}".encode()).hexdigest()[:12]


def polygon(points) -> str:
    return "[" + ", ".join(f"[{x}, {y}]" for x, y in points) + "]"


def station_toml(station_id, device_id, server, bins, rules_name, evidence=False, reader=False, live=False,
                 ground=None, hold=3.0, interval=1.0):
    lines = [
        "# Written by scripts/make_station_clip.py for clip.mp4 beside it.",
        "[station]", f'id = "{station_id}"', 'timezone = "+08:00"', f'rules = "{rules_name}"', "",
        "[camera]", 'source = "clip.mp4"', *(["realtime = true"] if live else []), "",
        "[server]", f'url = "{server}"', f'device_id = "{device_id}"', 'token_file = "token"', "",
        "[outbox]", 'path = "outbox.sqlite"', "",
    ]
    privacy = (["evidence = true"] if evidence else []) + (['household_reader = "reader.txt"'] if reader else [])
    if privacy:
        lines += ["[privacy]", *privacy, ""]
    if ground:
        # a heap that appears in a drop zone is one long disposal: split it soon
        lines += ["[episode]", "max_duration = 3.0", "",
                  "[condition]", f"interval = {interval}", f"hold = {hold}", "quiet = 1.0", ""]
    for b in bins:
        lines += ["[[bins]]", f'name = "{b["name"]}"', f'category = "{b["category"]}"', f"zone = {polygon(b['zone'])}"]
        lines += [f"opening = {polygon(b['opening'])}"] if ground else []
        lines += [""]
    if ground:
        lines += ["[[ground]]", 'name = "front"', f"zone = {polygon(ground)}", f'bin = "{bins[0]["name"]}"', ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", required=True, type=Path, help="folder of item photos with manifest.csv")
    p.add_argument("--drops", required=True, type=int, help="number of drops")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--station-id", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--wrong-share", type=float, default=0.3, help="share of drops into a wrong bin")
    p.add_argument("--server", default="http://127.0.0.1:8000", help="server URL for station.toml")
    p.add_argument("--device-id", help="device id for station.toml (default dev-<station id>)")
    p.add_argument("--no-hands", action="store_true", help="items move on their own, without a hand")
    p.add_argument("--evidence", action="store_true",
                   help="station.toml sends a blurred evidence image for each wrong verdict")
    p.add_argument("--households", type=int, default=0,
                   help="households using the station; with N > 0, station.toml reads their cards "
                        "from reader.txt and truth.jsonl says whose card was scanned")
    p.add_argument("--card-share", type=float, default=0.8,
                   help="share of drops whose resident scans a card first (with --households)")
    p.add_argument("--live", action="store_true",
                   help="station.toml replays the clip at its own pace, like a live camera")
    p.add_argument("--condition", default="",
                   help="after the drops, these scenes in turn (comma-separated: overflow, litter), each "
                        "then put right; station.toml judges the bin openings and the ground")
    p.add_argument("--hold", type=float, default=3.0, help="with --condition: station.toml's condition.hold")
    p.add_argument("--interval", type=float, default=1.0,
                   help="with --condition: station.toml's condition.interval")
    p.add_argument("--paths-from", type=Path,
                   help="use only the manifest paths listed in this file, one a line "
                        "(e.g. a model's held-out validation images)")
    args = p.parse_args(argv)
    only = None
    if args.paths_from:
        only = {line.strip() for line in args.paths_from.read_text(encoding="utf-8").splitlines() if line.strip()}
    if args.drops < 0 or args.width < 160 or args.height < 120 or args.fps < 1:
        p.error("drops >= 0, width >= 160, height >= 120, fps >= 1")
    if args.households < 0 or not 0 <= args.card_share <= 1:
        p.error("households >= 0 and 0 <= card-share <= 1")
    conditions = tuple(c for c in args.condition.split(",") if c)
    if any(c not in CONDITIONS for c in conditions):
        p.error(f"--condition takes {', '.join(CONDITIONS)}")
    truth, seconds = render(args.items, args.out, drops=args.drops, seed=args.seed,
                            station_id=args.station_id, width=args.width, height=args.height, fps=args.fps,
                            wrong_share=args.wrong_share, server=args.server, device_id=args.device_id,
                            only_paths=only, hands=not args.no_hands, evidence=args.evidence,
                            households=args.households, card_share=args.card_share, live=args.live,
                            conditions=conditions, hold=args.hold, interval=args.interval)
    wrong = sum(t["wrong"] for t in truth)
    print(f"{args.out}/clip.mp4: {seconds:.1f} s, {args.width}x{args.height} at {args.fps} fps, "
          f"{len(truth)} drops ({wrong} into a wrong bin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
