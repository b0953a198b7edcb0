"""HTTP API: one blueprint per area."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import events, health, openapi, session, stats
    for module in (health, events, session, stats, openapi):
        app.register_blueprint(module.bp)
