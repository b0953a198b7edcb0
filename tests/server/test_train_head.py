"""`flask --app server train-head` (issue 17, point 3) on a few shared photos, with labelled samples
sent through the device API: refused (nothing written or published) when the new head is worse, both
sets of figures printed; accepted, written, checked and published when allowed."""
from __future__ import annotations

import base64
import csv
import uuid
from pathlib import Path

import pytest

from .support import disposal, login, post_events

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets" / "waste-images"

pytestmark = [
    pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason=f"the shared photos are not at {SHARED}"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A folder named waste-images with links to 4 training and 2 validation photos of each item (the
    model's own split), and 12 more photos for samples; and an embedding cache for the module."""
    pytest.importorskip("onnx", reason="train-head needs the onnx package (requirements-dev.txt)")
    from edge.model import load_classifier
    meta = load_classifier().metadata
    val = {p.split("/", 1)[1] for p in meta["validation"]["paths"]}
    with open(SHARED / "manifest.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    chosen, spare, seen = [], [], {}
    for r in rows:
        k = (r["item"], r["path"] in val)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= (2 if r["path"] in val else 4):
            chosen.append(r)
        elif r["path"] not in val and seen[k] <= 5 and len(spare) < 12:
            spare.append(r)
    folder = tmp_path_factory.mktemp("tiny") / "waste-images"
    for r in chosen:
        (folder / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / r["path"]).symlink_to(SHARED / r["path"])
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(chosen)
    return folder, [SHARED / r["path"] for r in spare], folder.parent / "emb"


def send_samples(client, city, photos):
    """Each photo as a disposal of st-a and its learning sample (the real model's embedding)."""
    import cv2

    from contract.rules import load_rules
    from edge.model import load_classifier
    from edge.privacy.evidence import make_sample_crop
    clf, rules = load_classifier(), load_rules("beijing")
    for i, photo in enumerate(photos):
        image = cv2.imread(str(photo))
        p = clf.classify(image)
        ev = disposal(event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"train-head/{i}")), verdict="uncertain",
                      item=p.item, category=rules.category(p.item), model=clf.version, confidence=round(p.confidence, 4))
        r = post_events(client, city, [ev]).get_json()
        assert r["accepted"] == 1, r
        body = {"station_id": "st-a", "crop": base64.b64encode(make_sample_crop(image)).decode(),
                "embedding": base64.b64encode(p.embedding.astype("<f4").tobytes()).decode(), "dims": 1280,
                "probs": [float(min(1, max(0, x))) for x in p.probs], "confidence": ev["confidence"],
                "rejection_score": float(p.rejection_score)}
        r = client.put(f"/api/v1/events/{ev['event_id']}/sample", json=body,
                       headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
        assert r.status_code == 201, r.get_json()
        yield ev["event_id"], photo


def label_all(client, city, sent, item_of):
    city.add_user("lab-all", "labeller", "")
    login(client, "lab-all")
    for event_id, photo in sent:
        r = client.post(f"/api/v1/samples/{event_id}/label", json={"label": item_of(photo)})
        assert r.status_code == 200, r.get_json()


def true_item(photo: Path) -> str:
    from contract.rules import load_rules
    from scripts.modelbuild.data import ITEM_MAP
    with open(SHARED / "manifest.csv", newline="", encoding="utf-8") as f:
        items = {r["path"]: r["item"] for r in csv.DictReader(f)}
    item = items[photo.relative_to(SHARED).as_posix()]
    item = ITEM_MAP.get(item, item)
    assert item in load_rules("beijing").items
    return item


def test_train_head_refuses_a_worse_head_and_prints_both(app, client, city, runner, tiny, tmp_path):
    folder, photos, cache = tiny
    label_all(client, city, list(send_samples(client, city, photos)), true_item)
    out = tmp_path / "new.onnx"
    keys = tmp_path / "keys"
    assert runner.invoke(args=["keygen", "--out", str(keys)]).exit_code == 0
    # A head fitted on a few dozen photos is worse than the one fitted on five thousand.
    r = runner.invoke(args=["train-head", "--data", str(folder), "--cache", str(cache), "--views", "1",
                            "--steps", "60", "--tolerance", "0", "--out", str(out),
                            "--publish", str(keys / "private.pem")])
    assert r.exit_code == 1, r.output
    assert "12 labelled samples" in r.output
    assert "shared validation (clean): category balanced accuracy current" in r.output
    assert "shared validation (degraded)" in r.output and "held-out labelled samples (n=" in r.output
    assert "refused: worse on the shared validation photos" in r.output
    assert not out.exists()
    assert "model" not in runner.invoke(args=["list-artifacts"]).output


def test_train_head_writes_checks_and_publishes_an_accepted_head(app, client, city, runner, tiny, tmp_path):
    from edge.model import WasteClassifier, load_classifier
    folder, photos, cache = tiny
    label_all(client, city, list(send_samples(client, city, photos)), true_item)
    out = tmp_path / "new.onnx"
    keys = tmp_path / "keys"
    assert runner.invoke(args=["keygen", "--out", str(keys)]).exit_code == 0
    # --tolerance 1 lets any head through: this checks the writing, not the gate.
    r = runner.invoke(args=["train-head", "--data", str(folder), "--cache", str(cache), "--views", "1",
                            "--steps", "60", "--tolerance", "1", "--out", str(out),
                            "--publish", str(keys / "private.pem"), "--notes", "test head"])
    assert r.exit_code == 0, r.output
    new, old = WasteClassifier(out), load_classifier()
    assert new.labels == old.labels and new.version != old.version
    assert new.metadata["learning"]["samples_training"] + new.metadata["learning"]["samples_held_out"] == 12
    assert new.metadata["head"]["source_model"].startswith(old.version)
    assert new.has_rejection and new.rejection_threshold == new.metadata["rejection"]["threshold"]
    # the file's own score, in its dimensions, and its own way of choosing the threshold
    for key in ("score", "dims"):
        assert new.metadata["rejection"]["parameters"][key] == old.metadata["rejection"]["parameters"][key]
    assert new.metadata["rejection"].get("threshold_rule") == old.metadata["rejection"].get("threshold_rule")
    rule = old.metadata["rejection"].get("threshold_rule") or {}
    if rule.get("rule") == "validation_coverage":
        view = rule.get("view", "degraded")
        assert f"of the shared {view} validation crops get a verdict" in new.metadata["rejection"]["threshold_choice"]
    if old.operating_points:  # refitted by their rules, and the default is still the one the rule names
        points = new.metadata["rejection"]["operating_points"]
        assert {n: (p["view"], p["coverage"]) for n, p in points.items()} == {
            n: (p["view"], p["coverage"]) for n, p in old.metadata["rejection"]["operating_points"].items()}
        default = new.metadata["rejection"]["operating_point"]
        assert points[default]["view"] == rule.get("view", "degraded")
        assert new.rejection_threshold == points[default]["threshold"]
    listed = runner.invoke(args=["list-artifacts"]).output
    assert new.version in listed and "test head" in listed and "REFUSED" not in listed


def test_train_head_without_labelled_samples_refuses_before_fitting(app, runner, tiny, tmp_path):
    folder, _, cache = tiny
    r = runner.invoke(args=["train-head", "--data", str(folder), "--cache", str(cache), "--views", "1",
                            "--out", str(tmp_path / "new.onnx")])
    assert r.exit_code == 1 and "0 labelled samples" in r.output, r.output
    assert "refused: no held-out labelled samples" in r.output and "fitting on" not in r.output
    assert not (tmp_path / "new.onnx").exists()


def test_a_label_the_model_lacks_becomes_a_new_item(app, client, city, runner, tiny, tmp_path):
    """Samples labelled with an item of the city's rule set that the model does not know (beijing@2020.2
    names 22 items, the model 12) give a head with that item added, which the station can load and
    judge with. The photos are not shoes: this checks the mechanics, not what it learns."""
    from contract.rules import load_rules
    from edge.model import WasteClassifier, load_classifier
    folder, photos, cache = tiny
    label_all(client, city, list(send_samples(client, city, photos)), lambda photo: "shoes")
    out = tmp_path / "new.onnx"
    r = runner.invoke(args=["train-head", "--data", str(folder), "--cache", str(cache), "--views", "1",
                            "--steps", "60", "--tolerance", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    new, old = WasteClassifier(out), load_classifier()
    assert new.labels == old.labels + ["shoes"] and new.metadata["learning"]["new_items"] == ["shoes"]
    rules = load_rules(new.metadata["rules"].split("@")[0])
    assert new.metadata["rules"] == rules.tag == "beijing@2020.2"
    rules.check_items(new.labels)
    assert rules.category("shoes") == "recyclable"
    import cv2
    assert len(new.classify(cv2.imread(str(photos[0]))).probs) == 13
