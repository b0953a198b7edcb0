"""Station condition on the edge (issue 16): the debouncer, the regions in the station file,
`classify --head bin|ground`, and a clip with an overflow and a litter scene played through the
real `python -m edge run` against the real server, which opens and resolves one case each."""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import config as cfg
from edge.condition import ConditionMonitor, Debouncer, Region
from edge.model.station import DEFAULT_STATION_MODEL

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_edge  # noqa: E402
import make_station_clip  # noqa: E402
from modelbuild import scenes  # noqa: E402
from test_config import GOOD  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets" / "waste-images"
needs_photos = pytest.mark.skipif(not (SHARED / "manifest.csv").exists(),
                                  reason=f"the shared photo set is not at {SHARED}")
needs_model = pytest.mark.skipif(not DEFAULT_STATION_MODEL.exists(),
                                 reason=f"the station-state model is not committed yet ({DEFAULT_STATION_MODEL})")


# --- the debouncer ------------------------------------------------------------------------------

def feed(debouncer, judgements, busy=()):
    """(t, state) judgements; returns the (t, state) changes it reported."""
    out = []
    for t, state in judgements:
        changed = debouncer.update(t, state, busy=t in busy)
        if changed is not None:
            out.append((t, changed))
    return out


def test_a_state_is_reported_only_after_it_held_for_the_hold_time():
    d = Debouncer(hold=120, initial="ok")
    changes = feed(d, [(t, "overflow") for t in range(0, 200, 5)])
    assert changes == [(120, "overflow")] and d.state == "overflow"


def test_flicker_never_reports():
    d = Debouncer(hold=30, initial="clean")
    judgements = [(t, "litter" if (t // 5) % 2 else "clean") for t in range(0, 600, 5)]
    judgements += [(t, "litter" if (t // 5) % 6 else "clean") for t in range(600, 1200, 5)]  # 25 s of litter at most
    assert feed(d, judgements) == [] and d.state == "clean"


def test_start_then_end_each_once():
    d = Debouncer(hold=10, initial="ok")
    judgements = [(t, "ok") for t in range(0, 20)] + [(t, "overflow") for t in range(20, 60)] + \
        [(t, "ok") for t in range(60, 100)]
    assert feed(d, judgements) == [(30, "overflow"), (70, "ok")]


def test_a_passing_bag_shorter_than_the_hold_is_not_a_case():
    d = Debouncer(hold=120, initial="clean")
    judgements = [(t, "litter") for t in range(0, 100, 5)] + [(t, "clean") for t in range(100, 400, 5)]
    assert feed(d, judgements) == []


def test_judgements_while_a_person_is_in_view_are_ignored():
    d = Debouncer(hold=10, initial="ok")
    # someone stands in front of the bin (busy) while the model says overflow: nothing
    assert feed(d, [(t, "overflow") for t in range(0, 60)], busy=set(range(0, 60))) == []
    # a busy "ok" in the middle of a real overflow does not break it
    judgements = [(t, "overflow") for t in range(100, 120)]
    assert feed(d, judgements + [(105, "ok")], busy={105}) == [(110, "overflow")]


def test_full_then_overflow_then_ok_reports_each_change():
    d = Debouncer(hold=5, initial="ok")
    judgements = [(t, "full") for t in range(0, 10)] + [(t, "overflow") for t in range(10, 20)] + \
        [(t, "ok") for t in range(20, 30)]
    assert feed(d, judgements) == [(5, "full"), (15, "overflow"), (25, "ok")]


class FixedModel:
    """Answers each head with the state it is told, for the monitor's plumbing."""

    version = "fixed@test"

    def __init__(self):
        self.states = {"bin": "ok", "ground": "clean"}
        self.calls = 0

    def judge_regions(self, images, heads):
        from edge.model.station import Judgement
        self.calls += 1
        assert all(im.size for im in images)
        return [Judgement(self.states[h], 0.9) for h in heads]


class F:
    def __init__(self, t, image):
        self.t, self.index, self.wall, self.image = t, int(t * 10), 1000.0 + t, image


def test_the_monitor_judges_every_interval_only_when_quiet():
    model = FixedModel()
    regions = [Region("bin", "kitchen", "kitchen", ((0, 0), (50, 0), (50, 50), (0, 50))),
               Region("ground", "front", "kitchen", ((0, 60), (100, 60), (100, 99), (0, 99)))]
    m = ConditionMonitor(regions, model, interval=1.0, hold=3.0, quiet=2.0)
    image = np.zeros((100, 100, 3), np.uint8)
    model.states["bin"] = "overflow"
    found = []
    for k in range(100):
        t = k / 10
        quiet_for = 0.0 if 2.0 <= t < 4.0 else 5.0  # someone in view from 2 to 4 s
        found += [(f.t, f.region.name, f.state, f.start) for f in m.observe(F(t, image), quiet_for)]
    assert model.calls == 8 and m.skipped_busy == 2  # every second, none of the two busy ones
    assert found == [(4.0, "kitchen", "overflow", True)]  # held from 0 s (judged at 0, 1, 4)


def test_a_looped_file_starts_a_new_timeline():
    model = FixedModel()
    region = Region("ground", "front", "kitchen", ((0, 60), (100, 60), (100, 99), (0, 99)))
    m = ConditionMonitor([region], model, interval=1.0, hold=3.0, quiet=0.0)
    image = np.zeros((100, 100, 3), np.uint8)
    model.states["ground"] = "litter"
    times = [k / 10 for k in range(25)] + [k / 10 for k in range(25)] + [k / 10 for k in range(40)]
    found = [(f.t, f.state) for t in times for f in m.observe(F(t, image), 10.0)]
    # 2.4 s of litter per pass never holds 3 s, and a candidate does not carry over a restart of time
    assert found == [(3.0, "litter")] and model.calls == 3 + 3 + 4


# --- the station file ---------------------------------------------------------------------------

BASE = GOOD.replace('category = "kitchen"\n',
                   'category = "kitchen"\nopening = [[0, 100], [100, 100], [100, 160], [0, 160]]\n')


def write(tmp_path, text):
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "token").write_text("secret-token\n")
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def problems(tmp_path, text):
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load_config(write(tmp_path, text))
    return e.value.lines()


def test_regions_load_with_defaults(tmp_path):
    c = cfg.load_config(write(tmp_path, BASE + '\n[[ground]]\nzone = [[0, 200], [300, 200], [300, 260]]\nbin = "other"\n'))
    assert c.bins[0].opening == ((0.0, 100.0), (100.0, 100.0), (100.0, 160.0), (0.0, 160.0))
    assert c.bins[1].opening is None
    assert c.ground == (cfg.Ground("ground0", ((0.0, 200.0), (300.0, 200.0), (300.0, 260.0)), "other"),)
    assert (c.condition.interval, c.condition.hold, c.condition.quiet, c.condition.evidence) == (5.0, 120.0, 2.0, False)
    c = cfg.load_config(write(tmp_path, BASE + '\n[[ground]]\nname = "front"\nzone = [[0, 200], [300, 200], [300, 260]]\n'))
    assert c.ground[0].bin == "kitchen" and c.ground[0].name == "front"  # the first bin by default


def test_bad_regions_name_their_line_and_key(tmp_path):
    text = BASE.replace("opening = [[0, 100], [100, 100], [100, 160], [0, 160]]",
                        "opening = [[0, 100], [100, 100]]")
    text += "\n[condition]\ninterval = 10\nhold = 5\n"
    text += '\n[[ground]]\nname = "front"\nzone = [[0, 200], [300, 200], [300, 260]]\nbin = "plastic"\n'
    text += '\n[[ground]]\nzone = [[0, 200], [-3, 200], [300, 260]]\nsize = 3\n'
    lines = problems(tmp_path, text)
    where = {line.split(": ")[1]: line for line in lines}
    n = text.splitlines().index
    assert where["bins[0].opening"].startswith(f"{tmp_path / 'station.toml'}:{n('opening = [[0, 100], [100, 100]]') + 1}:")
    assert "at least 3 points" in where["bins[0].opening"]
    assert where["condition.hold"].split(":")[1] == str(n("hold = 5") + 1)
    assert "shorter than condition.interval" in where["condition.hold"]
    assert where["ground[0].bin"].split(":")[1] == str(n('bin = "plastic"') + 1)
    assert "no bin is named 'plastic'" in where["ground[0].bin"]
    assert "coordinates must be 0..10000" in where["ground[1].zone[1]"]
    assert "unknown key" in where["ground[1].size"]


def test_bad_durations(tmp_path):
    lines = problems(tmp_path, BASE + "\n[condition]\ninterval = 0\nhold = -1\nquiet = \"soon\"\n")
    assert any(line.endswith("condition.interval: 0.0 is below the minimum 0.1") for line in lines), lines
    assert any(line.endswith("condition.hold: -1.0 is below the minimum 0") for line in lines), lines
    assert any(line.endswith("condition.quiet: must be a number") for line in lines), lines
    # a ground zone that names no region at all is a table error
    assert any("ground: must be [[ground]] tables" in line
               for line in problems(tmp_path, "ground = 3\n" + BASE)), "ground must be tables"


# --- classify --head ----------------------------------------------------------------------------

def classify(*args):
    r = subprocess.run([sys.executable, "-m", "edge", "classify", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, [json.loads(line) for line in r.stdout.splitlines()], r.stderr


@needs_model
@needs_photos
def test_classify_head_bin_and_ground_print_one_line_per_photo(tmp_path):
    cutouts = scenes.Cutouts(SHARED, validation_paths()[:300])
    paths = {}
    for head, states, make in (("bin", ("ok", "overflow"), scenes.bin_scene),
                               ("ground", ("clean", "litter"), scenes.ground_scene)):
        for state in states:
            p = tmp_path / f"{head}-{state}.jpg"
            cv2.imwrite(str(p), make(state, cutouts, np.random.default_rng([7, len(state)])))
            paths[p] = state
    bins = [p for p in paths if p.name.startswith("bin")]
    code, out, err = classify("--head", "bin", "--json", *bins, tmp_path / "missing.jpg")
    assert code == 1, err  # the missing file
    assert [set(o) for o in out] == [{"path", "bin_state", "confidence"}] * 2 + [{"path", "error"}]
    assert [o["bin_state"] for o in out[:2]] == [paths[p] for p in bins]
    assert all(o["bin_state"] in ("ok", "full", "overflow") and 0 <= o["confidence"] <= 1 for o in out[:2])
    grounds = [p for p in paths if p.name.startswith("ground")]
    code, out, err = classify("--head", "ground", "--json", *grounds)
    assert code == 0, err
    assert [set(o) for o in out] == [{"path", "ground", "confidence"}] * 2
    assert [o["ground"] for o in out] == [paths[p] for p in grounds]
    # the default head is still the waste classifier, its output unchanged
    code, item, _ = classify("--json", bins[0])
    code2, item2, _ = classify("--head", "item", "--json", bins[0])
    assert code == code2 == 0 and item == item2
    assert {"path", "item", "item_zh", "category", "category_zh", "confidence", "uncertain", "model",
            "rules"} <= set(item[0])


def validation_paths():
    """Photos the backbone did not train on (the waste model's validation paths)."""
    from edge.model import load_classifier
    listed = load_classifier().metadata["validation"]["paths"]
    return sorted(p.split("/", 1)[1] if p.startswith(SHARED.name + "/") else p for p in listed)


# --- the Done-when: a clip through the real edge and the real server ------------------

@pytest.fixture
def stack(tmp_path):
    s = bench_edge.ServerStack(tmp_path / "server", "st-e2e", "dev-e2e")
    with s:
        yield s


def cases(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM cases ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.slow
@needs_model
@needs_photos
def test_overflow_and_litter_clip_opens_and_resolves_one_case_each(tmp_path, stack):
    out = tmp_path / "clip"
    make_station_clip.render(SHARED, out, drops=2, seed=3, station_id="st-e2e", width=640, height=360, fps=10,
                             only_paths=set(validation_paths()), conditions=("overflow", "litter"),
                             hold=3.0, interval=1.0)
    truth = [json.loads(line) for line in (out / "condition.jsonl").read_text().splitlines()]
    toml = (out / "station.toml").read_text().replace("[condition]", "[condition]\nevidence = true")
    (out / "station.toml").write_text(toml)
    cmd = bench_edge.edge_command(out / "station.toml", stack, "--once", "--timeout", "30")
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    findings = [e for e in stack.events() if e["type"] != "disposal"]
    assert [(e["type"], e["state"]) for e in findings] == [("bin_full", "overflow"), ("bin_full", "ok"),
                                                          ("litter", "litter"), ("litter", "clean")], r.stderr[-3000:]
    overflow_bin = next(t["region"] for t in truth if t["kind"] == "overflow")
    assert findings[0]["bin"] == findings[1]["bin"] == overflow_bin
    assert stack.evidence_ids() >= {findings[0]["event_id"], findings[2]["event_id"]}
    got = cases(stack.db)
    assert [(c["kind"], c["bin"], c["state"]) for c in got] == [("overflow", overflow_bin, "resolved"),
                                                                ("litter", None, "resolved")]
    assert [c["event_id"] for c in got] == [findings[0]["event_id"], findings[2]["event_id"]]
    assert all(c["resolved_at"] > c["opened_at"] for c in got)


def test_a_restarted_live_station_goes_on_from_the_state_it_reported(tmp_path):
    from edge.condition import Finding
    from edge.events import EventMaker
    from edge.outbox import Outbox
    from edge.recorder import Recorder
    config = cfg.load_config(write(tmp_path, BASE))
    box = Outbox(tmp_path / "outbox.sqlite")
    region = Region("bin", "kitchen", "kitchen", config.bins[0].opening)
    recorder = Recorder(None, EventMaker(config, None), box, config.in_window)
    recorder.record_finding(Finding(region, "overflow", "ok", 5.0, 50, 1000.0, 0.9))
    [(_, event)] = box.pending(10)
    assert {k: event[k] for k in ("type", "station_id", "bin", "state")} == {
        "type": "bin_full", "station_id": "st-1", "bin": "kitchen", "state": "overflow"}
    box.close()
    # the program restarts: the same outbox, a new monitor
    box = Outbox(tmp_path / "outbox.sqlite")
    model = FixedModel()
    monitor = ConditionMonitor([region], model, interval=1.0, hold=2.0, quiet=0.0)
    monitor.restore(box.meta_get)
    image = np.zeros((200, 200, 3), np.uint8)
    found = [(f.state, f.previous) for k in range(40) for f in monitor.observe(F(k / 10, image), 10.0)]
    assert found == [("ok", "overflow")]  # the end of the overflow reported before the restart
    box.close()
