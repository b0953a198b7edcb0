"""models/station-state-int8.onnx: its sha256, size, metadata, speed, and that it tells generated
ok from overflowing bins and clean from littered ground on scenes of photos it never trained on."""
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.model import DEFAULT_MODEL, ModelError, load_classifier
from edge.model.station import DEFAULT_STATION_MODEL, load_station_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = DEFAULT_STATION_MODEL
SHARED = ROOT.parent / "shared" / "datasets" / "waste-images"

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason=f"the station-state model is not committed ({MODEL})")


@pytest.fixture(scope="module")
def model():
    return load_station_model()


def test_sha256_file_matches():
    line = MODEL.with_name(MODEL.name + ".sha256").read_text().split()
    assert line == [hashlib.sha256(MODEL.read_bytes()).hexdigest(), MODEL.name]


def test_size_at_most_8_mib():
    assert MODEL.stat().st_size <= 8 * 2**20


def test_metadata_round_trip(model):
    meta = model.metadata
    assert meta["name"] == "station-state-int8" and meta["version"]
    assert {h: v["labels"] for h, v in meta["heads"].items()} == {"bin": ["ok", "full", "overflow"],
                                                                  "ground": ["clean", "litter"]}
    assert {h: v["output"] for h, v in meta["heads"].items()} == {"bin": "bin_probs", "ground": "ground_probs"}
    assert all(0.5 <= v["threshold"] < 1 for v in meta["heads"].values())
    assert set(meta["outputs"]) == {"bin_probs", "ground_probs", "embedding"}
    assert meta["preprocessing"] == load_classifier().metadata["preprocessing"]
    assert "generated" in meta["training"]["scenes"] and "by photo" in meta["training"]["split"]
    assert meta["training"]["command"].startswith("python scripts/build_station_model.py")
    assert json.loads(json.dumps(meta)) == meta
    assert model.version.startswith("station-state-int8@")


def test_recorded_validation_figures(model):
    v = model.metadata["validation"]
    for view in ("clean", "degraded"):
        assert v["bin"][view]["balanced_accuracy"] >= 0.85
        assert v["bin"][view]["ok_judged_overflow"] <= 0.02 and v["bin"][view]["overflow_judged_ok"] <= 0.02
        assert v["ground"][view]["balanced_accuracy"] >= 0.9
        assert v["ground"][view]["clean_judged_litter"] <= 0.05


def test_a_file_without_the_heads_is_refused():
    with pytest.raises(ModelError, match="heads"):
        load_station_model(DEFAULT_MODEL)


def test_one_region_takes_a_few_milliseconds_on_one_thread(model):
    image = np.random.default_rng(0).integers(0, 255, (180, 300, 3), dtype=np.uint8)
    times = []
    for _ in range(15):
        t = time.perf_counter()
        model.judge([image], "bin")
        times.append(time.perf_counter() - t)
    assert statistics.median(times) < 0.03  # about 5 ms on the build machine; a shared CPU is slower


@pytest.mark.skipif(not (SHARED / "manifest.csv").exists(), reason=f"the shared photo set is not at {SHARED}")
def test_it_separates_generated_ok_from_overflow_and_clean_from_litter(model):
    sys.path.insert(0, str(ROOT / "scripts"))
    from modelbuild import scenes
    listed = load_classifier().metadata["validation"]["paths"]
    cutouts = scenes.Cutouts(SHARED, sorted(p.split("/", 1)[1] for p in listed))  # never trained on
    n = 24
    seed = 4242  # not the build's seeds
    bins = {s: [scenes.bin_scene(s, cutouts, np.random.default_rng([seed, k, i])) for i in range(n)]
            for k, s in enumerate(("ok", "overflow"))}
    ground = {s: [scenes.ground_scene(s, cutouts, np.random.default_rng([seed, 9 + k, i])) for i in range(n)]
              for k, s in enumerate(("clean", "litter"))}
    judged = {s: [j.state for j in model.judge(imgs, "bin")] for s, imgs in bins.items()}
    assert judged["ok"].count("overflow") == 0 and judged["overflow"].count("ok") == 0, judged
    assert judged["ok"].count("ok") >= 0.9 * n and judged["overflow"].count("overflow") >= 0.75 * n, judged
    judged = {s: [j.state for j in model.judge(imgs, "ground")] for s, imgs in ground.items()}
    assert judged["clean"].count("clean") >= 0.9 * n and judged["litter"].count("litter") >= 0.85 * n, judged
