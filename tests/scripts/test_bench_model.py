"""scripts/bench_model.py runs (its figures are for the README, not asserted here)."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_model  # noqa: E402
from modelbuild.graft import with_input_size  # noqa: E402

MODEL = ROOT / "models" / "waste-effl0-int8.onnx"


def test_a_baseline_with_another_input_size_is_timed_on_its_own_input(tmp_path, capsys):
    small = tmp_path / "m160.onnx"
    with_input_size(MODEL, small, 160)
    assert bench_model.main(["--model", str(small), "--baseline", str(MODEL), "--runs", "3", "--warmup", "1",
                             "--crop", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["input_size"] == [160, 160] and out["crop"] == [300, 300]
    assert out["baseline"]["input_size"] == [224, 224]
    assert 0 < out["run_min_ms"] <= out["run_p50_ms"] and out["baseline"]["classify_min_ms"] > 0
