"""Device tokens, people's sessions and scopes (docs/design.md §7)."""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache, wraps
from urllib.parse import urlsplit

from flask import current_app, g, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import ApiError
from .scopes import CITY
from .timeutil import now_utc

SESSION_KEY = "sid"  # the cookie holds a random session id; the store its hash
MAX_USERNAME = 64

ROLES = ("city", "district", "street", "community", "volunteer", "inspector", "labeller")
ROLE_SCOPE_LENGTH = {"district": 6, "street": 9, "community": 12}
INSPECTOR_SCOPE_LENGTHS = (6, 9)   # an inspector's scope: the city (none), a district or a street


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force, and ingest looks the hash up on every request.
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate_device(store) -> dict:
    """The device behind the request's bearer token, or a 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send the device token as 'Authorization: Bearer <token>'")
    digest = hash_token(token.strip())
    device = store.device_by_token_hash(digest)
    if device is None or not hmac.compare_digest(device["token_hash"], digest):
        raise ApiError(401, "unauthorized", "unknown device token")
    if device["revoked_at"]:
        raise ApiError(401, "token_revoked", f"the token of device {device['id']} was revoked "
                       f"at {device['revoked_at']}; register the device again")
    return device


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password(user: dict | None, password: str) -> bool:
    if user is None:
        # Spend the same time as a real check so usernames cannot be probed.
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user["password_hash"], password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(8))


def validate_role_scope(role: str, scope: str) -> str | None:
    """An error message, or None when the scope suits the role."""
    if role not in ROLES:
        return f"role must be one of {', '.join(ROLES)}"
    if role == "city":
        return None if scope in ("", CITY) else "a city user has no scope"
    if role == "volunteer":
        return None if scope else "a volunteer's scope is a station id"
    if role == "labeller":
        if scope in ("", CITY) or (len(scope) == 6 and scope.isdigit()):
            return None
        return "a labeller's scope is the city (no scope) or a 6-digit district code"
    if role == "inspector":
        if scope in ("", CITY) or (len(scope) in INSPECTOR_SCOPE_LENGTHS and scope.isdigit()):
            return None
        return "an inspector's scope is the city (no scope), a 6-digit district or a 9-digit street code"
    length = ROLE_SCOPE_LENGTH[role]
    if len(scope) != length or not scope.isdigit():
        return f"a {role} user's scope is a {length}-digit division code"
    return None


def current_user() -> dict | None:
    return g.get("user")


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            raise ApiError(401, "unauthorized", "log in first: POST /api/v1/login")
        return view(*args, **kwargs)
    return wrapped


class LoginThrottled(ApiError):
    """Too many failed logins for this username or from this address, or
    (`server_busy`) too many password checks in this process just now."""

    def __init__(self, retry_after: int, code: str = "too_many_attempts", message: str = ""):
        super().__init__(429, code, message or f"too many failed logins; try again in {retry_after} s",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after

    @classmethod
    def server_busy(cls) -> LoginThrottled:
        return cls(1, "server_busy", "the server is checking many logins; try again in 1 s")


class PasswordCheckBudget:
    """A token bucket of password checks for one server process: `per_second`
    a second, up to five seconds' worth at once (a morning's logins arrive
    together). Thread-safe; `per_second` 0 means no limit. `clock` is
    time.monotonic; a test may stop it."""

    def __init__(self, per_second: int, clock=time.monotonic):
        self.per_second = per_second
        self.capacity = per_second * 5
        self.tokens = float(self.capacity)
        self.clock = clock
        self.at = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        if not self.per_second:
            return True
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class PasswordCheckLock:
    """At most one password check at a time on this machine for one data set,
    whichever worker or pool asks: scrypt takes a core and 32 MiB for 0.1 s,
    and a flood's checks running side by side took both cores of a two-core
    host from ingest (README, "Floods"). A check waits for the one before it
    at most `wait` seconds. An flock on a file, so every process of the host
    agrees and a killed one holds nothing: beside a SQLite database, or for
    a PostgreSQL URL in the temporary folder, named by the URL's hash."""

    def __init__(self, database, wait: float = 2.0):
        if isinstance(database, str):
            key = hashlib.sha256(database.encode()).hexdigest()[:16]
            self.path = os.path.join(tempfile.gettempdir(), f"sortwatch-password-check-{key}.lock")
        else:
            self.path = str(database.resolve().with_name(database.name + ".password-check.lock"))
        self.wait = wait

    @contextmanager
    def held(self) -> Iterator[bool]:
        """True while this thread holds the lock; False when it waited in vain."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:   # the lock's folder is not writable: checks run side by side, as before
            yield True
            return
        try:
            yield self._take(fd)
        finally:
            os.close(fd)   # releases the lock

    def _take(self, fd: int) -> bool:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)


def check_login(store, username: str, password: str) -> dict | None:
    """The user whose password this is, or None; raises LoginThrottled.

    Failures are counted per username and per client address in the store, so
    every worker and host agrees; a throttled attempt is refused before the
    password is hashed, so a flood costs the server one indexed read each.
    A flood from many addresses and usernames, which the counts never see
    twice, meets the per-process budget of password checks instead."""
    settings = current_app.config["SETTINGS"]
    now = time.time()
    window = settings.login_window_seconds
    keys = [f"user:{username[:MAX_USERNAME]}", f"addr:{request.remote_addr or '-'}"]
    waits = [int(oldest + window - now) + 1
             for count, oldest in store.login_failures(keys, now - window)
             if count >= settings.login_max_failures]
    if waits:
        raise LoginThrottled(max(1, max(waits)))
    if not current_app.extensions["password_checks"].take():
        # Refused before the hash, and not counted against the username.
        raise LoginThrottled.server_busy()
    user = store.user(username) if username and len(username) <= MAX_USERNAME else None
    with current_app.extensions["password_lock"].held() as turn:
        if not turn:
            raise LoginThrottled.server_busy()
        right = check_password(user, password)
    if right:
        store.clear_login_failures(keys[0])
        return user
    store.record_login_failure(keys, now, now - window)
    return None


def start_session(store, user: dict) -> None:
    """A fresh session (and CSRF token) for a user who just logged in; keeps the language."""
    sid = secrets.token_urlsafe(32)
    now = now_utc()
    expires = now + timedelta(hours=current_app.config["SETTINGS"].session_hours)
    store.start_session(hash_token(sid), user["username"], now.isoformat(), expires.isoformat())
    lang = session.get("lang")
    session.clear()
    session.permanent = True  # the cookie expires with the session
    session[SESSION_KEY] = sid
    if lang:
        session["lang"] = lang


def end_session(store) -> None:
    """Log out: the session ends in the store, so a copy of the cookie is dead too."""
    sid = session.get(SESSION_KEY)
    if isinstance(sid, str):
        store.end_session(hash_token(sid))
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_user(store) -> None:
    """Put the session's user on `g`, if the session is still live in the store."""
    sid = session.get(SESSION_KEY)
    g.user = store.session_user(hash_token(sid), now_utc().isoformat()) if isinstance(sid, str) else None
    if sid is not None and g.user is None:
        session.pop(SESSION_KEY, None)


def safe_next(target) -> str | None:
    """`target` if it is a path on this site, else None.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash,
    so "/\t/evil.example" is "//evil.example", another host: any control
    character, space or backslash disqualifies a target, and what is left must
    be a path with neither scheme nor host."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
