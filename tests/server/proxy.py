"""deploy/nginx/sortwatch.conf run by a real nginx in front of a real
gunicorn, and clients that trickle their request headers."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from scripts import benchlib

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@contextlib.contextmanager
def nginx_in_front(upstream: str, folder: Path):
    """nginx with the project's site config, proxying to `upstream`
    (http://host:port); yields its base URL."""
    port = benchlib.free_port()
    site = (ROOT / "deploy" / "nginx" / "sortwatch.conf").read_text(encoding="utf-8")
    site = site.replace("server server:8000;", f"server {upstream.removeprefix('http://')};")
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site, encoding="utf-8")
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(f"""
{user}
daemon off; worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; {temp_paths(folder)} include {folder}/site.conf; }}
""", encoding="utf-8")
    with running_nginx(folder, port) as base:
        yield base


def temp_paths(folder: Path) -> str:
    """nginx's temporary files under the test's folder, not /var."""
    return " ".join(f"{kind}_temp_path {folder}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


@contextlib.contextmanager
def running_nginx(folder: Path, port: int, check: bool = False):
    """nginx on folder/nginx.conf (first checked with -t if `check`),
    listening on `port`; yields its base URL once /up answers."""
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")]
    if check:
        checked = subprocess.run(command + ["-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        benchlib.wait_until_up(base + "/up")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Tricklers:
    """`n` connections that send a request header one line every `pause` s and never finish it."""

    def __init__(self, base: str, n: int, pause: float = 0.5):
        host, port = base.removeprefix("http://").split(":")
        self.address, self.n, self.pause = (host, int(port)), n, pause
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()

    def __enter__(self):
        for _ in range(self.n):
            s = socket.create_connection(self.address, timeout=5)
            s.sendall(b"GET /up HTTP/1.1\r\nHost: x\r\n")
            self.socks.append(s)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()
        return self

    def _trickle(self):
        while not self.stop.wait(self.pause):
            for s in self.socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Slow: 1\r\n")

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def time_up(base: str, timeout: float = 5.0) -> float | None:
    """Seconds for GET /up to answer 200, or None if it did not within `timeout`."""
    import urllib.request
    start = time.monotonic()
    try:
        with urllib.request.urlopen(base + "/up", timeout=timeout) as r:
            return time.monotonic() - start if r.status == 200 else None
    except OSError:
        return None
