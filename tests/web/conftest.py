"""Page tests reuse the server tests' small city (tests/server/support.py):
users city, xicheng (district 110102), xichangan (street), sanlihe
(community), chaoyang (district 110105) and vol (volunteer of st-a)."""
from __future__ import annotations

import re

import pytest

from tests.server.conftest import app, city, city_template, client, db_path, runner  # noqa: F401

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def web_login(client, username, password="password-123", follow=False):  # noqa: F811
    page = client.get("/login")
    token = csrf_of(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=follow)


@pytest.fixture
def login_as(client, city):  # noqa: F811
    def login(username):
        response = web_login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response
    return login


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for one test module."""
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM, CHROMIUM_ARGS
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
