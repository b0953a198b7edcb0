"""A small synchronizer-token CSRF guard for the web forms.

One random token per session, sent back in a hidden field (or the
X-CSRF-Token header for fetch calls) and compared in constant time. The JSON
API does not need it: it only accepts application/json, which a cross-site
form cannot send, and the session cookie is SameSite=Lax."""
from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    value = session.get(FIELD)
    if not value:
        value = session[FIELD] = secrets.token_urlsafe(32)
    return value


def protect() -> None:
    """Abort with 400 unless an unsafe request carries the session's token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get(FIELD)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, description="csrf")
