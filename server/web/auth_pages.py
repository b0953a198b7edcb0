"""The login form, logging out, and the landing page of each role."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from .. import get_store
from ..auth import LoginThrottled, check_login, end_session, safe_next, start_session
from . import i18n
from .common import home_url, setup_blueprint

bp = Blueprint("web_auth", __name__, template_folder="templates",
               static_folder="static", static_url_path="/static/web")
setup_blueprint(bp)


@bp.get("/")
def landing():
    user = g.get("user")
    return redirect(home_url(user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    next_url = safe_next(request.values.get("next"))
    status, headers = 200, {}
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        store = get_store()
        try:
            user = check_login(store, username, request.form.get("password", ""))
        except LoginThrottled as exc:
            error, status, headers = exc.message, 429, exc.headers
        else:
            if user is not None:
                start_session(store, user)  # a fresh session (and CSRF token)
                return redirect(next_url or home_url(user))
            error, status = i18n.t("login_failed"), 401
    return render_template("login.html", error=error, next_url=next_url or ""), status, headers


@bp.post("/logout")
def logout():
    end_session(get_store())
    return redirect(url_for("web_auth.login"))
