"""The community manager's households page, /households/<community>: each
household token's month, the households to visit and those not seen, and
the downloads (the same rows as GET /api/v1/households)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from .. import get_store, query
from ..access import readable_households
from ..households import SORT_KEYS, household_rows, not_seen, sort_rows
from .common import login_page, scope_name, setup_blueprint

bp = Blueprint("web_households", __name__, template_folder="templates")
setup_blueprint(bp)


@bp.get("/households/<community>")
@login_page
def households_page(community: str):
    store = get_store()
    readable_households(store, g.user, community)
    period = query.period(request.args)
    key = request.args.get("sort") or "accuracy"
    if key not in SORT_KEYS:
        raise query.invalid("sort", f"sort must be one of {', '.join(SORT_KEYS)}")
    settings = current_app.config["SETTINGS"]
    rows = sort_rows(household_rows(store, community, period, settings), key,
                     descending=key in ("disposals", "wrong", "last_seen", "points"))
    return render_template(
        "households.html", community=community, name=scope_name(store, community), period=period,
        month=period.label, rows=rows, sort=key, sort_keys=SORT_KEYS,
        to_visit=[r for r in rows if r["needs_visit"]],
        not_seen=not_seen(store, community, period, {r["household"] for r in rows}),
        visit_percent=settings.visit_accuracy_percent, visit_min=settings.visit_min_disposals)
