"""People log in with a username and password; the session cookie is
HttpOnly and SameSite (settings in create_app)."""
from flask import Blueprint, g, session

from .. import get_store
from ..auth import check_password, load_user, login_required
from ..errors import ApiError
from .events import json_body

bp = Blueprint("session", __name__, url_prefix="/api/v1")


@bp.before_app_request
def _load_user():
    g.user = None
    if "user" in session:
        load_user(get_store())


def _public(user: dict) -> dict:
    return {"username": user["username"], "role": user["role"], "scope": user["scope"]}


@bp.post("/login")
def login():
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        raise ApiError(400, "invalid_request", "send {\"username\": ..., \"password\": ...}")
    user = get_store().user(body["username"])
    if not check_password(user, body["password"]):
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    session.clear()
    session.permanent = True
    session["user"] = user["username"]
    return _public(user)


@bp.post("/logout")
def logout():
    session.clear()
    return {"status": "ok"}


@bp.get("/me")
@login_required
def me():
    return _public(g.user)
