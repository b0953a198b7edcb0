"""Verdict (docs/design.md §4.4): classify the best crop, apply the rule set, judge the bin.

- correct: the rule set accepts the bin for the predicted item;
- wrong: it does not, and the model's confidence clears the threshold;
- uncertain: otherwise (the model is not sure enough to blame anyone), and
  always when the model rejects the crop as unlike every item it learned
  (open-set rejection, `Prediction.rejected`): then it can neither blame nor
  approve.
"""
from __future__ import annotations

from dataclasses import dataclass

CORRECT, WRONG, UNCERTAIN = "correct", "wrong", "uncertain"


def decide(accepted: bool, confidence: float, threshold: float) -> str:
    if accepted:
        return CORRECT
    if confidence >= threshold:
        return WRONG
    return UNCERTAIN


@dataclass
class Judgement:
    item: str
    category: str
    verdict: str
    confidence: float
    prediction: object = None  # the classifier's Prediction (embedding, probabilities, rejection score)


class Judge:
    """The classifier, the rule set and the threshold that together judge one disposal."""

    def __init__(self, classifier, rules, threshold: float | None = None):
        self.classifier = classifier
        self.rules = rules
        self.configured_threshold = threshold
        self.threshold = classifier.threshold if threshold is None else threshold
        missing = [label for label in classifier.labels if label not in set(rules.items)]
        if missing:
            raise ValueError(f"rule set {rules.tag} has no rule for model labels {missing}")

    def replace(self, classifier=None, rules=None) -> None:
        """Judge from now on with another model or rule set (an update, between disposals)."""
        classifier = classifier or self.classifier
        rules = rules or self.rules
        missing = [label for label in classifier.labels if label not in set(rules.items)]
        if missing:
            raise ValueError(f"rule set {rules.tag} has no rule for model labels {missing}")
        self.classifier, self.rules = classifier, rules
        if self.configured_threshold is None:
            self.threshold = classifier.threshold

    @property
    def model(self) -> str:
        return self.classifier.version

    def judge(self, crop_bgr, bin_category: str) -> Judgement:
        p = self.classifier.classify(crop_bgr)
        confidence = float(min(1.0, max(0.0, p.confidence)))
        accepted = self.rules.accepts(p.item, bin_category)
        verdict = UNCERTAIN if p.rejected else decide(accepted, confidence, self.threshold)
        return Judgement(p.item, self.rules.category(p.item), verdict, round(confidence, 4), p)
