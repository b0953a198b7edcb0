"""Operating points: the rejection thresholds a model file offers by name (metadata
`rejection.operating_points`). The committed file rejects at `strict` (85 % of the clean validation photos
get a verdict) and offers `balanced` (85 % of the camera-degraded ones) for measurement
(`python -m edge classify` and `scripts/eval_model.py` with `--operating-point`). A station always rejects at
its file's default: a model version is one operating point, so the audits of a version (server/correction.py)
describe one confusion matrix; a station that needs `balanced` gets a file whose default it is, a version
of its own (`scripts/graft_head.py --coverage-view degraded`)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from edge import config as cfg
from edge.model import DEFAULT_MODEL, ModelError, WasteClassifier, load_classifier
from edge.pipeline import make_judge

ROOT = Path(__file__).resolve().parents[3]
DATA = (ROOT / ".." / "shared" / "datasets" / "waste-images").resolve()


def rewritten(tmp_path: Path, change) -> Path:
    """A copy of the committed model whose `rejection` metadata `change(dict)` edited."""
    model = onnx.load(str(DEFAULT_MODEL))
    for prop in model.metadata_props:
        if prop.key == "rejection":
            rej = json.loads(prop.value)
            change(rej)
            prop.value = json.dumps(rej)
    out = tmp_path / "variant.onnx"
    onnx.save(model, str(out))
    return out


@pytest.fixture(scope="module")
def photos():
    """60 validation photos of the committed model, or a skip without the shared photos."""
    if not (DATA / "manifest.csv").is_file():
        pytest.skip(f"shared photos not found at {DATA}")
    val = set(load_classifier().metadata["validation"]["paths"])
    with open(DATA / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = [r["path"] for r in csv.DictReader(f) if f"waste-images/{r['path']}" in val]
    return [cv2.imread(str(DATA / p)) for p in rows[::len(rows) // 60][:60]]


def test_the_committed_file_rejects_at_strict_and_offers_balanced():
    clf = load_classifier()
    rej = clf.metadata["rejection"]
    assert set(clf.operating_points) == {"strict", "balanced"}
    assert rej["operating_point"] == "strict" and clf.operating_point is None
    assert clf.rejection_threshold == rej["threshold"] == clf.operating_points["strict"]
    assert clf.operating_points["strict"] < clf.operating_points["balanced"]
    assert {n: (p["view"], p["coverage"]) for n, p in rej["operating_points"].items()} == {
        "strict": ("clean", 0.85), "balanced": ("degraded", 0.85)}


def test_each_point_rejects_by_its_own_threshold(photos):
    clf = load_classifier()
    strict = clf.classify_batch(photos)
    clf.use_operating_point("balanced")
    assert "(balanced)" in repr(clf)
    balanced = clf.classify_batch(photos)
    for s, b in zip(strict, balanced, strict=True):
        assert s.rejection_score == b.rejection_score
        assert s.rejected == (s.rejection_score > clf.operating_points["strict"])
        assert b.rejected == (b.rejection_score > clf.operating_points["balanced"])
    # some photos score between the two thresholds: rejected at strict, judged at balanced
    assert sum(b.rejected for b in balanced) < sum(s.rejected for s in strict)
    clf.use_operating_point(None)
    assert [p.rejected for p in clf.classify_batch(photos)] == [p.rejected for p in strict]


def test_an_unknown_point_is_a_clear_error():
    clf = load_classifier()
    with pytest.raises(ModelError, match="no operating point 'lenient' .*offers balanced, strict"):
        clf.use_operating_point("lenient")
    assert clf.rejection_threshold == clf.metadata["rejection"]["threshold"]  # unchanged
    with pytest.raises(ModelError, match="lenient"):
        load_classifier(operating_point="lenient")


def test_files_with_one_threshold_offer_no_point_and_bad_points_do_not_load(tmp_path):
    single = WasteClassifier(rewritten(tmp_path, lambda r: r.pop("operating_points")), warmup=False)
    assert single.operating_points == {}
    with pytest.raises(ModelError, match="it offers none: it has one rejection threshold"):
        single.use_operating_point("balanced")
    with pytest.raises(ModelError, match="operating_points"):
        WasteClassifier(rewritten(tmp_path, lambda r: r.update(operating_points={"strict": 1.5})), warmup=False)


def test_a_station_rejects_at_its_files_default_and_cannot_pick_another_point(tmp_path):
    """Picking the point in the station config would let two stations judge with one model version at two
    thresholds, and the audits that correct that version's accuracy would pool two confusion matrices."""
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "token").write_text("secret-token\n")
    base = ('[station]\nid = "st-1"\n\n[camera]\nsource = "clip.mp4"\n\n[classifier]\n{point}\n\n'
            '[server]\nurl = "http://127.0.0.1:8000"\ndevice_id = "dev-1"\ntoken_file = "token"\n\n'
            '[[bins]]\nname = "other"\ncategory = "other"\nzone = [[0, 0], [100, 0], [100, 100]]\n')
    path = tmp_path / "station.toml"
    path.write_text(base.format(point='operating_point = "balanced"'))
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load_config(path)
    assert [key for _, key, _ in e.value.problems] == ["classifier.operating_point"]
    path.write_text(base.format(point=""))
    judge = make_judge(cfg.load_config(path))
    assert judge.classifier.rejection_threshold == judge.classifier.metadata["rejection"]["threshold"]
    assert judge.classifier.operating_point is None


def test_classify_takes_an_operating_point(tmp_path):
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    run = [sys.executable, "-m", "edge", "classify", "--json", str(image)]
    ok = subprocess.run(run + ["--operating-point", "balanced"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert {"rejection_score", "rejected", "uncertain"} <= set(json.loads(ok.stdout))
    bad = subprocess.run(run + ["--operating-point", "lenient"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "no operating point 'lenient'" in bad.stderr and not bad.stdout
