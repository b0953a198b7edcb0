"""A small server on loopback that follows the wire contract (DESIGN.md section 5).

It is a real HTTP server, so the uploader's timeouts, retries and error
handling are exercised over a socket; `faults` makes it answer 500 or 429, and
`stop()`/`start()` take it down and bring it back on the same port.
"""
import json
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT_FIELDS = {"event_id", "type", "ts", "station_id", "bin", "item", "category", "verdict",
                "confidence", "household", "assisted", "model", "rules"}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def validate(event):
    errors = []
    if not isinstance(event, dict):
        return ["not an object"]
    for key in set(event) - EVENT_FIELDS:
        errors.append(f"{key}: unknown field")
    try:
        uuid.UUID(str(event.get("event_id")))
    except ValueError:
        errors.append("event_id: not a UUID")
    if event.get("type") not in ("disposal", "bin_full", "litter"):
        errors.append("type: unknown")
    if not TS_RE.match(str(event.get("ts", ""))):
        errors.append("ts: not ISO-8601 with offset")
    if event.get("type") == "disposal":
        if event.get("verdict") not in ("correct", "wrong", "uncertain"):
            errors.append("verdict: unknown")
        c = event.get("confidence")
        if not isinstance(c, (int, float)) or not 0 <= c <= 1:
            errors.append("confidence: not in 0..1")
        for key in ("station_id", "bin", "item", "category", "model", "rules"):
            if not isinstance(event.get(key), str) or not event.get(key):
                errors.append(f"{key}: required")
        if not isinstance(event.get("assisted"), bool):
            errors.append("assisted: not a boolean")
    return errors


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
                    with outer.lock:
                        outer.heartbeats.append(json.loads(raw))
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
