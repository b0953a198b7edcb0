"""Station config: strict validation, every error with its line and key."""
import argparse
from pathlib import Path

import pytest

from edge import config as cfg

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
[station]
id = "st-1"

[camera]
source = "clip.mp4"

[server]
url = "http://127.0.0.1:8000"
device_id = "dev-1"
token_file = "token"

[[bins]]
name = "kitchen"
category = "kitchen"
zone = [[0, 0], [100, 0],
        [100, 100], [0, 100]]

[[bins]]
name = "other"
category = "other"
zone = [[200, 0], [300, 0], [300, 100]]
"""


@pytest.fixture
def station(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "token").write_text("secret-token\n")
    path = tmp_path / "station.toml"
    path.write_text(GOOD)
    return path


def problems(path, **kw):
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load_config(path, **kw)
    return e.value.problems


def test_good_config_loads_with_defaults_and_resolved_paths(station):
    c = cfg.load_config(station)
    assert c.station.id == "st-1"
    assert c.camera.source == station.parent / "clip.mp4"
    assert c.camera.queue_size == 16
    assert c.token() == "secret-token"
    assert [b.name for b in c.bins] == ["kitchen", "other"]
    assert c.bins[1].zone == ((200.0, 0.0), (300.0, 0.0), (300.0, 100.0))
    assert c.outbox.path == station.parent / "outbox.sqlite"
    assert c.tz.utcoffset(None).total_seconds() == 8 * 3600


def test_each_error_names_line_and_key(station):
    text = GOOD.replace('id = "st-1"', 'id = "st 1"\ncolour = "red"')
    text = text.replace("[100, 100], [0, 100]]", "[100, 100], [0, 100]]\nsize = 3")
    text = text.replace('category = "other"', 'category = "food"')
    station.write_text(text)
    found = {(line, key) for line, key, _ in problems(station)}
    assert found == {(2, "station.id"), (3, "station.colour"),
                     (18, "bins[0].size"), (22, "bins[1].category")}


def test_missing_required_and_bad_types(station):
    station.write_text(GOOD.replace('device_id = "dev-1"\n', "").replace(
        'source = "clip.mp4"', 'source = "clip.mp4"\nqueue_size = "many"\nfps = 0'))
    by_key = {key: (line, msg) for line, key, msg in problems(station)}
    assert by_key["server.device_id"][1] == "is required"
    assert by_key["server.device_id"][0] == 9  # the [server] table line
    assert by_key["camera.queue_size"] == (6, "must be an integer")
    assert "below the minimum" in by_key["camera.fps"][1]


def test_polygon_and_windows_are_checked(station):
    station.write_text(GOOD.replace("[[200, 0], [300, 0], [300, 100]]", "[[0, 0], [1, 1], [2, 2]]")
                       .replace('id = "st-1"', 'id = "st-1"\nwindows = ["07:00-09:00", "25:00-26:00"]'))
    by_key = {key: (line, msg) for line, key, msg in problems(station)}
    assert by_key["bins[1].zone"] == (22, "polygon has no area")
    assert by_key["station.windows[1]"][0] == 3


def test_toml_syntax_error_has_line(station):
    station.write_text(GOOD.replace('url = "http', 'url = http'))
    [(line, key, msg)] = problems(station)
    assert line == 8 and "TOML syntax" in msg


def test_token_rules(station, tmp_path):
    station.write_text(GOOD.replace('token_file = "token"', 'token_file = "token"\ntoken = "x"'))
    assert any("not both" in m for _, _, m in problems(station))
    (tmp_path / "token").write_text("")
    station.write_text(GOOD)
    assert [(k, m) for _, k, m in problems(station)] == [
        ("server.token_file", "token file is empty or holds more than one token")]


def test_command_line_overrides_are_validated(station, tmp_path):
    c = cfg.load_config(station, overrides={"camera.source": 3, "server.url": "http://h:1"})
    assert c.camera.source == 3 and c.server.url == "http://h:1"
    assert [(line, k) for line, k, _ in problems(station, overrides={"camera.source": str(tmp_path / "nope")})] \
        == [(None, "camera.source")]


def test_duplicate_bin_names(station):
    station.write_text(GOOD.replace('name = "other"', 'name = "kitchen"'))
    assert [(line, k) for line, k, _ in problems(station)] == [(19, "bins[1].name")]


def test_windows(station):
    station.write_text(GOOD.replace('id = "st-1"', 'id = "st-1"\nwindows = ["07:00-09:00", "22:00-02:00"]'))
    c = cfg.load_config(station)
    assert c.in_window(8 * 60) and c.in_window(23 * 60) and c.in_window(60)
    assert not c.in_window(12 * 60)


def run_cli(argv):
    parser = argparse.ArgumentParser()
    cfg.add_arguments(parser)
    return cfg.main(parser.parse_args(argv))


def test_check_config_command(station, capsys):
    assert run_cli([str(station)]) == 0
    assert "ok" in capsys.readouterr().out
    station.write_text(GOOD.replace("queue_size", "x").replace('id = "st-1"', 'id = "st-1"\nbogus = 1'))
    assert run_cli([str(station)]) == 1
    assert f"{station}:3: station.bogus: unknown key" in capsys.readouterr().err


def test_example_config_is_valid(tmp_path):
    text = (ROOT / "examples" / "station.toml").read_text()
    text = text.replace('"/etc/sortwatch/token"', '"token"')
    (tmp_path / "token").write_text("t0ken")
    (tmp_path / "station.toml").write_text(text)
    c = cfg.load_config(tmp_path / "station.toml")
    assert [b.category for b in c.bins] == list(cfg.CATEGORIES)
    assert c.bins[0].opening and [(g.name, g.bin) for g in c.ground] == [("front", "other")]


def test_every_field_is_described():
    for schema in list(cfg.SCHEMA.values()) + [cfg.BIN_SCHEMA, cfg.GROUND_SCHEMA]:
        for name, f in schema.items():
            assert len(f.description) > 10, name


def test_describe_lists_every_key(capsys):
    assert run_cli(["--describe"]) == 0
    text = capsys.readouterr().out
    for section, schema in cfg.SCHEMA.items():
        assert f"[{section}]" in text
        for key in schema:
            assert f"  {key} (" in text


def test_shipped_example_passes_check_config_with_a_warning_for_its_token(capsys):
    # The example names /etc/sortwatch/token, which a fresh clone does not have.
    assert run_cli([str(ROOT / "examples" / "station.toml")]) == 0
    captured = capsys.readouterr()
    assert "ok" in captured.out
    assert "warning: server.token_file: cannot read /etc/sortwatch/token" in captured.err


def test_a_missing_token_file_is_an_error_for_run(station, tmp_path):
    (tmp_path / "token").unlink()
    assert [(k, m.split(":")[0]) for _, k, m in problems(station)] == [
        ("server.token_file", f"cannot read {tmp_path / 'token'}")]
    c = cfg.load_config(station, token_required=False)
    assert c.warnings == (f"server.token_file: cannot read {tmp_path / 'token'}: No such file or directory",)


def test_sections_are_frozen_dataclasses_with_the_schema_keys(station):
    import dataclasses
    c = cfg.load_config(station)
    for name, schema in cfg.SCHEMA.items():
        section = getattr(c, name)
        assert [f.name for f in dataclasses.fields(section)] == list(schema), name
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.camera.fps = 1.0
    changed = c.updated("camera", fps=1.0)
    assert changed.camera.fps == 1.0 and c.camera.fps == 10.0 and changed.server == c.server


def test_upload_and_evidence_bounds_are_the_contracts(station):
    """A station never plans a batch or an evidence image the server refuses."""
    from contract.limits import MAX_EVENTS, MAX_EVIDENCE_SIDE
    assert cfg.load_config(station).server.batch_size == MAX_EVENTS
    text = station.read_text()
    station.write_text(text.replace("[server]", f"[server]\nbatch_size = {MAX_EVENTS + 1}", 1)
                       + f"\n[privacy]\nevidence_max_px = {MAX_EVIDENCE_SIDE + 1}\n")
    keys = {key for _, key, _ in problems(station)}
    assert {"server.batch_size", "privacy.evidence_max_px"} <= keys


def test_updates_are_off_without_a_public_key_and_a_bad_key_is_refused(tmp_path, station):
    from contract.artifacts import new_key_pair, public_key_text
    assert cfg.load_config(station).public_key() is None
    key = public_key_text(new_key_pair()[1])
    station.write_text(GOOD + f'\n[updates]\npublic_key = "{key}"\n')
    config = cfg.load_config(station)
    assert public_key_text(config.public_key()) == key
    assert config.updates.dir == tmp_path / "updates"
    (tmp_path / "public.b64").write_text(key + "\n")
    station.write_text(GOOD + '\n[updates]\npublic_key_file = "public.b64"\n')
    assert public_key_text(cfg.load_config(station).public_key()) == key
    for text, message in ((f'public_key = "{key[:-2]}="', "does not match"),
                          ('public_key_file = "nothing.b64"', "cannot read"),
                          (f'public_key = "{key}"\npublic_key_file = "public.b64"', "not both")):
        station.write_text(GOOD + f"\n[updates]\n{text}\n")
        with pytest.raises(cfg.ConfigError) as e:
            cfg.load_config(station)
        assert "updates.public_key" in str(e.value.lines()) and message in str(e.value.lines()), e.value.lines()
    (tmp_path / "public.b64").write_text("QUJD\n")
    station.write_text(GOOD + '\n[updates]\npublic_key_file = "public.b64"\n')
    with pytest.raises(cfg.ConfigError, match="Ed25519"):
        cfg.load_config(station)
