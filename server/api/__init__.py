"""HTTP API: one blueprint per area."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import events, exports, health, openapi, quiz, rankings, session, stations, stats
    for module in (health, events, session, stats, rankings, stations, quiz, exports, openapi):
        app.register_blueprint(module.bp)
