"""Verdict per docs/design.md §4.4, with the real Beijing rule set."""
import numpy as np
import pytest
from edge_doubles import ColourClassifier, Prediction

from contract.rules import load_rules
from edge.verdict import Judge, decide


@pytest.mark.parametrize("accepted, confidence, threshold, verdict", [
    (True, 0.10, 0.6, "correct"),
    (True, 0.99, 0.6, "correct"),
    (False, 0.60, 0.6, "wrong"),
    (False, 0.95, 0.6, "wrong"),
    (False, 0.59, 0.6, "uncertain"),
])
def test_decide(accepted, confidence, threshold, verdict):
    assert decide(accepted, confidence, threshold) == verdict


class Fixed(ColourClassifier):
    def __init__(self, item, confidence):
        super().__init__()
        self.item, self.confidence = item, confidence

    def classify(self, image):
        return Prediction(self.item, self.confidence, None, None)


def test_judge_uses_rule_set_and_threshold():
    rules = load_rules("beijing")
    crop = np.zeros((10, 10, 3), np.uint8)
    j = Judge(Fixed("battery", 0.9), rules)
    assert j.judge(crop, "hazardous").verdict == "correct"
    assert j.judge(crop, "other").verdict == "correct"  # alkaline cells are also accepted as other waste
    wrong = j.judge(crop, "kitchen")
    assert (wrong.verdict, wrong.category, wrong.item) == ("wrong", "hazardous", "battery")
    assert Judge(Fixed("battery", 0.3), rules).judge(crop, "kitchen").verdict == "uncertain"
    assert Judge(Fixed("battery", 0.3), rules, threshold=0.2).judge(crop, "kitchen").verdict == "wrong"


class Rejected(Fixed):
    def classify(self, image):
        return Prediction(self.item, self.confidence, None, None, rejection_score=3.0, rejected=True,
                          uncertain=True)


def test_a_crop_the_model_rejects_as_unknown_is_uncertain_whatever_the_bin():
    """Open-set rejection: confident or not, an item unlike anything learned
    is neither blamed nor counted as sorted right."""
    rules = load_rules("beijing")
    crop = np.zeros((10, 10, 3), np.uint8)
    j = Judge(Rejected("battery", 0.95), rules)
    assert j.judge(crop, "kitchen").verdict == "uncertain"
    assert j.judge(crop, "hazardous").verdict == "uncertain"
    assert Judge(Fixed("battery", 0.95), rules).judge(crop, "kitchen").verdict == "wrong"


def test_judge_refuses_labels_without_rules():
    c = ColourClassifier()
    c.labels = c.labels + ["spaceship"]
    with pytest.raises(ValueError, match="spaceship"):
        Judge(c, load_rules("beijing"))
