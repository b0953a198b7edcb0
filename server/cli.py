"""Operator commands: `flask --app server COMMAND`. One function a command."""
from __future__ import annotations

import copy
import getpass
import json
import re
import sys
from contextlib import closing
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import store as store_pkg
from .auth import ROLES, hash_password, hash_token, new_device_token, validate_role_scope
from .contract.validate import CATEGORIES, STATION
from .regions import ImportRefused, parse_regions
from .settings import is_postgres_url
from .timeutil import now_utc

DEFAULT_STAFFED = "07:00-09:00,18:00-21:00"
WINDOW = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


def _store():
    """The store, closed when the command's `with` block ends."""
    return closing(store_pkg.connect(current_app.config["SETTINGS"].database))


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _parse_import(csv_file: Path, parse):
    """Read an import file and parse it, or fail with every problem."""
    try:
        return parse(csv_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        _fail(f"{csv_file}: not UTF-8 text ({exc.reason} at byte {exc.start}); nothing was imported")
    except ImportRefused as exc:
        _fail(f"{csv_file} refused, nothing was imported:\n  " + "\n  ".join(exc.problems))


def parse_windows(text: str) -> list[list[str]]:
    windows = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not WINDOW.match(part) or part[:5] >= part[6:]:
            raise click.BadParameter(f"{part!r} is not a window like 07:00-09:00")
        windows.append([part[:5], part[6:]])
    return windows


@click.command("import-regions")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_regions(csv_file: Path):
    """Import or update the city's hierarchy from a CSV file.

    Columns: district_code,district,street_code,street,community_code,community,households

    Example: flask --app server import-regions regions.csv
    """
    rows = _parse_import(csv_file, parse_regions)
    with _store() as s:
        summary = s.import_regions(rows)
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))


@click.command("add-station")
@click.argument("station_id")
@click.option("--community", "community_code", required=True, help="12-digit community code")
@click.option("--name", default=None, help="display name, e.g. 3号楼桶站")
@click.option("--bins", default="kitchen,recyclable,hazardous,other", show_default=True,
              help="comma-separated bin categories at this station")
@click.option("--household-reader/--no-household-reader", default=False, show_default=True,
              help="the station identifies households with a card or QR reader")
@click.option("--staffed", default=DEFAULT_STAFFED, show_default=True,
              help="Beijing-time windows when a volunteer is on duty")
def add_station(station_id, community_code, name, bins, household_reader, staffed):
    """Register a waste station in a community.

    Example: flask --app server add-station st-xc-0042 --community 110102001001 --name 3号楼
    """
    if not STATION.match(station_id):
        _fail("a station id has 1-64 letters, digits, _ . or -, starting with a letter or digit")
    bin_list = [b.strip() for b in bins.split(",") if b.strip()]
    bad = [b for b in bin_list if b not in CATEGORIES]
    if bad or not bin_list or len(set(bin_list)) != len(bin_list):
        _fail(f"--bins must name distinct categories from {', '.join(sorted(CATEGORIES))}")
    with _store() as s:
        try:
            s.add_station({"id": station_id, "community_code": community_code,
                           "name": name or station_id, "bins": bin_list,
                           "household_reader": household_reader,
                           "staffed_windows": parse_windows(staffed),
                           "created_at": now_utc().isoformat()})
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"station {station_id} added to community {community_code}")


@click.command("add-device")
@click.argument("device_id")
@click.option("--station", "station_id", required=True)
def add_device(device_id, station_id):
    """Register a station device; prints its token once, on the last line.

    Example: flask --app server add-device dev-0007 --station st-xc-0042
    """
    if not STATION.match(device_id):
        _fail("a device id has 1-64 letters, digits, _ . or -, starting with a letter or digit")
    token = new_device_token()
    with _store() as s:
        try:
            s.add_device(device_id, station_id, hash_token(token), now_utc().isoformat())
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"device {device_id} registered for station {station_id}; "
               "its token is shown once, below. Store it on the device.")
    click.echo(token)


@click.command("revoke-device")
@click.argument("device_id")
def revoke_device(device_id):
    """Revoke a device's token at once (a stolen or replaced device).

    Example: flask --app server revoke-device dev-0007
    """
    with _store() as s:
        try:
            s.revoke_device(device_id, now_utc().isoformat())
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"device {device_id} revoked")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            _fail("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@click.command("add-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--scope", default="", help="division code, or station id for a volunteer "
              "(an inspector: a district or street code, or none for the city)")
def add_user(username, role, scope):
    """Add a person; the password is read from standard input.

    Example: echo 's3cret-pass' | flask --app server add-user wang --role community --scope 110102001001
    """
    if not re.match(r"^[A-Za-z0-9_.@-]{2,64}$", username):
        _fail("a username has 2-64 letters, digits, _ . @ or -")
    problem = validate_role_scope(role, scope)
    if problem:
        _fail(problem)
    password = _read_password()
    if len(password) < 8:
        _fail("the password must have at least 8 characters")
    with _store() as s:
        try:
            if role == "volunteer" and s.station(scope) is None:
                _fail(f"unknown station {scope}")
            if role in ("district", "street", "community") and s.region(scope) is None:
                _fail(f"unknown {role} {scope}; import the hierarchy first")
            if role in ("inspector", "labeller") and scope not in ("", "city") and s.region(scope) is None:
                _fail(f"unknown district or street {scope}; import the hierarchy first")
            s.add_user({"username": username, "password_hash": hash_password(password),
                        "role": role, "scope": "" if role == "city" or scope == "city" else scope,
                        "created_at": now_utc().isoformat()})
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"user {username} added as {role}" + (f" of {scope}" if scope else ""))


@click.command("set-password")
@click.argument("username")
def set_password(username):
    """Give a person a new password (read from standard input); every session
    they have open ends at once.

    Example: echo 'n3w-secret-pass' | flask --app server set-password wang
    """
    password = _read_password()
    if len(password) < 8:
        _fail("the password must have at least 8 characters")
    with _store() as s:
        sessions = s.count_user_sessions(username)
        try:
            s.set_password(username, hash_password(password))
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"password of {username} changed; {sessions} session{'s' if sessions != 1 else ''} ended")


@click.command("remove-user")
@click.argument("username")
def remove_user(username):
    """Remove a person; their sessions end at once. What they did (feedback,
    quizzes) stays, under their name.

    Example: flask --app server remove-user wang
    """
    with _store() as s:
        try:
            s.remove_user(username)
        except store_pkg.StoreError as exc:
            _fail(str(exc))
    click.echo(f"user {username} removed; their sessions ended")


@click.command("import-surveys")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_surveys(csv_file: Path):
    """Import door-to-door survey results (awareness 知晓率).

    Columns: community_code,date,respondents,aware. A community's result for a
    date replaces an earlier import of the same community and date.

    Example: flask --app server import-surveys surveys-2026-11.csv
    """
    from .surveys import parse_surveys
    from .timeutil import beijing
    today = beijing(now_utc()).date()
    rows = _parse_import(csv_file, lambda text: parse_surveys(text, today))
    with _store() as s:
        try:
            summary = s.import_surveys(rows, now_utc().isoformat())
        except store_pkg.StoreError as exc:
            _fail(f"{csv_file} refused, nothing was imported:\n  {exc}")
    click.echo(", ".join(f"{k}: {v}" for k, v in summary.items()))


@click.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
def backup(destination: Path):
    """Copy the live database to a new file with SQLite's online backup.

    Safe while the server runs; the copy is checked with PRAGMA integrity_check.
    With the PostgreSQL store it writes nothing and says how to back up with
    pg_dump, or base backups and WAL archiving.

    Example: flask --app server backup /backups/sortwatch-2026-11-29.db
    """
    database = current_app.config["SETTINGS"].database
    if is_postgres_url(database):
        from .store.postgres import BACKUP_GUIDANCE, safe_url
        _fail(BACKUP_GUIDANCE.format(url=safe_url(database), destination=destination))
    if destination.exists():
        _fail(f"{destination} exists; give a new file name")
    if not destination.parent.is_dir():
        _fail(f"{destination.parent} is not a directory")
    with _store() as s:
        try:
            pages = s.backup_to(destination)
        except store_pkg.StoreError as exc:
            destination.unlink(missing_ok=True)
            _fail(str(exc))
    click.echo(f"backed up {pages} pages to {destination} (integrity check ok)")


@click.command("prune-events")
def prune_events():
    """Delete raw events older than the retention period; roll-ups are kept.

    The retention is SORTWATCH_EVENT_RETENTION_DAYS (default 400). Learning
    samples received more than SORTWATCH_SAMPLE_RETENTION_DAYS (default 180)
    ago are deleted too, except that a labelled one keeps its embedding and
    label (for train-head) and loses only its image. Ingest
    already refuses events that old, so a late resend can never be counted
    again after its original was pruned. Run it daily, e.g. from cron.
    On PostgreSQL, whole monthly partitions of raw events before the cutoff
    are dropped (the cutoff's own month is deleted from row by row), and the
    coming months' partitions are made.

    Example: flask --app server prune-events
    """
    from datetime import timedelta

    from .scans import fresh_since
    from .timeutil import beijing
    days = current_app.config["SETTINGS"].event_retention_days
    cutoff = (beijing(now_utc()) - timedelta(days=days)).date().isoformat()
    sample_days = current_app.config["SETTINGS"].sample_retention_days
    sample_cutoff = (now_utc() - timedelta(days=sample_days)).isoformat()
    with _store() as s:
        events, images = s.prune_events(cutoff)
        s.forget_scans(fresh_since(now_utc()))    # cards read for a tablet, past their minute
        samples, crops = s.prune_samples(sample_cutoff)
    click.echo(f"deleted {events} raw events and {images} evidence images from before {cutoff}")
    click.echo(f"deleted {samples} unlabelled learning samples and the images of {crops} labelled ones "
               f"received before {sample_cutoff[:10]} (SORTWATCH_SAMPLE_RETENTION_DAYS={sample_days})")


@click.command("migrate")
def migrate_command():
    """Apply pending schema migrations (the server also does this at start).

    Example: flask --app server migrate
    """
    database = current_app.config["SETTINGS"].database
    try:
        store_pkg.migrate(database)
    except store_pkg.StoreUnavailable as exc:
        _fail(str(exc))
    applied = store_pkg.applied_migrations(database)
    click.echo(f"{store_pkg.describe(database)}: {len(applied)} migrations applied, latest {applied[-1]}")


def _all_rates(store, settings) -> dict:
    """Every report (/api/v1/stats, rankings) of every scope and period the
    roll-ups hold: {(kind, period, level, code): report}. The online share's
    possible seconds grow with the clock and are left out (the stations'
    registration times they come from are compared with the stations)."""
    from .report import member_reports, scope_report
    from .scopes import CITY
    from .timeutil import make_period
    out = {}
    for kind, label in store.rollup_periods():
        period = make_period(label, kind)
        reports = [scope_report(store, CITY, period, settings)]
        for level in ("district", "street", "community"):
            reports += member_reports(store, level, CITY, period, settings)
        for r in reports:
            r = copy.deepcopy(r)
            r["online_share"].pop("possible_seconds")
            r["online_share"].pop("value")
            out[(kind, label, r["level"], r["code"])] = r
    return out


@click.command("copy-store")
@click.option("--to", "target", required=True, metavar="postgresql://USER@HOST:PORT/DB",
              help="an empty PostgreSQL database")
def copy_store(target: str):
    """Copy this SQLite store (hierarchy, stations, devices, users, events,
    evidence, feedback, quizzes, surveys, roll-ups, sessions) into an empty
    PostgreSQL database, then check that every rate of every scope and
    period is equal on both; any difference undoes the whole copy. Refuses
    a target that holds anything. Stop the server first, or copy a backup,
    so that nothing arrives after the copy.

    Example: flask --app server copy-store --to postgresql://sortwatch@db:5432/city
    """
    from .settings import SettingsError, parse_database
    from .store import copy as store_copy
    settings = current_app.config["SETTINGS"]
    if is_postgres_url(settings.database):
        _fail("copy-store copies a SQLite store: SORTWATCH_DATABASE is already PostgreSQL")
    try:
        if not is_postgres_url(parse_database(target)):
            _fail(f"--to must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DB), got {target!r}")
    except SettingsError as exc:
        _fail(str(exc).replace("SORTWATCH_DATABASE", "--to", 1))
    store_pkg.migrate(settings.database)

    checked = {}

    def check(source, copied) -> None:
        counts = source.row_counts(store_copy.COPY_ORDER)
        differ = [t for t, n in copied.row_counts(store_copy.COPY_ORDER).items() if counts[t] != n]
        if differ:
            raise store_pkg.StoreError(f"row counts differ after the copy in: {', '.join(differ)}")
        want, got = _all_rates(source, settings), _all_rates(copied, settings)
        if want != got:
            wrong = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            raise store_pkg.StoreError(f"{len(wrong)} reports differ after the copy, e.g. {wrong[0]}")
        checked["reports"] = len(want)
    try:
        copied = store_copy.copy_sqlite_to_postgres(settings.database, target, check)
    except store_pkg.StoreError as exc:
        _fail(f"{exc}; nothing was copied")
    click.echo(f"copied {sum(copied.values())} rows of {len(copied)} tables "
               f"({copied['events']} events) from {settings.database} to "
               f"{store_pkg.describe(target)}; {checked['reports']} reports of every scope and period "
               "are equal on both")


@click.command("set-points-rule")
@click.argument("scope")
@click.argument("rule_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def set_points_rule(scope, rule_file: Path):
    """Set the incentive points rule (积分) of the city or of one community.

    SCOPE is 'city' or a 12-digit community code; RULE_FILE is JSON, e.g.
    {"correct": 1, "wrong": 0, "uncertain": 0, "assisted": 0, "daily_cap": 5, "expiry_days": 365}.
    Points are worked out from the disposals, so a new rule applies to every
    household's past disposals too.

    Example: flask --app server set-points-rule city examples/points-rule.json
    """
    from .points import PointsRuleError, parse_rule
    settings = current_app.config["SETTINGS"]
    try:
        text = rule_file.read_text(encoding="utf-8")
        rule = parse_rule(text, settings.event_retention_days)
    except UnicodeDecodeError:
        _fail(f"{rule_file}: not UTF-8 text; nothing was changed")
    except PointsRuleError as exc:
        _fail(f"{rule_file}: {exc}; nothing was changed")
    with _store() as s:
        if scope != "city" and (len(scope) != 12 or s.region(scope) is None):
            _fail(f"{scope!r} is not 'city' or a known 12-digit community code; nothing was changed")
        s.set_points_rule(scope, json.dumps(rule.as_json()), now_utc().isoformat())
    click.echo(f"points rule of {scope}: {json.dumps(rule.as_json())}")


def register_commands(app: Flask) -> None:
    from .artifacts.commands import COMMANDS as ARTIFACT_COMMANDS
    from .canary import COMMANDS as CANARY_COMMANDS
    from .case_cli import COMMANDS as CASE_COMMANDS
    from .demo import load_demo
    from .learning import train_head
    for command in (import_regions, add_station, add_device, revoke_device, add_user,
                    set_password, remove_user, import_surveys, backup, prune_events, migrate_command, load_demo,
                    copy_store, set_points_rule, train_head, *CASE_COMMANDS, *ARTIFACT_COMMANDS,
                    *CANARY_COMMANDS):
        # A copy per app: wrapping the shared command object itself would nest
        # one more wrapper with every app built in the same process.
        per_app = copy.copy(command)
        per_app.callback = with_appcontext(command.callback)
        app.cli.add_command(per_app)
