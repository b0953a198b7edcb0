"""GET /api/v1/stats: the three rates for one scope and period."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from .. import get_read_store, query
from ..access import readable_region, require_scope
from ..auth import login_required
from ..errors import ApiError
from ..insights import daily_trend, insights
from ..inspections import accuracy_checks
from ..report import scope_report
from ..scopes import CITY

bp = Blueprint("stats", __name__, url_prefix="/api/v1")


@bp.get("/stats")
@login_required
def stats():
    level, code = query.scope(request.args)
    period = query.period(request.args)
    require_scope(g.user, code)
    store = get_read_store()
    settings = current_app.config["SETTINGS"]
    report = scope_report(store, code, period, settings)
    if report is None:
        raise ApiError(404, "not_found", f"no {level} with code {code}")
    # Beside the camera's accuracy: the inspectors' and the corrected one.
    report["accuracy"].update(accuracy_checks(store, code, period, settings))
    return report


def _readable_scope(args) -> tuple[str, str]:
    level, code = query.scope(args)
    readable_region(get_read_store(), g.user, code)
    return level, code


def _scope_view(build):
    """A view over one readable scope and period: `build(store, code, period,
    accuracy_target) -> dict` gives the body beside level, code and period."""
    def view():
        level, code = _readable_scope(request.args)
        period = query.period(request.args)
        target = current_app.config["SETTINGS"].targets["accuracy"]
        return {"level": level, "code": None if code == CITY else code,
                "period": period.as_json(), **build(get_read_store(), code, period, target)}
    view.__name__ = build.__name__
    return login_required(view)


def _daily(store, code, period, target) -> dict:
    return {"days": daily_trend(store, code, period, target)}


def _insights(store, code, period, target) -> dict:
    from .stations import public_event
    body = insights(store, code, period, target)
    body["latest_wrong"] = [dict(public_event(e), station_name=e["station_name"])
                            for e in body["latest_wrong"]]
    return body


bp.add_url_rule("/stats/daily", view_func=_scope_view(_daily), methods=["GET"])
bp.add_url_rule("/insights", view_func=_scope_view(_insights), methods=["GET"])
