"""A community's households, for its own manager: GET /api/v1/households and
its downloads /exports/households.csv and .xlsx."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from contract.rules import load_rules

from .. import get_store, query
from ..access import readable_households
from ..auth import login_required
from ..exports import csv_rows, xlsx_bytes
from ..households import HOUSEHOLD_COLUMNS, SORT_KEYS, household_rows, not_seen, public_row, sort_rows

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
