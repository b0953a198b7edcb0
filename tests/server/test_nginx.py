"""deploy/nginx/sortwatch.conf and the two pools behind it, with a real nginx
in front of real gunicorns on loopback: devices' requests and people's go to
their own pools, the people's pool runs niced, logins from many addresses
together are limited by the proxy, and batches are not spooled to disk."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts import benchlib

from .proxy import NGINX, nginx_in_front
from .support import disposal
from .support import http_call as call
from .test_gunicorn import register

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(NGINX is None, reason="nginx is not installed (deploy/nginx/sortwatch.conf)")]

LOGGED = {"SORTWATCH_ACCESS_LOG": "-", "SORTWATCH_TRUSTED_PROXIES": 1}


def request_lines(folder: Path, base: str) -> list[str]:
    """The request lines in one gunicorn's access log (benchlib.gunicorn logs into folder)."""
    log = folder / f"gunicorn-{base.rsplit(':', 1)[1]}.log"
    return [line.split('"')[1] for line in log.read_text(encoding="utf-8").splitlines()
            if line.count('"') >= 2 and " HTTP/1." in line]


def test_devices_and_people_reach_their_own_pools(tmp_path):
    db, token = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=4, extra_env=LOGGED) as devices, \
            benchlib.gunicorn("server:create_app()", db, workers=1, threads=4, extra_env=LOGGED) as people, \
            nginx_in_front(people, tmp_path / "nginx", devices=devices) as proxied:
        event = disposal(station="st-a")
        status, body = call("POST", proxied + "/api/v1/events", {"device_id": "dev-a", "events": [event]}, token)
        assert status == 200 and body["accepted"] == 1
        status, _ = call("POST", proxied + "/api/v1/heartbeat", {"device_id": "dev-a"}, token)
        assert status == 400         # an incomplete heartbeat: only its route matters here
        evidence = f"/api/v1/events/{event['event_id']}/evidence"
        conn = http.client.HTTPConnection(proxied.removeprefix("http://"), timeout=10)
        conn.request("PUT", evidence, b"not a jpeg",
                     {"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}"})
        assert conn.getresponse().status == 415
        conn.close()
        assert call("GET", proxied + evidence)[0] == 401
        assert call("POST", proxied + "/api/v1/login", {"username": "nobody", "password": "x"})[0] == 401
        assert call("GET", proxied + "/api/v1/stats")[0] == 401
    device_lines, people_lines = request_lines(tmp_path, devices), request_lines(tmp_path, people)
    for line in ("POST /api/v1/events", "POST /api/v1/heartbeat", f"PUT {evidence}"):
        assert any(x.startswith(line + " ") for x in device_lines), (line, device_lines)
        assert not any(x.startswith(line + " ") for x in people_lines), (line, people_lines)
    for line in (f"GET {evidence}", "POST /api/v1/login", "GET /api/v1/stats"):
        assert any(x.startswith(line + " ") for x in people_lines), (line, people_lines)
        assert not any(x.startswith(line + " ") for x in device_lines), (line, device_lines)


def _niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def test_the_people_pool_runs_its_workers_niced(tmp_path):
    db, _ = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db, workers=2, threads=4,
                           extra_env={"SORTWATCH_NICE": 10}) as base:
        pids = benchlib.host_pids(int(base.rsplit(":", 1)[1]))
        nice = sorted(_niceness(pid) - _niceness(os.getpid()) for pid in pids)
    assert nice == [0, 10, 10], nice     # the master as it was started, its two workers niced


@pytest.mark.parametrize("value", ["ten", "-5", "20"])
def test_a_wrong_niceness_stops_the_server_with_one_line(tmp_path, value):
    db, _ = register(tmp_path)
    env = benchlib.server_env(db, SORTWATCH_BIND=f"127.0.0.1:{benchlib.free_port()}", SORTWATCH_NICE=value)
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(benchlib.ROOT / "gunicorn.conf.py"),
                             "server:create_app()"], cwd=benchlib.ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert f"SORTWATCH_NICE must be a whole number from 0 to 19, not '{value}'" in result.stderr


def _login_from(proxied: str, address: str) -> tuple[int, dict]:
    host, port = proxied.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(address, 0))
    body = json.dumps({"username": f"u-{uuid.uuid4().hex[:8]}", "password": "guess"}).encode()
    try:
        conn.request("POST", "/api/v1/login", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_logins_from_many_addresses_together_are_limited_by_the_proxy(tmp_path):
    """Each of 60 addresses logs in once, all at once: the per-address limit
    lets every one through; the limit on all logins together answers most of
    them in nginx, before the server sees them."""
    db, _ = register(tmp_path)
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=8, extra_env=LOGGED) as base, \
            nginx_in_front(base, tmp_path / "nginx") as proxied:
        addresses = [f"127.0.{i // 200 + 10}.{i % 200 + 2}" for i in range(60)]
        with ThreadPoolExecutor(max_workers=60) as pool:
            answers = list(pool.map(lambda a: _login_from(proxied, a), addresses))
    reached = [line for line in request_lines(tmp_path, base) if line.startswith("POST /api/v1/login ")]
    by_proxy = [body for status, body in answers
                if status == 429 and body["error"]["message"] == "too many logins at once; try again in 1 s"]
    assert len(reached) + len(by_proxy) == 60, (len(reached), len(by_proxy))
    # 1 + a burst of 20, plus 10 a second while they were answered (well under 2 s).
    assert 0 < len(reached) <= 41, len(reached)
    assert len(by_proxy) >= 19


def test_a_batch_larger_than_nginx_default_buffer_is_not_spooled_to_disk(tmp_path):
    """Over the default body buffer (16 KiB), nginx wrote each body to a
    temporary file first, which cost every large batch 40 ms; nginx logs
    when it does."""
    db, token = register(tmp_path)
    batch = {"device_id": "dev-a", "events": [disposal(station="st-a") for _ in range(200)]}
    assert len(json.dumps(batch)) > 64 * 1024
    with benchlib.gunicorn("server:create_app()", db, workers=1, threads=4) as base, \
            nginx_in_front(base, tmp_path / "nginx") as proxied:
        status, body = call("POST", proxied + "/api/v1/events", batch, token)
        assert status == 200 and body["accepted"] == 200
    log = (tmp_path / "nginx" / "error.log").read_text(encoding="utf-8")
    assert "buffered to a temporary file" not in log, log
