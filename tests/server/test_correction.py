"""server/correction.py: the camera's accuracy corrected for its own error,
checked against known truths."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.correction import Audits, CorrectionError, _confusion, _wrong_share, corrected_accuracies, corrected_accuracy


def simulate(rng, n, accuracy, sensitivity, specificity, uncertain=0.0, audited=0.5):
    """n disposals of a known truth through a camera of known error; a share
    of them audited. Returns (outputs of all, audits of the audited)."""
    truly_wrong = rng.random(n) >= accuracy
    called_wrong = np.where(truly_wrong, rng.random(n) < sensitivity, rng.random(n) >= specificity)
    output = np.where(rng.random(n) < uncertain, "uncertain", np.where(called_wrong, "wrong", "correct"))
    outputs = {o: int((output == o).sum()) for o in ("correct", "wrong", "uncertain")}
    sample = rng.random(n) < audited
    counts = {t: {o: int(((output == o) & (truly_wrong == (t == "wrong")) & sample).sum())
                  for o in ("correct", "wrong", "uncertain")} for t in ("correct", "wrong")}
    return outputs, Audits(counts)


def expected(n, accuracy, sensitivity, specificity, uncertain=0.0, audited=0.5):
    """The same without sampling noise: every count at its expected value."""
    shares = {"correct": {"correct": accuracy * specificity, "wrong": accuracy * (1 - specificity)},
              "wrong": {"correct": (1 - accuracy) * (1 - sensitivity), "wrong": (1 - accuracy) * sensitivity}}
    cells = {t: {o: v * (1 - uncertain) for o, v in row.items()} for t, row in shares.items()}
    for t, share in (("correct", accuracy), ("wrong", 1 - accuracy)):
        cells[t]["uncertain"] = share * uncertain
    outputs = {o: round(n * (cells["correct"][o] + cells["wrong"][o])) for o in ("correct", "wrong", "uncertain")}
    audits = Audits({t: {o: round(n * audited * v) for o, v in row.items()} for t, row in cells.items()})
    return outputs, audits


def camera_accuracy(outputs):
    return outputs["correct"] / (outputs["correct"] + outputs["wrong"])


def test_the_issue_example_a_camera_reading_74_percent_of_a_station_sorting_80():
    rng = np.random.default_rng(7)
    outputs, audits = simulate(rng, 400, accuracy=0.80, sensitivity=0.70, specificity=0.85)
    assert camera_accuracy(outputs) == pytest.approx(0.74, abs=0.03)
    result = corrected_accuracy([(outputs, audits)])
    assert result["value"] == pytest.approx(0.80, abs=0.04)
    low, high = result["interval"]
    # 40 truly wrong disposals audited leave the sensitivity uncertain by about
    # +-0.14, which the interval must show
    assert low < 0.80 < high and high - low < 0.32
    assert result["audited"] == audits.total


def test_the_interval_covers_the_truth_about_95_times_in_100():
    rng = np.random.default_rng(11)
    covered = 0
    for _ in range(150):
        outputs, audits = simulate(rng, 400, accuracy=0.80, sensitivity=0.70, specificity=0.85,
                                   uncertain=0.1)
        low, high = corrected_accuracy([(outputs, audits)], draws=600)["interval"]
        covered += low <= 0.80 <= high
    assert 0.88 <= covered / 150 <= 1.0


@settings(max_examples=80, deadline=None)
@given(accuracy=st.floats(0.5, 0.98), sensitivity=st.floats(0.55, 0.98),
       specificity=st.floats(0.7, 0.99), uncertain=st.floats(0.0, 0.4), audited=st.floats(0.05, 1.0))
def test_without_sampling_noise_the_truth_comes_back_whatever_the_camera(accuracy, sensitivity, specificity,
                                                                          uncertain, audited):
    outputs, audits = expected(20000, accuracy, sensitivity, specificity, uncertain, audited)
    result = corrected_accuracy([(outputs, audits)], draws=200)
    # only the half-count prior and rounding stand between the estimate and the truth
    assert result["value"] == pytest.approx(accuracy, abs=0.01)
    assert result["interval"][0] <= accuracy <= result["interval"][1]


def test_uncertain_disposals_count_through_their_audits():
    """A camera that leaves truly wrong items uncertain more often than right
    ones: dropping the uncertain ones (the camera's accuracy) overstates the
    accuracy; the correction does not."""
    rng = np.random.default_rng(3)
    n = 20000
    truly_wrong = rng.random(n) >= 0.8
    output = np.where(truly_wrong, np.where(rng.random(n) < 0.5, "uncertain", "wrong"), "correct")
    outputs = {o: int((output == o).sum()) for o in ("correct", "wrong", "uncertain")}
    sample = rng.random(n) < 0.1
    audits = Audits({t: {o: int(((output == o) & (truly_wrong == (t == "wrong")) & sample).sum())
                         for o in ("correct", "wrong", "uncertain")} for t in ("correct", "wrong")})
    assert camera_accuracy(outputs) > 0.88
    assert corrected_accuracy([(outputs, audits)])["value"] == pytest.approx(0.80, abs=0.02)


def test_versions_are_corrected_each_by_its_own_audits_and_weighted_by_disposals():
    good = expected(6000, accuracy=0.9, sensitivity=0.9, specificity=0.95, audited=0.1)
    poor = expected(2000, accuracy=0.7, sensitivity=0.6, specificity=0.7, audited=0.1)
    result = corrected_accuracy([good, poor])
    assert result["value"] == pytest.approx((6000 * 0.9 + 2000 * 0.7) / 8000, abs=0.01)
    # one version's audits applied to the other's disposals would be far off
    assert corrected_accuracy([(poor[0], good[1])])["value"] < 0.6
    assert result["audited"] == good[1].total + poor[1].total


def test_too_few_audits_or_no_disposals_give_no_figure():
    rng = np.random.default_rng(1)
    outputs, audits = simulate(rng, 100, 0.8, 0.7, 0.85, audited=0.2)
    assert audits.total < 30
    assert corrected_accuracy([(outputs, audits)]) is None
    assert corrected_accuracy([(outputs, audits)], min_audits=5) is not None
    assert corrected_accuracy([({"correct": 0, "wrong": 0, "uncertain": 0}, audits)], min_audits=5) is None
    # one version of the scope without enough audits: no figure rather than a partial one
    many = simulate(rng, 1000, 0.8, 0.7, 0.85)
    assert corrected_accuracy([many, (outputs, audits)]) is None


def test_the_same_inputs_give_the_same_interval():
    rng = np.random.default_rng(2)
    outputs, audits = simulate(rng, 400, 0.8, 0.7, 0.85)
    assert corrected_accuracy([(outputs, audits)]) == corrected_accuracy([(outputs, audits)])


def test_sensitivity_and_specificity_from_audits():
    audits = Audits({"wrong": {"wrong": 7, "correct": 3, "uncertain": 2},
                     "correct": {"correct": 17, "wrong": 3}})
    assert audits.sensitivity() == (7, 10) and audits.specificity() == (17, 20)


def test_negative_or_fractional_counts_are_refused():
    with pytest.raises(CorrectionError):
        Audits({"wrong": {"wrong": -1}})
    with pytest.raises(CorrectionError):
        Audits({"correct": {"correct": 1.5}})


def scopes_of_a_district(rng, n):
    """n scopes judged by one or two of three model versions, some without
    disposals of a version and one version with too few audits."""
    versions = [simulate(rng, size, 0.8, sensitivity, specificity, uncertain=0.1, audited=0.3)[1]
                for size, sensitivity, specificity in ((900, 0.7, 0.85), (400, 0.9, 0.95), (60, 0.8, 0.8))]
    versions = [Audits(a.counts, model=f"cam@{i}") for i, a in enumerate(versions)]
    assert versions[2].total < 30 <= versions[1].total
    scopes = []
    for _ in range(n):
        chosen = rng.choice(3, size=int(rng.integers(1, 3)), replace=False, p=[0.6, 0.35, 0.05])
        scopes.append([({"correct": int(rng.integers(0, 900)), "wrong": int(rng.integers(0, 200)),
                         "uncertain": int(rng.integers(0, 60))}, versions[v]) for v in chosen])
    scopes.append([({"correct": 0, "wrong": 0, "uncertain": 0}, versions[0])])
    return scopes


def test_the_bulk_path_gives_each_scope_exactly_its_own_figure():
    scopes = scopes_of_a_district(np.random.default_rng(5), 150)
    alone = [corrected_accuracy(groups) for groups in scopes]
    assert sum(f is None for f in alone) >= 2 and sum(f is not None for f in alone) > 100
    assert corrected_accuracies(scopes) == alone
    # nor does a figure depend on which other scopes, or in what order, share the call
    order = np.random.default_rng(6).permutation(len(scopes))
    assert corrected_accuracies([scopes[i] for i in order]) == [alone[i] for i in order]
    assert corrected_accuracies(scopes[70:75]) == alone[70:75]


def test_the_model_version_is_part_of_the_seed():
    """Two versions with the same audit counts are still two cameras: their
    redraws are not the same draws, though their estimate is."""
    rng = np.random.default_rng(8)
    outputs, audits = simulate(rng, 400, 0.8, 0.7, 0.85)
    one = corrected_accuracy([(outputs, Audits(audits.counts, model="cam@1"))])
    other = corrected_accuracy([(outputs, Audits(audits.counts, model="cam@2"))])
    assert one["value"] == other["value"] and one["interval"] != other["interval"]


def bisected_wrong_share(outputs, confusion, steps=60):
    """The maximum-likelihood share of truly wrong disposals found the slow
    way: bisection on the likelihood's slope."""
    a, b = confusion[0], confusion[1]
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        likely = a + mid * (b - a)
        slope = sum(x * (bo - ao) / p for x, ao, bo, p in zip(outputs, a, b, likely, strict=True) if p > 0)
        lo, hi = (mid, hi) if slope > 0 else (lo, mid)
    return (lo + hi) / 2


counts = st.integers(0, 400)


@settings(max_examples=300, deadline=None)
@given(audits=st.lists(counts, min_size=6, max_size=6), outputs=st.lists(counts, min_size=3, max_size=3),
       never=st.sampled_from([None, 0, 1, 2]))
def test_the_closed_form_maximum_is_the_bisected_one(audits, outputs, never):
    matrix = np.array(audits, float).reshape(2, 3)
    if never is not None:
        matrix[:, never] = 0          # an output no audit has seen
    confusion = _confusion(matrix)
    found = _wrong_share(np.array(outputs, float), confusion)
    assert found == pytest.approx(bisected_wrong_share(outputs, confusion), abs=1e-9)
