"""The input gate (scripts/modelbuild/gate.py) and the ImageNet vocabulary stage (vocabulary.py), in numpy."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild import gate, vocabulary  # noqa: E402

from contract.rules import CATEGORIES, load_rules  # noqa: E402
from edge.model.preprocess import preprocess_batch  # noqa: E402


def _photo(rng, h=120, w=160):
    """A photo-like crop: a smooth lit object on a background, channels moving together."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 90 + 60 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 30.0 ** 2))
    tint = rng.uniform(0.7, 1.1, 3)
    return np.clip(base[..., None] * tint + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def test_statistics_separate_flat_and_noise_crops_from_photos():
    rng = np.random.default_rng(0)
    photos = [_photo(rng) for _ in range(8)]
    odd = [np.zeros((40, 40, 3), np.uint8), np.full((224, 224, 3), 128, np.uint8),
           rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)]
    c_p, r_p = gate.statistics(preprocess_batch(photos))
    c_o, r_o = gate.statistics(preprocess_batch(odd))
    assert (c_o[:2] < 1e-3).all() and (c_p > 0.1).all()
    assert (np.abs(r_o[2:]) < 0.1).all() and (r_p > 0.5).all()
    g = gate.fit_gate(np.concatenate([c_p, c_p]), np.concatenate([r_p, r_p]), quantile=0.0)
    assert not g.gated(c_p, r_p).any() and g.gated(c_o, r_o).all()
    assert g.metadata()["quantile"] == 0.0


@pytest.mark.parametrize("pool", [1, gate.POOL])
def test_statistics_separate_flat_and_noise_crops_from_photos_on_pooled_inputs_too(pool):
    rng = np.random.default_rng(1)
    photos = [_photo(rng) for _ in range(8)]
    noise = [rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in (8, 32, 48, 224)]
    c_p, r_p = gate.statistics(preprocess_batch(photos), pool)
    c_n, r_n = gate.statistics(preprocess_batch(noise), pool)
    assert (r_p > 0.5).all() and (np.abs(r_n) < 0.15).all(), (r_p, r_n)


def test_pooling_averages_blocks_and_drops_a_remainder_like_onnx():
    x = np.arange(2 * 3 * 9 * 10, dtype=np.float32).reshape(2, 3, 9, 10)
    p = gate.pooled(x, 4)
    assert p.shape == (2, 3, 2, 2)
    assert p[1, 2, 1, 0] == pytest.approx(x[1, 2, 4:8, 0:4].mean())
    assert gate.pooled(x, 1) is x


def test_the_graph_gates_what_numpy_gates_with_a_pooled_input(tmp_path):
    """graft.add_gate writes the same arithmetic into a graph (AveragePool first when pool > 1)."""
    import onnx
    import onnxruntime as ort
    from modelbuild.graft import GATE_SCORE, add_gate
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("ReduceMean", ["input"], ["rejection_score"], axes=[1, 2, 3], keepdims=0)],
                          "score", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 224, 224])],
                          [helper.make_tensor_value_info("rejection_score", TensorProto.FLOAT, ["n"])])
    src = tmp_path / "src.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(src))
    rng = np.random.default_rng(2)
    photos = [_photo(rng, 224, 224) for _ in range(6)]
    odd = [rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in (16, 48, 224)] + [np.zeros((224, 224, 3), np.uint8)]
    x = preprocess_batch(photos + odd)
    c, r = gate.statistics(x[:6], gate.POOL)
    fitted = gate.Gate(0.9 * float(c.min()), 0.9 * float(r.min()), 0.0, gate.POOL)  # no photo on the boundary
    add_gate(src, tmp_path / "gated.onnx", fitted, {"rejection": {"gate": fitted.metadata()}})
    score = ort.InferenceSession(str(tmp_path / "gated.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    want = fitted.gated(*gate.statistics(x, gate.POOL))
    assert list(want) == [False] * 6 + [True] * 4
    assert np.array_equal(score == GATE_SCORE, want)
    back = gate.Gate.from_metadata(fitted.metadata())  # the metadata rounds the thresholds to 4 decimals
    assert back.pool == gate.POOL and back.min_contrast == pytest.approx(fitted.min_contrast, abs=1e-4)
    assert gate.Gate.from_metadata({"min_contrast": 0.1, "min_correlation": 0.2}).pool == 1  # files before pooling


def test_gate_thresholds_are_training_quantiles():
    c = np.linspace(0, 1, 1001)
    g = gate.fit_gate(c, c[::-1], quantile=0.01)
    assert g.min_contrast == pytest.approx(0.01) and g.min_correlation == pytest.approx(0.01)
    assert g.gated(c, c).mean() == pytest.approx(0.01, abs=0.002)


def test_buckets_sum_mapped_classes_and_keep_the_rest_unmapped():
    vocab = {1: "glass", 3: "glass", 5: "diaper"}
    p = np.zeros((2, 8), np.float32)
    p[0, [1, 3, 5, 7]] = [0.2, 0.3, 0.4, 0.1]
    p[1, 0] = 1
    names = vocabulary.bucket_names(vocab)
    b = vocabulary.buckets(p, vocab)
    assert names == ["diaper", "glass", "unmapped"]
    np.testing.assert_allclose(b, [[0.4, 0.5, 0.1], [0, 0, 1]], atol=1e-6)


def test_student_learns_soft_labels():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (600, 20)).astype(np.float32)
    logits = x[:, :3] * 3
    target = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    st = vocabulary.fit_student(x * 5 + 2, target, ["a", "b", "c"], steps=400, lr=0.05)
    agree = (st.probs(x * 5 + 2).argmax(1) == target.argmax(1)).mean()
    assert agree > 0.9


def test_combine_rules():
    rules = load_rules("beijing")
    labels = rules.items
    item_cat = np.array([CATEGORIES.index(rules.category(x)) for x in labels])
    names = ["diaper", "paper_cardboard", "unmapped"]
    bucket_cat = np.array([CATEGORIES.index("other"), CATEGORIES.index("recyclable"), -1])
    new = np.array([True, False, False])
    p = np.zeros((3, len(labels)))
    p[:, labels.index("paper_cardboard")] = 0.9
    p[:, labels.index("residual")] = 0.1
    unc = np.array([False, True, False])
    q = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.45, 0.0, 0.55]])
    cat, u = vocabulary.combine(p, unc, q, item_cat, bucket_cat, new, "base")
    assert (cat == CATEGORIES.index("recyclable")).all() and (u == unc).all()
    cat, u = vocabulary.combine(p, unc, q, item_cat, bucket_cat, new, "new", tau=0.5)
    assert cat[0] == CATEGORIES.index("other") and not u[0]           # the diaper wins: a verdict of other
    assert cat[2] == CATEGORIES.index("recyclable")                   # 0.45 < tau: the fine-tuned head stays
    cat, u = vocabulary.combine(p, unc, q, item_cat, bucket_cat, new, "conflict", tc=0.4)
    assert list(u) == [True, True, True]                              # other mass 0.8 / (kept) / 0.45 > 0.4
    assert set(names) - {"unmapped"} <= set(vocabulary.new_item_categories()) | set(labels)


def test_vocabulary_file_maps_to_known_or_described_items():
    rules = load_rules("beijing")
    vocab = vocabulary.load_vocabulary()
    extra = vocabulary.new_item_categories()
    assert len(vocab) >= 60 and all(0 <= k < 1000 for k in vocab)
    for item in set(vocab.values()):
        assert item in rules.items or extra.get(item) in CATEGORIES, item
