"""A card read by the station's own reader reaches the station's tablet: the
device posts the token (POST /api/v1/scans) and the tablet's live stream
carries it as a `card` event to the station's volunteer and its community's
manager only, for a minute. On both stores, through HTTP."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from server.scans import SCAN_SECONDS
from server.timeutil import now_utc
from tests.polling import wait_until

from .support import disposal, login, post_events


class Stream:
    """One tablet's stream of a station, read by a thread, as its own client."""

    def __init__(self, app, username: str, station: str = "st-a", query: str = ""):
        self.client = app.test_client()
        login(self.client, username)
        self.response = self.client.get(f"/station/{station}/stream{query}", buffered=False)
        assert self.response.status_code == 200
        self.chunks: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for chunk in self.response.response:
            self.chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    def text(self) -> str:
        return "".join(self.chunks)

    def has(self, text: str) -> bool:
        return text in self.text()

    def close(self) -> None:
        self.thread.join(10)
        self.response.close()


@pytest.fixture
def fast(app):
    app.config.update(WEB_STREAM_POLL=0.05, WEB_STREAM_MAX_SECONDS=3.0, WEB_STREAM_HEARTBEAT=10.0)


def scan(client, city, household, station="st-a", **body):
    return client.post("/api/v1/scans", json={"device_id": f"dev-{station}", "household": household, **body},
                       headers={"Authorization": f"Bearer {city.tokens[station]}"})


def stored_scans(app) -> list[tuple]:
    from server.store import connect
    store = connect(app.config["SETTINGS"].database)
    try:
        return [tuple(r) for r in store.conn.execute("SELECT station_id, household FROM card_scans ORDER BY id")]
    finally:
        store.close()


def test_a_scan_reaches_the_volunteers_and_the_managers_tablet(app, client, city, fast):
    volunteer, manager = Stream(app, "vol"), Stream(app, "sanlihe")
    try:
        assert wait_until(lambda: volunteer.has("event: counts") and manager.has("event: counts"), timeout=5)
        response = scan(client, city, "hh-7")
        assert response.status_code == 202, response.get_json()
        body = response.get_json()
        assert body["station_id"] == "st-a" and body["expires_in"] == SCAN_SECONDS
        for tablet in (volunteer, manager):
            assert wait_until(lambda t=tablet: t.has('"household": "hh-7"'), timeout=3), tablet.text()
        card = next(c for c in volunteer.text().split("\n\n") if c.startswith("event: card"))
        assert "id:" not in card                       # the events' cursor is left alone
        assert f'"scan": {body["scan"]}' in card
    finally:
        volunteer.close()
        manager.close()


def test_staff_who_read_the_station_never_get_its_cards(app, client, city, fast):
    street, other = Stream(app, "xichangan"), Stream(app, "vol")
    try:
        assert wait_until(lambda: street.has("event: counts") and other.has("event: counts"), timeout=5)
        assert scan(client, city, "hh-7").status_code == 202
        assert scan(client, city, "hh-9", station="st-b").status_code == 202     # another station's card
        ev = disposal(station="st-a")
        assert post_events(client, city, [ev]).status_code == 200
        assert wait_until(lambda: street.has(ev["event_id"]) and other.has(ev["event_id"]), timeout=3)
        assert wait_until(lambda: other.has('"hh-7"'), timeout=3)
    finally:
        street.close()
        other.close()
    assert "event: card" not in street.text() and "hh-7" not in street.text()
    assert "hh-9" not in other.text()


def test_a_reconnecting_tablet_gets_the_scans_it_missed_and_no_stale_ones(app, client, city, fast):
    from server.store import connect
    store = connect(app.config["SETTINGS"].database)
    try:
        old = (now_utc() - timedelta(seconds=SCAN_SECONDS + 5)).isoformat()
        stale = store.add_scan("st-a", "hh-stale", old, old)
    finally:
        store.close()
    first = scan(client, city, "hh-1").get_json()["scan"]
    second = scan(client, city, "hh-2").get_json()["scan"]
    # The new scans deleted the stale one, which is too old to show anyway.
    assert stored_scans(app) == [("st-a", "hh-1"), ("st-a", "hh-2")]
    tablet = Stream(app, "vol", query=f"?scan={stale - 1}")
    try:
        assert wait_until(lambda: tablet.has('"hh-1"') and tablet.has('"hh-2"'), timeout=3)
    finally:
        tablet.close()
    assert "hh-stale" not in tablet.text()
    # Opened without ?scan=, a tablet starts from now: no earlier card pops up.
    fresh = Stream(app, "vol")
    try:
        assert wait_until(lambda: fresh.has("event: counts"), timeout=3)
        third = scan(client, city, "hh-3").get_json()["scan"]
        assert wait_until(lambda: fresh.has('"hh-3"'), timeout=3)
    finally:
        fresh.close()
    assert '"hh-1"' not in fresh.text() and first < second < third


@pytest.mark.parametrize("body, status, field", [
    ({"household": "13812345678"}, 400, "household"),
    ({"household": "hh 7"}, 400, "household"),
    ({"household": 7}, 400, "household"),
    ({"household": "hh-7", "name": "张三"}, 400, "name"),
    ({"household": "hh-7", "device_id": "dev-st-b"}, 403, None),
])
def test_a_bad_scan_is_refused_and_nothing_kept(app, client, city, body, status, field):
    response = client.post("/api/v1/scans", json={"device_id": "dev-st-a", **body},
                           headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    if field:
        assert error["details"][0]["field"] == field
    assert stored_scans(app) == []


def test_a_scan_needs_a_device_token(app, client, city):
    assert client.post("/api/v1/scans", json={"device_id": "dev-st-a", "household": "hh-7"}).status_code == 401
    login(client, "vol")            # a person's session is no device
    assert client.post("/api/v1/scans", json={"device_id": "dev-st-a", "household": "hh-7"}).status_code == 401
    assert client.post("/api/v1/scans", data="hh-7",
                       headers={"Authorization": f"Bearer {city.tokens['st-a']}"}).status_code == 415
    assert stored_scans(app) == []


def test_prune_events_forgets_the_scans_past_their_minute(app, client, city, runner):
    from server.store import connect
    store = connect(app.config["SETTINGS"].database)
    try:
        old = (now_utc() - timedelta(seconds=SCAN_SECONDS + 1)).isoformat()
        store.add_scan("st-a", "hh-left", old, old)
    finally:
        store.close()
    assert scan(client, city, "hh-now").status_code == 202    # deletes hh-left itself: put it back
    store = connect(app.config["SETTINGS"].database)
    try:
        store.add_scan("st-b", "hh-left", old, old)
    finally:
        store.close()
    assert stored_scans(app) == [("st-a", "hh-now"), ("st-b", "hh-left")]
    result = runner.invoke(args=["prune-events"])
    assert result.exit_code == 0, result.output
    assert stored_scans(app) == [("st-a", "hh-now")]
