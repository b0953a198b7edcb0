"""Capture: frames from the camera into a bounded queue, on their own thread.

A live camera (USB index or stream URL) is never waited for: when the queue is
full the frame is dropped and counted, like Frigate's `capture_frames`. A file
or folder is read as fast as the pipeline takes it (nothing is dropped, so a
replay is exact), unless `realtime` paces it like a camera.

When a live camera fails or stops delivering, the reader reconnects with
exponential backoff; a reader stuck inside a read is abandoned by a watchdog
after `stall_timeout` and replaced. `state` says what happened, for the
heartbeat: starting, ok, stalled, reconnecting, ended, failed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class Frame:
    index: int          # frame number since the source was first opened
    t: float            # seconds since the start of the source (file time, or wall time for live)
    wall: float         # time.time() when the frame was read
    image: np.ndarray   # BGR


END = object()  # put on the queue when a file or folder source is finished


class Source:
    """One opened camera, file or folder."""

    live = False
    fps = 10.0

    def read(self) -> np.ndarray | None:  # None: end of file, or the camera failed
        raise NotImplementedError

    def close(self):
        pass


class VideoSource(Source):
    def __init__(self, spec, live: bool, fps: float):
        import cv2
        self.live = live
        if live and not isinstance(spec, int):
            self.cap = cv2.VideoCapture(str(spec), cv2.CAP_ANY,
                                        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000,
                                         cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
        else:
            self.cap = cv2.VideoCapture(spec if isinstance(spec, int) else str(spec))
        if not self.cap.isOpened():
            raise OSError(f"cannot open camera source {spec}")
        if live:
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
        native = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = native if native and 0 < native < 1000 else fps

    def read(self):
        ok, image = self.cap.read()
        return image if ok else None

    def close(self):
        self.cap.release()


class FolderSource(Source):
    def __init__(self, folder: Path, fps: float):
        self.files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise OSError(f"no images in {folder}")
        self.fps = fps
        self.position = 0

    def read(self):
        import cv2
        while self.position < len(self.files):
            image = cv2.imread(str(self.files[self.position]), cv2.IMREAD_COLOR)
            self.position += 1
            if image is not None:
                return image
            log.warning("unreadable image %s skipped", self.files[self.position - 1])
        return None


def is_live(spec) -> bool:
    """A USB index, a stream URL or a camera device (/dev/video0) is live; files and folders are not."""
    if isinstance(spec, int) or (isinstance(spec, str) and "://" in spec):
        return True
    try:
        return stat.S_ISCHR(os.stat(spec).st_mode)
    except (OSError, TypeError, ValueError):
        return False


def open_source(spec, fps: float = 10.0) -> Source:
    if is_live(spec):
        return VideoSource(spec, live=True, fps=fps)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps)
    if not path.exists():
        raise OSError(f"no such file {path}")
    return VideoSource(path, live=False, fps=fps)


def fingerprint(spec) -> str | None:
    """A stable identity of a file or folder source (None for live cameras)."""
    if is_live(spec):
        return None
    path = Path(spec).resolve()
    h = hashlib.sha256(str(path).encode())
    paths = sorted(path.iterdir()) if path.is_dir() else [path]
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    if path.is_file():  # a new clip written over an old one under the same name is another source
        with open(path, "rb") as f:
            h.update(f.read(1 << 20))
            if path.stat().st_size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                h.update(f.read())
    return h.hexdigest()[:16]


class Capture:
    def __init__(self, opener, *, live: bool, queue_size=16, realtime=False, loop=False,
                 reconnect_min=0.5, reconnect_max=30.0, stall_timeout=5.0, clock=time.monotonic):
        self.opener = opener
        self.live = live
        self.realtime = realtime
        self.loop = loop
        self.reconnect_min, self.reconnect_max = reconnect_min, reconnect_max
        self.stall_timeout = stall_timeout
        self.clock = clock
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.state = "starting"
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self.fps = 0.0           # frames read per second, smoothed
        self.source_fps = 10.0
        self.last_frame_at = clock()
        self.stop_event = threading.Event()
        self.generation = 0
        self.lock = threading.Lock()
        self.t0 = None
        self.first_wall = None   # time.time() of the first frame (for latency figures)
        self.threads: list[threading.Thread] = []

    # -- control --------------------------------------------------------------------

    def start(self):
        self._spawn()
        if self.live:
            w = threading.Thread(target=self._watchdog, name="capture-watchdog", daemon=True)
            w.start()
            self.threads.append(w)
        return self

    def stop(self):
        self.stop_event.set()

    def join(self, timeout=None):
        for t in self.threads:
            t.join(timeout)

    def _spawn(self):
        with self.lock:
            self.generation += 1
            gen = self.generation
        t = threading.Thread(target=self._reader, args=(gen,), name=f"capture-{gen}", daemon=True)
        t.start()
        self.threads.append(t)

    def _current(self, gen) -> bool:
        return gen == self.generation and not self.stop_event.is_set()

    def _watchdog(self):
        while not self.stop_event.wait(min(0.2, self.stall_timeout / 4)):
            if self.state == "ok" and self.clock() - self.last_frame_at > self.stall_timeout:
                log.warning("camera delivered no frame for %.1f s: reconnecting", self.stall_timeout)
                self.state = "stalled"
                self.reconnects += 1
                self._spawn()  # the stuck reader is abandoned; it exits when its read returns

    # -- the reader ---------------------------------------------------------------------

    def _sleep(self, seconds, gen) -> bool:
        end = self.clock() + seconds
        while self._current(gen):
            left = end - self.clock()
            if left <= 0:
                return True
            self.stop_event.wait(min(left, 0.1))
        return False

    def _reader(self, gen):
        failures = 0
        rng = random.Random()
        while self._current(gen):
            try:
                source = self.opener()
            except Exception as e:  # noqa: BLE001 - any failure to open is a camera fault
                if not self.live:
                    log.error("cannot open source: %s", e)
                    self.state = "failed"
                    self._put_end(gen)
                    return
                delay = min(self.reconnect_max, self.reconnect_min * 2 ** failures)
                delay = delay / 2 + rng.uniform(0, delay / 2)
                failures += 1
                if self.state != "stalled":
                    self.state = "reconnecting"
                log.warning("camera unavailable (%s); retry in %.1f s", e, delay)
                self._sleep(delay, gen)
                continue
            self.source_fps = source.fps
            got_any = self._read_all(source, gen)
            source.close()
            if got_any:
                failures = 0
            if not self._current(gen):
                return
            if not self.live:
                if self.loop and got_any:
                    continue
                self.state = "ended"
                log.info("source ended after %d frames (%d dropped)", self.frames, self.dropped)
                self._put_end(gen)
                return
            self.state = "reconnecting"
            self.reconnects += 1
            delay = min(self.reconnect_max, self.reconnect_min * 2 ** failures)
            delay = delay / 2 + rng.uniform(0, delay / 2)
            failures += 1
            log.warning("camera stopped delivering frames; reconnecting in %.1f s", delay)
            self._sleep(delay, gen)

    def _read_all(self, source, gen) -> bool:
        got_any = False
        period = 1.0 / source.fps if source.fps else 0.1
        next_due = self.clock()
        file_index = 0
        while self._current(gen):
            image = source.read()
            if image is None or not self._current(gen):
                return got_any
            got_any = True
            now = self.clock()
            if self.t0 is None:
                self.t0 = now
                self.first_wall = time.time()
                log.info("first frame read")
            if self.live:
                t = now - self.t0
            else:
                t = file_index / source.fps
            file_index += 1
            frame = Frame(self.frames, t, time.time(), image)
            dt = now - self.last_frame_at
            self.last_frame_at = now
            if dt > 0:
                self.fps = 1.0 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 * (1.0 / dt)
            self.frames += 1
            self.state = "ok"
            if self.live or self.realtime:
                try:
                    self.queue.put_nowait(frame)
                except queue.Full:
                    self.dropped += 1
                if self.realtime and not self.live:
                    next_due += period
                    delay = next_due - self.clock()
                    if delay > 0:
                        self._sleep(delay, gen)
                    else:
                        next_due = self.clock()
            else:
                while self._current(gen):
                    try:
                        self.queue.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        return got_any

    def _put_end(self, gen):
        while self._current(gen) or self.stop_event.is_set():
            try:
                self.queue.put(END, timeout=0.1)
                return
            except queue.Full:
                if self.stop_event.is_set():
                    return

    # -- health -----------------------------------------------------------------------

    def camera_state(self) -> str:
        if self.live and self.state == "ok" and self.clock() - self.last_frame_at > self.stall_timeout:
            return "stalled"
        return self.state


__all__ = ["Capture", "Frame", "END", "Source", "open_source", "fingerprint", "is_live"]
