"""Device tokens, people's sessions and scopes (DESIGN.md section 8)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache, wraps

from flask import g, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import ApiError
from .scopes import CITY, contains

ROLES = ("city", "district", "street", "community", "volunteer")
ROLE_SCOPE_LENGTH = {"district": 6, "street": 9, "community": 12}


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
    length = ROLE_SCOPE_LENGTH[role]
    if len(scope) != length or not scope.isdigit():
        return f"a {role} user's scope is a {length}-digit division code"
    return None


def user_contains(user: dict, code: str) -> bool:
    """Whether a division code (or 'city') lies in the user's scope."""
    role, scope = user["role"], user["scope"]
    if role == "city":
        return True
    if role == "volunteer" or code == CITY:
        return False
    return contains(scope, code)


def current_user() -> dict | None:
    return g.get("user")


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            raise ApiError(401, "unauthorized", "log in first: POST /api/v1/login")
        return view(*args, **kwargs)
    return wrapped


def load_user(store) -> None:
    """Put the session's user on `g`, if the session names one that still exists."""
    username = session.get("user")
    g.user = store.user(username) if username else None
    if username and g.user is None:
        session.clear()


def user_sees_station(user: dict, station: dict) -> bool:
    """A volunteer sees their own station; managers the stations in their scope."""
    if user["role"] == "volunteer":
        return user["scope"] == station["id"]
    return user_contains(user, station["community_code"])
