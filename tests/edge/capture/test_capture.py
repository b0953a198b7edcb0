"""Capture: bounded queue that drops and counts, reconnect with backoff, stalls, file end."""
import contextlib
import queue
import threading
import time

import cv2
import numpy as np
from edge_doubles import FakeCamera

from edge.capture import END, Capture, fingerprint, open_source
from tests.polling import wait_until


def drain(q, seconds):
    got = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(queue.Empty):
            got.append(q.get(timeout=0.05))
    return got


def test_full_queue_drops_and_counts_live_frames():
    cap = Capture(lambda: FakeCamera(200, period=0.0005), live=True, queue_size=5,
                  reconnect_min=5, reconnect_max=5).start()
    try:
        assert wait_until(lambda: cap.frames >= 200)
        assert cap.queue.qsize() == 5
        assert cap.dropped == cap.frames - 5
    finally:
        cap.stop()


def test_camera_failure_reconnects_with_backoff():
    opened = []

    def opener():
        opened.append(time.monotonic())
        if len(opened) in (2, 3):
            raise OSError("camera unplugged")
        return FakeCamera(10)

    cap = Capture(opener, live=True, queue_size=100, reconnect_min=0.1, reconnect_max=0.4).start()
    try:
        assert wait_until(lambda: len(opened) >= 4 and cap.frames >= 20)
        states = set()
        wait_until(lambda: states.add(cap.camera_state()) or "reconnecting" in states, 2)
        assert "reconnecting" in states
    finally:
        cap.stop()
    gaps = [b - a for a, b in zip(opened, opened[1:], strict=False)]
    assert gaps[1] >= 0.04 and gaps[2] > gaps[1] * 0.9  # jittered, growing
    frames = drain(cap.queue, 0.1)
    assert [f.index for f in frames] == sorted(f.index for f in frames)


def test_camera_that_hangs_is_reported_stalled_and_replaced():
    hang = threading.Event()
    opened = []

    def opener():
        opened.append(1)
        return FakeCamera(5 if len(opened) == 1 else 1000, hang=hang)

    cap = Capture(opener, live=True, queue_size=2000, stall_timeout=0.3, reconnect_min=0.05,
                  reconnect_max=0.1).start()
    try:
        assert wait_until(lambda: cap.frames == 5)
        assert wait_until(lambda: cap.camera_state() == "stalled", 3)
        assert wait_until(lambda: len(opened) >= 2 and cap.frames > 50, 5)
        assert cap.camera_state() == "ok" and cap.reconnects >= 1
    finally:
        hang.set()
        cap.stop()


def test_file_source_keeps_every_frame_and_ends(tmp_path):
    path = tmp_path / "c.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(30):
        w.write(np.full((48, 64, 3), i * 8, np.uint8))
    w.release()
    cap = Capture(lambda: open_source(path), live=False, queue_size=2).start()
    got = []
    while True:
        item = cap.queue.get(timeout=5)
        if item is END:
            break
        got.append(item)
        time.sleep(0.002)  # a slow consumer: a file is waited for, not dropped
    assert [f.index for f in got] == list(range(30))
    assert got[10].t == 1.0 and cap.dropped == 0 and cap.camera_state() == "ended"


def test_folder_source_and_missing_file(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((10, 10, 3), i, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    src = open_source(tmp_path, fps=5)
    assert [int(src.read()[0, 0, 0]) for _ in range(3)] == [0, 1, 2] and src.read() is None
    assert fingerprint(tmp_path) == fingerprint(tmp_path) and fingerprint(0) is None
    cap = Capture(lambda: open_source(tmp_path / "gone.mp4"), live=False).start()
    assert cap.queue.get(timeout=5) is END and cap.camera_state() == "failed"


def test_what_counts_as_live(tmp_path):
    from edge.capture import is_live
    assert is_live(0) and is_live("rtsp://cam/1") and is_live("/dev/null")  # a character device
    assert not is_live(str(tmp_path)) and not is_live(str(tmp_path / "clip.mp4"))


def test_a_clip_written_over_another_is_another_source(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"a" * 5000)
    first = fingerprint(path)
    st = path.stat()
    path.write_bytes(b"b" * 5000)
    import os
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same name, size and time
    assert fingerprint(path) != first
    assert fingerprint(path) == fingerprint(path)
