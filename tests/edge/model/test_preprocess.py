"""edge.model.preprocess and edge.model.metrics: pure functions on small arrays, no model."""
import json

import numpy as np
import pytest

from edge.model import ModelError, read_metadata
from edge.model.metrics import evaluate, summary, trade_off
from edge.model.preprocess import (
    DEFAULT_PREPROCESSING,
    category_probs,
    expected_calibration_error,
    preprocess,
    preprocess_batch,
    resize,
    softmax,
    to_uint8_bgr,
    top_k,
)

SPEC = dict(DEFAULT_PREPROCESSING, input_size=[4, 6])


def test_preprocess_shape_dtype_and_normalisation():
    img = np.zeros((10, 12, 3), np.uint8)
    img[..., 2] = 255  # pure red in BGR
    x = preprocess(img, SPEC)
    assert x.shape == (1, 3, 4, 6) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    # RGB order: channel 0 is red
    assert np.allclose(x[0, 0], (255 - 127) / 128)
    assert np.allclose(x[0, 1], (0 - 127) / 128)
    assert np.allclose(x[0, 2], (0 - 127) / 128)


def test_preprocess_accepts_any_size_grey_and_bgra():
    for shape in [(1, 1, 3), (3, 500, 3), (7, 5), (7, 5, 1), (9, 9, 4)]:
        img = np.full(shape, 127, np.uint8)
        x = preprocess(img, SPEC)
        assert x.shape == (1, 3, 4, 6)
        assert np.allclose(x, 0.0)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 2), np.uint8), [[1, 2]]])
def test_preprocess_rejects_bad_input(bad):
    with pytest.raises((TypeError, ValueError)):
        preprocess(bad, SPEC)


def test_resize_shrinks_and_enlarges():
    img = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    assert resize(img, (4, 8)).shape == (4, 8, 3)
    assert resize(img, (32, 20)).shape == (32, 20, 3)
    assert resize(img, (16, 16)) is img


def test_batch_stacks_crops_of_different_sizes():
    x = preprocess_batch([np.zeros((5, 5, 3), np.uint8), np.zeros((50, 9, 3), np.uint8)], SPEC)
    assert x.shape == (2, 3, 4, 6)
    with pytest.raises(ValueError):
        preprocess_batch([], SPEC)


def test_to_uint8_bgr_keeps_bgr_untouched():
    img = np.zeros((2, 2, 3), np.uint8)
    assert to_uint8_bgr(img) is img


def test_softmax_and_temperature():
    p = softmax(np.array([[2.0, 1.0, 0.0]]))
    assert np.allclose(p.sum(), 1.0)
    hot = softmax(np.array([[2.0, 1.0, 0.0]]), temperature=3.0)
    assert hot.max() < p.max()
    assert np.allclose(softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])


def test_top_k_and_category_probs():
    labels = ["a", "b", "c"]
    assert top_k(np.array([0.2, 0.5, 0.3]), labels, 2) == [("b", 0.5), ("c", 0.3)]
    with pytest.raises(ValueError):
        top_k(np.array([0.5, 0.5]), labels)
    cats = category_probs(np.array([0.2, 0.5, 0.3]), labels, {"a": "x", "b": "y", "c": "x"}.get)
    assert cats == pytest.approx({"x": 0.5, "y": 0.5})


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    conf = np.full(100, 0.8)
    correct = np.arange(100) < 80
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(10, 0.99), np.zeros(10, bool)) == pytest.approx(0.99)


def test_summary_balanced_accuracy_and_confusion():
    s = summary([0, 0, 0, 1], [0, 0, 1, 1], ["x", "y"])
    assert s["accuracy"] == 0.75
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert s["confusion"] == [[2, 1], [0, 1]]
    assert s["per_class"]["y"]["precision"] == 0.5


def test_evaluate_maps_items_to_categories_and_trade_off():
    labels = ["battery", "glass", "plastic"]
    cat = {"battery": "hazardous", "glass": "recyclable", "plastic": "recyclable"}.get
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.5, 0.4], [0.1, 0.45, 0.45], [0.6, 0.2, 0.2]])
    y = np.array([0, 2, 2, 1])
    r = evaluate(probs, y, labels, cat, ["kitchen", "recyclable", "hazardous", "other"], threshold=0.55)
    assert r["item"]["accuracy"] == 0.25
    assert r["category"]["accuracy"] == 0.75          # glass for plastic is still recyclable
    assert r["threshold"]["uncertain_share"] == 0.5
    assert r["threshold"]["category_accuracy_on_rest"] == 0.5
    t = trade_off(np.array([0.2, 0.9]), np.array([False, True]), np.array([False, True]), 0.5)
    assert t == {"threshold": 0.5, "uncertain_share": 0.5, "category_accuracy_on_rest": 1.0, "item_accuracy_on_rest": 1.0}


def test_read_metadata_parses_json_and_never_evaluates():
    meta = read_metadata({"labels": json.dumps(["a", "b"]), "threshold": "0.6"})
    assert meta == {"labels": ["a", "b"], "threshold": 0.6}
    with pytest.raises(ModelError):
        read_metadata({"labels": "['a', __import__('os').getcwd()]"})
