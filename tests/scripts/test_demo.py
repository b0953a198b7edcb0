"""The demo command as a newcomer runs it: real gunicorn, the real edge
program with the real model, drawn items (no photos needed)."""
from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(instance: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/demo.py", "--instance", str(instance),
                           "--port", str(port), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=400)


def events(instance: Path) -> int:
    with sqlite3.connect(instance / "sortwatch.db") as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_demo_runs_twice_on_the_same_database(tmp_path):
    instance = tmp_path / "instance"
    first = run_demo(instance, free_port(), "--rounds", "1", "--stations", "1", "--drops", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "drew itself" in first.stdout and "round 1, 2 drops, delivered" in first.stdout
    assert "sanlihe" in first.stdout and "/station/st-xc-0001" in first.stdout
    assert events(instance) == 2
    second = run_demo(instance, free_port(), "--rounds", "1", "--stations", "1", "--drops", "2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert events(instance) == 4          # the first run's data is still there


def test_demo_refuses_a_taken_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_demo(tmp_path / "instance", port, "--rounds", "1")
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
    assert not (tmp_path / "instance" / "sortwatch.db").exists()


def test_demo_refuses_a_folder_without_manifest(tmp_path):
    result = run_demo(tmp_path / "instance", free_port(), "--items", str(tmp_path), "--rounds", "1")
    assert result.returncode == 1 and "has no manifest.csv" in result.stderr


def _processes_under(root: Path) -> list[str]:
    """Command lines of live processes started from the demo's instance folder."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(root).encode() in environ or str(root) in cmd:
            out.append(cmd)
    return out


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_to_make_stops_the_whole_demo(tmp_path, signum):
    """`make demo` as a supervisor runs it: a signal to make's own process
    (not to its process group, as Ctrl-C in a terminal would) stops the
    stations and the server and frees the port."""
    import os
    import signal
    import time
    import urllib.request

    instance, port = tmp_path / "instance", free_port()
    env = dict(os.environ, SORTWATCH_DEMO_MARK=str(instance))
    make = subprocess.Popen(["make", "--no-print-directory", "demo", f"PORT={port}", f"INSTANCE={instance}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/up", timeout=2):
                    break
            except OSError:
                assert make.poll() is None, make.stdout.read().decode()
                assert time.monotonic() < deadline, "the demo did not come up"
                time.sleep(0.5)
        time.sleep(2)  # the stations are running
        assert _processes_under(instance), "the test cannot see the demo's processes"
        make.send_signal(getattr(signal, signum))
        make.wait(timeout=60)
        time.sleep(0.5)
        assert _processes_under(instance) == []
        with socket.socket() as s:  # nothing listens there any more, and a new server could bind it
            assert s.connect_ex(("127.0.0.1", port)) != 0
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does (TIME_WAIT)
            s.bind(("127.0.0.1", port))
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        make.stdout.close()
        for proc in Path("/proc").glob("[0-9]*"):  # whatever a failed run left behind
            try:
                if str(instance).encode() in (proc / "environ").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass
