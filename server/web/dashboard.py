"""The manager's dashboard, /dashboard/<code>: a community, street or
district (or the city, for city staff) for one month."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, render_template, request

from .. import get_read_store, query
from ..access import readable_region, sees_ranking
from ..cases import public_case
from ..insights import daily_trend, insights
from ..inspections import accuracy_checks
from ..rankings import METRICS, ranking
from ..report import scope_report
from ..scopes import CITY, level_of
from ..stations import station_health
from ..timeutil import now_utc
from . import i18n
from .chart import trend_svg
from .common import login_page, setup_blueprint

bp = Blueprint("web_dashboard", __name__, template_folder="templates")
setup_blueprint(bp)

PARENT = {"district": CITY}
HEALTH_ROWS = 50
CASE_ROWS = 50


def age_text(seconds: int) -> str:
    h, m = divmod(max(seconds, 0) // 60, 60)
    return i18n.t("age_hm", h=h, m=m) if h else i18n.t("age_m", m=m)


def parent_of(code: str) -> str:
    level = level_of(code)
    return {"district": CITY, "street": code[:6], "community": code[:9]}[level]


@bp.get("/dashboard/<code>")
@login_page
def dashboard(code: str):
    try:
        level = level_of(code)
    except ValueError:
        abort(404)
    store = get_read_store()
    readable_region(store, g.user, code)
    settings = current_app.config["SETTINGS"]
    period = query.period(request.args)
    report = scope_report(store, code, period, settings)
    if report is None:
        abort(404)
    report["accuracy"].update(accuracy_checks(store, code, period, settings))
    target = settings.targets["accuracy"]
    days = daily_trend(store, code, period, target)
    chart = trend_svg(days, target, {"title": i18n.t("trend"), "empty": i18n.t("no_data")})
    siblings, standing = None, []
    if level != "city":
        # Published monthly rankings (月排名): a manager sees where the scope
        # stands among its neighbours ("3rd of 12"); their names and values
        # only when the reader's own scope holds the parent, exactly as
        # /api/v1/rankings decides (server/access.py).
        show_neighbours = sees_ranking(g.user, parent_of(code))
        for metric in METRICS:
            # the standing shows ranks and camera values only: no per-member checks
            result = ranking(store, level, parent_of(code), period, metric, 5, settings, checks=False)
            ranked = sum(1 for m in result["members"] if m["rank"])
            mine = next((m for m in result["members"] if m["code"] == code), None)
            standing.append({"metric": metric, "of": ranked, **(mine or {})})
            if metric == "accuracy" and show_neighbours:
                siblings = result
    health = station_health(store, code, settings.heartbeat_interval)
    health.sort(key=lambda s: (s["online"], s["station_id"]))
    found = insights(store, code, period, target)
    now = now_utc()
    open_cases = [public_case(c, now, settings) for c in store.unresolved_cases(code)]
    open_cases.sort(key=lambda c: (-c["level"], c["opened_at"]))
    return render_template(
        "dashboard.html", report=report, level=level, code=code, period=period,
        chart=chart, siblings=siblings, standing=standing, health=health[:HEALTH_ROWS],
        health_total=len(health), health_offline=sum(not s["online"] for s in health),
        insights=found, month=period.label, open_cases=open_cases[:CASE_ROWS],
        open_cases_total=len(open_cases), age_text=age_text)
