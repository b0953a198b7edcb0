"""People log in with a username and password. The session cookie is
HttpOnly and SameSite (settings in create_app) and holds only a random id;
the session itself lives in the store, so logging out ends it everywhere
(server/auth.py)."""
from flask import Blueprint, g, request, session

from .. import get_store
from ..auth import SESSION_KEY, check_login, end_session, load_user, login_required, start_session
from ..errors import ApiError
from .events import json_body

bp = Blueprint("session", __name__, url_prefix="/api/v1")

# The content types a cross-site HTML form can send without a CORS preflight.
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}


@bp.before_app_request
def _load_user():
    g.user = None
    if SESSION_KEY in session:
        load_user(get_store())


def _public(user: dict) -> dict:
    return {"username": user["username"], "role": user["role"], "scope": user["scope"]}


@bp.post("/login")
def login():
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
            or not isinstance(body.get("password"), str):
        raise ApiError(400, "invalid_request", "send {\"username\": ..., \"password\": ...}")
    store = get_store()
    user = check_login(store, body["username"], body["password"])
    if user is None:
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    start_session(store, user)
    return _public(user)


@bp.post("/logout")
def logout():
    if request.mimetype in FORM_TYPES or request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise ApiError(403, "cross_site", "log out from this site's pages or with a JSON request")
    end_session(get_store())
    return {"status": "ok"}


@bp.get("/me")
@login_required
def me():
    return _public(g.user)
