"""End to end: the real server under gunicorn, real `python -m edge run` processes.

An operator publishes a new model; the station learns it from the heartbeat
answer, downloads and checks it, swaps it in and reports it; its next events
carry the new version. Killed at random moments during an update, the station
comes back on a model that checks out and works.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.artifacts import public_key_from_text
from edge.updates import Slots
from tests.artifact_files import model_variant

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_edge  # noqa: E402
import make_station_clip  # noqa: E402

pytestmark = pytest.mark.slow
# the committed model's version string, as edge.model names it (name@sha256[:8])
DEFAULT = "waste-effl0-int8@" + hashlib.sha256((ROOT / "models" / "waste-effl0-int8.onnx").read_bytes()).hexdigest()[:8]


@pytest.fixture
def stack(tmp_path):
    s = bench_edge.ServerStack(tmp_path / "server", "st-up", "dev-up")
    s.env["SORTWATCH_REGISTRY"] = str(tmp_path / "registry")
    with s:
        s.flask("keygen", "--out", str(tmp_path / "keys"))
        s.public = (tmp_path / "keys" / "public.b64").read_text().strip()
        yield s


def publish(stack, tmp_path, note):
    out = stack.flask("publish-model", str(model_variant(tmp_path / f"{note}.onnx", note)),
                      "--key", str(tmp_path / "keys" / "private.pem"), "--notes", note)
    return out.split()[2]


def clip(stack, tmp_path, name, seed, colour_items):
    out = tmp_path / name
    make_station_clip.render(colour_items, out, drops=4, seed=seed, station_id="st-up", width=480, height=270,
                             fps=10)
    config = out / "station.toml"
    config.write_text(config.read_text() + f'\n[updates]\npublic_key = "{stack.public}"\n'
                      f'dir = "{tmp_path / "updates"}"\n')
    return config


def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_station_swaps_to_a_newly_published_model_and_its_next_events_carry_it(tmp_path, stack, colour_items):
    first = clip(stack, tmp_path, "clip1", 1, colour_items)
    cmd = bench_edge.edge_command(first, stack, "--once", "--timeout", "60")
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300).returncode == 0
    assert {e["model"] for e in stack.events()} == {DEFAULT}
    assert stack.heartbeat()["model"] == DEFAULT and "update_error" not in stack.heartbeat()

    new = publish(stack, tmp_path, "v2")
    # A station that keeps running (the file ended, it goes on sending heartbeats) swaps when offered.
    second = clip(stack, tmp_path, "clip2", 2, colour_items)
    text = second.read_text().replace("[server]\n", "[server]\nheartbeat_interval = 0.5\n", 1)
    second.write_text(text)
    p = subprocess.Popen(bench_edge.edge_command(second, stack), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: (stack.heartbeat() or {}).get("model") == new), stack.heartbeat()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert "now running model " + new in err
    slots = Slots(tmp_path / "updates", public_key_from_text(stack.public))
    assert slots.pointer("model") == {"version": new, "previous": DEFAULT}
    assert "update_error" not in stack.heartbeat()

    before = {e["event_id"] for e in stack.events()}
    third = clip(stack, tmp_path, "clip3", 3, colour_items)
    r = subprocess.run(bench_edge.edge_command(third, stack, "--once", "--timeout", "60"), cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    latest = [e for e in stack.events() if e["event_id"] not in before]
    assert len(latest) == 4 and {e["model"] for e in latest} == {new}, "every event of the restart carries it"


def test_killed_during_an_update_the_station_comes_back_on_a_working_model(tmp_path, stack, colour_items):
    new = publish(stack, tmp_path, "v2")
    config = clip(stack, tmp_path, "clip", 4, colour_items)
    config.write_text(config.read_text().replace("[server]\n", "[server]\nheartbeat_interval = 0.3\n", 1))
    cmd = bench_edge.edge_command(config, stack)
    slots = Slots(tmp_path / "updates", public_key_from_text(stack.public))
    moments = []
    # Kill later and later (start-up, heartbeat, download, load, swap: 0.5 s on a quiet machine,
    # 1.5 s and more under load), until one kill came after the swap. The first kill, 0.1 s after
    # the start, always comes before it (a run once swapped within the 0.5 s the first kill took).
    for step in range(20):
        delay = 0.1 + 0.2 * step
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        part = slots.staging / f"model-{new}.part"
        moments.append((delay, slots.pointer("model").get("version"),
                        part.stat().st_size if part.exists() else None))
        if moments[-1][1] == new:
            break
    print("killed at (seconds, pointer, bytes of a partial download):", moments)
    assert any(m[1] is None for m in moments), "no run was killed before its swap"
    pointer = slots.pointer("model")
    if pointer:
        slots.installed("model", pointer["version"])       # what the pointer names checks out
    r = subprocess.run(bench_edge.edge_command(config, stack, "--once", "--timeout", "60"), cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    events = stack.events()
    assert len(events) == 4 and {e["model"] for e in events} <= {DEFAULT, new}
    assert wait_for(lambda: stack.heartbeat()["model"] in (DEFAULT, new))
