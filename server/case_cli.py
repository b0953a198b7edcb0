"""Operator commands for cases and their webhooks: `flask --app server COMMAND`."""
from __future__ import annotations

import click
from flask import current_app

from .cases import check_stations
from .timeutil import now_utc


def _store():
    from .cli import _store as store
    return store()


@click.command("check-stations")
def check_stations_command():
    """Open offline cases for silent stations and escalate cases left unresolved.

    Run it every few minutes from cron or a systemd timer; reads never open cases.

    Example: flask --app server check-stations
    """
    with _store() as s:
        done = check_stations(s, current_app.config["SETTINGS"], now_utc())
    click.echo(f"offline cases opened: {done['offline_opened']}, cases escalated: {done['escalated']}")


COMMANDS = (check_stations_command,)
