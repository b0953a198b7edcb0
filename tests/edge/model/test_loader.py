"""edge.model: the loader reads labels and preprocessing from the file, checks them, and classifies any crop."""
import dataclasses
import re
import shutil

import numpy as np
import pytest

from contract.rules import load_rules
from edge.model import DEFAULT_MODEL, ModelError, Prediction, WasteClassifier, load_classifier


@pytest.fixture(scope="module")
def clf():
    return load_classifier()


def test_default_model_loads_with_cpu_provider_and_metadata(clf):
    assert clf.path == DEFAULT_MODEL
    assert clf.session.get_providers() == ["CPUExecutionProvider"]
    assert re.fullmatch(r"waste-effl0-int8@[0-9a-f]{8}", clf.version)
    assert clf.version.endswith(clf.sha256[:8])
    for key in ("labels", "preprocessing", "input_size", "version", "training", "validation", "threshold", "temperature"):
        assert key in clf.metadata, key
    assert 0.0 < clf.threshold < 1.0
    assert clf.preprocessing["input_size"] == clf.metadata["input_size"] == [224, 224]


def test_labels_cover_every_output_and_match_the_rule_set(clf):
    n_probs = clf.session.get_outputs()[0].shape[-1]
    outputs = {o.name: o.shape for o in clf.session.get_outputs()}
    assert {"probs", "embedding"} <= set(outputs) <= {"probs", "embedding", "rejection_score"}
    assert outputs["probs"][-1] == len(clf.labels) == n_probs
    load_rules("beijing").check_items(clf.labels)


@pytest.mark.parametrize("shape", [(224, 224, 3), (37, 300, 3), (1, 1, 3), (500, 20, 3), (64, 64)])
def test_classify_any_crop(clf, shape):
    rng = np.random.default_rng(sum(shape))
    pred = clf.classify(rng.integers(0, 256, shape, dtype=np.uint8))
    assert isinstance(pred, Prediction)
    assert pred.item in clf.labels
    assert pred.probs.shape == (len(clf.labels),) and pred.probs.sum() == pytest.approx(1.0, abs=1e-3)
    assert pred.confidence == pytest.approx(float(pred.probs.max()))
    assert pred.embedding.shape == (1280,) and np.isfinite(pred.embedding).all()


def test_prediction_is_frozen(clf):
    pred = clf.classify(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        pred.item = "glass"


def test_batch_matches_single(clf):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (50 + 10 * i, 80, 3), dtype=np.uint8) for i in range(3)]
    batch = clf.classify_batch(crops)
    singles = [clf.classify(c) for c in crops]
    assert [p.item for p in batch] == [p.item for p in singles]
    for a, b in zip(batch, singles, strict=False):
        assert np.allclose(a.probs, b.probs, atol=1e-4)
    assert clf.classify_batch([]) == []


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_classifier(tmp_path / "nothing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        load_classifier(bad)


def test_threads_and_copy_elsewhere(tmp_path):
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(DEFAULT_MODEL, copy)
    clf2 = WasteClassifier(copy, threads=2, warmup=False)
    assert clf2.version == load_classifier().version  # the version is the content's hash, not the path
