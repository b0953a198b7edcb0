"""The uploader against the real server on loopback (tests/edge/real_server.py)."""
import time
import uuid

import cv2
import numpy as np
import pytest

from edge.outbox import Outbox
from edge.uploader import Backoff, Client, Uploader
from tests.polling import wait_until


def event(i=0, **kw):
    e = {"event_id": str(uuid.uuid4()), "type": "disposal",
         "ts": f"2026-11-29T07:{i // 60 % 60:02d}:{i % 60:02d}.000+08:00",
         "station_id": "st-t", "bin": "other", "item": "battery", "category": "hazardous",
         "verdict": "wrong", "confidence": 0.9, "assisted": False, "model": "m@1", "rules": "beijing@2020.1"}
    e.update(kw)
    return e


@pytest.fixture
def box(tmp_path):
    b = Outbox(tmp_path / "o.sqlite")
    yield b
    b.close()


def make_uploader(box, server, **kw):
    client = Client(server.url, server.device_id, server.token, timeout=2.0)
    kw.setdefault("backoff_min", 0.05)
    kw.setdefault("backoff_max", 0.2)
    up = Uploader(box, client, **kw)
    return up


def test_batches_of_at_most_500_in_order(box, real_server):
    events = [event(i) for i in range(1203)]
    for e in events:
        box.put(e)
    up = make_uploader(box, real_server)
    while up.step():
        pass
    assert real_server.order() == [e["event_id"] for e in events]
    posts = [r for r in real_server.requests if r[1] == "/api/v1/events"]
    assert len(posts) == 3
    assert box.counts()["pending"] == 0 and box.counts()["delivered"] == 1203


def test_duplicates_count_as_delivered_and_rejected_go_to_dead_letter(box, real_server):
    good = event(1)
    assert make_uploader(box, real_server).client.post_events([good]).accepted == 1  # already on the server
    bad = event(2, ts="yesterday")
    other = event(3)
    for e in (good, bad, other):
        box.put(e)
    up = make_uploader(box, real_server)
    up.step()
    assert box.counts() == {"pending": 0, "evidence": 0, "evidence_ready": 0, "dead_letter": 1, "delivered": 2}
    [dead] = box.dead_letters()
    assert dead["event_id"] == bad["event_id"] and "ts" in dead["reason"]
    assert other["event_id"] in real_server.order()


def test_500_429_disconnect_delay_and_down_then_recovery_delivers_everything_in_order(box, real_server):
    events = [event(i) for i in range(30)]
    real_server.faults = [500, 429, "disconnect", ("delay", 0.3), 503]
    up = make_uploader(box, real_server, batch_size=7)
    up.start()
    try:
        for e in events[:10]:
            box.put(e)
        assert wait_until(lambda: len(real_server.order()) == 10)
        real_server.stop()  # the server goes down
        for e in events[10:]:
            box.put(e)
        assert wait_until(lambda: up.last_error is not None)
        assert box.counts()["pending"] == 20
        real_server.start()  # same port
        assert wait_until(lambda: len(real_server.order()) == 30)
    finally:
        up.stop()
        up.join(5)
    assert real_server.order() == [e["event_id"] for e in events]
    statuses = [s for _, _, s in real_server.requests]
    assert statuses[:4] == [500, 429, 200, 503], "the cut connection has no status; the delayed one went through"


def test_retry_after_is_honoured(box, real_server):
    real_server.faults = [429]
    real_server.retry_after = "1"
    box.put(event())
    up = make_uploader(box, real_server)
    t0 = time.monotonic()
    up.start()
    try:
        assert wait_until(lambda: len(real_server.order()) == 1)
    finally:
        up.stop()
        up.join(5)
    assert time.monotonic() - t0 >= 1.0


def test_bad_token_keeps_events(box, real_server):
    box.put(event())
    client = Client(real_server.url, real_server.device_id, "wrong", timeout=2.0)
    up = Uploader(box, client, backoff_min=0.05, backoff_max=0.1)
    with pytest.raises(Exception) as e:
        up.step()
    assert getattr(e.value, "status", None) == 401
    assert box.counts()["pending"] == 1 and box.counts()["dead_letter"] == 0


def test_evidence_after_event_and_heartbeats(box, real_server):
    e = event()
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()
    box.put(e, evidence=jpeg)
    beats = []

    def health():
        beats.append(1)
        return {"ts": "2026-11-29T07:00:00+08:00", "fps": 10.0, "dropped_frames": 0, "queue_depth": 0,
                "oldest_pending": None, "model": "m@1", "rules": "r@1", "disk_free": 1, "camera": "ok"}

    up = make_uploader(box, real_server, heartbeat_interval=0.2, health=health)
    up.start()
    try:
        assert wait_until(lambda: e["event_id"] in real_server.evidence())
        assert wait_until(lambda: len(real_server.heartbeats) >= 3)
    finally:
        up.stop()
        up.join(5)
    puts = [i for i, r in enumerate(real_server.requests) if r[0] == "PUT"]
    posts = [i for i, r in enumerate(real_server.requests) if r[1] == "/api/v1/events"]
    assert posts[0] < puts[0]
    assert box.counts()["evidence"] == 0
    assert real_server.heartbeats[0]["device_id"] == real_server.device_id


def test_backoff_grows_with_jitter_and_caps():
    import random
    b = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
    assert all(4.0 <= d <= 8.0 for d in delays[3:])
    assert len(set(delays)) == len(delays)
    b.reset()
    assert b.next() <= 1.0
    assert b.next(at_least=30) == 30
