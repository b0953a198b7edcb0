"""Operator commands for cases and their webhooks: `flask --app server COMMAND`."""
from __future__ import annotations

import time

import click
from flask import current_app

from .cases import check_stations, utc_iso
from .scopes import CITY
from .store import StoreError
from .timeutil import now_utc
from .webhooks import WebhookRefused, check_url, deliver_due, new_secret


def _store():
    from .cli import _store as store
    return store()


@click.command("check-stations")
def check_stations_command():
    """Open offline cases for silent stations, camera check cases for cameras that
    disagree with this month's inspectors, and escalate cases left unresolved.

    Run it every few minutes from cron or a systemd timer; reads never open cases.

    Example: flask --app server check-stations
    """
    with _store() as s:
        done = check_stations(s, current_app.config["SETTINGS"], now_utc())
    click.echo(f"offline cases opened: {done['offline_opened']}, camera check cases opened: "
               f"{done['camera_opened']}, cases escalated: {done['escalated']}")


@click.command("add-webhook")
@click.argument("scope")
@click.argument("url")
def add_webhook(scope, url):
    """Send every change of the cases inside SCOPE (city, or a district, street or
    community code) to URL, signed with a new secret printed once, on the last line.

    Example: flask --app server add-webhook 110102 https://grid.example/sortwatch
    """
    try:
        check_url(url)
    except WebhookRefused as exc:
        raise click.ClickException(str(exc)) from None
    with _store() as s:
        if scope != CITY and s.region(scope) is None:
            raise click.ClickException(f"no division {scope}; give city or a district, street or community code")
        secret = new_secret()
        try:
            hook = s.add_webhook(scope, url, secret, utc_iso(now_utc()))
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"webhook {hook} for {scope}: {url}")
    click.echo("secret (shown once; the receiver checks X-Sortwatch-Signature with it):")
    click.echo(secret)


@click.command("webhooks")
@click.option("--deliveries", "shown", default=20, show_default=True, help="latest deliveries to list")
def list_webhooks(shown):
    """List the webhooks with their deliveries by state, then the latest deliveries
    with their last status.

    Example: flask --app server webhooks --deliveries 50
    """
    with _store() as s:
        for w in s.webhooks():
            click.echo(f"webhook {w['id']} {w['scope']} {w['url']}: {w['delivered']} delivered, "
                       f"{w['pending']} pending, {w['failed']} failed")
        for d in s.deliveries(shown):
            last = d["last_status"] if d["last_status"] is not None else (d["last_error"] or "-")
            click.echo(f"  {d['delivery_id']} webhook {d['webhook_id']} case {d['case_id']} "
                       f"{d['state']} attempts {d['attempts']} last {last} next {d['next_attempt_at']}")


@click.command("deliver-webhooks")
@click.option("--once", is_flag=True, help="one round of the due deliveries, then exit")
@click.option("--interval", default=5.0, show_default=True, help="seconds between rounds")
def deliver_webhooks(once, interval):
    """POST the pending webhook deliveries, retrying failures with growing delays.

    Run it as a service of its own (never inside the web server), or with --once from cron.

    Example: flask --app server deliver-webhooks
    """
    settings = current_app.config["SETTINGS"]
    while True:
        with _store() as s:
            done = deliver_due(s, now_utc(), settings)
        if once or any(done.values()):
            click.echo(f"delivered {done['delivered']}, retrying {done['retrying']}, "
                       f"failed {done['failed']}")
        if once:
            return
        time.sleep(interval)


COMMANDS = (check_stations_command, add_webhook, list_webhooks, deliver_webhooks)
