"""The login form, logging out, and the landing page of each role."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from .. import get_store
from ..auth import check_password
from . import i18n
from .common import home_url, setup_blueprint

bp = Blueprint("web_auth", __name__, template_folder="templates",
               static_folder="static", static_url_path="/static/web")
setup_blueprint(bp)


def _safe_next(target: str | None) -> str | None:
    # Only paths on this site: never "//host" or "http://host".
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.get("/")
def landing():
    user = g.get("user")
    return redirect(home_url(user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = get_store().user(username) if username else None
        if check_password(user, request.form.get("password", "")):
            lang = session.get("lang")
            session.clear()  # a fresh session (and CSRF token) for the new login
            session.permanent = True  # expires after settings.session_hours
            session["user"] = user["username"]
            if lang:
                session["lang"] = lang
            return redirect(next_url or home_url(user))
        error = i18n.t("login_failed")
    status = 401 if error else 200
    return render_template("login.html", error=error, next_url=next_url or ""), status


@bp.post("/logout")
def logout():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("web_auth.login"))
