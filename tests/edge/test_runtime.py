"""The runtime end to end on a generated clip, against the real server on loopback.

The classifier is the colour double (the point here is the pipeline and the
faults, not the model): each drop's item and bin are known exactly, so the
server must hold exactly one correct event per drop. tests/edge/test_e2e.py
runs the real model against the real server.
"""
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from edge_doubles import ColourClassifier, FakeCamera

from edge.capture import Capture
from edge.config import load_config
from edge.runtime import Runtime
from tests.polling import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_station_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def station(tmp_path, colour_items, real_server):
    out = tmp_path / "station"
    truth, _ = make_station_clip.render(colour_items, out, drops=6, seed=11, station_id="st-t",
                                        width=480, height=270, fps=10, wrong_share=0.4)
    (out / "token").write_text(real_server.token + "\n")
    return out, truth


def configure(out, server, extra=""):
    path = out / "station.toml"
    text = path.read_text()
    if extra:
        head, rest = text.split("[outbox]", 1)
        text = head + extra + "\n[outbox]" + rest
    path.write_text(text)
    return load_config(path, {"server.url": server.url})


def server_events(server):
    return sorted(server.events(), key=lambda e: e["ts"])


def check_against_truth(server, truth):
    events = server_events(server)
    assert len(events) == len(truth), "exactly one event per drop"
    for e, t in zip(events, truth, strict=True):
        assert (e["bin"], e["item"], e["category"]) == (t["bin"], t["item"], t["category"])
        assert e["verdict"] == ("wrong" if t["wrong"] else "correct")
    return events


def test_once_delivers_one_event_per_drop(station, real_server):
    out, truth = station
    cfg = configure(out, real_server)
    rt = Runtime(cfg, classifier=ColourClassifier(), once=True)
    assert rt.run(timeout=15) == 0
    events = check_against_truth(real_server, truth)
    assert real_server.order() == [e["event_id"] for e in events], "delivered in order of occurrence"
    assert {e["station_id"] for e in events} == {"st-t"} and events[0]["model"] == "colour-double@test"
    assert events[0]["ts"].endswith("+08:00")
    from datetime import datetime
    assert datetime.fromisoformat(events[-1]["ts"]).timestamp() <= time.time(), "no event in the future"
    beat = real_server.heartbeats[-1]
    assert beat["camera"] == "ended" and beat["pending_events"] == 0 and beat["oldest_pending"] is None
    assert beat["rules"] == "beijing@2020.2" and beat["disk_free"] > 0 and beat["dropped_frames"] == 0


def test_restart_on_the_same_file_counts_nothing_twice(station, real_server):
    out, truth = station
    for _ in range(2):
        cfg = configure(out, real_server)
        assert Runtime(cfg, classifier=ColourClassifier(), once=True).run(timeout=15) == 0
    check_against_truth(real_server, truth)


def test_server_down_500_429_then_back_delivers_in_order(station, real_server):
    out, truth = station
    real_server.stop()
    cfg = configure(out, real_server)
    cfg = cfg.updated("server", backoff_min=0.05, backoff_max=0.3, batch_size=2)
    rt = Runtime(cfg, classifier=ColourClassifier(), once=True)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", rt.run(timeout=20)))
    t.start()
    assert wait_until(lambda: rt.outbox and rt.outbox.counts()["pending"] == len(truth), timeout=20)
    real_server.faults = [500, 429, 500]
    real_server.start()
    t.join(25)
    assert result["rc"] == 0
    events = check_against_truth(real_server, truth)
    assert real_server.order() == [e["event_id"] for e in events]


def test_once_exits_1_when_not_everything_was_delivered(station, real_server):
    out, truth = station
    real_server.stop()
    cfg = configure(out, real_server)
    assert Runtime(cfg, classifier=ColourClassifier(), once=True).run(timeout=0.5) == 1
    from edge.outbox import Outbox
    assert Outbox(cfg.outbox.path).counts()["pending"] == len(truth)


def test_evidence_for_wrong_verdicts_and_household_tokens(station, real_server, caplog, tmp_path):
    out, truth = station
    reader = tmp_path / "reader.txt"
    reader.write_text("")
    cfg = configure(out, real_server)
    cfg = cfg.updated("privacy", evidence=True, household_reader=reader, household_window=60)
    caplog.set_level(logging.INFO)
    rt = Runtime(cfg, classifier=ColourClassifier(), once=True)
    rt.setup()
    rt.tokens.offer("hh-7a7a7a")
    assert rt.run(timeout=15) == 0
    events = check_against_truth(real_server, truth)
    assert events[0]["household"] == "hh-7a7a7a"
    assert all(e["household"] is None for e in events[1:])
    assert "hh-7a7a7a" not in caplog.text
    wrong = {e["event_id"] for e in events if e["verdict"] == "wrong"}
    assert wrong and set(real_server.evidence()) == wrong
    for eid, jpeg in real_server.evidence().items():
        assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < 256 * 1024
        posted = min(i for i, r in enumerate(real_server.requests) if r[1] == "/api/v1/events")
        put = next(i for i, r in enumerate(real_server.requests) if r[0] == "PUT" and eid in r[1])
        assert posted < put


def test_heartbeat_says_when_the_camera_stalls(station, real_server):
    out, _ = station
    cfg = configure(out, real_server)
    cfg = cfg.updated("server", heartbeat_interval=0.1)
    rt = Runtime(cfg, classifier=ColourClassifier())
    rt.setup()
    hang = threading.Event()
    rt.capture = Capture(lambda: FakeCamera(3, hang=hang), live=True, stall_timeout=0.2,
                         reconnect_min=5, reconnect_max=5)
    rt.start()
    try:
        assert wait_until(lambda: any(h["camera"] == "stalled" for h in real_server.heartbeats), timeout=5)
    finally:
        hang.set()
        rt.shutdown()


HARNESS = """
import sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from edge.config import load_config
from edge.runtime import Runtime
from edge_doubles import ColourClassifier, FakeCamera
import time

class Slow(ColourClassifier):
    def classify(self, image):
        time.sleep(0.4)  # every run lasts longer than the longest wait before a kill
        return super().classify(image)

cfg = load_config(sys.argv[1], {"server.url": sys.argv[4]})
cfg = cfg.updated("server", backoff_min=0.05, backoff_max=0.2)
sys.exit(Runtime(cfg, classifier=Slow(), once=True).run(timeout=20))
"""


def test_kill_9_at_random_moments_then_restart(station, real_server):
    out, truth = station
    configure(out, real_server)
    args = [sys.executable, "-c", HARNESS, str(out / "station.toml"), str(ROOT),
            str(Path(__file__).resolve().parent), real_server.url]
    rng = random.Random(7)
    kills = 0
    for _ in range(5):
        p = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        p.wait()
    assert kills == 5
    assert subprocess.run(args, stderr=subprocess.DEVNULL, timeout=60).returncode == 0
    check_against_truth(real_server, truth)


def run_cli(argv):
    import argparse

    from edge import runtime
    parser = argparse.ArgumentParser()
    runtime.add_arguments(parser)
    return runtime.main(parser.parse_args(argv))


def test_cli_refuses_bad_config_and_once_on_a_live_camera(station, real_server, capsys):
    out, _ = station
    configure(out, real_server)
    assert run_cli(["--config", str(out / "station.toml"), "--source", str(out / "missing.mp4")]) == 2
    assert "camera.source" in capsys.readouterr().err
    assert run_cli(["--config", str(out / "station.toml"), "--source", "rtsp://127.0.0.1:1/x", "--once"]) == 2
    assert "--once needs a file" in capsys.readouterr().err
    text = (out / "station.toml").read_text()
    (out / "station.toml").write_text(text.replace("[outbox]", '[classifier]\nmodel = "station.toml"\n\n[outbox]'))
    assert run_cli(["--config", str(out / "station.toml")]) == 2  # not a model
    assert "run: " in capsys.readouterr().err


def test_cli_once_with_overrides(station, real_server, tmp_path, monkeypatch):
    out, truth = station
    token = tmp_path / "other-token"
    token.write_text(real_server.add_device("dev-right", "st-t"))
    (out / "station.toml").write_text((out / "station.toml").read_text().replace(
        'device_id = "dev-st-t"', 'device_id = "dev-wrong"'))
    import edge.runtime as rt_module
    original = rt_module.Runtime.__init__

    def with_double(self, config, **kw):
        kw.setdefault("classifier", ColourClassifier())
        original(self, config, **kw)

    monkeypatch.setattr(rt_module.Runtime, "__init__", with_double)
    rc = run_cli(["--config", str(out / "station.toml"), "--server", real_server.url,
                  "--device-id", "dev-right", "--token-file", str(token), "--once", "--timeout", "10"])
    assert rc == 0
    assert len(real_server.events()) == len(truth)
    assert real_server.heartbeats[-1]["device_id"] == "dev-right"


def test_disk_full_outbox_drops_oldest_evidence_and_keeps_events(tmp_path, colour_items, real_server):
    out = tmp_path / "full"
    truth, _ = make_station_clip.render(colour_items, out, drops=8, seed=12, station_id="st-t",
                                        width=480, height=270, fps=10, wrong_share=0.9)
    (out / "token").write_text(real_server.token + "\n")
    wrong = sum(t["wrong"] for t in truth)
    assert wrong >= 4
    real_server.stop()
    cfg = configure(out, real_server)
    cfg = cfg.updated("privacy", evidence=True, evidence_max_px=480, evidence_quality=95)
    rt = Runtime(cfg, classifier=ColourClassifier(), once=True)
    rt.setup()
    pages = rt.outbox.pragma("page_count")
    rt.outbox.conn.execute(f"PRAGMA max_page_count={pages + 4}")  # a disk with ~16 KiB left
    assert rt.run(timeout=0.3) == 1
    from edge.outbox import Outbox
    box = Outbox(cfg.outbox.path)
    assert box.counts()["pending"] == len(truth), "every event is kept"
    kept = [r[0] for r in box.conn.execute("SELECT event_id FROM evidence ORDER BY created")]
    assert 0 < len(kept) < wrong and rt.outbox.dropped_evidence == wrong - len(kept)
    order = [e["event_id"] for _, e in box.pending()]
    wrong_ids = [eid for eid in order if json.loads(box.conn.execute(
        "SELECT body FROM events WHERE event_id=?", (eid,)).fetchone()[0])["verdict"] == "wrong"]
    assert kept == wrong_ids[-len(kept):], "the oldest evidence went first"
    box.close()
    real_server.start()
    assert Runtime(configure(out, real_server), classifier=ColourClassifier(), once=True).run(timeout=15) == 0
    check_against_truth(real_server, truth)
    assert set(real_server.evidence()) == set(kept)


def test_once_fails_on_an_unreadable_file(station, real_server):
    out, _ = station
    (out / "clip.mp4").write_bytes(b"not a video at all" * 100)
    cfg = configure(out, real_server)
    assert Runtime(cfg, classifier=ColourClassifier(), once=True).run(timeout=2) == 1
    assert real_server.events() == []


def test_a_disposal_that_cannot_be_judged_does_not_stop_the_station(station, real_server, caplog):
    out, truth = station

    class Flaky(ColourClassifier):
        def classify(self, image):
            if self.calls == 1:
                self.calls += 1
                raise RuntimeError("inference failed")
            return super().classify(image)

    rt = Runtime(configure(out, real_server), classifier=Flaky(), once=True)
    assert rt.run(timeout=10) == 1, "--once says that not every disposal became an event"
    assert rt.recorder.errors == 1 and len(real_server.events()) == len(truth) - 1
    assert "could not be judged" in caplog.text


def test_no_evidence_when_someone_reaches_into_the_zone(station, real_server):
    import numpy as np

    from edge.episodes import Episode
    out, _ = station
    cfg = configure(out, real_server)
    cfg = cfg.updated("privacy", evidence=True)
    rt = Runtime(cfg, classifier=ColourClassifier())
    rt.setup()
    try:
        for reaching in (False, True):
            crop = np.zeros((60, 60, 3), np.uint8)
            crop[:] = (40, 40, 210)  # a battery card, into the kitchen bin: wrong
            ep = Episode("kitchen", "kitchen", start_index=10 + reaching, start_t=1.0 + reaching, start_wall=0.0,
                         crop=crop, context=np.pad(crop, ((20, 20), (20, 20), (0, 0))), context_box=(20, 20, 60, 60),
                         reaching=reaching)
            rt.recorder.record(ep)
        rows = rt.outbox.conn.execute("SELECT e.body, v.event_id IS NOT NULL FROM events e "
                                      "LEFT JOIN evidence v USING (event_id) ORDER BY e.seq").fetchall()
        assert [(json.loads(b)["verdict"], has) for b, has in rows] == [("wrong", 1), ("wrong", 0)]
    finally:
        rt.outbox.close()


def test_a_folder_of_images_is_a_source_too(station, real_server, tmp_path):
    import cv2
    out, truth = station
    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    i = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        cv2.imwrite(str(frames / f"{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        i += 1
    cap.release()
    cfg = configure(out, real_server)
    cfg = cfg.updated("camera", source=frames, fps=10.0)
    assert Runtime(cfg, classifier=ColourClassifier(), once=True).run(timeout=15) == 0
    check_against_truth(real_server, truth)


def test_a_full_disk_holds_the_event_in_memory_until_there_is_room(station, real_server):
    """SQLite's own "database or disk is full" (a page limit on the outbox
    file): the disposal is kept in memory, not lost, and stored once the
    outbox can take it again."""
    import numpy as np

    from edge.episodes import Episode
    out, _ = station
    rt = Runtime(configure(out, real_server), classifier=ColourClassifier())
    rt.setup()
    try:
        conn = rt.outbox.conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        crop = np.zeros((60, 60, 3), np.uint8)
        crop[:] = (40, 40, 210)
        for k in range(40):  # enough events to need a new page
            rt.recorder.record(Episode("kitchen", "kitchen", start_index=k, start_t=float(k), start_wall=0.0,
                                       crop=crop, context=None, context_box=None, reaching=False))
        held = len(rt.recorder.unsaved)
        assert held > 0 and rt.recorder.stored + held == 40
        assert rt.health()["pending_events"] == 40 and not rt.delivered_all()
        rt.recorder.retry_unsaved()
        assert len(rt.recorder.unsaved) == held, "still full: nothing is dropped"
        conn.execute("PRAGMA max_page_count = 1073741823")
        rt.recorder.retry_unsaved()
        assert rt.recorder.unsaved == [] and rt.outbox.counts()["pending"] == 40
    finally:
        rt.outbox.close()
