"""Cases (工单): GET /api/v1/cases, GET /api/v1/cases/summary,
GET /api/v1/cases/<id>, POST /api/v1/cases/<id>/transition,
POST /api/v1/cases/<id>/escalate, and /exports/cases.csv|.xlsx."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from .. import get_store, query
from ..access import readable_case, readable_cases, readable_region, require_case_change, require_downloads, require_supervision
from ..auth import login_required
from ..case_export import CASE_COLUMNS, case_rows
from ..cases import (
    KINDS,
    STATES,
    escalation_change,
    history_json,
    parse_escalation,
    parse_transition,
    public_case,
    summary,
    transition_change,
    utc_iso,
)
from ..exports import csv_rows, xlsx_bytes
from ..scopes import CITY
from ..timeutil import now_utc
from .events import json_body

bp = Blueprint("cases", __name__, url_prefix="/api/v1")


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise query.invalid(name, f"{name} must be one of {', '.join(allowed)}")
    return value


def _listed(store, user) -> tuple[dict, list[dict]]:
    """The filters as answered, and the cases (newest first, at most 1,000)."""
    if user["role"] == "volunteer":
        asked = query.within(request.args) if request.args.get("within") else None
        station = readable_cases(store, user, asked, request.args.get("station") or None)
        within = CITY
    else:
        within = query.within(request.args)
        station = readable_cases(store, user, within, request.args.get("station") or None)
    filters = {"state": _choice("state", STATES), "kind": _choice("kind", KINDS),
               "station_id": station}
    period = None
    if request.args.get("month"):
        period = query.period(request.args)
        filters.update(opened_from=utc_iso(period.start_utc()), opened_before=utc_iso(period.end_utc()))
    shown = {"within": within, **{k: v for k, v in filters.items() if k in ("state", "kind")},
             "station": station, "period": period.as_json() if period else None}
    return shown, store.cases(within, **filters)


@bp.get("/cases")
@login_required
def list_cases():
    store = get_store()
    now, settings = now_utc(), current_app.config["SETTINGS"]
    shown, rows = _listed(store, g.user)
    return {**shown, "cases": [public_case(r, now, settings) for r in rows]}


@bp.get("/cases/summary")
@login_required
def cases_summary():
    within = query.within(request.args)
    period = query.period(request.args)
    store = get_store()
    readable_region(store, g.user, within)
    start, end = period.start_utc(), period.end_utc()
    opened = store.cases(within, opened_from=utc_iso(start), opened_before=utc_iso(end),
                         limit=1_000_000)
    overflows = store.overflow_cases_overlapping(within, utc_iso(start), utc_iso(end))
    return {"within": within, "period": period.as_json(),
            **summary(opened, overflows, start, end, now_utc())}


def _case_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise query.invalid("case_id", "a case id is a number")
    return int(raw)


def _answer(store, case: dict) -> dict:
    out = public_case(case, now_utc(), current_app.config["SETTINGS"])
    out["history"] = [history_json(h) for h in store.case_history(case["id"])]
    return out


@bp.get("/cases/<case_id>")
@login_required
def get_case(case_id: str):
    store = get_store()
    case, _ = readable_case(store, g.user, _case_id(case_id))
    return _answer(store, case)


@bp.post("/cases/<case_id>/transition")
@login_required
def transition(case_id: str):
    store = get_store()
    body = json_body()
    case, station = readable_case(store, g.user, _case_id(case_id))
    change = transition_change(parse_transition(body),
                               lambda _case, to: require_case_change(g.user, station, to))
    updated = store.change_case(case["id"], change, utc_iso(now_utc()),
                                (g.user["username"], g.user["role"]))
    return _answer(store, updated)


@bp.post("/cases/<case_id>/escalate")
@login_required
def escalate(case_id: str):
    store = get_store()
    body = json_body()
    case, station = readable_case(store, g.user, _case_id(case_id))
    require_supervision(g.user, station)
    note = parse_escalation(body)
    updated = store.change_case(case["id"], escalation_change(note, g.user["role"]),
                                utc_iso(now_utc()), (g.user["username"], g.user["role"]))
    return _answer(store, updated)


exports_bp = Blueprint("case_exports", __name__, url_prefix="/exports")


def _export():
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise query.invalid("lang", "lang must be zh or en", "zh or en")
    store = get_store()
    within = query.within(request.args)
    require_downloads(store, g.user, within)
    period = query.period(request.args)
    rows = store.cases(within, state=_choice("state", STATES), kind=_choice("kind", KINDS),
                       opened_from=utc_iso(period.start_utc()),
                       opened_before=utc_iso(period.end_utc()), limit=1_000_000)
    now, settings = now_utc(), current_app.config["SETTINGS"]
    return (case_rows(store, [public_case(r, now, settings) for r in reversed(rows)]), lang,
            f"sortwatch-cases-{within}-{period.label}")


@exports_bp.get("/cases.csv")
@login_required
def cases_csv():
    rows, lang, name = _export()
    return Response(csv_rows(rows, lang, CASE_COLUMNS), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@exports_bp.get("/cases.xlsx")
@login_required
def cases_xlsx():
    rows, lang, name = _export()
    data = xlsx_bytes(rows, lang, name, CASE_COLUMNS, ("工单", "cases"))
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
