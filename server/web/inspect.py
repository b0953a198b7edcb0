"""The inspector's phone page, /inspect: pick a station in scope, then count
live (正确 / 错误 with the running 查N错M) or enter a finished record. Both
go through POST /api/v1/inspections; the page lists this month's records."""
from __future__ import annotations

from flask import Blueprint, g, render_template, url_for

from .. import get_store
from ..access import Forbidden
from ..inspections import public_inspection
from ..scopes import CITY
from ..timeutil import current_month_label, make_period
from . import i18n
from .common import login_page, scope_name, setup_blueprint

bp = Blueprint("web_inspect", __name__, template_folder="templates")
setup_blueprint(bp)
RECENT = 30


@bp.get("/inspect")
@login_page
def inspect_page():
    user = g.user
    if user["role"] != "inspector":
        raise Forbidden("this page is for inspectors")
    store = get_store()
    scope = user["scope"] or CITY
    stations = store.stations_in(scope)
    period = make_period(current_month_label())
    names = {s["id"]: s["name"] for s in stations}
    records = [dict(public_inspection(r), station_name=names.get(r["station_id"], r["station_id"]))
               for r in store.inspections(scope, period.start.isoformat(), period.end.isoformat())]
    config = {"api": url_for("inspections.record_inspection"),
              "strings": {k: i18n.t(k) for k in ("saved", "save_failed", "inspect_pick_station",
                                                 "inspect_checked_wrong")}}
    return render_template("inspect.html", stations=stations, records=records[-RECENT:][::-1],
                           scope_name=scope_name(store, scope), config=config)
