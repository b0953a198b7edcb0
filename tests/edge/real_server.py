"""The real server (`server.create_app()`) on loopback, for the edge tests.

`RealServer` runs the app on a fresh SQLite file in a thread (werkzeug's
threaded server), with regions, stations and devices registered through the
real operator commands. A small WSGI wrapper in front can answer the next
requests with an injected status (500, 429 with Retry-After, ...), a delay or
a dropped connection, and records every request and every heartbeat the
app accepted. `stop()` and `start()` take the server down (cutting open
keep-alive connections) and bring it back on the same port.

What the server stored is read from its database, not from the wrapper.
"""
from __future__ import annotations

import contextlib
import io
import json
import socket
import sqlite3
import threading
import time
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from server import create_app
from tests.server.support import make_settings, write_regions

COMMUNITY = "110102001001"  # 三里河社区 of the test regions


class Disconnect(Exception):
    """Raised by the fault wrapper to close the connection without an answer."""


class RealServer:
    def __init__(self, folder: Path, station_id: str = "st-t", device_id: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.db = folder / "server.sqlite"
        self.app = create_app({"SETTINGS": make_settings(self.db), "TESTING": True})
        self.runner = self.app.test_cli_runner()
        self._cli("import-regions", str(write_regions(folder)))
        self.station_id = station_id
        self.device_id = device_id or f"dev-{station_id}"
        self.add_station(station_id)
        self.token = self.add_device(self.device_id, station_id)
        self.faults: list = []       # next answers: a status, ("delay", seconds) or "disconnect"
        self.retry_after = "0"
        self.requests: list[tuple[str, str, int]] = []   # (method, path, status) as answered
        self.heartbeats: list[dict] = []                  # bodies the app accepted
        self.lock = threading.Lock()
        self.port = 0
        self.connections: set = set()
        self.httpd = None
        self.start()

    # -- registration through the operator commands --------------------------------------

    def _cli(self, *args) -> str:
        result = self.runner.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output

    def add_station(self, station_id: str) -> None:
        self._cli("add-station", station_id, "--community", COMMUNITY, "--name", f"{station_id} 桶站",
                  "--bins", "kitchen,recyclable,hazardous,other")

    def add_device(self, device_id: str, station_id: str) -> str:
        return self._cli("add-device", device_id, "--station", station_id).strip().splitlines()[-1]

    # -- serving -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wsgi(self, environ, start_response):
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if isinstance(fault, tuple) and fault[0] == "delay":
            time.sleep(fault[1])
            fault = None
        if fault == "disconnect":
            raise Disconnect()
        if fault:
            body = json.dumps({"error": {"code": "injected", "message": f"injected {fault}", "details": []}})
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            if fault == 429:
                headers.append(("Retry-After", self.retry_after))
            start_response(f"{fault} Injected", headers)
            self._record(method, path, fault)
            return [body.encode()]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        status = []

        def recording_start(status_line, headers, exc_info=None):
            status.append(int(status_line.split()[0]))
            return start_response(status_line, headers, exc_info)

        result = self.app(environ, recording_start)
        try:
            answer = b"".join(result)
        finally:
            if hasattr(result, "close"):  # WSGI: a file response closes its file here
                result.close()
        self._record(method, path, status[0])
        if path == "/api/v1/heartbeat" and status[0] == 200:
            with self.lock:
                self.heartbeats.append(json.loads(raw))
        return [answer]

    def _record(self, method, path, status):
        with self.lock:
            self.requests.append((method, path, status))

    def start(self) -> None:
        outer = self

        class Handler(WSGIRequestHandler):
            def setup(self):
                super().setup()
                with outer.lock:
                    outer.connections.add(self.connection)

            def log_request(self, *args):
                pass

            def run_wsgi(self):
                try:
                    super().run_wsgi()
                except Disconnect:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_error(self, *args):
                pass

        self.httpd = make_server("127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Go down: stop listening and cut open keep-alive connections."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for sock in self.connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    sock.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    # -- what the server stored -----------------------------------------------------------

    def _read(self, sql: str, args=()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def events(self) -> list[dict]:
        """Stored events in the order they arrived."""
        return [dict(r) for r in self._read("SELECT * FROM events ORDER BY rowid")]

    def order(self) -> list[str]:
        return [e["event_id"] for e in self.events()]

    def evidence(self) -> dict[str, bytes]:
        return {r["event_id"]: r["jpeg"] for r in self._read("SELECT event_id, jpeg FROM evidence")}
