"""models/: the shipped model file, its sha256, its metadata and its card agree, and meet the issues' targets."""
import hashlib
import json
from pathlib import Path

import onnxruntime as ort
import pytest

from contract.rules import load_rules, rule_set
from edge.model import read_metadata

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL = MODELS / "waste-effl0-int8.onnx"


@pytest.fixture(scope="module")
def meta():
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return read_metadata(sess.get_modelmeta().custom_metadata_map)


def test_sha256_file_matches():
    line = (MODELS / "waste-effl0-int8.onnx.sha256").read_text().split()
    assert line[1] == MODEL.name
    assert line[0] == hashlib.sha256(MODEL.read_bytes()).hexdigest()


def test_size_at_most_8_mib():
    assert MODEL.stat().st_size <= 8 * 2**20


def test_metadata_round_trip(meta):
    assert meta["name"] == "waste-effl0-int8"
    assert meta["labels"] == sorted(meta["labels"])
    assert meta["input_size"] == [224, 224]
    pre = meta["preprocessing"]
    assert pre["color"] == "RGB" and pre["layout"] == "NCHW" and len(pre["mean"]) == len(pre["std"]) == 3
    assert set(meta["outputs"]) == {"probs", "embedding", "rejection_score"}
    rej = meta["rejection"]
    assert rej["output"] == "rejection_score" and isinstance(rej["threshold"], float)
    assert "training" in rej["threshold_choice"] and rej["method"]
    # the rule set it was built with is still known, and the newest one names every label too
    rule_set(meta["rules"]).check_items(meta["labels"])
    load_rules("beijing").check_items(meta["labels"])
    sources = meta["training"]["sources"]
    assert set(sources) == {"trashnet", "cardstdani", "sg_battery"}
    assert sources["trashnet"]["license"] == "MIT"
    assert "no licence" in meta["training"]["licence_note"]
    assert json.loads(json.dumps(meta)) == meta


def test_recorded_validation_metrics_meet_the_targets(meta):
    s = meta["validation"]["summary"]
    clean, degraded = s["int8_clean"], s["int8_degraded"]
    assert clean["category_balanced_accuracy"] >= 0.95
    assert clean["item_accuracy"] >= 0.88
    assert degraded["category_balanced_accuracy"] >= 0.85
    assert degraded["hazardous_recall"] >= 0.85
    t = degraded["at_threshold"]
    assert t["threshold"] == meta["threshold"]
    assert t["category_accuracy_on_rest"] >= 0.95
    # Coverage. At the default operating point (strict) issue 12's: >= 85 % of the in-distribution (clean)
    # validation crops get a verdict. Issue 8's <= 25 % uncertain degraded crops holds at `balanced`, the file's other
    # operating point (a file of its own for a station with a poor camera): its threshold keeps 85 % of them.
    assert meta["rejection"]["operating_point"] == "strict"
    assert clean["at_threshold"]["uncertain_share"] <= 0.15
    balanced = meta["rejection"]["operating_points"]["balanced"]
    assert balanced["view"] == "degraded" and 1 - balanced["coverage"] <= 0.25
    assert balanced["threshold"] > meta["rejection"]["threshold"]
    cal = meta["validation"]["calibration"]
    assert cal["ece_degraded_after"] <= cal["ece_degraded_before"] + 0.01
    agree = meta["validation"]["int8_vs_float"]["top1_agreement"]
    assert agree["clean"] >= 0.95 and agree["degraded"] >= 0.9


def test_model_card_describes_this_file(meta):
    card = (MODELS / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert digest[:8] in card, "the card must name the sha256 of the committed model"
    for label in meta["labels"]:
        assert label in card
    for phrase in ("licence", "confusion", "degraded", "calibration", "threshold", "retrain"):
        assert phrase in card.lower(), phrase


def test_int8_weights_fit_in_seven_bits_so_no_cpu_saturates_them():
    """onnxruntime on a CPU without VNNI sums two uint8 x int8 products in a
    saturating int16; weights with |w| <= 64 cannot overflow it (2 x 255 x 64 =
    32640), so the file gives the same figures on every station. onnxruntime's
    reduce_range quantisation gives [-64, 64], scripts/modelbuild/weights7.py
    [-64, 63]; 65 would overflow."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(MODEL))
    weights = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "QLinearConv"]
    assert convs
    for node in convs:
        w = numpy_helper.to_array(weights[node.input[3]])
        assert w.dtype == np.int8, node.name
        assert int(np.abs(w.astype(np.int32)).max()) <= 64, (node.name, int(w.min()), int(w.max()))
    assert 2 * 255 * 64 <= np.iinfo(np.int16).max < 2 * 255 * 65


def test_the_build_figures_survive_grafting(meta):
    """The head was grafted twice; the second graft once replaced the build's int8 and float figures with the
    first graft's int8-only summary (the build card needs all four)."""
    assert set(meta["validation"]["summary_before_graft"]) == {"int8_clean", "int8_degraded",
                                                             "float_clean", "float_degraded"}
