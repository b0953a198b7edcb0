"""Server-rendered pages for people: one blueprint per area.

    auth       /login, /logout, / (the landing page of each role)
    station    /station/<id> (the volunteer's tablet) and its event stream
    dashboard  /dashboard/<code> (community, street and district managers)
    city       /rankings (city and district staff: rankings, red and black
               lists, downloads)
    inspect    /inspect (inspectors: spot checks, 查N错M)
    households /households/<community> (the community's manager: each household token)
    label      /label (labellers: the learning samples' queue, labels and their review)

Chinese first; `?lang=en` switches to English and is remembered in the
session. Every form carries a CSRF token (csrf.py).
"""
from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    from . import auth_pages, city, common, dashboard, households, inspect, label, station
    common.init_app(app)
    for module in (auth_pages, station, dashboard, city, inspect, households, label):
        app.register_blueprint(module.bp)
