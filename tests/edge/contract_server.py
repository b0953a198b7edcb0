"""A small server on loopback that follows the wire contract (docs/design.md §5).

It is a real HTTP server, so the uploader's timeouts, retries and error
handling are exercised over a socket; `faults` makes it answer 500 or 429, and
`stop()`/`start()` take it down and bring it back on the same port.
"""
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

CONTRACT = Path(__file__).resolve().parents[2] / "contract"
EVENT_SCHEMA = jsonschema.Draft202012Validator(json.loads((CONTRACT / "event.schema.json").read_text()))
HEARTBEAT_SCHEMA = jsonschema.Draft202012Validator(json.loads((CONTRACT / "heartbeat.schema.json").read_text()))


def validate(event):
    """Errors of one event against the project's event.schema.json (empty when valid)."""
    return [f"{'/'.join(map(str, e.path)) or 'event'}: {e.message}" for e in EVENT_SCHEMA.iter_errors(event)]


class ContractServer:
    def __init__(self, token="tok", port=0):
        self.token = token
        self.events = {}        # event_id -> event
        self.order = []         # event_ids in arrival order
        self.evidence = {}
        self.heartbeats = []
        self.requests = []      # (method, path, status)
        self.faults = []        # statuses to answer next, e.g. [500, 429]
        self.retry_after = "0"
        self.lock = threading.Lock()
        self.port = port
        self.connections = set()
        self.httpd = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with outer.lock:
                    outer.connections.add(self.connection)

            def reply(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                with outer.lock:
                    outer.requests.append((self.command, self.path, status))

            def error(self, status, code, message, headers=()):
                self.reply(status, {"error": {"code": code, "message": message, "details": []}}, headers)

            def handle_any(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with outer.lock:
                    fault = outer.faults.pop(0) if outer.faults else None
                if fault == 429:
                    return self.error(429, "rate_limited", "slow down", [("Retry-After", outer.retry_after)])
                if fault:
                    return self.error(fault, "boom", "injected fault")
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    return self.error(401, "unauthorized", "bad token")
                if self.command == "POST" and self.path == "/api/v1/events":
                    return self.events_post(raw)
                if self.command == "POST" and self.path == "/api/v1/heartbeat":
                    beat = json.loads(raw)
                    errors = [e.message for e in HEARTBEAT_SCHEMA.iter_errors(beat)]
                    if errors:
                        return self.reply(400, {"error": {"code": "invalid", "message": "heartbeat",
                                                          "details": errors}})
                    with outer.lock:
                        outer.heartbeats.append(beat)
                    return self.reply(200, {"ok": True})
                m = re.fullmatch(r"/api/v1/events/([0-9a-f-]+)/evidence", self.path)
                if self.command == "PUT" and m:
                    if m.group(1) not in outer.events:
                        return self.error(404, "not_found", "no such event")
                    if len(raw) > 256 * 1024:
                        return self.error(413, "too_large", "evidence too large")
                    if self.headers.get("Content-Type") != "image/jpeg" or raw[:2] != b"\xff\xd8":
                        return self.error(400, "bad_request", "not a JPEG")
                    with outer.lock:
                        outer.evidence[m.group(1)] = raw
                    return self.reply(200, {"ok": True})
                return self.error(404, "not_found", self.path)

            def events_post(self, raw):
                if len(raw) > 1024 * 1024:
                    return self.error(413, "too_large", "body over 1 MiB")
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self.error(400, "bad_json", "not JSON")
                events = body.get("events")
                if not isinstance(events, list) or len(events) > 500:
                    return self.error(413 if isinstance(events, list) else 400, "bad_batch", "events")
                accepted = duplicates = 0
                rejected = []
                with outer.lock:
                    for i, e in enumerate(events):
                        errors = validate(e)
                        if errors:
                            rejected.append({"index": i, "event_id": e.get("event_id"), "errors": errors})
                        elif e["event_id"] in outer.events:
                            duplicates += 1
                        else:
                            outer.events[e["event_id"]] = e
                            outer.order.append(e["event_id"])
                            accepted += 1
                self.reply(200, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected})

            do_POST = do_PUT = do_GET = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        """Go down: stop listening and cut open keep-alive connections."""
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()
