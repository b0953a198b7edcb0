"""Inspectors' spot checks and audits of single disposals:
POST/GET /api/v1/inspections, POST /api/v1/events/<event_id>/audit."""
from __future__ import annotations

from flask import Blueprint, Response, g, request

from .. import get_store, query
from ..access import auditable_event, inspectable_station, readable_inspections
from ..auth import login_required
from ..exports import csv_rows, xlsx_bytes
from ..inspections import parse_audit, parse_inspection, public_inspection
from ..ledger import LEDGER_COLUMNS, ledger_rows
from ..timeutil import now_utc
from .events import json_body

bp = Blueprint("inspections", __name__, url_prefix="/api/v1")


@bp.post("/inspections")
@login_required
def record_inspection():
    store = get_store()
    now = now_utc()
    record = parse_inspection(json_body(), now)
    station = inspectable_station(store, g.user, record["station_id"])
    stored = store.add_inspection({**record, "community_code": station["community_code"],
                                   "username": g.user["username"], "created_at": now.isoformat()})
    return public_inspection(stored), 201


@bp.get("/inspections")
@login_required
def list_inspections():
    within = query.within(request.args)
    period = query.period(request.args)
    store = get_store()
    readable_inspections(store, g.user, within)
    rows = store.inspections(within, period.start.isoformat(), period.end.isoformat())
    return {"within": within, "period": period.as_json(),
            "inspections": [public_inspection(r) for r in rows]}


@bp.post("/events/<event_id>/audit")
@login_required
def audit(event_id: str):
    store = get_store()
    event = auditable_event(store, g.user, event_id)
    record = {**parse_audit(json_body(), event), "username": g.user["username"],
              "role": g.user["role"], "at": now_utc().isoformat()}
    first = store.record_audit(record)
    public = {k: record[k] for k in ("event_id", "station_id", "model", "camera", "truth", "item")}
    return {**public, "agrees": record["camera"] == record["truth"], "replaced": not first}, \
        201 if first else 200


ledger_bp = Blueprint("ledger", __name__, url_prefix="/exports")


def _ledger():
    within = query.within(request.args)
    period = query.period(request.args)
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise query.invalid("lang", "lang must be zh or en", "zh or en")
    store = get_store()
    readable_inspections(store, g.user, within)
    return ledger_rows(store, within, period), lang, f"sortwatch-inspections-{within}-{period.label}"


@ledger_bp.get("/inspections.csv")
@login_required
def ledger_csv():
    rows, lang, name = _ledger()
    return Response(csv_rows(rows, lang, LEDGER_COLUMNS), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@ledger_bp.get("/inspections.xlsx")
@login_required
def ledger_xlsx():
    rows, lang, name = _ledger()
    data = xlsx_bytes(rows, lang, name, LEDGER_COLUMNS, ("巡查台账", "inspections"))
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
