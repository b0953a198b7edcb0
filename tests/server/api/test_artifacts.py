"""The registry of signed models and rule sets: publish, assign, serve, heartbeat answer.

Real keys, the real committed model (and a valid variant of it), real files
in the registry folder, and the operator commands through the CLI runner.
"""
import json
import shutil
from datetime import datetime

import pytest

from contract.artifacts import parse_manifest, public_key_from_text, verify_signature
from server.timeutil import BEIJING
from tests.artifact_files import MODEL, RULES, model_variant, rules_variant


@pytest.fixture
def keys(runner, tmp_path):
    r = runner.invoke(args=["keygen", "--out", str(tmp_path / "keys")])
    assert r.exit_code == 0, r.output
    return tmp_path / "keys"


@pytest.fixture
def registry(app):
    return app.config["SETTINGS"].registry_dir


def publish(runner, kind, path, keys, *extra):
    return runner.invoke(args=[f"publish-{kind}", str(path), "--key", str(keys / "private.pem"), *extra])


def beat(client, city, station="st-a"):
    body = {"device_id": f"dev-{station}", "ts": datetime.now(BEIJING).isoformat(), "camera": "ok"}
    r = client.post("/api/v1/heartbeat", json=body, headers={"Authorization": f"Bearer {city.tokens[station]}"})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def fetch(client, url, **headers):
    """(status, body, headers) of a GET, its response closed (a file response holds the file open)."""
    with client.get(url, headers=headers) as r:
        return r.status_code, r.data, r.headers


def auth(city, station="st-a"):
    return {"Authorization": f"Bearer {city.tokens[station]}"}


def test_publish_then_the_heartbeat_offers_it_and_the_device_can_fetch_and_verify_it(
        client, city, runner, keys, tmp_path):
    assert beat(client, city)["assigned"] == {"model": None, "rules": None}
    r = publish(runner, "model", MODEL, keys, "--notes", "the shipped model")
    assert r.exit_code == 0, r.output
    version = "waste-effl0-int8@" + r.output.split("@", 1)[1][:8]
    answer = beat(client, city)
    assert answer["status"] == "ok" and answer["online_seconds_credited"] >= 0   # the old fields stay
    assert answer["assigned"]["model"]["version"] == version
    assert answer["assigned"]["model"]["size"] == MODEL.stat().st_size

    got = client.get(f"/api/v1/artifacts/model/{version}/manifest", headers=auth(city)).get_json()
    manifest = parse_manifest(json.dumps(got["manifest"]).encode())
    verify_signature(manifest, got["signature"], public_key_from_text((keys / "public.b64").read_text()))
    assert manifest["notes"] == "the shipped model"

    status, data, _ = fetch(client, f"/api/v1/artifacts/model/{version}", **auth(city))
    assert status == 200 and data == MODEL.read_bytes()
    status, data, headers = fetch(client, f"/api/v1/artifacts/model/{version}", **auth(city), Range="bytes=1000-")
    assert status == 206 and data == MODEL.read_bytes()[1000:]
    assert headers["Content-Range"] == f"bytes 1000-{manifest['size'] - 1}/{manifest['size']}"
    assert client.get(f"/api/v1/artifacts/model/{version}").status_code == 401
    assert client.get("/api/v1/artifacts/model/nothing@00000000", headers=auth(city)).status_code == 404
    assert client.get("/api/v1/artifacts/firmware/x@1", headers=auth(city)).status_code == 404


def test_newest_is_offered_unless_an_operator_assigns_a_version(client, city, runner, keys, tmp_path):
    assert publish(runner, "model", MODEL, keys).exit_code == 0
    first = beat(client, city)["assigned"]["model"]["version"]
    r = publish(runner, "model", model_variant(tmp_path / "new.onnx", "v2"), keys)
    assert r.exit_code == 0, r.output
    second = beat(client, city)["assigned"]["model"]["version"]
    assert second != first
    assert runner.invoke(args=["assign-model", first]).exit_code == 0
    assert beat(client, city)["assigned"]["model"]["version"] == first
    r = runner.invoke(args=["assign-model", "waste-effl0-int8@00000000"])
    assert r.exit_code != 0 and "unchanged" in r.output
    assert beat(client, city)["assigned"]["model"]["version"] == first
    assert runner.invoke(args=["assign-model", "--latest"]).exit_code == 0
    assert beat(client, city)["assigned"]["model"]["version"] == second
    listing = runner.invoke(args=["list-artifacts"]).output
    assert f"* model {second}" in listing and f"  model {first}" in listing

    assert publish(runner, "rules", rules_variant(tmp_path / "b.json", "2027.1"), keys).exit_code == 0
    assert beat(client, city)["assigned"]["rules"]["version"] == "beijing@2027.1"
    assert publish(runner, "rules", RULES, keys).exit_code == 0
    assert runner.invoke(args=["assign-rules", "beijing@2027.1"]).exit_code == 0
    assert beat(client, city)["assigned"]["rules"]["version"] == "beijing@2027.1"


def test_publish_refuses_files_that_do_not_load_and_keeps_the_registry_unchanged(runner, keys, tmp_path, registry):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(MODEL.read_bytes()[: MODEL.stat().st_size // 2])
    not_rules = tmp_path / "rules.json"
    not_rules.write_text('{"name": "beijing", "version": "1"}')
    for kind, path, message in (("model", truncated, "does not load"), ("model", RULES, "does not load"),
                                ("rules", not_rules, "missing key"), ("rules", MODEL, "not UTF-8")):
        r = publish(runner, kind, path, keys)
        assert r.exit_code != 0 and message in r.output and "nothing was published" in r.output, r.output
    assert not (registry / "model").exists() and not (registry / "rules").exists()
    assert publish(runner, "model", MODEL, keys).exit_code == 0
    r = publish(runner, "model", MODEL, keys)
    assert r.exit_code != 0 and "already published" in r.output


def test_a_foreign_key_cannot_publish(runner, keys, tmp_path):
    assert publish(runner, "model", MODEL, keys).exit_code == 0
    assert runner.invoke(args=["keygen", "--out", str(tmp_path / "other")]).exit_code == 0
    r = publish(runner, "rules", RULES, tmp_path / "other")
    assert r.exit_code != 0 and "does not match the registry's public key" in r.output


@pytest.mark.parametrize("damage", ["tampered", "truncated", "unsigned", "resigned"])
def test_a_damaged_version_is_neither_offered_nor_served(client, city, runner, keys, tmp_path, registry, damage):
    assert publish(runner, "model", MODEL, keys).exit_code == 0
    old = beat(client, city)["assigned"]["model"]["version"]
    assert publish(runner, "model", model_variant(tmp_path / "new.onnx", "v2"), keys).exit_code == 0
    new = beat(client, city)["assigned"]["model"]["version"]
    folder = registry / "model" / new
    data = (folder / "artifact").read_bytes()
    if damage == "tampered":
        (folder / "artifact").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "truncated":
        (folder / "artifact").write_bytes(data[:-10])
    elif damage == "unsigned":
        (folder / "signature").unlink()
    else:  # a manifest edited to match a tampered file, with the old signature
        (folder / "artifact").write_bytes(data + b"x")
        m = json.loads((folder / "manifest.json").read_text())
        m["size"] += 1
        (folder / "manifest.json").write_text(json.dumps(m))
    assert beat(client, city)["assigned"]["model"]["version"] == old
    assert client.get(f"/api/v1/artifacts/model/{new}", headers=auth(city)).status_code == 404
    assert client.get(f"/api/v1/artifacts/model/{new}/manifest", headers=auth(city)).status_code == 404
    r = runner.invoke(args=["assign-model", new])
    assert r.exit_code != 0
    assert "REFUSED" in runner.invoke(args=["list-artifacts"]).output
    shutil.rmtree(folder)
    assert beat(client, city)["assigned"]["model"]["version"] == old


def test_events_judged_by_a_published_rule_set_are_accepted_while_it_checks_out(
        client, city, runner, keys, tmp_path, registry):
    from tests.server.support import disposal, post_events
    ev = disposal(rules="beijing@2027.1")
    refused = post_events(client, city, [ev]).get_json()
    assert refused["accepted"] == 0 and refused["rejected"][0]["errors"][0]["field"] == "rules"
    assert publish(runner, "rules", rules_variant(tmp_path / "b.json", "2027.1"), keys).exit_code == 0
    assert post_events(client, city, [ev]).get_json()["accepted"] == 1
    (registry / "rules" / "beijing@2027.1" / "signature").write_text("")
    assert post_events(client, city, [disposal(rules="beijing@2027.1")]).get_json()["accepted"] == 0


def test_answers_match_the_openapi_document(client, city, runner, keys):
    from .test_contract import check
    check(client.post("/api/v1/heartbeat", json={"device_id": "dev-st-a", "ts": datetime.now(BEIJING).isoformat()},
                      headers=auth(city)), "/api/v1/heartbeat", "post")
    assert publish(runner, "model", MODEL, keys).exit_code == 0
    answer = client.post("/api/v1/heartbeat", json={"device_id": "dev-st-a", "ts": datetime.now(BEIJING).isoformat(),
                                                    "update_error": "model x@1 refused: it does not load"},
                         headers=auth(city))
    check(answer, "/api/v1/heartbeat", "post")
    version = answer.get_json()["assigned"]["model"]["version"]
    check(client.get(f"/api/v1/artifacts/model/{version}/manifest", headers=auth(city)),
          "/api/v1/artifacts/{kind}/{version}/manifest", "get")
    check(client.get("/api/v1/artifacts/model/x@1/manifest", headers=auth(city)),
          "/api/v1/artifacts/{kind}/{version}/manifest", "get")
    too_long = client.post("/api/v1/heartbeat", json={"device_id": "dev-st-a", "update_error": "x" * 501,
                                                      "ts": datetime.now(BEIJING).isoformat()}, headers=auth(city))
    assert too_long.status_code == 400


def test_feedback_on_an_event_of_a_published_rule_set_judges_by_that_rule_set(
        client, city, runner, keys, tmp_path):
    from tests.server.support import disposal, login, post_events
    data = json.loads(RULES.read_text(encoding="utf-8"))
    data["version"] = "2027.1"
    data["items"]["battery"] = {**data["items"]["battery"], "also_accepted": []}   # dry cells: hazardous only
    (tmp_path / "b.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert publish(runner, "rules", tmp_path / "b.json", keys).exit_code == 0
    events = [disposal(rules=tag, bin="other", item="glass", category="recyclable", verdict="wrong")
              for tag in ("beijing@2020.1", "beijing@2027.1")]
    assert post_events(client, city, events).get_json()["accepted"] == 2
    city.add_user("vol-a", "volunteer", "st-a")
    login(client, "vol-a")
    verdicts = []
    for ev in events:   # the volunteer says it was a battery, into the other-waste bin
        r = client.post(f"/api/v1/events/{ev['event_id']}/feedback", json={"camera_wrong": True, "item": "battery"})
        assert r.status_code == 200, r.get_json()
        verdicts.append(r.get_json()["verdict"])
    assert verdicts == ["correct", "wrong"]


def test_the_later_of_two_versions_published_in_one_second_is_the_newest(client, city, runner, keys, tmp_path):
    """Versions are ordered by when they were published; with whole seconds two
    publications in one second fell back to the order of their hashes."""
    import hashlib

    def version(path):
        return "waste-effl0-int8@" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]

    first = model_variant(tmp_path / "a.onnx", "a")
    n = 0
    while True:  # a second file whose version sorts before the first's
        second = model_variant(tmp_path / "b.onnx", f"b{n}")
        if version(second) < version(first):
            break
        n += 1
    assert publish(runner, "model", first, keys).exit_code == 0
    assert publish(runner, "model", second, keys).exit_code == 0
    assert beat(client, city)["assigned"]["model"]["version"] == version(second)
