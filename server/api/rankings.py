"""GET /api/v1/rankings: every member of a level inside a scope, ranked."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from .. import get_store
from ..access import require_rankings
from ..auth import login_required
from ..errors import ApiError
from ..rankings import LEVELS_BELOW, METRICS, ranking
from ..scopes import level_of
from .stats import parse_period_args, parse_within

bp = Blueprint("rankings", __name__, url_prefix="/api/v1")


def parse_member_level(args, within: str) -> str:
    level = args.get("level", "")
    allowed = LEVELS_BELOW[level_of(within)]
    if level not in allowed:
        raise ApiError(400, "invalid_request",
                       f"level must be one of {', '.join(allowed) or '(none)'} inside {within}",
                       [{"field": "level", "message": "invalid for this scope"}])
    return level


@bp.get("/rankings")
@login_required
def rankings():
    within = parse_within(request.args)
    level = parse_member_level(request.args, within)
    metric = request.args.get("metric", "accuracy")
    if metric not in METRICS:
        raise ApiError(400, "invalid_request", f"metric must be one of {', '.join(METRICS)}",
                       [{"field": "metric", "message": "invalid"}])
    try:
        n = int(request.args.get("n", "5"))
    except ValueError:
        n = 0
    if not 1 <= n <= 50:
        raise ApiError(400, "invalid_request", "n (the size of the red and black lists) is 1-50",
                       [{"field": "n", "message": "from 1 to 50"}])
    period = parse_period_args(request.args)
    store = get_store()
    require_rankings(store, g.user, within)
    return ranking(store, level, within, period, metric, n, current_app.config["SETTINGS"])
