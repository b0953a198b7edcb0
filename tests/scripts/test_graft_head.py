"""scripts/graft_head.py's metadata bookkeeping (the graft itself needs onnx and the shared photos; see
tests/models for the shipped file's figures)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from graft_head import build_summary  # noqa: E402

BUILD = {"int8_clean": {}, "int8_degraded": {}, "float_clean": {}, "float_degraded": {}}


def test_a_first_graft_keeps_the_builds_summary():
    assert build_summary({"summary": BUILD}) is BUILD


def test_a_second_graft_keeps_the_builds_summary_not_the_first_grafts():
    grafted_once = {"summary": {"int8_clean": {}, "int8_degraded": {}}, "summary_before_graft": BUILD}
    assert build_summary(grafted_once) is BUILD
