"""Street, district and city staff: /rankings. Every member of a level inside a
scope, ranked, with the red and black lists (红黑榜), month over month, and
the CSV/XLSX downloads of the same figures."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, render_template, request

from .. import get_read_store, query
from ..access import contains_scope, rankings_home, require_rankings
from ..rankings import LEVELS_BELOW, RANKING_METRICS, ranking
from ..scopes import CITY, level_of
from . import i18n
from .common import login_page, scope_name, setup_blueprint

bp = Blueprint("web_city", __name__, template_folder="templates")
setup_blueprint(bp)

LIST_SIZE = 5
MAX_ROWS = 300  # a city-wide community ranking has ~7,000: the download has them all
# the figures beside the ranked one: the camera's, the inspectors' and the corrected accuracy, then the rest
COLUMNS = ("accuracy", "inspected", "accuracy_corrected", "participation", "awareness", "station_management")


@bp.get("/rankings")
@login_page
def rankings():
    user = g.user
    within = query.within(request.args, default=rankings_home(user))
    within_level = level_of(within)
    store = get_read_store()
    require_rankings(store, user, within)
    levels = LEVELS_BELOW[within_level]
    if not levels:
        abort(400, description="a community has no members to rank")
    level = request.args.get("level") or levels[0]
    if level not in LEVELS_BELOW[CITY]:
        abort(400, description=f"level must be one of {', '.join(levels)}")
    if level not in levels:
        # The form keeps the level when one narrows the scope (districts,
        # then a district chosen): show the first level that exists there.
        level = levels[0]
    metric = query.metric(request.args)
    period = query.period(request.args)
    settings = current_app.config["SETTINGS"]
    result = ranking(store, level, within, period, metric, LIST_SIZE, settings)
    # The scopes one may narrow to: the districts (city staff), the streets
    # of the chosen district, as far as they lie in the user's scope.
    choices = []
    if user["role"] == "city":
        choices.append((CITY, scope_name(store, CITY)))
        choices += store.members("district", CITY)
    district = within[:6] if within != CITY else None
    if district:
        if user["role"] == "district":
            choices.append((district, scope_name(store, district)))
        choices += [(c, "　" + n) for c, n in store.members("street", district)]
    choices = [(c, n) for c, n in choices if contains_scope(user, c)]
    link = {"level": level, "within": within, "month": period.label}
    if period.kind != "month":
        link["period"] = period.kind
    if i18n.lang() == "en":
        link["lang"] = "en"
    downloads = {"csv": "/exports/stats.csv?" + urlencode(link),
                 "xlsx": "/exports/stats.xlsx?" + urlencode(link)}
    return render_template("rankings.html", result=result, level=level, levels=levels,
                           rows=result["members"][:MAX_ROWS], total=len(result["members"]),
                           within=within, within_name=scope_name(store, within),
                           metric=metric, month=period.label, period=period,
                           choices=choices, downloads=downloads, metrics=RANKING_METRICS,
                           columns=[k for k in COLUMNS if k != metric], min_audits=settings.min_audits)
