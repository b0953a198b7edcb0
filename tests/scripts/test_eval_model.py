"""scripts/eval_model.py on a small generated folder with a manifest in the shared format."""
import csv
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["path", "source", "source_label", "item", "license", "origin", "width", "height"]


@pytest.fixture(scope="module")
def eval_model():
    spec = importlib.util.spec_from_file_location("eval_model", ROOT / "scripts" / "eval_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _folder(tmp_path: Path, items=("glass", "battery_alkaline", "food_waste", "paper"), broken=False) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i, item in enumerate(items):
        rel = f"station/{item}/{i}.jpg"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / rel), rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
        rows.append({"path": rel, "source": "station", "source_label": item, "item": item, "license": "own",
                     "origin": "test", "width": 80, "height": 60})
    if broken:
        (tmp_path / "station" / "broken.jpg").write_bytes(b"garbage")
        rows.append({**rows[0], "path": "station/broken.jpg"})
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    return tmp_path


def test_report_per_category_and_item_with_confusion(eval_model, tmp_path, capsys):
    data = _folder(tmp_path)
    out_json = tmp_path / "result.json"
    assert eval_model.main(["--data", str(data), "--threads", "1", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    for needle in ("category: n=4 accuracy=", "balanced_accuracy=", "item: n=4", "confusion (category",
                   "confusion (item", "hazardous", "paper_cardboard", "ECE", "threshold"):
        assert needle in text, needle
    assert "confidently wrong" in text and "confidence alone" in text
    result = json.loads(out_json.read_text())
    assert result["item"]["n"] == 4 and result["degraded"] is False
    o = result["outcomes"]
    assert o["all"]["n"] == 4
    for v in o.values():
        assert abs(v["right"] + v["uncertain"] + v["wrong"] - 1) < 1e-3
    assert len(result["category"]["confusion"]) == 4


def test_degrade_flag_is_deterministic(eval_model, tmp_path):
    from contract.rules import load_rules
    from edge.model import load_classifier

    clf, rules = load_classifier(), load_rules("beijing")
    data = _folder(tmp_path)
    a = eval_model.evaluate_folder(clf, rules, data, degrade=True, seed=5, progress=False)
    b = eval_model.evaluate_folder(clf, rules, data, degrade=True, seed=5, progress=False)
    assert a["item"]["confusion"] == b["item"]["confusion"] and a["ece_item"] == b["ece_item"]
    assert a["degraded"] and a["seed"] == 5


def test_unreadable_images_are_listed_and_skipped(eval_model, tmp_path):
    from contract.rules import load_rules
    from edge.model import load_classifier

    data = _folder(tmp_path, broken=True)
    r = eval_model.evaluate_folder(load_classifier(), load_rules("beijing"), data, progress=False)
    assert r["item"]["n"] == 4 and len(r["unreadable"]) == 1


def test_unknown_items_are_a_clear_error(eval_model, tmp_path):
    data = _folder(tmp_path, items=("glass", "sofa"))
    with pytest.raises(SystemExit, match="item 'sofa' is not one of the model's labels"):
        eval_model.main(["--data", str(data)])


def test_validation_split_needs_the_shared_photos_listed(eval_model, tmp_path):
    data = _folder(tmp_path)
    with pytest.raises(SystemExit, match="no images selected"):
        eval_model.main(["--data", str(data), "--split", "validation"])


def test_protocol_table_gives_the_wrong_shares_interval(eval_model):
    """A held-out share of 22 photos is a wide estimate: the table and its last line say how wide."""
    outcome = {"n": 22, "right": 0.0, "uncertain": 0.5, "wrong": 0.5}
    known = {"n": 100, "right": 0.9, "uncertain": 0.1, "wrong": 0.0}
    fold = {"name": "without residual", "n_test": 22, "n_known": 100}
    for tag in ("clean", "degraded"):
        fold[tag] = {"auroc": 0.8, "known_coverage": 0.9, "known": known, "test": {"other": outcome, "all": outcome}}
    res = {"protocol": "leave-items-out", "model": "m@1", "temperature": 1.0, "threshold": 0.5,
           "rejection_threshold": 1.0, "folds": [fold]}
    text = eval_model.format_protocol(res)
    # 11 of 22: Wilson 95 % interval 0.307 to 0.693
    assert "**0.50** [0.31–0.69] (n=22)" in text
    assert text.splitlines()[-1].startswith("worst held-out category confidently wrong: 0.500 [0.31–0.69] (other,")


def test_the_protocols_refit_the_files_own_score_in_its_own_dimensions(eval_model):
    # a file grafted with --dims 32 was refitted in 256 directions before: another score than the file's
    meta = {"rejection": {"parameters": {"score": "maha_l2+bank+conf", "dims": 32}}}
    assert eval_model.refit_score(meta) == ("maha_l2+bank+conf", 32)
    assert eval_model.refit_score({}) == ("maha+conf", 256)  # files before the choice existed
    with pytest.raises(ValueError, match="unknown rejection score"):
        eval_model.refit_score({"rejection": {"parameters": {"score": "knn"}}})


def test_odd_crops_are_judged_by_the_edge_rule_and_counted(eval_model, tmp_path, capsys):
    """--odd-crops judges generated crops that show no item with the committed model: every row follows the
    edge's rule, the headline counts the verdicts, and the crops every file must reject are rejected."""
    from edge.model import load_classifier

    out = tmp_path / "odd.json"
    assert eval_model.main(["--odd-crops", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["odd_crops"]
    crops = eval_model.odd_crops()
    assert [r["crop"] for r in rows] == [name for name, _ in crops]
    clf = load_classifier(None)
    for r in rows:
        assert r["uncertain"] == bool(clf.uncertain(np.float32(r["confidence"]), np.float32(r["rejection_score"])))
    verdicts = sum(not r["uncertain"] for r in rows)
    assert f"{verdicts} of {len(rows)} get a verdict" in capsys.readouterr().out
    by_name = {r["crop"]: r for r in rows}
    for name in ("black 40 px", "grey card 224 px", "noise 224 px, seed 0"):
        assert by_name[name]["uncertain"], by_name[name]


def test_data_is_required_except_for_odd_crops(eval_model):
    with pytest.raises(SystemExit):
        eval_model.main([])
