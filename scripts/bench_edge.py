"""Figures of the edge runtime on one CPU core, with the real model and the real server.

    python scripts/bench_edge.py --items ../shared/datasets/waste-images [--drops 10] [--seed 1]

Builds a 1280x720 station clip with scripts/make_station_clip.py, then prints:

1. frames per second through capture and motion gating (decode, motion per
   drop zone, episodes; no model), the process pinned to one core;
2. model latency per disposal: the default model (one thread) judging the best
   crop of every disposal of the clip;
3. peak memory (max RSS) of `python -m edge run --once` on the clip, against
   the real server under gunicorn on loopback;
4. drop-to-stored latency: the clip played at its own frame rate like a live
   camera, from the moment an item falls into its bin to the moment the
   server stored its event (received_at), on loopback.

Each figure line ends with the command that made it. `ServerStack` (a real
server on a temporary database, one station, one device) is also used by
tests/edge/test_e2e.py.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGIONS = ("district_code,district,street_code,street,community_code,community,households\n"
           "110102,西城区,110102001,西长安街街道,110102001001,三里河社区,1000\n")
COMMUNITY = "110102001001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStack:
    """The real server under gunicorn on a temporary database, with one station and device."""

    def __init__(self, workdir: Path, station_id: str, device_id: str, python=sys.executable):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.station_id, self.device_id = station_id, device_id
        self.python = python
        self.db = self.workdir / "server.sqlite"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, SORTWATCH_DATABASE=str(self.db), SORTWATCH_SECRET_KEY=secrets.token_hex(16),
                        SORTWATCH_BIND=f"127.0.0.1:{self.port}", SORTWATCH_WORKERS="1",
                        SORTWATCH_THREADS="4", SORTWATCH_ACCESS_LOG="off")
        self.proc = None
        self.token_file = self.workdir / "token"

    def flask(self, *args) -> str:
        r = subprocess.run([self.python, "-m", "flask", "--app", "server", *args], cwd=ROOT, env=self.env,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def register(self):
        regions = self.workdir / "regions.csv"
        regions.write_text(REGIONS, encoding="utf-8")
        self.flask("import-regions", str(regions))
        self.flask("add-station", self.station_id, "--community", COMMUNITY,
                   "--bins", "kitchen,recyclable,hazardous,other")
        token = self.flask("add-device", self.device_id, "--station", self.station_id).strip().splitlines()[-1]
        self.token_file.write_text(token + "\n")
        return token

    def start(self):
        self.log = open(self.workdir / "gunicorn.log", "w")
        # The server is another machine in real life: it does not share the edge's pinned core.
        self.proc = subprocess.Popen([self.python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=unpin)
        import requests
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(self.workdir / 'gunicorn.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/up", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not come up")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self):
        self.register()
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def events(self) -> list[dict]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute("SELECT * FROM events WHERE station_id=? ORDER BY ts",
                                (self.station_id,)).fetchall()
            return [dict(r) for r in rows]
        finally:
            conn.close()

    def evidence_ids(self) -> set[str]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT event_id FROM evidence")}
        finally:
            conn.close()

    def heartbeat(self) -> dict | None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT health FROM station_status WHERE station_id=?", (self.station_id,)).fetchone()
            return json.loads(row[0]) if row else None
        finally:
            conn.close()


def edge_command(config: Path, server: ServerStack, *extra) -> list[str]:
    return [sys.executable, "-m", "edge", "run", "--config", str(config), "--server", server.url,
            "--device-id", server.device_id, "--token-file", str(server.token_file), *extra]


def unpin():
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def pin(core: int):
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})


# -- the figures ------------------------------------------------------------------------------

def capture_and_motion(config, limit_seconds=None):
    """Frames per second through capture, motion gating and episodes (no model)."""
    import cv2

    from edge.capture import END, Capture, open_source
    from edge.episodes import ZoneTracker
    from edge.motion import MotionGate

    cv2.setNumThreads(1)
    m, e = config.motion, config.episode
    spec = config.camera.source
    cap = Capture(lambda: open_source(spec), live=False, queue_size=config.camera.queue_size)
    trackers = [ZoneTracker(b.name, b.category, start_frames=e.start_frames, end_quiet=e.end_quiet,
                            max_duration=e.max_duration, min_fraction=m.min_fraction, min_area=e.min_area)
                for b in config.bins]
    episodes, frames, gate = [], 0, None
    t0 = time.perf_counter()
    cap.start()
    while True:
        item = cap.queue.get()
        if item is END:
            break
        if gate is None:
            h, w = item.image.shape[:2]
            gate = MotionGate((w, h), [b.zone for b in config.bins], width=m.width, threshold=m.threshold,
                              background_alpha=m.background_alpha)
        for tracker, motion in zip(trackers, gate.process(item.image), strict=False):
            ep = tracker.update(item, motion)
            if ep:
                episodes.append(ep)
        frames += 1
    elapsed = time.perf_counter() - t0
    return frames, elapsed, episodes, (w, h)


def model_latency(episodes, config):
    from contract.rules import load_rules
    from edge.model import load_classifier
    from edge.verdict import Judge
    judge = Judge(load_classifier(threads=1), load_rules(config.station.rules))
    times = []
    for ep in episodes:
        t0 = time.perf_counter()
        judge.judge(ep.crop, ep.category)
        times.append((time.perf_counter() - t0) * 1000)
    return times, judge.model


def drop_to_stored(config_path, stack: ServerStack, truth):
    """Play the clip at its frame rate (like a live camera); seconds from each drop to the stored event."""
    from edge.config import load_config
    from edge.runtime import Runtime
    config = load_config(config_path, {"server.url": stack.url, "server.device_id": stack.device_id,
                                       "server.token_file": str(stack.token_file)})
    config = config.updated("camera", realtime=True)
    config = config.updated("outbox", path=config_path.parent / "outbox-live.sqlite")
    runtime = Runtime(config, once=True)
    before = {e["event_id"] for e in stack.events()}
    rc = runtime.run(timeout=60)
    first_wall = runtime.capture.first_wall
    events = [e for e in stack.events() if e["event_id"] not in before]
    latencies = []
    for ev, t in zip(sorted(events, key=lambda e: e["ts"]), truth, strict=False):
        stored = datetime.fromisoformat(ev["received_at"]).timestamp()
        latencies.append(stored - (first_wall + t["t_end"]))
    return rc, latencies, len(events), runtime.capture.dropped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=Path, default=ROOT.parent / "shared" / "datasets" / "waste-images")
    p.add_argument("--drops", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to")
    p.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = p.parse_args(argv)
    command = shlex.join(["python", "scripts/bench_edge.py", *(argv if argv is not None else sys.argv[1:])])
    if not (args.items / "manifest.csv").exists():
        print(f"no manifest.csv in {args.items}", file=sys.stderr)
        return 2
    pin(args.core)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-edge-"))
    clip = work / "clip"
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_station_clip
    truth, seconds = make_station_clip.render(args.items, clip, drops=args.drops, seed=args.seed,
                                              station_id="st-bench", device_id="dev-bench")
    make_clip = (f"python scripts/make_station_clip.py --items {args.items} --drops {args.drops} "
                 f"--seed {args.seed} --station-id st-bench --out {clip}")
    print(f"clip: {seconds:.1f} s, {len(truth)} drops   [{make_clip}]")

    from edge.config import load_config
    (clip / "token").write_text("unused\n")
    config = load_config(clip / "station.toml")
    frames, elapsed, episodes, size = capture_and_motion(config)
    print(f"capture + motion gating: {frames / elapsed:.1f} frames/s on 1 core "
          f"({frames} frames of {size[0]}x{size[1]} in {elapsed:.2f} s, {len(episodes)} disposals "
          f"for {len(truth)} drops)   [{command}]")

    times, model = model_latency(episodes, config)
    if times:
        print(f"model latency per disposal ({model}, 1 thread, judge included): "
              f"median {statistics.median(times):.1f} ms, "
              f"max {max(times):.1f} ms over {len(times)} disposals   [{command}]")

    with ServerStack(work / "server", "st-bench", "dev-bench") as stack:
        cmd = edge_command(clip / "station.toml", stack, "--once", "--log-level", "WARNING")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=lambda: pin(args.core))
        _, status, usage = os.wait4(proc.pid, 0)  # the resource usage of this one process
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        peak_mb = usage.ru_maxrss / 1024
        stored = len(stack.events())
        shown = shlex.join(["python", *cmd[1:]])
        print(f"peak memory of the edge: {peak_mb:.0f} MB max RSS (exit {rc}, {stored} events stored for "
              f"{len(truth)} drops, {wall:.1f} s for a {seconds:.1f} s clip)   [{shown}]")

        rc, latencies, n, dropped = drop_to_stored(clip / "station.toml", stack, truth)
        if latencies:
            print(f"drop to stored on the server (loopback, clip played at its frame rate): "
                  f"median {statistics.median(latencies):.2f} s, 90th percentile "
                  f"{sorted(latencies)[int(0.9 * (len(latencies) - 1))]:.2f} s, max {max(latencies):.2f} s over {n} events "
                  f"(exit {rc}, {dropped} frames dropped)   [{command}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
