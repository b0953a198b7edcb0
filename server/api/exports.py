"""GET /exports/stats.csv and /exports/stats.xlsx: the statistics of the members
of a scope, for the staff who read its rankings (server/access.py)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from .. import get_read_store, query
from ..access import require_downloads
from ..auth import login_required
from ..errors import ApiError
from ..exports import csv_rows, xlsx_bytes
from ..inspections import add_accuracy_checks
from ..report import member_reports

bp = Blueprint("exports", __name__, url_prefix="/exports")


def _request():
    within = query.within(request.args)
    level = query.member_level(request.args, within)
    if level not in ("community", "street", "district"):
        raise ApiError(400, "invalid_request", "level must be community, street or district")
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise ApiError(400, "invalid_request", "lang must be zh or en",
                       [{"field": "lang", "message": "zh or en"}])
    period = query.period(request.args)
    store = get_read_store()
    require_downloads(store, g.user, within)
    settings = current_app.config["SETTINGS"]
    reports = add_accuracy_checks(store, member_reports(store, level, within, period, settings),
                                  level, within, period, settings)
    name = f"sortwatch-{level}-{within}-{period.label}{'-inspection' if period.kind != 'month' else ''}"
    return reports, lang, name


@bp.get("/stats.csv")
@login_required
def stats_csv():
    reports, lang, name = _request()
    return Response(stream_with_context(csv_rows(reports, lang)),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.get("/stats.xlsx")
@login_required
def stats_xlsx():
    reports, lang, name = _request()
    data = xlsx_bytes(reports, lang, name)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
