"""Canaries (docs/design.md §12): a version of the model or rule set for some
stations first, the figures per version side by side over the same days,
then `promote` to a scope or `rollback` with one command.

A station runs the version assigned to the most specific scope that holds
it: its own id, its community, street, district, then 'city'; with none, the
registry's (assign-model / assign-rules, else the newest published). An
assigned version that no longer checks out is never offered: the next scope
up decides.

    flask --app server canary model waste-effl0-int8@1a2b3c4d --scope st-xc-0001
    flask --app server compare-versions --days 14
    flask --app server promote model waste-effl0-int8@1a2b3c4d --scope 110102
    flask --app server rollback model --scope 110102
"""
from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app

from contract.artifacts import ArtifactError

from .scopes import CITY
from .timeutil import beijing, now_utc

KINDS = ("model", "rules")


def chain(station: dict) -> list[str]:
    """The scopes that hold a station, the most specific first."""
    c = station["community_code"]
    return [station["id"], c, c[:9], c[:6], CITY]


def _registry():
    from .artifacts import app_registry
    return app_registry()


def _offer(m: dict | None) -> dict | None:
    return None if m is None else {"version": m["version"], "sha256": m["sha256"], "size": m["size"]}


def offer_for(store, kind: str, station: dict | None) -> dict | None:
    """What the heartbeat answer tells a device of `station` to run of one kind."""
    reg = _registry()
    if station is not None:
        rows = store.assignments(kind)
        for scope in chain(station):
            row = rows.get(scope)
            if row is None:
                continue
            try:
                return _offer(reg.verified(kind, row["version"]))
            except ArtifactError:
                continue  # a version that went bad: the next scope up decides
    return _offer(reg.target(kind))


def _covers(scope: str, other: str, stations: dict[str, str]) -> bool:
    """Whether `other` (a scope) lies inside `scope` (a station id's scope is its community)."""
    if scope == CITY:
        return True
    code = stations.get(other, other)
    return other == scope or (scope not in stations and code.startswith(scope) and other != scope)


def _check_scope(store, scope: str) -> None:
    if scope == CITY or store.station(scope) is not None:
        return
    if scope.isdigit() and len(scope) in (6, 9, 12) and store.region(scope) is not None:
        return
    raise click.ClickException(f"{scope!r} is not 'city', a station id or a known division code")


def _usable(kind: str, version: str) -> None:
    try:
        _registry().verified(kind, version)
    except ArtifactError as e:
        raise click.ClickException(f"{e}; nothing was changed") from None


def _resolved(store, kind: str, scope: str) -> str | None:
    """The version a scope runs now (for a division: what its own assignment or those above give)."""
    rows = store.assignments(kind)
    station = store.station(scope) if scope != CITY else None
    scopes = chain(station) if station else ([scope, scope[:9], scope[:6], CITY] if scope != CITY else [CITY])
    for s in dict.fromkeys(x for x in scopes if x):
        if s in rows:
            return rows[s]["version"]
    m = _registry().target(kind)
    return m["version"] if m else None


def _store():
    from . import store as store_pkg
    return store_pkg.connect(current_app.config["SETTINGS"].database)


_kind = click.argument("kind", type=click.Choice(KINDS))
_scope = click.option("--scope", default=CITY, show_default=True,
                      help="'city', a district, street or community code, or a station id")


@click.command("canary")
@_kind
@click.argument("version")
@click.option("--scope", required=True, help="a station id or a district, street or community code")
def canary(kind, version, scope):
    """Give a version to the stations of one scope first (the others keep theirs).

    Example: flask --app server canary model waste-effl0-int8@1a2b3c4d --scope st-xc-0001
    """
    _usable(kind, version)
    s = _store()
    try:
        _check_scope(s, scope)
        if scope == CITY:
            raise click.ClickException("a canary is for some stations; use promote for the whole city")
        previous = _resolved(s, kind, scope)
        s.set_assignments(kind, {scope: (version, previous)}, [], now_utc().isoformat())
    finally:
        s.close()
    click.echo(f"{scope} now runs {kind} {version} (before: {previous or 'none'})")


@click.command("promote")
@_kind
@click.argument("version")
@_scope
def promote(kind, version, scope):
    """Give a version to every station of a scope (the city by default),
    replacing the canaries inside it.

    Example: flask --app server promote model waste-effl0-int8@1a2b3c4d --scope 110102
    """
    _usable(kind, version)
    s = _store()
    try:
        _check_scope(s, scope)
        rows = s.assignments(kind)
        stations = {r: s.station(r)["community_code"] for r in rows if s.station(r) is not None}
        inside = [r for r in rows if r != scope and _covers(scope, r, stations)]
        previous = _resolved(s, kind, scope)
        s.set_assignments(kind, {scope: (version, previous)}, inside, now_utc().isoformat())
    finally:
        s.close()
    click.echo(f"{scope} now runs {kind} {version} (before: {previous or 'none'})"
               + (f"; replaced the assignments of {', '.join(sorted(inside))}" if inside else ""))


@click.command("rollback")
@_kind
@_scope
def rollback(kind, scope):
    """Take a scope back to the version it ran before its assignment (and drop the canaries inside it).

    Example: flask --app server rollback model --scope st-xc-0001
    """
    s = _store()
    try:
        _check_scope(s, scope)
        rows = s.assignments(kind)
        stations = {r: s.station(r)["community_code"] for r in rows if s.station(r) is not None}
        own = rows.get(scope)
        inside = [r for r in rows if r != scope and _covers(scope, r, stations)]
        if own is None and not inside:
            raise click.ClickException(f"{scope} has no {kind} assignment to roll back")
        s.set_assignments(kind, {}, inside + ([scope] if own else []), now_utc().isoformat())
        now = _resolved(s, kind, scope)
        if own is not None and own["previous"] and now != own["previous"]:
            # What the scope falls back to is not what it ran before (e.g. the newest published): pin that.
            s.set_assignments(kind, {scope: (own["previous"], None)}, [], now_utc().isoformat())
            now = own["previous"]
    finally:
        s.close()
    click.echo(f"{scope} runs {kind} {now or 'none'} again")


def compare(store, kind: str, scope: str, days: int) -> dict:
    """Per version, over the days on which every compared version judged disposals in the scope:
    disposals, share uncertain, share corrected by volunteers, and (with audits) the camera's agreement."""
    first = (beijing(now_utc()) - timedelta(days=days - 1)).date().isoformat()
    rows = store.version_days(scope, first, kind)
    per_day: dict[str, dict[str, dict]] = {}
    for r in rows:
        per_day.setdefault(r["version"], {})[r["day"]] = r
    versions = sorted(per_day)
    shared = sorted(set.intersection(*(set(d) for d in per_day.values()))) if per_day else []
    audits: dict[str, dict[str, dict]] = {}
    if kind == "model":
        for r in store.audit_days(scope, first):
            audits.setdefault(r["version"], {})[r["day"]] = r
    out = {"scope": scope, "kind": kind, "first_day": first, "days": shared, "versions": {}}
    for v in versions:
        d = [per_day[v][day] for day in shared]
        n = sum(r["disposals"] for r in d)
        a = [audits.get(v, {}).get(day) for day in shared]
        audited = sum(r["audited"] for r in a if r)
        out["versions"][v] = {
            "disposals": n,
            "uncertain_share": round(sum(r["uncertain"] for r in d) / n, 4) if n else None,
            "corrected_share": round(sum(r["corrected"] for r in d) / n, 4) if n else None,
            "audited": audited,
            "agreement": round(sum(r["agreed"] for r in a if r) / audited, 4) if audited else None,
        }
    return out


@click.command("compare-versions")
@click.option("--kind", type=click.Choice(KINDS), default="model", show_default=True)
@_scope
@click.option("--days", type=int, default=14, show_default=True, help="the last N days (Beijing)")
def compare_versions(kind, scope, days):
    """The versions that judged disposals in a scope, side by side over the same days.

    Example: flask --app server compare-versions --days 14
    """
    s = _store()
    try:
        _check_scope(s, scope)
        c = compare(s, kind, scope, days)
    finally:
        s.close()
    if len(c["versions"]) < 1:
        click.echo(f"no disposals in {scope} since {c['first_day']}")
        return
    click.echo(f"{kind} versions in {scope} on the {len(c['days'])} day(s) since {c['first_day']} on which "
               f"each judged disposals ({', '.join(c['days']) or 'none'}):")
    click.echo(f"  {'version':32} {'disposals':>9} {'uncertain':>9} {'corrected':>9} {'audited':>7} {'agreement':>9}")
    fmt = lambda v: "—" if v is None else f"{v:.1%}"  # noqa: E731
    for v, f in c["versions"].items():
        click.echo(f"  {v:32} {f['disposals']:>9} {fmt(f['uncertain_share']):>9} {fmt(f['corrected_share']):>9} "
                   f"{f['audited']:>7} {fmt(f['agreement']):>9}")


COMMANDS = (canary, promote, rollback, compare_versions)
