"""The updates folder after a power cut at each step of an update: the station
starts on a version that checks out and loads, never on half of one."""
import pytest

from contract.artifacts import file_digest, new_key_pair, sign
from edge.updates import Slots, start_versions
from tests.artifact_files import model_variant


@pytest.fixture
def keys():
    return new_key_pair()


def install(slots, private, tmp_path, note):
    src = model_variant(tmp_path / f"{note}.onnx", note)
    digest, size = file_digest(src)
    version = f"waste-effl0-int8@{digest[:8]}"
    manifest = {"kind": "model", "name": "waste-effl0-int8", "version": version, "sha256": digest, "size": size,
                "notes": note, "created": "2026-12-03T00:00:00+00:00"}
    part = slots.part("model", version)
    part.write_bytes(src.read_bytes())
    slots.install("model", part, manifest, sign(manifest, private))
    return version


def running(slots):
    classifier, rules = start_versions(slots)
    assert rules is None
    return None if classifier is None else classifier.version


def test_before_any_update_the_config_model_runs(tmp_path, keys):
    assert running(Slots(tmp_path / "u", keys[1])) is None


def test_installed_but_not_pointed_at_is_not_run(tmp_path, keys):
    slots = Slots(tmp_path / "u", keys[1])
    a = install(slots, keys[0], tmp_path, "a")
    assert running(slots) is None                 # power cut after install, before the pointer
    slots.point("model", a, previous=None)
    assert running(slots) == a


def test_a_pointer_write_cut_short_leaves_the_old_pointer(tmp_path, keys):
    slots = Slots(tmp_path / "u", keys[1])
    a, b = install(slots, keys[0], tmp_path, "a"), install(slots, keys[0], tmp_path, "b")
    slots.point("model", a, previous=None)
    # power cut while writing the new pointer: only its temporary file, half written
    (slots.root / ".current-model.json.tmp").write_text('{"version": "' + b[:5])
    assert slots.pointer("model") == {"version": a, "previous": None}
    assert running(slots) == a
    slots.point("model", b, previous=a)         # the next swap overwrites the leftover
    assert running(slots) == b and not (slots.root / ".current-model.json.tmp").exists()


def test_a_current_version_that_no_longer_checks_out_falls_back_to_the_previous(tmp_path, keys):
    slots = Slots(tmp_path / "u", keys[1])
    a, b = install(slots, keys[0], tmp_path, "a"), install(slots, keys[0], tmp_path, "b")
    slots.point("model", b, previous=a)
    path = slots.installed("model", b)
    path.write_bytes(path.read_bytes()[:1000])   # the new file lost its end
    assert running(slots) == a
    (slots.folder("model", a) / "signature").write_text("")
    assert running(slots) is None                # neither: the config's own model


def test_a_half_moved_version_folder_is_not_installed(tmp_path, keys):
    slots = Slots(tmp_path / "u", keys[1])
    a = install(slots, keys[0], tmp_path, "a")
    (slots.folder("model", a) / "manifest.json").unlink()
    slots.point("model", a, previous=None)
    assert running(slots) is None


def test_prune_keeps_the_current_and_the_previous(tmp_path, keys):
    slots = Slots(tmp_path / "u", keys[1])
    a, b, c = (install(slots, keys[0], tmp_path, n) for n in "abc")
    slots.point("model", c, previous=b)
    slots.prune("model")
    assert sorted(p.name for p in (slots.root / "model").iterdir()) == sorted([b, c])
    assert a not in {p.name for p in (slots.root / "model").iterdir()}
