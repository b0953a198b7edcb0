"""Sessions end when they should, logins are throttled, and a login only
ever redirects to this site (server/auth.py)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from server import store as store_pkg
from server.auth import hash_password
from tests.web.conftest import csrf_of, web_login

from ..support import disposal, login, post_events
from .test_contract import check

ME = "/api/v1/me"


def cookie_copy(app, client):
    """A second client holding a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def with_store(app, action):
    s = store_pkg.connect(app.config["SETTINGS"].database)
    try:
        return action(s)
    finally:
        s.close()


def test_api_logout_ends_every_copy_of_the_session(app, client, city):
    login(client, "sanlihe")
    copy = cookie_copy(app, client)
    assert copy.get(ME).status_code == 200
    assert client.post("/api/v1/logout").status_code == 200
    assert client.get(ME).status_code == 401
    assert copy.get(ME).status_code == 401  # once it kept working for 12 hours


def test_web_logout_ends_every_copy_of_the_session(app, client, city):
    assert web_login(client, "sanlihe").status_code == 302
    copy = cookie_copy(app, client)
    assert copy.get(ME).status_code == 200
    page = client.get("/dashboard/110102001001").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert copy.get(ME).status_code == 401


def test_another_login_of_the_same_user_is_a_separate_session(app, client, city):
    login(client, "sanlihe")
    phone = app.test_client()
    login(phone, "sanlihe")
    client.post("/api/v1/logout")
    assert phone.get(ME).status_code == 200


@pytest.mark.parametrize("change", [
    lambda s: s.set_password("sanlihe", hash_password("a-new-password-1")),
    lambda s: s.remove_user("sanlihe"),
    lambda s: s.end_user_sessions("sanlihe"),
])
def test_password_change_and_removal_end_the_users_sessions(app, client, city, change):
    login(client, "sanlihe")
    other = app.test_client()
    login(other, "xicheng")
    with_store(app, change)
    assert client.get(ME).status_code == 401
    assert other.get(ME).status_code == 200


def test_an_expired_session_is_dead(app, client, city):
    login(client, "sanlihe")
    with_store(app, lambda s: (s.conn.execute("UPDATE sessions SET expires_at = '2000-01-01'"),
                               s.conn.commit()))
    assert client.get(ME).status_code == 401


@pytest.mark.parametrize("kwargs", [
    {"data": {"x": "1"}},                                    # a cross-site HTML form
    {"data": "x", "content_type": "text/plain"},
    {"headers": {"Sec-Fetch-Site": "cross-site"}},
])
def test_api_logout_refuses_cross_site_posts(client, city, kwargs):
    login(client, "sanlihe")
    r = client.post("/api/v1/logout", **kwargs)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "cross_site"
    check(r, "/api/v1/logout", "post")
    assert client.get(ME).status_code == 200


def attempt(client, username, password="wrong-password", address="10.0.0.1"):
    return client.post("/api/v1/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_logins_are_throttled_per_username(app, client, city):
    limit = app.config["SETTINGS"].login_max_failures
    for i in range(limit):
        assert attempt(client, "sanlihe", address=f"10.0.1.{i}").status_code == 401
    # The right password from a fresh address: still refused while the window lasts.
    r = attempt(client, "sanlihe", "password-123", address="10.0.2.1")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_attempts"
    check(r, "/api/v1/login", "post")
    window = app.config["SETTINGS"].login_window_seconds
    assert 0 < int(r.headers["Retry-After"]) <= window + 1
    assert attempt(client, "xicheng", "password-123", address="10.0.2.1").status_code == 200
    # Devices are never throttled: ingest goes on.
    assert post_events(client, city, [disposal()]).get_json()["accepted"] == 1
    # When the failures leave the window, the user may log in again.
    with_store(app, lambda s: (s.conn.execute("UPDATE login_failures SET at = at - ?", (window,)),
                               s.conn.commit()))
    assert attempt(client, "sanlihe", "password-123", address="10.0.2.1").status_code == 200


def test_logins_are_throttled_per_address(app, client, city):
    limit = app.config["SETTINGS"].login_max_failures
    for i in range(limit):
        assert attempt(client, f"guess-{i}").status_code == 401
    assert attempt(client, "sanlihe", "password-123").status_code == 429
    assert attempt(client, "sanlihe", "password-123", address="10.9.9.9").status_code == 200


def test_password_checks_have_a_budget_per_process(tmp_path, city_template):
    """A flood of logins from many addresses and usernames, which the
    throttle never sees twice, hashes at most the budget's passwords a second;
    the rest answer 429 without a check and without counting a failure."""
    import shutil

    from server import create_app

    from ..support import make_settings
    db = tmp_path / "budget.db"
    shutil.copy(city_template[0], db)
    app = create_app({"SETTINGS": make_settings(db, login_checks_per_second=1), "TESTING": True})
    client = app.test_client()
    # The bucket's clock stands still while the burst arrives: scrypt checks
    # take long enough on a loaded machine for real time to refill a token.
    budget, now = app.extensions["password_checks"], [0.0]
    budget.clock, budget.at = (lambda: now[0]), 0.0
    burst = 5 * app.config["SETTINGS"].login_checks_per_second  # five seconds' worth at once
    answers = [attempt(client, f"guess-{i}", address=f"10.1.{i}.1").status_code for i in range(burst + 3)]
    assert answers[:burst] == [401] * burst and answers[burst:] == [429] * 3
    r = attempt(client, "sanlihe", "password-123", address="10.2.0.1")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "server_busy"
    assert r.headers["Retry-After"] == "1"
    check(r, "/api/v1/login", "post")
    # Refused unchecked: no failure is held against the username.
    failures = with_store(app, lambda s: s.login_failures(["user:sanlihe"], 0))
    assert failures[0][0] == 0
    now[0] += 0.9  # the budget refills at one check a second
    assert attempt(client, "sanlihe", "password-123", address="10.2.0.3").status_code == 429
    now[0] += 0.1
    assert attempt(client, "sanlihe", "password-123", address="10.2.0.2").status_code == 200


def test_a_success_forgets_the_usernames_failures(app, client, city):
    limit = app.config["SETTINGS"].login_max_failures
    for i in range(limit - 1):
        attempt(client, "sanlihe", address=f"10.0.3.{i}")
    assert attempt(client, "sanlihe", "password-123", address="10.0.4.1").status_code == 200
    assert attempt(client, "sanlihe", address="10.0.4.2").status_code == 401
    assert attempt(client, "sanlihe", "password-123", address="10.0.4.3").status_code == 200


def test_the_login_page_is_throttled_too(app, client, city):
    limit = app.config["SETTINGS"].login_max_failures
    for _ in range(limit):
        assert web_login(client, "sanlihe", "wrong-password").status_code == 401
    r = web_login(client, "sanlihe")
    assert r.status_code == 429 and "Retry-After" in r.headers


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "/%09/evil.example", "//evil.example", "/\\evil.example",
    "https://evil.example/", "/\n/evil.example", "/ /evil.example", "javascript:alert(1)",
])
def test_login_never_redirects_off_site(client, city, target):
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200
    r = client.post("/login", query_string={"next": target},
                    data={"username": "sanlihe", "password": "password-123",
                          "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert r.status_code == 302
    # Read the way a browser does: tabs and newlines dropped, backslash as slash.
    seen = r.headers["Location"].replace("\t", "").replace("\n", "").replace("\\", "/")
    assert seen.startswith("/") and not seen.startswith("//") and not urlsplit(seen).netloc


def test_login_keeps_a_path_on_this_site(client, city):
    page = client.get("/login", query_string={"next": "/dashboard/110102001001?month=2026-11"})
    r = client.post("/login", query_string={"next": "/dashboard/110102001001?month=2026-11"},
                    data={"username": "sanlihe", "password": "password-123",
                          "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert r.headers["Location"] == "/dashboard/110102001001?month=2026-11"
