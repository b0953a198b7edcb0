"""HTTP API: one blueprint per area."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import artifacts, cases, events, exports, health, households, inspections, openapi, quiz, rankings, samples, session, stations, stats
    for module in (health, events, artifacts, session, stats, rankings, stations, inspections, households, cases,
                   quiz, exports, openapi, samples):
        app.register_blueprint(module.bp)
    app.register_blueprint(inspections.ledger_bp)
    app.register_blueprint(households.exports_bp)
    app.register_blueprint(cases.exports_bp)

    @app.after_request
    def no_sniffing(response):
        # Browsers must take every body as the type it is served with: an
        # evidence "JPEG" is never run as a script or page.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
