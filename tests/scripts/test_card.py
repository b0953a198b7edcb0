"""The model card's source-model figures (scripts/modelbuild/card.py)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild import card, embed  # noqa: E402


def _summary(balanced, item, hazardous, uncertain):
    return {"item_accuracy": item, "category_accuracy": 0.98, "category_balanced_accuracy": balanced,
            "hazardous_recall": hazardous, "ece": 0.02,
            "at_threshold": {"threshold": 0.32, "uncertain_share": uncertain, "category_accuracy_on_rest": 0.981}}


def test_source_figures_come_from_the_metadata_when_the_source_file_is_gone(tmp_path, monkeypatch):
    """A backbone built on another machine leaves no embedding cache here (its build file is not kept): the
    card then shows the build's own validation figures from the metadata, with kitchen recall unknown."""
    monkeypatch.setattr(embed, "DEFAULT_CACHE", tmp_path)
    meta = {"head": {"source_model": "waste-effl0-int8@568037c6 (sha256 " + "56" * 32 + ")"},
            "validation": {"summary_before_graft": {"int8_clean": _summary(0.9524, 0.9409, 0.9655, 0.0),
                                                    "int8_degraded": _summary(0.8923, 0.8484, 0.9193, 0.0038)}}}
    old = card.source_figures(meta, rules=None)
    assert old["clean"]["category"]["balanced_accuracy"] == 0.9524
    assert old["degraded"]["item"]["accuracy"] == 0.8484
    assert old["degraded"]["category"]["per_class"]["hazardous"]["recall"] == 0.9193
    assert old["clean"]["category"]["per_class"]["kitchen"]["recall"] is None
    new = _as_result(0.958)
    text = card.summary_table(old, new, new, "31c5a2db", "568037c6")
    row = next(line for line in text.splitlines() if line.startswith("| 568037c6 (source), degraded"))
    assert row.split(" | ")[1:6] == ["0.892", "0.980", "0.848", "-", "0.919"]
    assert "0.4%" in row


def _as_result(balanced):
    per = {"kitchen": {"recall": 0.94}, "hazardous": {"recall": 0.97}}
    return {"category": {"balanced_accuracy": balanced, "accuracy": 0.98, "per_class": per},
            "item": {"accuracy": 0.94}, "ece_item": 0.02,
            "threshold": {"uncertain_share": 0.11, "category_accuracy_on_rest": 0.99}}


def test_speed_section_names_the_model_timed_beside_it():
    same = card.baseline_names({"model": "waste-effl0-int8@568037c6", "file": "/tmp/src.onnx"}, "waste-effl0-int8@568037c6")
    assert same["baseline"] == "the source model"
    other = card.baseline_names({"model": "waste-effl0-int8@8d3b9cae", "file": "/tmp/graft/src-8d3b9cae.onnx"},
                                "waste-effl0-int8@568037c6")
    assert other["baseline_short"] == "waste-effl0-int8@8d3b9cae" and "568037c6 is not kept" in other["baseline"]
    text = card.fill("bench.md", file="m.onnx", size_mib="4.85", runs=300, run_p50="1", run_min="1", classify_p50="1",
                     classify_min="1", base_p50="1", base_min="1", products="2 small matrix products", **other)
    assert "--runs 300 --baseline /tmp/graft/src-8d3b9cae.onnx" in text and "waste-effl0-int8@8d3b9cae in the same runs" in text


def test_the_card_says_when_the_input_size_was_changed_by_the_graft():
    assert card.input_note({"input_size": [224, 224]}) == ""
    note = card.input_note({"input_size": [160, 160],
                            "input_size_changed": "224x224 -> 160x160 (graft.with_input_size)"})
    assert "224x224 -> 160x160, by `graft_head.py --input-size`" in note


def test_the_card_names_the_files_own_score_and_what_chose_its_threshold():
    old = {"parameters": {"score": "maha+conf", "dims": 256}, "threshold_rule": {"rule": "cross_fit"}}
    new = {"parameters": {"score": "maha_l2+bank+conf", "dims": 32, "bank_size": 768},
           "threshold_rule": {"rule": "validation_coverage", "coverage": 0.85, "view": "degraded"},
           "cross_fit_threshold": 4.85, "validation_halves": {"thresholds": [3.5, 3.8], "coverage_degraded": [0.861, 0.842],
                                                             "coverage_clean": [0.94, 0.93]}}
    assert "top 256 principal directions" in card.score_words(old) and "k-means" not in card.score_words(old)
    words = card.score_words(new)
    assert "L2-normalised embedding" in words and "top 32 principal" in words and "768 k-means centres" in words and "up to 64 per item" in words
    assert "three failure modes" in card.method_why(new) and "two failure modes" in card.method_why(old)
    half = {**new, "parameters": {**new["parameters"], "score": "maha_l2+bank+conf/2"}}
    assert card.score_words(half).endswith("minus 0.5 times the standardised top probability")
    assert "at weight 0.5" in card.method_why(half) and "weight" not in card.method_why(new)
    assert card.gate_words(new) == ""
    gated = {**new, "gate": {"min_contrast": 0.0619, "min_correlation": 0.0945, "pool": 4, "score": 99.0,
                             "training_crops_gated": 0.0047}}
    words = card.gate_words(gated)
    assert "to 99 for crops" in words and "averaged over 4 x 4 blocks" in words and "0.47% of the training crops" in words
    alone = {**new, "parameters": {**new["parameters"], "score": "maha_l2+bank"}}
    assert "top probability" not in card.score_words(alone) and "left to the confidence rule" in card.method_why(alone)
    assert card.products(old, 12) == "2 small matrix products (1280x12 and 1280x256)"
    assert card.products(new, 12) == "3 small matrix products (1280x12, 1280x32 and 1280x768)"
    assert "nothing else on the validation split" in card.threshold_texts(old)["what_chose"]
    texts = card.threshold_texts(new)
    assert "85% of the degraded validation crops" in texts["what_chose"] and "4.85" in texts["threshold_note"]
    assert "(thresholds 3.500 and 3.800), it gives 86.1% and 84.2% of the degraded crops" in texts["threshold_note"]
    on_clean = {**new, "threshold_rule": {**new["threshold_rule"], "view": "clean"}}
    assert "85% of the clean validation crops" in card.threshold_texts(on_clean)["what_chose"]


def test_the_card_names_the_operating_points_a_file_offers():
    rej = {"operating_point": "strict", "operating_points": {
        "strict": {"threshold": 1.481, "view": "clean", "coverage": 0.85},
        "balanced": {"threshold": 2.818, "view": "degraded", "coverage": 0.85}}}
    words = card.operating_point_words(rej)
    assert "`strict` 1.481 (85% of the clean validation crops get a verdict) (the default)" in words
    assert "`balanced` 2.818 (85% of the degraded validation crops get a verdict);" not in words
    assert "`balanced` 2.818 (85% of the degraded validation crops get a verdict)." in words
    assert card.operating_point_words({"threshold": 2.0}) == ""
