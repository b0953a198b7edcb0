"""Liveness and readiness for load balancers and the Docker health check."""
from flask import Blueprint

from .. import get_store
from ..errors import ApiError

bp = Blueprint("health", __name__)


@bp.get("/up")
def up():
    return {"status": "ok"}


@bp.get("/up/db")
def up_db():
    try:
        get_store().ping()
    except Exception as exc:  # any database failure means "not ready"
        raise ApiError(503, "database_unavailable", f"the database does not answer: {exc}") from None
    return {"status": "ok", "database": "ok"}
