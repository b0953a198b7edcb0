"""The device's side of an update against the real server on loopback: download
(resumed with Range), size, sha256 and signature checked, loaded beside the
running model with a warm-up image, swapped in only between disposals,
refused and reported when anything fails."""
import base64
import json
from hashlib import sha256

import numpy as np
import pytest

from contract.artifacts import ArtifactError, file_digest, new_key_pair
from edge.updates import Slots, Updater
from tests.artifact_files import MODEL, field, model_variant, rules_variant


def offers(publisher, client):
    return publisher.heartbeat_answer(client)["assigned"]


def test_the_offered_model_is_fetched_verified_loaded_and_swapped_in(tmp_path, publisher, client, updater, judge):
    old = judge.model
    new = publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    assert new != old
    wanted = updater.wanted(publisher.heartbeat_answer(client))
    assert [(k, o["version"]) for k, o in wanted] == [("model", new)]
    assert updater.prepare("model", wanted[0][1])
    assert judge.model == old, "nothing changes before the swap"
    assert updater.swap_if_idle(idle=False) == [] and judge.model == old   # a disposal is open
    assert updater.swap_if_idle(idle=True) == ["model"]
    assert judge.model == new and judge.classifier.metadata["variant"] == "v2"
    assert updater.slots.pointer("model") == {"version": new, "previous": old}
    assert updater.error is None
    assert updater.wanted(publisher.heartbeat_answer(client)) == []      # it runs what it was offered


def test_a_new_rule_set_is_swapped_in_too(tmp_path, publisher, client, updater, judge):
    new = publisher.publish("rules", rules_variant(tmp_path / "beijing.json", "2027.1"))
    assert updater.prepare("rules", offers(publisher, client)["rules"])
    updater.swap_if_idle(idle=True)
    assert judge.rules.tag == new == "beijing@2027.1"


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path, real_server, publisher, client, updater):
    new = publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    offer = offers(publisher, client)["model"]
    assert not updater.prepare("model", offer, limit=1_000_000)              # broke off after ~1 MB
    part = updater.slots.part("model", new)
    assert 1_000_000 <= part.stat().st_size < offer["size"]
    assert "so far" in updater.error and ("model", new) not in updater.refused
    assert updater.prepare("model", offer)
    path = f"/api/v1/artifacts/model/{new}"
    assert [s for m, p, s in real_server.requests if p == path] == [200, 206]
    assert not part.exists() and file_digest(updater.slots.installed("model", new))[0] == offer["sha256"]


def test_a_wrong_key_refuses_and_the_station_keeps_its_model(tmp_path, publisher, client, judge):
    publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    stranger = Updater(Slots(tmp_path / "updates", new_key_pair()[1]), client, judge)
    old = judge.model
    stranger.offer(publisher.heartbeat_answer(client))
    stranger.worker.join(30)
    assert "does not verify" in stranger.error and stranger.ready == {}
    assert stranger.swap_if_idle(idle=True) == [] and judge.model == old
    assert not (tmp_path / "updates" / "model").exists()
    stranger.offer(publisher.heartbeat_answer(client))       # a refused version is not fetched again
    assert stranger.worker is None or not stranger.worker.is_alive()


def test_a_corrupted_download_is_refused_and_never_resumed(tmp_path, publisher, client, updater, judge):
    new = publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    offer = offers(publisher, client)["model"]
    data = bytearray(model_variant(tmp_path / "v2.onnx", "v2").read_bytes())
    data[5000] ^= 0xFF                                          # the disk or the wire flipped a bit
    updater.slots.part("model", new).write_bytes(bytes(data))
    assert not updater.prepare("model", offer)
    assert "sha256" in updater.error and ("model", new) in updater.refused
    assert not updater.slots.part("model", new).exists() and judge.model != new


def test_a_manifest_other_than_the_offer_is_refused(tmp_path, publisher, client, updater):
    publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    offer = dict(offers(publisher, client)["model"], size=1234)
    assert not updater.prepare("model", offer) and "not the one offered" in updater.error


def test_a_signed_model_that_fails_to_load_is_refused_and_the_old_one_keeps_working(
        tmp_path, publisher, client, updater, judge):
    publisher.publish("model", MODEL)                     # the running model, so the registry has a key
    data = MODEL.read_bytes()[:3_000_000]
    version = "waste-effl0-int8@" + sha256(data).hexdigest()[:8]
    publisher.sign_by_hand("model", version, data)
    offer = offers(publisher, client)["model"]
    assert offer["version"] == version                      # the newest, and it checks out
    old = judge.model
    assert not updater.prepare("model", offer)
    assert "refused" in updater.error and "cannot load" in updater.error
    assert updater.swap_if_idle(idle=True) == [] and judge.model == old
    assert updater.slots.pointer("model") == {}
    assert judge.judge(np.full((64, 64, 3), 128, np.uint8), "other").item in judge.classifier.labels


def test_a_model_the_rule_set_cannot_judge_is_refused(tmp_path, publisher, client, updater, judge):
    # A model whose labels are not all in the station's rule set: renamed labels, appended as a later
    # metadata entry (onnxruntime keeps the last of repeated keys).
    labels = [*judge.classifier.labels[:-1], "mystery_item"]
    old = judge.model
    entry = field(1, b"labels") + field(2, json.dumps(labels).encode())
    path = tmp_path / "renamed.onnx"
    path.write_bytes(MODEL.read_bytes() + field(14, entry))
    publisher.publish("model", path)
    assert not updater.prepare("model", offers(publisher, client)["model"])
    assert "mystery_item" in updater.error and judge.model == old


def test_an_unsigned_file_is_refused_by_the_device(tmp_path, publisher, client, updater):
    publisher.publish("model", MODEL)
    variant = model_variant(tmp_path / "v2.onnx", "v2").read_bytes()
    version = "waste-effl0-int8@" + sha256(variant).hexdigest()[:8]
    m = publisher.sign_by_hand("model", version, variant, signature=base64.b64encode(b"\0" * 64).decode())
    offer = {"version": version, "sha256": m["sha256"], "size": m["size"]}
    # The registry does not serve it (its signature does not verify) ...
    assert offers(publisher, client)["model"]["version"] != version
    # ... and a device offered it anyway refuses it.
    assert not updater.prepare("model", offer) and "404" in updater.error
    part = updater.slots.part("model", version)
    part.write_bytes(variant)
    assert not updater.slots.folder("model", version).exists()
    with pytest.raises(ArtifactError, match="does not verify"):
        updater.slots.install("model", part, m, base64.b64encode(b"\0" * 64).decode())
    with pytest.raises(ArtifactError, match="does not verify"):
        updater.slots.install("model", part, m, "")
