"""Learning samples from the station (issue 17, point 1): with `[learning]
samples = true` the station sends, for each uncertain disposal and each one
its volunteer corrects, the item's crop, the model's embedding and scores,
through the outbox, to the real server; never when off, never for a correct
verdict, never when someone reached into the zone."""
from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from edge_doubles import ColourClassifier

from edge.config import load_config
from edge.model import Prediction
from edge.outbox import Outbox
from edge.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_edge  # noqa: E402
import make_station_clip  # noqa: E402

MODEL = ROOT / "models" / "waste-effl0-int8.onnx"


class LearningDouble(ColourClassifier):
    """The colour double with an embedding; plastic cards are rejected (uncertain)."""

    version = "learning-double@test"

    def classify(self, image_bgr):
        p = super().classify(image_bgr)
        embedding = np.full(1280, float(self.labels.index(p.item)), np.float32)
        rejected = p.item == "plastic"
        return Prediction(p.item, 0.3 if rejected else 0.9, p.probs, embedding, rejection_score=2.0 if rejected else 0.1,
                          rejected=rejected, uncertain=rejected)


@pytest.fixture
def stack(tmp_path):
    s = bench_edge.ServerStack(tmp_path / "server", "st-e2e", "dev-e2e")
    with s:
        yield s


def server_samples(stack) -> dict[str, dict]:
    conn = sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["event_id"]: dict(r) for r in conn.execute("SELECT * FROM samples")}
    finally:
        conn.close()


def volunteer_session(stack) -> requests.Session:
    r = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "add-user", "vol-e2e", "--role",
                        "volunteer", "--scope", stack.station_id], cwd=ROOT, env=stack.env, input="password-123\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    s = requests.Session()
    r = s.post(stack.url + "/api/v1/login", json={"username": "vol-e2e", "password": "password-123"})
    assert r.ok, r.text
    # The session cookie is Secure (production settings): sent by hand over loopback's plain HTTP.
    s.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in r.cookies)
    return s


def clip_config(tmp_path, stack, colour_items, drops=8, seed=5):
    out = tmp_path / "clip"
    truth, _ = make_station_clip.render(colour_items, out, drops=drops, seed=seed, station_id="st-e2e",
                                        width=480, height=270, fps=10, wrong_share=0.5)
    config = load_config(out / "station.toml", {"server.url": stack.url, "server.device_id": "dev-e2e",
                                                "server.token_file": str(stack.token_file)})
    return out, truth, config


def test_samples_of_uncertain_and_corrected_disposals_reach_the_server(tmp_path, stack, colour_items):
    out, truth, config = clip_config(tmp_path, stack, colour_items)
    config = config.updated("learning", samples=True).updated("server", heartbeat_interval=0.2)
    assert Runtime(config, classifier=LearningDouble(), once=True).run(timeout=30) == 0
    events = {e["event_id"]: e for e in stack.events()}
    assert len(events) == len(truth)
    verdicts = [e["verdict"] for e in events.values()]
    assert "uncertain" in verdicts and "wrong" in verdicts and "correct" in verdicts, verdicts
    samples = server_samples(stack)
    # Uncertain ones at once; wrong ones only once corrected; correct ones never.
    assert set(samples) == {eid for eid, e in events.items() if e["verdict"] == "uncertain"}
    for s in samples.values():
        assert s["model"] == "learning-double@test" and s["station_id"] == "st-e2e" and s["label"] is None
        assert s["dims"] == 1280 and len(s["embedding"]) == 1280 * 4
        assert np.frombuffer(s["embedding"], "<f4")[0] == 1.0  # plastic's index in the double
        image = cv2.imdecode(np.frombuffer(s["jpeg"], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and max(image.shape[:2]) <= 224
    box = Outbox(config.outbox.path)
    wrong = [eid for eid, e in events.items() if e["verdict"] == "wrong"]
    assert box.sample_counts()["held"] == len(wrong)  # waiting on the station for a correction
    box.close()

    # The volunteer says the camera was wrong about one; the next run's heartbeat names it.
    vol = volunteer_session(stack)
    r = vol.post(f"{stack.url}/api/v1/events/{wrong[0]}/feedback", json={"camera_wrong": True, "item": "glass"})
    assert r.status_code == 200, r.text
    assert Runtime(config, classifier=LearningDouble(), once=True).run(timeout=30) == 0
    samples = server_samples(stack)
    assert wrong[0] in samples
    s = samples[wrong[0]]
    assert (s["item"], s["verdict"], s["label"], s["label_role"], s["label_by"]) == (
        events[wrong[0]]["item"], "wrong", "glass", "volunteer", "vol-e2e")
    assert not set(wrong[1:]) & set(samples)


def test_nothing_is_sent_when_off_or_when_someone_reaches_in(tmp_path, stack, colour_items):
    from edge.episodes import Episode
    out, truth, config = clip_config(tmp_path, stack, colour_items, drops=4, seed=7)
    assert config.learning.samples is False  # off by default
    rt = Runtime(config, classifier=LearningDouble(), once=True)
    assert rt.run(timeout=30) == 0
    assert server_samples(stack) == {}
    rt = Runtime(config.updated("learning", samples=True), classifier=LearningDouble())
    rt.setup()
    try:
        for reaching in (False, True):
            crop = np.zeros((60, 60, 3), np.uint8)
            crop[:] = (200, 110, 30)  # a plastic card: uncertain with the double
            ep = Episode("kitchen", "kitchen", start_index=1000 + reaching, start_t=1.0, start_wall=0.0, crop=crop,
                         context=np.pad(crop, ((20, 20), (20, 20), (0, 0))), context_box=(20, 20, 60, 60),
                         reaching=reaching)
            rt.recorder.record(ep)
        rows = rt.outbox.conn.execute("SELECT e.body, s.body FROM events e LEFT JOIN samples s USING (event_id) "
                                      "ORDER BY e.seq").fetchall()
        assert [(json.loads(e)["verdict"], s is not None) for e, s in rows] == [("uncertain", True),
                                                                                 ("uncertain", False)]
        body = json.loads(rows[0][1])
        crop_back = cv2.imdecode(np.frombuffer(base64.b64decode(body["crop"]), np.uint8), cv2.IMREAD_COLOR)
        assert crop_back.shape[:2] == (60, 60)  # the item's crop only, not its surroundings
    finally:
        rt.outbox.close()


def test_the_outbox_holds_a_wrong_verdicts_sample_until_wanted_or_too_old(tmp_path):
    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: now[0])
    try:
        for i, wanted in enumerate((True, False, False)):
            box.put({"event_id": f"e{i}", "ts": "t"}, None, ({"n": i}, wanted))
        assert box.ready_samples(5) == []  # their events are not delivered yet
        box.mark_delivered(["e0", "e1", "e2"])
        assert [e for e, _ in box.ready_samples(5)] == ["e0"]
        assert box.want_samples(["e1", "nope", 3]) == 1
        assert [e for e, _ in box.ready_samples(5)] == ["e0", "e1"]
        now[0] += 3600
        assert box.drop_unwanted_samples(1800) == 1  # e2: nobody corrected it
        assert box.sample_counts() == {"held": 0, "wanted": 2}
        box.sample_done("e0")
        assert [e for e, _ in box.ready_samples(5)] == ["e1"]
    finally:
        box.close()


@pytest.mark.skipif(not MODEL.exists(), reason=f"the default model is not committed ({MODEL})")
def test_python_m_edge_run_sends_the_real_models_embedding(tmp_path, stack, colour_items):
    """The real program and the real model: each uncertain disposal's sample
    holds the model's 1280-d embedding and its probabilities."""
    out, truth, _ = clip_config(tmp_path, stack, colour_items, drops=6, seed=9)
    toml = (out / "station.toml").read_text()
    (out / "station.toml").write_text(toml + "\n[learning]\nsamples = true\n")
    cmd = bench_edge.edge_command(out / "station.toml", stack, "--once", "--timeout", "60")
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    events = {e["event_id"]: e for e in stack.events()}
    samples = server_samples(stack)
    uncertain = {eid for eid, e in events.items() if e["verdict"] == "uncertain"}
    assert set(samples) == uncertain
    assert uncertain, "the model is sure of every colour card: no sample to check"
    for eid, s in samples.items():
        assert s["dims"] == 1280 and s["model"] == events[eid]["model"]
        vector = np.frombuffer(s["embedding"], "<f4")
        assert np.all(np.isfinite(vector)) and np.abs(vector).sum() > 0
        probs = json.loads(s["probs"])
        assert len(probs) == 12 and abs(sum(probs) - 1) < 1e-3
        assert abs(s["confidence"] - max(probs)) < 1e-3
