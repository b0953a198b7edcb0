"""The uploader: one thread that drains the outbox to the server (docs/design.md §5).

- Batches of at most `batch_size` (≤ 500) events and 1 MiB, oldest first; the
  next batch is only sent when the previous one was answered, so events reach
  the server in the order they were stored.
- Accepted and duplicate events are delivered (`event_id` is the idempotency
  key); rejected ones go to the outbox's dead-letter table with the server's
  reasons and are never retried.
- Connection errors, timeouts, 5xx and 429 are retried with exponential
  backoff and jitter (429 honours Retry-After). 401/403 are retried too, slowly:
  a revoked token must not cost the events waiting behind it.
- Evidence images are PUT after their event was delivered, and so are
  learning samples once wanted (edge/events.py `sample`).
- A heartbeat is posted every `heartbeat_interval` seconds, whatever the state
  of the event queue; its answer goes to `on_heartbeat` (edge/updates).
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field

import requests

from contract.limits import MAX_BODY_BYTES, MAX_EVENTS

log = logging.getLogger(__name__)

MAX_BATCH = MAX_EVENTS
MAX_BODY = MAX_BODY_BYTES - 4096  # the server's limit, with room for the envelope


class UploadError(Exception):
    """A request that did not go through."""

    def __init__(self, message, status=None, retry_after=None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Transient(UploadError):
    """Worth retrying: network, timeout, 5xx, 429, 401/403."""


class BatchTooLarge(UploadError):
    """413: send fewer events at once."""


class BadRequest(UploadError):
    """400/422 for the whole request: split the batch to find the culprit."""


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    rejected: list = field(default_factory=list)  # [{"index", "event_id", "errors"}]


def _error_text(response) -> str:
    try:
        body = response.json()
        err = body.get("error", {})
        text = f"{err.get('code', response.status_code)}: {err.get('message', '')}"
        if err.get("details"):
            text += f" {err['details']}"
        return text
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Client:
    """The wire contract of docs/design.md §5, with timeouts and typed errors."""

    def __init__(self, base_url: str, device_id: str, token: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["User-Agent"] = "sortwatch-edge/1"

    def _send(self, method, path, **kw):
        try:
            response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kw)
        except requests.RequestException as e:
            raise Transient(f"{method} {path}: {type(e).__name__}: {e}") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        text = _error_text(response)
        if status == 413:
            raise BatchTooLarge(text, status)
        if status in (400, 422):
            raise BadRequest(text, status)
        if status in (401, 403, 408, 429) or status >= 500:
            raise Transient(text, status, _retry_after(response))
        raise UploadError(text, status)  # other 4xx: retrying the same request cannot help

    def post_events(self, events: list[dict]) -> BatchResult:
        response = self._send("POST", "/api/v1/events",
                              json={"device_id": self.device_id, "events": events})
        try:
            body = response.json()
            result = BatchResult(int(body["accepted"]), int(body["duplicates"]), list(body["rejected"]))
        except (ValueError, KeyError, TypeError):
            raise Transient(f"unreadable answer to POST /api/v1/events: {response.text[:200]}") from None
        return result

    def put_evidence(self, event_id: str, jpeg: bytes):
        self._send("PUT", f"/api/v1/events/{event_id}/evidence", data=jpeg,
                   headers={"Content-Type": "image/jpeg"})

    def post_scan(self, household: str) -> None:
        """A household card just read at the station, for its tablet (the token only)."""
        self._send("POST", "/api/v1/scans", json={"device_id": self.device_id, "household": household})

    def put_sample(self, event_id: str, body: dict):
        self._send("PUT", f"/api/v1/events/{event_id}/sample", json=body)

    def heartbeat(self, health: dict) -> dict:
        """Post the device's health; the server's answer ({} when it is not JSON)."""
        response = self._send("POST", "/api/v1/heartbeat", json={"device_id": self.device_id, **health})
        try:
            answer = response.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}


class Backoff:
    """Exponential backoff with jitter: the n-th delay lies in [d/2, d], d = min(max, min·2^n)."""

    def __init__(self, minimum=1.0, maximum=300.0, rng=None):
        self.minimum, self.maximum = minimum, maximum
        self.failures = 0
        self.rng = rng or random.Random()

    def next(self, at_least: float = 0.0) -> float:
        d = min(self.maximum, self.minimum * (2 ** min(self.failures, 30)))
        self.failures += 1
        return max(at_least, d / 2 + self.rng.uniform(0, d / 2))

    def reset(self):
        self.failures = 0


class Uploader(threading.Thread):
    def __init__(self, outbox, client: Client, *, batch_size=MAX_BATCH, backoff_min=1.0,
                 backoff_max=300.0, heartbeat_interval=60.0, health=None, on_heartbeat=None,
                 clock=time.monotonic):
        super().__init__(name="uploader", daemon=True)
        self.outbox = outbox
        self.client = client
        self.max_batch = min(batch_size, MAX_BATCH)
        self.batch_size = self.max_batch
        self.backoff = Backoff(backoff_min, backoff_max)
        self.heartbeat_interval = heartbeat_interval
        self.health = health
        self.on_heartbeat = on_heartbeat  # called with each heartbeat answer (updates)
        self.clock = clock
        self.stop_event = threading.Event()
        self.next_try = 0.0
        self.next_heartbeat = 0.0
        self.last_error: str | None = None
        self.sent_batches = 0
        self.heartbeats = 0

    def stop(self):
        self.stop_event.set()
        self.outbox.changed.set()

    # -- one step ------------------------------------------------------------------

    def step(self) -> bool:
        """Try to send one batch of events, or one evidence image; True if work was done."""
        batch = self.outbox.pending(self.batch_size, MAX_BODY)
        if batch:
            self._send_batch(batch)
            return True
        ready = self.outbox.ready_evidence(1)
        if ready:
            event_id, jpeg = ready[0]
            try:
                self.client.put_evidence(event_id, jpeg)
                self.outbox.evidence_done(event_id)
            except UploadError as e:
                if isinstance(e, Transient) and e.status != 403:
                    raise
                log.warning("evidence for %s refused (%s); dropped", event_id, e)
                self.outbox.evidence_done(event_id)
            return True
        samples = self.outbox.ready_samples(1)
        if samples:
            event_id, body = samples[0]
            try:
                self.client.put_sample(event_id, body)
                log.info("learning sample of %s sent", event_id[:8])
            except UploadError as e:
                if isinstance(e, Transient) and e.status != 403:
                    raise
                log.warning("learning sample of %s refused (%s); dropped", event_id, e)
            self.outbox.sample_done(event_id)
            return True
        return False

    def _send_batch(self, batch):
        events = [e for _, e in batch]
        try:
            result = self.client.post_events(events)
        except BatchTooLarge as e:
            if len(batch) == 1:
                self.outbox.dead_letter(events[0]["event_id"], f"too large: {e}")
                return
            self.batch_size = max(1, len(batch) // 2)
            log.warning("server says the batch is too large; now %d events a batch", self.batch_size)
            return
        except BadRequest as e:
            if len(batch) == 1:
                self.outbox.dead_letter(events[0]["event_id"], str(e))
                return
            self.batch_size = max(1, len(batch) // 2)
            log.warning("server refused a batch of %d (%s); trying %d at a time", len(batch), e, self.batch_size)
            return
        except Transient:
            self.outbox.bump_attempts([s for s, _ in batch])
            raise
        rejected = {}
        for r in result.rejected:
            try:
                index = int(r["index"])
                eid = events[index]["event_id"]
            except (KeyError, ValueError, TypeError, IndexError):
                log.error("unreadable rejection %r", r)
                continue
            rejected[eid] = json.dumps(r.get("errors") or ["rejected"], ensure_ascii=False)
        delivered = [e["event_id"] for e in events if e["event_id"] not in rejected]
        if result.accepted + result.duplicates != len(delivered):
            log.warning("server counted %d accepted + %d duplicates for %d events sent",
                        result.accepted, result.duplicates, len(delivered))
        self.outbox.mark_delivered(delivered)
        for eid, reason in rejected.items():
            self.outbox.dead_letter(eid, reason)
        self.sent_batches += 1
        self.batch_size = min(self.max_batch, self.batch_size * 2)
        log.info("delivered %d events (%d new, %d duplicates, %d rejected)",
                 len(events), result.accepted, result.duplicates, len(rejected))

    def send_heartbeat(self):
        if self.health is None:
            return
        try:
            answer = self.client.heartbeat(self.health())
            self.heartbeats += 1
            if self.on_heartbeat is not None:
                self.on_heartbeat(answer)
        except UploadError as e:
            log.info("heartbeat not delivered: %s", e)
        except Exception:  # a failing health probe must not stop the uploads
            log.exception("heartbeat failed")

    # -- the thread ------------------------------------------------------------------

    def run(self):
        while not self.stop_event.is_set():
            now = self.clock()
            if self.health is not None and now >= self.next_heartbeat:
                self.next_heartbeat = now + self.heartbeat_interval
                self.send_heartbeat()
            worked = False
            if now >= self.next_try:
                try:
                    worked = self.step()
                    self.backoff.reset()
                    self.last_error = None
                except UploadError as e:  # transient, or a server that refuses all (kept, retried)
                    delay = self.backoff.next(e.retry_after or 0.0)
                    if not isinstance(e, Transient) or e.status in (401, 403):
                        delay = max(delay, min(self.backoff.maximum, 60.0))
                    self.last_error = str(e)
                    self.next_try = self.clock() + delay
                    log.warning("upload failed (%s); retrying in %.1f s", e, delay)
                except Exception:  # a bug must not kill the thread that empties the outbox
                    log.exception("uploader step failed")
                    self.next_try = self.clock() + self.backoff.next()
            if worked:
                continue
            wait = self.next_heartbeat - self.clock() if self.health is not None else 1.0
            if self.next_try > self.clock():
                wait = min(wait, self.next_try - self.clock())
            self.outbox.changed.clear()
            if self.outbox.pending(1):
                wait = min(wait, max(0.0, self.next_try - self.clock()))
            self.outbox.changed.wait(timeout=max(0.01, min(wait, 1.0)))
