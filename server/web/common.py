"""What every web blueprint shares: language, CSRF, error pages (also for the
access errors of server/access.py), rule-set names and number formatting."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from flask import Flask, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..access import AccessError, may_rank
from ..errors import ApiError
from ..scopes import CITY
from . import csrf, i18n

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")
BIN_COLOURS = {"kitchen": "#2e7d32", "recyclable": "#1565c0",
               "hazardous": "#c62828", "other": "#616161"}


def init_app(app: Flask) -> None:
    @app.context_processor
    def _web_globals():
        if not request.blueprint or not request.blueprint.startswith("web_"):
            return {}
        return {"t": i18n.t, "lang": i18n.lang(), "csrf_token": csrf.token,
                "user": g.get("user"), "home_url": home_url, "lang_url": lang_url,
                "pct": pct, "bin_colours": BIN_COLOURS, "item_name": item_name,
                "category_name": category_name, "bjtime": bjtime,
                "may_rank": may_rank}


def setup_blueprint(bp) -> None:
    """Language switch, CSRF check and HTML error pages for one blueprint."""
    @bp.before_request
    def _before():
        i18n.remember_lang()
        csrf.protect()

    @bp.after_request
    def _headers(response):
        # Scripts only from our own files (the tablet's JSON config is data,
        # not script); inline style attributes carry the bins' colours.
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @bp.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if err.code in (301, 302, 303, 307, 308) or err.code is None:
            return err
        return error_page(err.code, err.description), err.code

    @bp.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_page(err.status, err.message), err.status

    @bp.errorhandler(AccessError)
    def _access_error(err: AccessError):
        return error_page(err.status, err.message), err.status


def error_page(status: int, detail: str | None = None):
    titles = {400: "bad_request", 403: "forbidden", 404: "not_found"}
    text = {403: i18n.t("forbidden_text"),
            400: i18n.t("csrf_failed") if detail == "csrf" else detail}.get(status, detail)
    return render_template("error.html", status=status,
                           title=i18n.t(titles.get(status, "bad_request")), text=text)


def login_page(view):
    """Send people who are not logged in to the login form, then back."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def home_url(user: dict | None) -> str:
    if user is None:
        return url_for("web_auth.login")
    role = user["role"]
    if role == "volunteer":
        return url_for("web_station.tablet", station_id=user["scope"])
    if role == "city":
        return url_for("web_city.rankings")
    if role == "inspector":
        return url_for("web_inspect.inspect_page")
    if role == "labeller":
        return url_for("web_label.label_page")
    return url_for("web_dashboard.dashboard", code=user["scope"])


def lang_url(target: str) -> str:
    args = request.args.to_dict()
    args["lang"] = target
    return request.path + "?" + urlencode(args)


def bjtime(iso: str | None) -> str:
    """An ISO timestamp (UTC or any offset) as Beijing 'YYYY-MM-DD HH:MM'."""
    if not iso:
        return "—"
    from datetime import datetime

    from ..timeutil import beijing
    try:
        return beijing(datetime.fromisoformat(iso.replace("Z", "+00:00"))).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def pct(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def rules_for(tag: str | None = None):
    # The rule sets the server ships or its registry publishes, by tag: a stored tag is never a path.
    from ..artifacts import rules_for as shipped_or_published
    return shipped_or_published(tag)


def item_name(item: str | None, tag: str | None = None) -> str:
    if not item:
        return "—"
    try:
        return rules_for(tag).item_name(item, i18n.lang())
    except ValueError:
        return item


def category_name(category: str | None, tag: str | None = None) -> str:
    if not category:
        return "—"
    try:
        return rules_for(tag).category_name(category, i18n.lang())
    except ValueError:
        return category


def scope_name(store, code: str) -> str:
    if code == CITY:
        return "北京市" if i18n.lang() == "zh" else "Beijing"
    region = store.region(code)
    return region["name"] if region else code
