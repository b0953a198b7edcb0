"""A community's households, for its own manager: GET /api/v1/households and
its downloads /exports/households.csv and .xlsx."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from contract.rules import load_rules

from .. import get_store, query
from ..access import household_desk, readable_households, readable_region
from ..auth import authenticate_device, login_required
from ..errors import ApiError
from ..exports import csv_rows, xlsx_bytes
from ..household_lookup import checked_token, lookup
from ..households import HOUSEHOLD_COLUMNS, SORT_KEYS, contains_phone_number, household_rows, not_seen, public_row, sort_rows, visit_summary
from ..points import household_points
from ..scans import parse_scan, record_scan
from ..store.points import RedemptionConflict
from ..timeutil import beijing, now_utc
from .events import json_body

bp = Blueprint("households", __name__, url_prefix="/api/v1")
exports_bp = Blueprint("household_exports", __name__, url_prefix="/exports")


def _community(args) -> str:
    code = args.get("community", "")
    if len(code) != 12 or not code.isdigit():
        raise query.invalid("community", "community is a 12-digit community code")
    return code


def _sorting(args) -> tuple[str, bool]:
    key = args.get("sort") or "household"
    if key not in SORT_KEYS:
        raise query.invalid("sort", f"sort must be one of {', '.join(SORT_KEYS)}")
    order = args.get("order") or ("asc" if key in ("household", "accuracy") else "desc")
    if order not in ("asc", "desc"):
        raise query.invalid("order", "order must be asc or desc")
    return key, order == "desc"


def _rows():
    community = _community(request.args)
    period = query.period(request.args)
    key, descending = _sorting(request.args)
    store = get_store()
    readable_households(store, g.user, community)
    rows = household_rows(store, community, period, current_app.config["SETTINGS"])
    return store, community, period, sort_rows(rows, key, descending)


@bp.get("/households")
@login_required
def households():
    store, community, period, rows = _rows()
    settings = current_app.config["SETTINGS"]
    return {"community": community, "period": period.as_json(),
            "visit_rule": {"accuracy_under": settings.visit_accuracy_percent / 100,
                           "min_judged": settings.visit_min_disposals},
            "households": [public_row(r) for r in rows],
            "needs_visit": [r["household"] for r in rows if r["needs_visit"]],
            "not_seen": not_seen(store, community, period, {r["household"] for r in rows})}


@bp.get("/households/summary")
@login_required
def households_summary():
    """Street, district and city staff (and a community's manager for its
    own): how many households were seen and the share needing a visit, for
    the scope and each member one level down; never a household."""
    level, code = query.scope(request.args)
    period = query.period(request.args)
    store = get_store()
    readable_region(store, g.user, code)
    settings = current_app.config["SETTINGS"]
    return {"level": level, "code": code, "period": period.as_json(),
            "visit_rule": {"accuracy_under": settings.visit_accuracy_percent / 100,
                           "min_judged": settings.visit_min_disposals},
            **visit_summary(store, code, period, settings)}


def _download():
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise query.invalid("lang", "lang must be zh or en", "zh or en")
    _, community, period, rows = _rows()
    rules = load_rules()
    for r in rows:
        r["most_wrong_names"] = ("、" if lang == "zh" else ", ").join(
            rules.category_name(c, lang) for c in r["most_wrong"])
    return rows, lang, f"sortwatch-households-{community}-{period.label}"


@exports_bp.get("/households.csv")
@login_required
def households_csv():
    rows, lang, name = _download()
    return Response(csv_rows(rows, lang, HOUSEHOLD_COLUMNS), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@exports_bp.get("/households.xlsx")
@login_required
def households_xlsx():
    rows, lang, name = _download()
    data = xlsx_bytes(rows, lang, name, HOUSEHOLD_COLUMNS, ("住户", "households"))
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@bp.get("/stations/<station_id>/households/<household>")
@login_required
def household_card(station_id: str, household: str):
    """The tablet's view of one household after its card is scanned."""
    store = get_store()
    station = household_desk(store, g.user, station_id)
    return lookup(store, station, checked_token(household), current_app.config["SETTINGS"],
                  request.args.get("lang", "zh") if request.args.get("lang") in ("zh", "en") else "zh")


REDEMPTION_FIELDS = {"redemption_id", "points", "reward"}


def parse_redemption(body) -> dict:
    if not isinstance(body, dict):
        raise query.invalid("body", 'a redemption is {"redemption_id", "points", "reward"}')
    unknown = sorted(set(body) - REDEMPTION_FIELDS)
    if unknown:
        raise query.invalid(unknown[0], f"unknown field {unknown[0]}", "unknown field")
    rid, points, reward = body.get("redemption_id"), body.get("points"), body.get("reward")
    if not isinstance(rid, str) or not 8 <= len(rid) <= 64 or not rid.replace("-", "").isalnum():
        raise query.invalid("redemption_id", "redemption_id is the tablet's own id for this redemption "
                            "(8-64 letters, digits or -), the same when the request is sent again")
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= 100_000:
        raise query.invalid("points", "points must be a whole number from 1 to 100000")
    if not isinstance(reward, str) or not reward.strip() or len(reward) > 100:
        raise query.invalid("reward", "reward names what the household receives (1-100 characters)")
    if contains_phone_number(reward):
        raise query.invalid("reward", "reward names the reward only: no phone number or other personal data")
    return {"redemption_id": rid.lower(), "points": points, "reward": reward.strip()}


@bp.post("/stations/<station_id>/households/<household>/redemptions")
@login_required
def redeem(station_id: str, household: str):
    """A redemption (兑换) of points for a reward, recorded once: a second
    press or a resend with the same redemption_id answers the stored one."""
    store = get_store()
    station = household_desk(store, g.user, station_id, redeeming=True)
    household = checked_token(household)
    wanted = parse_redemption(json_body())
    settings = current_app.config["SETTINGS"]
    community = station["community_code"]
    if store.points_rule(community) is None:
        raise ApiError(409, "no_points_rule", "this community has no points rule; an operator sets one with "
                       "flask --app server set-points-rule")
    now = now_utc()
    today = beijing(now).date()
    record = {**wanted, "community_code": community, "household": household, "station_id": station["id"],
              "username": g.user["username"], "at": now.isoformat(), "day": today.isoformat()}

    def available() -> int:
        return household_points(store, community, household, today, settings.event_retention_days)["balance"]

    try:
        stored, new = store.redeem(record, available)
    except RedemptionConflict:
        raise ApiError(409, "conflict", "this redemption_id was used for another redemption") from None
    except ValueError as exc:
        raise ApiError(400, "insufficient_points", f"the household has {exc.args[0]} points, "
                       f"fewer than {wanted['points']}",
                       [{"field": "points", "message": f"at most {exc.args[0]}"}]) from None
    points = household_points(store, community, household, today, settings.event_retention_days)
    public = {k: stored[k] for k in ("redemption_id", "household", "points", "reward", "station_id", "at")}
    return {**public, "replayed": not new, "balance": points["balance"]}, 201 if new else 200


@bp.post("/scans")
def post_scan():
    """A device: the household card its station's reader just read, for the
    station's tablet (server/scans.py). 202: on its way, for SCAN_SECONDS."""
    store = get_store()
    device = authenticate_device(store)
    household = parse_scan(json_body(), device)
    return record_scan(store, device, household, now_utc()), 202
