"""scripts/make_station_clip.py: a clip, a matching station config, and the truth."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_station_clip.py"
SHARED = ROOT.parent / "shared" / "datasets" / "waste-images"
sys.path.insert(0, str(ROOT / "tests" / "edge"))
from edge_doubles import make_colour_items  # noqa: E402


def make(items, out, *extra, drops=5, seed=2):
    subprocess.run([sys.executable, str(SCRIPT), "--items", str(items), "--drops", str(drops), "--seed", str(seed),
                    "--station-id", "st-clip", "--out", str(out), *extra], check=True, capture_output=True)
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    return truth


def test_clip_config_and_truth_agree(tmp_path):
    items = make_colour_items(tmp_path / "items")
    out = tmp_path / "clip"
    truth = make(items, out, "--width", "320", "--height", "180", "--fps", "8", "--wrong-share", "0.5")
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (180, 320, 3) and frames > 5 * 8
    assert len(truth) == 5
    times = [t["t"] for t in truth]
    assert times == sorted(times) and times[-1] < frames / 8
    assert all(t["t_end"] > t["t"] for t in truth)
    assert any(t["wrong"] for t in truth) and not all(t["wrong"] for t in truth)
    (out / "token").write_text("x")
    config = load_config(out / "station.toml")
    assert config.station.id == "st-clip" and config.camera.source == out / "clip.mp4"
    assert [b.category for b in config.bins] == ["kitchen", "recyclable", "hazardous", "other"]
    for t in truth:
        assert t["bin"] in {b.name for b in config.bins}
        assert t["wrong"] == (t["category"] != t["bin"])  # card items have no second accepted bin


def test_same_seed_same_clip(tmp_path):
    items = make_colour_items(tmp_path / "items")
    a = make(items, tmp_path / "a", "--width", "320", "--height", "180", drops=3, seed=9)
    b = make(items, tmp_path / "b", "--width", "320", "--height", "180", drops=3, seed=9)
    c = make(items, tmp_path / "c", "--width", "320", "--height", "180", drops=3, seed=10)
    assert a == b and a != c


@pytest.mark.skipif(not (SHARED / "manifest.csv").exists(),
                    reason=f"the shared photo set is not at {SHARED}")
def test_real_photos_default_size(tmp_path):
    truth = make(SHARED, tmp_path / "real", drops=2, seed=4)
    cap = cv2.VideoCapture(str(tmp_path / "real" / "clip.mp4"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
    cap.release()
    for t in truth:
        assert (SHARED / t["path"]).exists()
        assert t["category"] in {"kitchen", "recyclable", "hazardous", "other"}


def test_evidence_can_be_switched_on_in_the_clip_config(tmp_path):
    """The demo's stations send a blurred evidence image for each wrong verdict."""
    items = make_colour_items(tmp_path / "items")
    out = tmp_path / "clip"
    make(items, out, "--width", "320", "--height", "180", "--fps", "8", "--evidence")
    (out / "token").write_text("x")
    assert load_config(out / "station.toml").privacy.evidence is True
    make(items, tmp_path / "plain", "--width", "320", "--height", "180", "--fps", "8")
    (tmp_path / "plain" / "token").write_text("x")
    assert load_config(tmp_path / "plain" / "station.toml").privacy.evidence is False
