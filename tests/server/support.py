"""Helpers shared by the server tests: a small city, events, logins."""
from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from server.settings import Settings

BEIJING = timezone(timedelta(hours=8))
REGIONS_CSV = """district_code,district,street_code,street,community_code,community,households
110102,西城区,110102001,西长安街街道,110102001001,三里河社区,1000
110102,西城区,110102001,西长安街街道,110102001002,白云观社区,500
110102,西城区,110102003,新街口街道,110102003001,官园社区,800
110105,朝阳区,110105001,建外街道,110105001001,建外社区,1200
"""


def make_settings(db: Path, **overrides) -> Settings:
    # The quiz's pacing limits and the budget of password checks are off here
    # so that a test can take several quizzes and logins in a row;
    # test_quiz_limits.py and test_session.py turn them on.
    values = {"env": "test", "database": db, "secret_key": "test-secret", "cookie_secure": False,
              "quiz_seconds_per_question": 0, "quiz_interval_seconds": 0,
              "login_checks_per_second": 0, "registry": None}
    values.update(overrides)
    if values["registry"] is None:  # never the project's instance/registry
        folder = Path(db).parent if isinstance(db, Path) else Path(tempfile.gettempdir())
        values["registry"] = folder / ("registry" if isinstance(db, Path) else f"sortwatch-registry-{uuid.uuid4().hex}")
    return Settings(**values)


def write_regions(tmp_path: Path, text: str = REGIONS_CSV, name: str = "regions.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class City:
    """A small registered city: two districts, stations, devices and users."""

    def __init__(self, runner, tmp_path):
        self.runner = runner
        result = runner.invoke(args=["import-regions", str(write_regions(tmp_path))])
        assert result.exit_code == 0, (result.output, result.exception)
        self.tokens = {}
        self.add_station("st-a", "110102001001", reader=True)
        self.add_station("st-b", "110102001002", reader=False)
        self.add_station("st-c", "110105001001", reader=True, bins="recyclable,other")
        for station in ("st-a", "st-b", "st-c"):
            self.tokens[station] = self.add_device(f"dev-{station}", station)
        for username, role, scope in (("city", "city", ""), ("xicheng", "district", "110102"),
                                      ("xichangan", "street", "110102001"),
                                      ("sanlihe", "community", "110102001001"),
                                      ("chaoyang", "district", "110105"),
                                      ("vol", "volunteer", "st-a"),
                                      ("insp", "inspector", "110102001"),
                                      ("lab", "labeller", "110102")):
            self.add_user(username, role, scope)

    def add_station(self, sid, community, reader=False, bins="kitchen,recyclable,hazardous,other",
                    staffed="07:00-09:00,18:00-21:00"):
        args = ["add-station", sid, "--community", community, "--bins", bins, "--staffed", staffed]
        args.append("--household-reader" if reader else "--no-household-reader")
        result = self.runner.invoke(args=args)
        assert result.exit_code == 0, result.output

    def add_device(self, device_id, station):
        result = self.runner.invoke(args=["add-device", device_id, "--station", station])
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-1]

    def add_user(self, username, role, scope, password="password-123"):
        args = ["add-user", username, "--role", role] + (["--scope", scope] if scope else [])
        result = self.runner.invoke(args=args, input=password + "\n")
        assert result.exit_code == 0, result.output


def disposal(station="st-a", ts=None, **fields) -> dict:
    ev = {"event_id": str(uuid.uuid4()), "type": "disposal",
          "ts": ts or datetime.now(BEIJING).isoformat(timespec="milliseconds"),
          "station_id": station, "bin": "other", "item": "battery", "category": "hazardous",
          "verdict": "wrong", "confidence": 0.93, "household": "hh-5f1c9e", "assisted": False,
          "model": "waste-effl0-int8@3fa2c1d0", "rules": "beijing@2020.1"}
    ev.update(fields)
    return ev


def post_events(client, city, events, station="st-a", device=None):
    return client.post("/api/v1/events", json={"device_id": device or f"dev-{station}",
                                               "events": events},
                       headers={"Authorization": f"Bearer {city.tokens[station]}"})


def login(client, username, password="password-123"):
    response = client.post("/api/v1/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response


def http_call(method, url, body=None, token=None, timeout=30) -> tuple[int, dict]:
    """A JSON request to a real server on loopback: (status, JSON body), errors included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# The middle of last month: the records of audited_district all lie in one
# month, whatever the hour the tests run at.
LAST_MONTH = (datetime.now(BEIJING).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
              - timedelta(days=15))

# Per station of audited_district: its community, its camera's model version,
# and its disposals as (what the camera called it, what it truly was, audited).
AUDITED = {
    # a camera that calls right disposals wrong: it reads 0.70, the truth is 0.90
    "st-a": ("110102001001", "cam-x@1", [("correct", "correct", True)] * 70
             + [("wrong", "correct", True)] * 20 + [("wrong", "wrong", True)] * 10),
    # a camera that is right, 40 of its 100 disposals audited: it reads 0.80
    "st-b": ("110102001002", "cam-y@1", [("correct", "correct", True)] * 32
             + [("correct", "correct", False)] * 48 + [("wrong", "wrong", True)] * 8
             + [("wrong", "wrong", False)] * 12),
    # a camera never audited: it reads 1.0 and has no corrected value
    "st-d": ("110102003001", "cam-z@1", [("correct", "correct", False)] * 10),
}


def audited_district(client, city) -> str:
    """Disposals of last month at three communities of district 110102, each
    station with its own model version (AUDITED), audited by the inspector,
    and one inspection at st-a (查40错4). Returns the month (YYYY-MM)."""
    city.add_station("st-d", "110102003001")
    city.tokens["st-d"] = city.add_device("dev-st-d", "st-d")
    audits = []
    for station, (_, model, cases) in AUDITED.items():
        events = []
        for i, (called, truth, audited) in enumerate(cases):
            ts = (LAST_MONTH + timedelta(seconds=i)).isoformat()
            if called == "correct":
                ev = disposal(station, ts, bin="kitchen", item="food_waste", category="kitchen",
                              verdict="correct", model=model)
            else:
                ev = disposal(station, ts, bin="other", item="battery_lithium", category="hazardous",
                              verdict="wrong", model=model)
            events.append(ev)
            if audited:
                audits.append((ev["event_id"], truth))
        assert post_events(client, city, events, station=station).get_json()["accepted"] == len(events)
    login(client, "insp")
    for event_id, truth in audits:
        assert client.post(f"/api/v1/events/{event_id}/audit", json={"truth": truth}).status_code == 201
    start = LAST_MONTH - timedelta(hours=2)
    response = client.post("/api/v1/inspections", json={
        "station_id": "st-a", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
        "checked": 40, "wrong": 4, "note": ""})
    assert response.status_code == 201, response.get_json()
    return LAST_MONTH.strftime("%Y-%m")
