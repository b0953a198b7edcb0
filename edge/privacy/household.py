"""Household tokens from a card or QR reader: a line-based source (serial port, FIFO or file).

Each non-empty line is one opaque token. The token waits at most `window`
seconds for the station's next disposal and is attached to it, then
forgotten; a newer token replaces an older one that was not used. Tokens are
never logged in clear: logs show `token_hash(token)`, a short hash prefix.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import threading
import time

from contract.limits import HOUSEHOLD_PATTERN, looks_like_phone_number

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(HOUSEHOLD_PATTERN)


def token_hash(token: str) -> str:
    return "h:" + hashlib.sha256(token.encode()).hexdigest()[:8]


class HouseholdTokens:
    """The latest token read and when; `take()` gives it to a disposal at most once."""

    def __init__(self, window: float, clock=time.monotonic, on_read=None):
        self.window = window
        self.clock = clock
        self.on_read = on_read      # also told of every token accepted (the tablet's scan)
        self.lock = threading.Lock()
        self.token: str | None = None
        self.read_at = 0.0
        self.read = 0
        self.invalid = 0

    def offer(self, line: str):
        token = line.strip()
        if not token:
            return
        if not TOKEN_RE.fullmatch(token) or looks_like_phone_number(token):
            # A phone number is personal data: the disposal goes without it.
            self.invalid += 1
            log.warning("household reader sent an unusable token %s", token_hash(token))
            return
        with self.lock:
            if self.token is not None:
                log.info("household token %s replaced before a disposal", token_hash(self.token))
            self.token, self.read_at = token, self.clock()
            self.read += 1
        log.info("household token %s read", token_hash(token))
        if self.on_read is not None:
            self.on_read(token)

    def take(self, at: float | None = None) -> str | None:
        """The waiting token if it was read at most `window` seconds before `at` (default now)."""
        at = self.clock() if at is None else at
        with self.lock:
            if self.token is None:
                return None
            age = at - self.read_at
            if age > self.window:
                log.info("household token %s expired unused", token_hash(self.token))
                self.token = None
                return None
            if age < -1.0:  # read after this disposal ended: keep it for the next one
                return None
            token, self.token = self.token, None
        log.info("household token %s attached to a disposal", token_hash(token))
        return token


class LineReader(threading.Thread):
    """Read lines from `path` forever and offer them to `tokens`.

    A serial device or FIFO is read as a stream; a regular file is followed
    from its end like `tail -f`. The reader reopens the path when it fails.
    """

    def __init__(self, path, tokens: HouseholdTokens, poll=0.1):
        super().__init__(name="household-reader", daemon=True)
        self.path = str(path)
        self.tokens = tokens
        self.poll = poll
        self.stop_event = threading.Event()
        self.state = "starting"

    def stop(self):
        self.stop_event.set()

    def run(self):
        while not self.stop_event.is_set():
            try:
                regular = stat.S_ISREG(os.stat(self.path).st_mode)
                with open(self.path, "rb", buffering=0) as f:
                    if regular:
                        f.seek(0, os.SEEK_END)
                    elif os.isatty(f.fileno()):
                        import tty
                        tty.setraw(f.fileno())  # a serial reader: bytes as they come, no echo
                    self.state = "ok"
                    self._follow(f, regular)
            except OSError as e:
                self.state = "unavailable"
                log.warning("household reader %s unavailable: %s", self.path, e.strerror)
            self.stop_event.wait(1.0)

    def _follow(self, f, regular):
        buffer = b""
        while not self.stop_event.is_set():
            chunk = f.read(4096)
            if not chunk:
                if not regular:
                    return  # the writer went away: reopen
                self.stop_event.wait(self.poll)
                continue
            buffer += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # scanners end lines with CR
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self.tokens.offer(line.decode("utf-8", "replace"))
            if len(buffer) > 4096:
                buffer = b""
