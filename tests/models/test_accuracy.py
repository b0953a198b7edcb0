"""The committed model on a fixed sample of the build's validation split of the shared photos.

Fails below the model's targets (the "Targets" line of its card). Needs ../shared/datasets/waste-images
(present in CI); skips with the reason elsewhere. Runs the same code as
scripts/eval_model.py, on an evenly spread fixed sample of the validation split.
"""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "datasets" / "waste-images").resolve()
SAMPLE = 660  # of the 1,319 validation images: every other one

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "manifest.csv").is_file(),
                       reason=f"shared photos not found at {DATA} (../shared/datasets/waste-images from the repo root)"),
]


def _eval_module():
    spec = importlib.util.spec_from_file_location("eval_model", ROOT / "scripts" / "eval_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def setup():
    from contract.rules import load_rules
    from edge.model import load_classifier

    return _eval_module(), load_classifier(threads=2), load_rules("beijing")


def test_clean_validation_sample(setup):
    mod, clf, rules = setup
    r = mod.evaluate_folder(clf, rules, DATA, split="validation", limit=SAMPLE, progress=False)
    assert r["item"]["n"] == SAMPLE and not r["unreadable"]
    assert r["category"]["balanced_accuracy"] >= 0.95, r["category"]["per_class"]
    assert r["item"]["accuracy"] >= 0.88, r["item"]["per_class"]
    # issue 12: >= 85 % of the in-distribution crops get a verdict (on all 1,319 by construction; a sample
    # of half of them may fall a little short)
    assert r["threshold"]["uncertain_share"] <= 0.17 and r["threshold"]["category_accuracy_on_rest"] >= 0.95


def test_degraded_validation_sample(setup):
    mod, clf, rules = setup
    r = mod.evaluate_folder(clf, rules, DATA, split="validation", degrade=True, limit=SAMPLE, progress=False)
    assert r["category"]["balanced_accuracy"] >= 0.85, r["category"]["per_class"]
    assert r["category"]["per_class"]["hazardous"]["recall"] >= 0.85
    t = r["threshold"]
    assert t["category_accuracy_on_rest"] >= 0.95, t
    # the default point (strict) keeps 85 % of the clean crops, not of these; issue 8's <= 25 % uncertain
    # degraded crops holds at `balanced`, the point a station with a poor camera gets a file of
    assert t["uncertain_share"] <= 0.4, t
    from edge.model import load_classifier
    balanced = load_classifier(threads=2, operating_point="balanced")
    b = mod.evaluate_folder(balanced, rules, DATA, split="validation", degrade=True, limit=SAMPLE,
                            progress=False)["threshold"]
    assert b["uncertain_share"] <= 0.25 and b["category_accuracy_on_rest"] >= 0.95, b
