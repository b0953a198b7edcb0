"""The outbox: durable, ordered, idempotent, and bounded on disk (evidence first)."""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from edge.outbox import Outbox

ROOT = Path(__file__).resolve().parents[3]


def event(i=0, **kw):
    e = {"event_id": str(uuid.uuid4()), "type": "disposal", "ts": f"2026-11-29T07:00:{i % 60:02d}.000+08:00",
         "station_id": "st-1", "bin": "other", "item": "battery", "category": "hazardous",
         "verdict": "wrong", "confidence": 0.9, "assisted": False, "model": "m@1", "rules": "beijing@2020.1"}
    e.update(kw)
    return e


def test_wal_and_full_sync(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box.pragma("journal_mode") == "wal"
    assert box.pragma("synchronous") == 2  # FULL


def test_order_and_idempotence(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    events = [event(i) for i in range(5)]
    for e in events:
        assert box.put(e)
    assert not box.put(events[2])
    assert [e["event_id"] for _, e in box.pending(3)] == [e["event_id"] for e in events[:3]]
    box.mark_delivered([events[0]["event_id"], events[1]["event_id"]])
    assert not box.put(events[0]), "a delivered event must not be queued again"
    assert [e["event_id"] for _, e in box.pending()] == [e["event_id"] for e in events[2:]]
    box.dead_letter(events[2]["event_id"], "ts: bad")
    assert box.counts()["pending"] == 2 and box.dead_letters()[0]["reason"] == "ts: bad"
    assert box.oldest_pending_ts() == events[3]["ts"]


def test_pending_respects_body_limit(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    for i in range(50):
        box.put(event(i, item="x" * 1000))
    batch = box.pending(500, max_body=10_000)
    assert 5 <= len(batch) < 10


def test_evidence_waits_for_delivery(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    e = event()
    box.put(e, evidence=b"\xff\xd8jpeg")
    assert box.ready_evidence() == []
    box.mark_delivered([e["event_id"]])
    assert box.ready_evidence() == [(e["event_id"], b"\xff\xd8jpeg")]


def test_budget_drops_oldest_evidence_and_keeps_events(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_bytes=400_000)
    events = [event(i) for i in range(40)]
    for e in events:
        box.put(e, evidence=os.urandom(40_000))
    assert box.used_bytes() <= 400_000 + 64 * 1024  # within budget, give or take the WAL's last pages
    assert box.counts()["pending"] == 40
    kept = {r[0] for r in box.conn.execute("SELECT event_id FROM evidence")}
    assert 0 < len(kept) < 40
    # what is left is the newest evidence: oldest went first
    ids = [e["event_id"] for e in events]
    assert kept == set(ids[-len(kept):])
    assert box.dropped_evidence == 40 - len(kept)


def test_real_disk_full_keeps_events(tmp_path):
    """SQLite's own SQLITE_FULL (max_page_count stands in for a full disk)."""
    box = Outbox(tmp_path / "o.sqlite", max_bytes=1 << 40)
    pages = box.pragma("page_count")
    box.conn.execute(f"PRAGMA max_page_count={pages + 60}")  # ~240 KiB more
    events = [event(i) for i in range(200)]
    for e in events:
        assert box.put(e, evidence=os.urandom(20_000))
    assert box.counts()["pending"] == 200
    assert box.counts()["evidence"] < 10 and box.dropped_evidence > 190
    assert box.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


WRITER = """
import sys, uuid
sys.path.insert(0, sys.argv[2])
from edge.outbox import Outbox
box = Outbox(sys.argv[1])
i = 0
while True:
    eid = str(uuid.uuid4())
    box.put({"event_id": eid, "ts": "2026-11-29T07:00:00+08:00", "type": "disposal"},
            evidence=b"x" * 3000 if i % 3 == 0 else None)
    print(eid, flush=True)  # acknowledged only after put() returned
    i += 1
"""


def test_kill_9_loses_no_acknowledged_event(tmp_path):
    path = tmp_path / "o.sqlite"
    acked = []
    rng = random.Random(4)
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ROOT)],
                             stdout=subprocess.PIPE, text=True)
        target = rng.randint(5, 60)
        lines = []
        while len(lines) < target:
            lines.append(p.stdout.readline().strip())
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stdout.close()
        acked += [x for x in lines if x]
    conn = sqlite3.connect(path)
    stored = {r[0] for r in conn.execute("SELECT event_id FROM events")}
    assert set(acked) <= stored
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_dead_letters_can_be_requeued_and_listed_without_household(tmp_path, capsys):
    from edge.outbox.__main__ import main
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "token").write_text("t")
    (tmp_path / "station.toml").write_text(
        '[station]\nid = "st-1"\n[camera]\nsource = "clip.mp4"\n[server]\nurl = "http://h:1"\n'
        'device_id = "d-1"\ntoken_file = "token"\n[[bins]]\ncategory = "other"\n'
        'zone = [[0, 0], [10, 0], [10, 10]]\n')
    box = Outbox(tmp_path / "outbox.sqlite")
    e = event(household="hh-secret-9")
    box.put(e)
    box.dead_letter(e["event_id"], '["ts: is in the future; check the device clock"]')
    box.close()
    assert main(["--config", str(tmp_path / "station.toml"), "--dead", "--requeue"]) == 0
    out = capsys.readouterr().out
    assert "check the device clock" in out and "hh-secret-9" not in out and "requeued 1 events" in out
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box.counts()["pending"] == 1 and box.counts()["dead_letter"] == 0
