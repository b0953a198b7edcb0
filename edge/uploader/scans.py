"""Cards read by the station's reader, passed on to the station's tablet.

Each token the household reader accepts is also posted to the server
(POST /api/v1/scans), which shows it on the station's tablet for a minute, so
that the volunteer sees the household's points and last disposals without
typing the card. A scan matters only while the resident stands at the bins:
it is sent at once from its own thread (never holding up the camera or the
outbox), retried briefly on a network error, and dropped once it is
MAX_AGE seconds old or refused. It is never written to disk, and logs
show only the token's hash."""
from __future__ import annotations

import logging
import queue
import threading
import time

from edge.privacy.household import token_hash

from . import BadRequest, Transient, UploadError

log = logging.getLogger(__name__)

MAX_AGE = 10.0       # seconds after which a card is no use to the tablet
RETRY = 0.5


class ScanSender(threading.Thread):
    def __init__(self, client, max_age: float = MAX_AGE, retry: float = RETRY, clock=time.monotonic):
        super().__init__(name="scan-sender", daemon=True)
        self.client, self.max_age, self.retry, self.clock = client, max_age, retry, clock
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.stop_event = threading.Event()
        self.sent = self.dropped = 0

    def offer(self, token: str) -> None:
        """Queue a card just read (never blocks; a full queue drops the oldest)."""
        item = (token, self.clock())
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                token, read_at = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(token, read_at)

    def _deliver(self, token: str, read_at: float) -> None:
        while not self.stop_event.is_set():
            if self.clock() - read_at > self.max_age:
                self.dropped += 1
                log.info("household token %s not passed to the tablet in time", token_hash(token))
                return
            try:
                self.client.post_scan(token)
            except Transient as e:
                log.warning("passing household token %s to the tablet: %s", token_hash(token), e)
                self.stop_event.wait(self.retry)
                continue
            except (BadRequest, UploadError) as e:
                self.dropped += 1
                log.warning("the server refused household token %s for the tablet: %s", token_hash(token), e)
                return
            self.sent += 1
            log.info("household token %s passed to the tablet", token_hash(token))
            return
