"""Clients that trickle their request headers, and (from scripts/nginx_front.py)
the project's nginx in front of a real gunicorn."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

from scripts.nginx_front import NGINX, nginx_in_front, running_nginx, site_config, temp_paths

__all__ = ["NGINX", "Tricklers", "nginx_in_front", "running_nginx", "site_config", "temp_paths", "time_up"]


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
