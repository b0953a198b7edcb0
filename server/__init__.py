"""sortwatch server: `create_app()` is the WSGI application factory."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, g

from contract.limits import MAX_BODY_BYTES

from .settings import Settings, SettingsError

# Flask CLI commands that serve the web and so sign sessions and quiz sheets:
# they need SORTWATCH_SECRET_KEY; every other command (help, the operator's
# commands) works without it.
_SERVING_COMMANDS = {"run"}


def _settings_from_env() -> Settings:
    """The environment's settings. Under the `flask` command (a click context)
    a missing secret only stops the commands that serve, and any unusable
    setting is one line of error instead of a traceback; under a WSGI server
    (no click context) a missing secret fails the start, as always."""
    import click
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return Settings.from_env()
    serving = ctx.command is not None and ctx.command.name in _SERVING_COMMANDS
    try:
        return Settings.from_env(require_secret=serving)
    except SettingsError as e:
        from flask.cli import NoAppException
        raise NoAppException(str(e)) from None


def create_app(test_config: dict | None = None) -> Flask:
    """Defaults, then the environment (server/settings.py), then the test override.

    test_config may hold a "SETTINGS" object to use instead of the environment.
    """
    app = Flask(__name__)
    test_config = dict(test_config or {})
    settings: Settings = test_config.pop("SETTINGS", None) or _settings_from_env()
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key or None,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        JSON_SORT_KEYS=False,
    )
    app.config.update(test_config)
    if settings.trusted_proxies:
        # The client address (login throttle) comes from X-Forwarded-For as
        # written by this many proxies in front; never from the client itself.
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)

    from .auth import PasswordCheckBudget, PasswordCheckLock
    app.extensions["password_checks"] = PasswordCheckBudget(settings.login_checks_per_second)
    app.extensions["password_lock"] = PasswordCheckLock(settings.database)

    from . import store
    store.configure(settings.database, settings.read_timeout_seconds, settings.database_pool_size)
    try:
        store.migrate(settings.database)
        if settings.database_read:
            from .store import postgres
            store.configure(settings.database_read, settings.read_timeout_seconds,
                            settings.database_pool_size)
            postgres.check_replica(settings.database_read, settings.database)
    except store.StoreUnavailable as e:
        # One line naming SORTWATCH_DATABASE, and no half-configured server.
        import click
        if click.get_current_context(silent=True) is not None:
            from flask.cli import NoAppException
            raise NoAppException(str(e)) from None
        raise SettingsError(str(e)) from None

    @app.teardown_appcontext
    def close_store(exc):
        for name in ("store", "read_store"):
            s = g.pop(name, None)
            if s is not None:
                s.close()

    from .errors import register_error_handlers
    register_error_handlers(app)

    @app.errorhandler(store.StoreUnavailable)
    def store_unavailable(err):
        # PostgreSQL down, restarting or overloaded: retry soon; nothing of the
        # request was stored (its transaction did not commit).
        from flask import jsonify

        from .errors import error_body
        return (jsonify(error_body("database_unavailable", f"the database does not answer: {err}")),
                503, {"Retry-After": "2"})

    from .api import register_blueprints
    register_blueprints(app)

    from .web import register_web
    register_web(app)

    from .cli import register_commands
    register_commands(app)
    return app


def get_store():
    """The request's store: one connection per request, closed at teardown."""
    from flask import current_app

    from . import store
    if "store" not in g:
        g.store = store.connect(current_app.config["SETTINGS"].database)
    return g.store


def get_read_store():
    """The store that dashboards, stats, rankings and exports read: the
    replica of SORTWATCH_DATABASE_READ when there is one, else the request's
    store. Writes, and reads that must see the request's own writes
    (ingest, logins and sessions, feedback, inspections), use get_store()."""
    from flask import current_app

    from . import store
    read = current_app.config["SETTINGS"].database_read
    if not read:
        return get_store()
    if "read_store" not in g:
        g.read_store = store.connect(read)
    return g.read_store
