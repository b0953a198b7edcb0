"""graft.with_input_size: the shipped backbone on smaller crops (scripts/graft_head.py --input-size)."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild.graft import with_input_size  # noqa: E402

from edge.model import WasteClassifier  # noqa: E402

MODEL = ROOT / "models" / "waste-effl0-int8.onnx"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("resized") / "m.onnx"
    with_input_size(MODEL, out, 160)
    return WasteClassifier(out, threads=1, warmup=False)


def test_the_resized_file_reads_its_new_size_and_keeps_the_rest(small):
    src = WasteClassifier(MODEL, threads=1, warmup=False)
    assert small.preprocessing["input_size"] == [160, 160]
    assert small.metadata["input_size"] == [160, 160]
    assert small.metadata["input_size_changed"].startswith("224x224 -> 160x160")
    assert small.labels == src.labels and small.threshold == src.threshold
    assert small.metadata["rejection"] == src.metadata["rejection"]


def test_the_resized_file_classifies_crops_of_any_size(small):
    rng = np.random.default_rng(0)
    for shape in ((160, 160, 3), (300, 200, 3), (90, 120, 3)):
        p = small.classify(rng.integers(0, 256, shape, dtype=np.uint8))
        assert p.item in small.labels and np.isclose(p.probs.sum(), 1, atol=1e-4)
        assert p.embedding.shape == (1280,)


def test_each_picture_keeps_its_own_features_at_the_smaller_size(small):
    # three unlike pictures: each one's features at 160 must be closest to its own at 224 (a broken graph,
    # or weights that did not survive, would not match them up)
    yy, xx = np.mgrid[0:224, 0:224]
    pictures = [np.stack([(xx + yy) % 256, (2 * xx) % 256, (3 * yy) % 256], -1),
                np.where((xx - 112) ** 2 + (yy - 112) ** 2 < 60 ** 2, 200, 40)[..., None].repeat(3, -1),
                np.where((xx // 28) % 2 == 0, 230, 20)[..., None] * np.array([1, 0.5, 0.2])]
    pictures = [p.astype(np.uint8) for p in pictures]
    big = WasteClassifier(MODEL, threads=1, warmup=False)

    def unit(e):
        return e / np.linalg.norm(e)
    at_224 = np.stack([unit(big.classify(p).embedding) for p in pictures])
    at_160 = np.stack([unit(small.classify(p).embedding) for p in pictures])
    similarity = at_160 @ at_224.T
    assert (similarity.argmax(1) == np.arange(3)).all(), similarity
    assert similarity.diagonal().min() > 0.8, similarity


@pytest.mark.parametrize("size", [0, 100, 2048])
def test_a_size_that_is_not_a_multiple_of_8_in_range_is_refused_and_writes_nothing(tmp_path, size):
    out = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="multiple of 8"):
        with_input_size(MODEL, out, size)
    assert not out.exists()
