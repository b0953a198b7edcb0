"""Case changes to the city's grid system (网格化 / 12345): signed, retried,
in order per case (docs/design.md §10).

Every case change writes a delivery row per webhook in its own transaction
(server/store/cases.py); a worker (`flask deliver-webhooks`, a process of
its own) POSTs them. Nothing here runs in a request: a receiver that is
down or slow never slows ingest.

Each POST carries the delivery's JSON body and

    X-Sortwatch-Delivery:  the delivery id (a UUID; the receiver's dedup key)
    X-Sortwatch-Signature: sha256=HEX, HMAC-SHA256 of the exact body bytes
                           under the webhook's secret

A 2xx answer delivers it. Anything else (an error status, a refused
connection, a timeout) is retried after 30 s, 1 min, 2 min, ... doubling up
to an hour between attempts, until the delivery is webhook_retry_hours old
(48 by default); then it is marked failed and the case's next change goes.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from .cases import utc_iso

TIMEOUT_SECONDS = 10
FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS = 30, 3600
LEASE_SECONDS = 2 * TIMEOUT_SECONDS + 5   # a worker that dies mid-attempt frees it after this
SIGNATURE_HEADER, DELIVERY_HEADER = "X-Sortwatch-Signature", "X-Sortwatch-Delivery"


class WebhookRefused(ValueError):
    """A webhook that cannot be registered; the message says why."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused(f"a webhook URL is http:// or https://, not {parts.scheme or 'no scheme'}: {url}")
    if not parts.hostname:
        raise WebhookRefused(f"the webhook URL names no host: {url}")
    if parts.username or parts.password:
        raise WebhookRefused("put no credentials in the URL; receivers check the signature instead")
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delay_after(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return timedelta(seconds=min(FIRST_DELAY_SECONDS * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS))


def http_post(url: str, body: bytes, headers: dict) -> tuple[int | None, str | None]:
    """(status, error) of one POST; never raises for the receiver's failures."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "sortwatch-webhooks", **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:300]


def deliver_due(store, now: datetime, settings, post=http_post, limit: int = 100) -> dict:
    """Attempt the due deliveries, each case's in order, until none is due
    (a case's next change becomes due once its previous one is delivered or
    failed). Returns counts."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    while True:
        before = counts["delivered"] + counts["failed"]
        due = store.due_deliveries(utc_iso(now), limit)
        for d in due:
            _attempt(store, d, now, settings, post, counts)
        if not due or counts["delivered"] + counts["failed"] == before:
            return counts


def _attempt(store, d: dict, now: datetime, settings, post, counts: dict) -> None:
    """One attempt of one delivery, unless another worker took it."""
    give_up = timedelta(hours=settings.webhook_retry_hours)
    if not store.claim_delivery(d, utc_iso(now + timedelta(seconds=LEASE_SECONDS))):
        return
    body = d["body"].encode()
    status, error = post(d["url"], body, {DELIVERY_HEADER: d["delivery_id"],
                                          SIGNATURE_HEADER: signature(d["secret"], body)})
    if status is not None and 200 <= status < 300:
        store.record_attempt(d["id"], utc_iso(now), status, None, "delivered")
        counts["delivered"] += 1
        return
    if now - datetime.fromisoformat(d["created_at"]) >= give_up:
        store.record_attempt(d["id"], utc_iso(now), status, error, "failed")
        counts["failed"] += 1
        return
    retry = now + delay_after(d["attempts"] + 1)
    store.record_attempt(d["id"], utc_iso(now), status, error, "pending", utc_iso(retry))
    counts["retrying"] += 1
