"""The stages of scripts/build_model.py that run without torch: the frozen config, the data stage on a
generated folder, the learning-rate schedule, calibration, the metadata and the card templates."""
import csv
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from modelbuild import calibration, card, config, data, export, training  # noqa: E402

from contract.rules import CATEGORIES, load_rules  # noqa: E402
from edge.model.preprocess import softmax  # noqa: E402

FIELDS = ["path", "source", "source_label", "item", "license", "origin", "width", "height"]


def _folder(tmp_path: Path, per_item: int = 3, drop: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    items = [i for i in load_rules("beijing-2020.1").items if i != drop]  # the 12 the shared photos show
    for item in items:
        colour = rng.integers(0, 256, 3)
        for k in range(per_item):
            rel = f"s/{item}/{k}.png"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            im = np.clip(colour + rng.normal(0, 40, (40, 50, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(tmp_path / rel), im)
            rows.append({"path": rel, "source": "gen", "source_label": item, "item": item, "license": "",
                         "origin": "test", "width": 50, "height": 40})
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    return tmp_path


def test_config_is_frozen_and_read_from_arguments():
    cfg = config.from_args(config.parser().parse_args(["--epochs", "3", "--stop-after", "0", "--data", "/tmp/x"]))
    assert cfg.epochs == 3 and cfg.n_epochs == 3 and cfg.data == (Path("/tmp/x"),)
    assert config.from_args(config.parser().parse_args([])) == config.BuildConfig()
    assert config.BuildConfig().n_epochs == 18  # the shipped backbone's recipe: the whole cosine
    assert dataclasses.replace(config.BuildConfig(), stop_after=5).n_epochs == 7  # cut after 5, then 2 of annealing
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 4
    assert list(cfg.recipe()) == list(config.RECIPE_KEYS)
    assert cfg.checkpoint.parent == cfg.work


def test_lr_schedule_warms_up_then_cuts_and_anneals_to_zero():
    spe = 10
    assert training.lr_scale(0, spe, 18) == pytest.approx(1 / 5)
    assert training.lr_scale(4, spe, 18) == pytest.approx(1.0)
    full = [training.lr_scale(s, spe, 4) for s in range(40)]
    assert full[5] == pytest.approx(1.0) and full[-1] < 0.01 and all(a >= b for a, b in zip(full[5:], full[6:], strict=False))
    cut = [training.lr_scale(s, spe, 18, stop_after=5, anneal_epochs=2) for s in range(70)]
    assert cut[49] == pytest.approx(training.lr_scale(49, spe, 18))      # before the cut: the long cosine
    assert cut[50] == pytest.approx(training.lr_scale(50, spe, 18))      # the cut itself
    assert cut[60] == pytest.approx(cut[50] / 2) and cut[69] == pytest.approx(cut[50] / 20)
    assert training.lr_scale(70, spe, 18, stop_after=5, anneal_epochs=2) == 0.0


def test_temperature_is_recovered_and_ece_reported():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (4000, 5))
    y = np.array([rng.choice(5, p=p) for p in softmax(z, 2.0)])  # labels drawn at temperature 2
    assert calibration.fit_temperature(z, y) == pytest.approx(2.0, rel=0.1)
    cal = calibration.calibrate(z, z[::-1] * 0, y, log=lambda m: None)  # second set: all logits 0
    assert set(cal.ece) == {"ece_clean_before", "ece_clean_after", "ece_degraded_before", "ece_degraded_after"}
    assert cal.ece["ece_clean_after"] < cal.ece["ece_clean_before"]
    assert cal.metadata()["temperature"] == round(cal.temperature, 4)


def test_threshold_is_the_lowest_reaching_the_target():
    conf = np.linspace(0, 1, 101)
    correct = conf >= 0.5  # every verdict under 0.5 is wrong
    t = calibration.choose_threshold(conf, correct, target=0.96)
    assert 0.47 <= t <= 0.5
    assert calibration.choose_threshold(conf, np.zeros(101, bool)) == 0.95  # never reached


def test_data_stage_splits_groups_and_checks_items(tmp_path):
    rules = load_rules("beijing")
    folder = _folder(tmp_path / "a", per_item=5)
    ds = data.prepare((folder,), rules, CATEGORIES, 0.2, log=lambda m: None)
    assert ds.labels == load_rules("beijing-2020.1").items and len(ds.rows) == 60 and len(ds.images) == 60
    assert set(ds.train_idx).isdisjoint(ds.val_idx) and len(ds.train_idx) + len(ds.val_idx) == 60
    assert len(set(ds.y[ds.val_idx])) == 12  # stratified: every item on both sides
    assert [CATEGORIES[c] for c in ds.item_category] == [rules.category(x) for x in ds.labels]
    clean, degraded = data.validation_sets(ds)
    assert len(clean) == len(degraded) == len(ds.val_idx) and degraded[0].shape == (224, 224, 3)
    again = data.validation_sets(ds)[1]
    assert all(np.array_equal(a, b) for a, b in zip(degraded, again, strict=True))
    assert len(data.calibration_images(ds, 6, seed=0)) == 6
    # items of the rule set without photos are named, and the model will not know them
    said = []
    without_wood = data.prepare((_folder(tmp_path / "b", drop="wood"),), rules, CATEGORIES, 0.2, log=said.append)
    assert "wood" not in without_wood.labels and len(without_wood.labels) == 11
    assert any("without photos" in m and "wood" in m and "face_mask" in m for m in said)


def test_metadata_has_what_the_loader_evaluator_and_card_read(tmp_path):
    rules = load_rules("beijing")
    ds = data.prepare((_folder(tmp_path, per_item=5),), rules, CATEGORIES, 0.2, log=lambda m: None)
    cfg = config.BuildConfig(data=(tmp_path,), note="test")
    cal = calibration.Calibration(0.8, {"ece_clean_before": 0.1, "ece_clean_after": 0.05,
                                        "ece_degraded_before": 0.2, "ece_degraded_after": 0.1})
    val = {"threshold": 0.5, "summary": {}, "int8_vs_float": {}, "trade_off": {}, "full": {}}
    meta = export.build_metadata(cfg, ds, rules.tag, cal, val, ["one", "two"])
    assert list(meta) == ["name", "version", "built", "labels", "rules", "input_name", "input_size", "preprocessing",
                          "outputs", "temperature", "threshold", "architecture", "training", "validation"]
    assert meta["labels"] == load_rules("beijing-2020.1").items and meta["temperature"] == 0.8 and meta["threshold"] == 0.5
    assert meta["training"]["recipe"] == cfg.recipe() and meta["training"]["note"] == "test"
    assert meta["training"]["sources"] == {"gen": {"images": 60, "license": "none stated", "origin": "test"}}
    assert meta["validation"]["paths"] == [ds.rows[i]["key"] for i in ds.val_idx]
    assert meta["validation"]["calibration"]["temperature"] == 0.8


def test_build_card_fills_every_placeholder():
    from edge.model import load_classifier

    meta = dict(load_classifier().metadata)
    v = meta["validation"]  # the shipped file is grafted: its build's summary and per-class figures, renamed
    meta["validation"] = dict(v, summary=v["summary_before_graft"],
                              full={"int8_clean": v["full"]["clean"], "int8_degraded": v["full"]["degraded"]})
    text = card.build_card(meta, "m.onnx", "ab" * 32, 5 * 2**20, {"file": "x/m.onnx", "size_mib": 5.0, "threads": 1,
                                                                    "runs": 9, "run_p50_ms": 4.25, "run_p90_ms": 5.0,
                                                                    "run_min_ms": 3.5, "classify_p50_ms": 4.75})
    assert "$" not in text and text.endswith("apart.\n") and "\n\n\n" not in text
    assert text.startswith(f"# {meta['name']}: the default waste classifier\n")
    assert f"T = {meta['temperature']}" in text and "session.run p50 **4.25 ms**" in text
    for label in meta["labels"]:
        assert f"| `{label}` | {load_rules('beijing').item_name(label)} |" in text
    without = card.build_card(meta, "m.onnx", "ab" * 32, 5 * 2**20, None)
    assert "session.run" not in without and "## Speed and size\n\nThe float model" in without


def test_templates_refuse_a_missing_value():
    with pytest.raises(KeyError):
        card.fill("protocol.md", title="t", data="d", protocol="p")  # no table
    assert card.paragraph(None) == "" and card.paragraph("x") == "x\n\n"
