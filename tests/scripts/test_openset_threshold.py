"""The two ways a rejection threshold is chosen (scripts/modelbuild/openset.py): by the training cross-fits,
or as the smallest threshold that gives a coverage of the clean or the degraded validation crops, which a
file names in its metadata so that train-head refits it the same way."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from modelbuild.openset import coverage_threshold, coverage_view, validation_coverage_rule  # noqa: E402


def _probs(conf):
    """Rows whose top probability is `conf` (the rest spread over 9 more items)."""
    conf = np.asarray(conf, float)
    return np.column_stack([conf] + [(1 - conf) / 9] * 9)


def test_the_coverage_threshold_gives_at_least_that_coverage_with_the_confidence_rule():
    rng = np.random.default_rng(0)
    score = rng.normal(0, 1, 1000)
    conf = rng.uniform(0.25, 1.0, 1000)  # 9 % under the confidence threshold
    for coverage in (0.5, 0.8, 0.85):
        t = coverage_threshold(_probs(conf), score, 0.32, coverage)
        verdict = (conf >= 0.32) & (score <= t)
        assert coverage <= verdict.mean() < coverage + 0.002, (coverage, verdict.mean())
        assert round(t, 3) == t  # rounded up to 0.001, so the coverage holds
        t32 = coverage_threshold(_probs(conf), score.astype(np.float32), 0.32, coverage)  # as the graph gives them
        assert round(t32, 3) == t32 and ((conf >= 0.32) & (score.astype(np.float32) <= t32)).mean() >= coverage


def test_a_coverage_the_confidence_rule_forbids_is_inf_and_a_bad_one_an_error():
    score = np.zeros(10)
    conf = np.array([0.9] * 7 + [0.2] * 3)  # the confidence rule alone leaves 70 %
    assert coverage_threshold(_probs(conf), score, 0.32, 0.7) == 0.0
    assert coverage_threshold(_probs(conf), score, 0.32, 0.8) == float("inf")
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="coverage must be in"):
            coverage_threshold(_probs(conf), score, 0.32, bad)


def test_a_file_says_which_rule_chose_its_threshold():
    assert validation_coverage_rule({"threshold_rule": {"rule": "validation_coverage", "coverage": 0.85}}) == 0.85
    assert validation_coverage_rule({"threshold_rule": {"rule": "cross_fit", "max_wrong": 0.2}}) is None
    assert validation_coverage_rule({"threshold": 1.5}) is None  # files before the rule was recorded
    assert validation_coverage_rule(None) is None


def test_a_file_says_which_validation_crops_its_coverage_counts():
    rule = {"rule": "validation_coverage", "coverage": 0.85}
    assert coverage_view({"threshold_rule": dict(rule, view="clean")}) == "clean"
    assert coverage_view({"threshold_rule": dict(rule, view="degraded")}) == "degraded"
    assert coverage_view({"threshold_rule": rule}) == "degraded"  # files before the choice
    assert coverage_view(None) == "degraded"
    with pytest.raises(ValueError, match="must be one of"):
        coverage_view({"threshold_rule": dict(rule, view="degraded0")})


def test_the_coverage_rule_is_checked_on_the_half_of_the_validation_groups_that_did_not_choose_it():
    import graft_head
    from modelbuild.openset import fit_open_set

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 80)
    x = np.abs(rng.normal(0, 1, (3, 1280))[y] + rng.normal(0, 0.9, (len(y), 1280))).astype(np.float32)
    groups = np.arange(len(y))
    model = fit_open_set(x[::2], y[::2], groups[::2], 3, steps=40, dims=16)
    val = {"clean": x[1::2], "degraded": x[1::2] + rng.normal(0, 0.3, x[1::2].shape).astype(np.float32)}
    halves = graft_head.coverage_halves(model, val, np.arange(len(y) // 2), 0.32, 0.85)
    assert len(halves["thresholds"]) == 2 and halves["thresholds"][0] != halves["thresholds"][1]
    for c in halves["coverage_degraded"] + halves["coverage_clean"]:
        assert 0.6 < c <= 1.0  # near, not exactly, the 85 % asked for: these crops did not choose the threshold
    assert halves["coverage_degraded"] != [0.85, 0.85]
    # set on the clean crops, the same coverage needs a stricter threshold, and the degraded crops get less
    on_clean = graft_head.coverage_halves(model, val, np.arange(len(y) // 2), 0.32, 0.85, view="clean")
    assert on_clean["view"] == "clean" and halves["view"] == "degraded"
    assert all(c < d for c, d in zip(on_clean["thresholds"], halves["thresholds"], strict=True))
    assert np.mean(on_clean["coverage_degraded"]) < np.mean(halves["coverage_degraded"])
