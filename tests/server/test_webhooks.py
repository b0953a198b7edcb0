"""Webhooks to the city's grid system, against a real HTTP receiver on
loopback that fails for a while: signed, retried with growing delays,
in order per case, listed with their last status, on both stores."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server import store as store_pkg
from server.timeutil import BEIJING, now_utc
from server.webhooks import delay_after, deliver_due

from .support import login, post_events


class Receiver:
    """An HTTP server in a thread that answers `fail_first` requests with 503, then 200."""

    def __init__(self, fail_first: int = 0):
        self.fail_first, self.requests = fail_first, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = 503 if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(fail_first=2)
    yield r
    r.close()


def add_webhook(runner, scope, url) -> str:
    result = runner.invoke(args=["add-webhook", scope, url])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def litter(station="st-a", state=None):
    ev = {"event_id": str(uuid.uuid4()), "type": "litter", "station_id": station, "bin": "other",
          "ts": datetime.now(BEIJING).isoformat(timespec="milliseconds")}
    return {**ev, "state": state} if state else ev


@pytest.fixture
def store(app):
    s = store_pkg.connect(app.config["SETTINGS"].database)
    yield s
    s.close()


def test_changes_arrive_signed_in_order_after_the_receiver_comes_back(app, client, city, receiver, store):
    secret = add_webhook(city.runner, "110102", receiver.url)
    post_events(client, city, [litter()])
    post_events(client, city, [litter("st-c")], station="st-c")      # 朝阳: not this webhook's
    login(client, "sanlihe")
    [case] = client.get("/api/v1/cases?within=110102001001").get_json()["cases"]
    assert client.post(f"/api/v1/cases/{case['id']}/transition",
                       json={"to": "dispatched", "assignee": "保洁"}).status_code == 200
    post_events(client, city, [litter(state="clean")])
    settings = app.config["SETTINGS"]
    now = now_utc()
    # Down: the case's first change fails, and its later ones wait behind it.
    assert deliver_due(store, now, settings) == {"delivered": 0, "retrying": 1, "failed": 0}
    assert deliver_due(store, now, settings) == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet
    now += delay_after(1)
    assert deliver_due(store, now, settings) == {"delivered": 0, "retrying": 1, "failed": 0}
    now += delay_after(2)
    assert deliver_due(store, now, settings) == {"delivered": 3, "retrying": 0, "failed": 0}
    assert len(receiver.requests) == 5
    ids = [h["X-Sortwatch-Delivery"] for h, _ in receiver.requests]
    assert ids[0] == ids[1] == ids[2] and len(set(ids)) == 3        # the same delivery, retried
    changes = []
    for headers, body in receiver.requests[2:]:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Sortwatch-Signature"], expected)
        doc = json.loads(body)
        assert doc["delivery_id"] == headers["X-Sortwatch-Delivery"] and doc["scope"] == "110102"
        assert doc["case"]["id"] == case["id"] and doc["case"]["station_id"] == "st-a"
        changes.append((doc["change"]["action"], doc["case"]["state"]))
    assert changes == [("opened", "open"), ("dispatched", "dispatched"), ("resolved", "resolved")]
    # A body altered on the way no longer matches its signature.
    headers, body = receiver.requests[2]
    forged = body.replace(b'"open"', b'"closed"')
    assert headers["X-Sortwatch-Signature"] != "sha256=" + hmac.new(
        secret.encode(), forged, hashlib.sha256).hexdigest()
    listed = city.runner.invoke(args=["webhooks"])
    assert listed.exit_code == 0 and "3 delivered, 0 pending, 0 failed" in listed.output, listed.output
    assert "delivered attempts 3 last 200" in listed.output


def test_a_receiver_down_for_good_is_given_up_after_the_retry_period(app, client, city, store):
    with socket.socket() as s:            # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add_webhook(city.runner, "city", f"http://127.0.0.1:{port}/hook")
    started = time.monotonic()
    body = post_events(client, city, [litter()]).get_json()
    assert body["accepted"] == 1 and time.monotonic() - started < 5   # ingest never waits for it
    settings = app.config["SETTINGS"]
    now = now_utc()
    assert deliver_due(store, now, settings)["retrying"] == 1
    [d] = store.deliveries()
    assert d["state"] == "pending" and d["last_status"] is None and "Connection" in d["last_error"]
    attempts, t = 1, now
    while t < now + timedelta(hours=settings.webhook_retry_hours):
        t += delay_after(attempts)
        done = deliver_due(store, t, settings)
        attempts += 1
        if done["failed"]:
            break
    [d] = store.deliveries()
    assert d["state"] == "failed" and t - now >= timedelta(hours=24)
    assert attempts > 24    # 30 s doubling to an hour, then hourly


def test_the_worker_command_delivers(app, client, city, store):
    receiver = Receiver()
    try:
        add_webhook(city.runner, "110102001001", receiver.url)
        post_events(client, city, [litter()])
        result = city.runner.invoke(args=["deliver-webhooks", "--once"])
        assert result.exit_code == 0 and "delivered 1" in result.output, result.output
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize("scope, url, message", [
    ("110102", "ftp://grid.example/hook", "http:// or https://"),
    ("110102", "javascript:alert(1)", "http:// or https://"),
    ("110102", "https://user:pw@grid.example/hook", "credentials"),
    ("110102", "http:///hook", "no host"),
    ("999999", "https://grid.example/hook", "no division"),
])
def test_bad_webhooks_are_refused(city, store, scope, url, message):
    result = city.runner.invoke(args=["add-webhook", scope, url])
    assert result.exit_code != 0 and message in result.output, result.output
    assert store.webhooks() == []


def test_a_webhook_is_registered_once(city, store):
    add_webhook(city.runner, "110102", "https://grid.example/hook")
    again = city.runner.invoke(args=["add-webhook", "110102", "https://grid.example/hook"])
    assert again.exit_code != 0 and "already registered" in again.output
    assert len(store.webhooks()) == 1
