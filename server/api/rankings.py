"""GET /api/v1/rankings: every member of a level inside a scope, ranked."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from .. import get_read_store, query
from ..access import require_rankings
from ..auth import login_required
from ..errors import ApiError
from ..rankings import ranking

bp = Blueprint("rankings", __name__, url_prefix="/api/v1")


@bp.get("/rankings")
@login_required
def rankings():
    within = query.within(request.args)
    level = query.member_level(request.args, within)
    metric = query.metric(request.args)
    try:
        n = int(request.args.get("n", "5"))
    except ValueError:
        n = 0
    if not 1 <= n <= 50:
        raise ApiError(400, "invalid_request", "n (the size of the red and black lists) is 1-50",
                       [{"field": "n", "message": "from 1 to 50"}])
    period = query.period(request.args)
    store = get_read_store()
    require_rankings(store, g.user, within)
    return ranking(store, level, within, period, metric, n, current_app.config["SETTINGS"])
