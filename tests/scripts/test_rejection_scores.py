"""The rejection scores a file can carry (scripts/modelbuild/rejection.py SCORES): the numpy score, the
graph graft.py writes for it, and FileHead (train-head's reading of a file) agree."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild.openset import fit_open_set  # noqa: E402
from modelbuild.rejection import SCORES, describe, score_of  # noqa: E402

MODEL = ROOT / "models" / "waste-effl0-int8.onnx"


def _embeddings(n_items=4, per=60, dim=1280, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (n_items, dim)).astype(np.float32)
    y = np.repeat(np.arange(n_items), per)
    x = np.abs(centres[y] + rng.normal(0, 0.8, (len(y), dim))).astype(np.float32)  # pooled features are >= 0
    return x, y, np.arange(len(y)) // 3


@pytest.fixture(scope="module")
def fits():
    x, y, groups = _embeddings()
    return x, {name: fit_open_set(x, y, groups, 4, steps=60, dims=32, score=name) for name in SCORES}


def test_the_l2_scores_ignore_how_bright_the_features_are_and_the_others_do_not(fits):
    x, heads = fits
    for name, head in heads.items():
        d, d2 = head.rejection.distance(x[:20]), head.rejection.distance(3 * x[:20])
        assert np.allclose(d, d2, rtol=1e-4) == ("l2" in name), name


def test_maha_l2_alone_does_not_look_at_the_confidence(fits):
    x, heads = fits
    r = heads["maha_l2"].rejection
    assert np.array_equal(r.score(x[:10], np.zeros(10)), r.score(x[:10], np.ones(10)))
    r = heads["maha_l2+conf"].rejection
    assert (r.score(x[:10], np.zeros(10)) > r.score(x[:10], np.ones(10))).all()


def test_the_half_weight_score_moves_half_as_much_with_the_confidence_and_the_bank_alone_not_at_all(fits):
    x, heads = fits
    half, full, none = (heads[n].rejection for n in ("maha_l2+bank+conf/2", "maha_l2+bank+conf", "maha_l2+bank"))
    pull = [r.score(x[:10], np.zeros(10)) - r.score(x[:10], np.ones(10)) for r in (half, full)]
    assert np.allclose(pull[0], 0.5 / half.conf_scale) and np.allclose(pull[1], 1.0 / full.conf_scale)
    assert np.array_equal(none.score(x[:10], np.zeros(10)), none.score(x[:10], np.ones(10)))
    assert "- 0.5 (top probability" in describe("maha_l2+bank+conf/2", 32)
    assert "top probability" not in describe("maha_l2+bank", 32)


def test_a_file_names_its_score_and_an_unknown_name_is_an_error():
    assert score_of(None) == "maha+conf"  # files grafted before the choice existed
    assert score_of({"parameters": {"score": "maha_l2"}}) == "maha_l2"
    with pytest.raises(ValueError, match="unknown rejection score 'knn'"):
        score_of({"parameters": {"score": "knn"}})
    assert "L2-normalised" in describe("maha_l2", 256) and "top probability" not in describe("maha_l2", 256)
    assert "top probability" in describe("maha+conf", 256)


@pytest.mark.skipif(not MODEL.is_file(), reason=f"the default model is not at {MODEL}")
@pytest.mark.parametrize("name", sorted(SCORES))
def test_the_grafted_graph_computes_the_numpy_score(tmp_path, fits, name):
    pytest.importorskip("onnx")
    import onnxruntime as ort
    from modelbuild.graft import graft
    from modelbuild.retrain import FileHead

    x, heads = fits
    head = heads[name]
    meta = {"rejection": {"threshold": 1.0, "parameters": {"score": name}}}
    out = tmp_path / "m.onnx"
    graft(MODEL, out, head, meta)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    crops = rng.uniform(-1, 1, (6, 3, 224, 224)).astype(np.float32)
    feeds = {sess.get_inputs()[0].name: crops}
    probs, emb, score = (sess.run(["probs", "embedding", "rejection_score"], feeds))
    p_np, s_np = head.predict(emb)
    assert np.allclose(probs, p_np, atol=1e-5)
    assert np.allclose(score, s_np, atol=1e-3 * max(1.0, float(np.abs(s_np).max())))
    _, s_file = FileHead(out).predict(emb)
    assert np.allclose(s_file, s_np, atol=1e-3 * max(1.0, float(np.abs(s_np).max())))


def test_the_bank_holds_unit_centres_per_item_deterministically_and_copes_with_small_items():
    from modelbuild.rejection import fit_bank

    x, y, _ = _embeddings(n_items=3, per=50)
    y = y.copy()
    y[:45] = 2  # item 0 keeps 5 crops: fewer than the centres asked for
    bank = fit_bank(x, y, per_item=8, iterations=5)
    assert bank.shape == (5 + 8 + 8, x.shape[1])
    assert np.allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-3)
    assert np.array_equal(bank, fit_bank(x, y, per_item=8, iterations=5))
    assert np.array_equal(bank, bank.astype(np.float16).astype(np.float32) / np.linalg.norm(
        bank.astype(np.float16).astype(np.float32), axis=1, keepdims=True))  # what the graph stores in float16


def test_the_bank_part_rises_away_from_the_training_crops_and_is_in_the_metadata(fits):
    x, heads = fits
    r = heads["maha_l2+bank+conf"].rejection
    near = r.bank_distance(x[:10])
    far = r.bank_distance(np.abs(np.random.default_rng(5).normal(0, 1, (10, x.shape[1]))).astype(np.float32))
    assert near.max() < far.min()
    assert r.bank_distance(r.bank[:3]) == pytest.approx(0.0, abs=1e-5)  # a centre is its own nearest centre
    params = r.parameters()
    assert params["score"] == "maha_l2+bank+conf" and params["dims"] == 32 and params["bank_size"] == len(r.bank)
    assert "bank_size" not in heads["maha+conf"].rejection.parameters()
    assert "k-means centres" in describe("maha_l2+bank+conf", 32) and "k-means" not in describe("maha_l2+conf", 32)
    # the bank part counts: the same crops score lower with it than without it when they sit on a centre
    on_centre = r.bank[:5] * np.linalg.norm(x[:5], axis=1, keepdims=True)
    conf = np.full(5, 0.9)
    without = (r.distance(on_centre) - r.maha_shift) / r.maha_scale - (conf - r.conf_shift) / r.conf_scale
    assert np.allclose(r.score(on_centre, conf), without + (0.0 - r.bank_shift) / r.bank_scale, atol=1e-4)
