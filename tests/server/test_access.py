"""The role × route matrix (docs/design.md, "Security"): every route of the
OpenAPI document and every page, for every role of the small city
(tests/server/support.py), in and out of scope, with the status each must
answer. The expectations are written out here by hand, not derived from
server/access.py, so that a change of the rules has to change this table.

    city       city staff                     sees everything
    xicheng    district 110102 (西城区)
    xichangan  street 110102001 (西长安街街道)
    sanlihe    community 110102001001 (三里河社区, station st-a)
    chaoyang   district 110105 (朝阳区, station st-c)
    vol        volunteer of station st-a
    insp       inspector of street 110102001 (stations st-a, st-b)
    lab        labeller of district 110102 (the learning samples of st-a, st-b)
    None       nobody logged in
"""
from __future__ import annotations

import io
import json
import uuid

import pytest
from PIL import Image

from contract import load
from server import access
from tests.server.support import disposal, login, post_events

USERS = ["city", "xicheng", "xichangan", "sanlihe", "chaoyang", "vol", "insp", "lab", None]
READS_SCOPE = {
    "city": {"city"},
    "110102": {"city", "xicheng"},
    "110102001": {"city", "xicheng", "xichangan"},
    "110102001001": {"city", "xicheng", "xichangan", "sanlihe"},
    "110102001002": {"city", "xicheng", "xichangan"},
    "110105": {"city", "chaoyang"},
}
LEVEL = {"city": "city", "110102": "district", "110105": "district", "110102001": "street",
         "110102001001": "community", "110102001002": "community"}
BELOW = {"city": "district", "110102": "street", "110105": "street", "110102001": "community"}
# Street, district and city staff rank and download; a community's manager
# and a volunteer do not (docs/design.md, "Who uses it").
RANKS = {"city", "xicheng", "xichangan", "chaoyang"}
# Learning samples: labelled by the labellers of their station's scope only.
LABELS_STATION = {"st-a": {"lab"}, "st-b": {"lab"}, "st-c": set()}
READS_STATION = {
    "st-a": {"city", "xicheng", "xichangan", "sanlihe", "vol", "insp"},
    "st-b": {"city", "xicheng", "xichangan", "insp"},
    "st-c": {"city", "chaoyang"},
}
FAST_STREAM = {"WEB_STREAM_POLL": 0.02, "WEB_STREAM_MAX_SECONDS": 0.2, "WEB_STREAM_HEARTBEAT": 0.1}


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def sample_body(station: str) -> dict:
    import base64
    return {"station_id": station, "crop": base64.b64encode(jpeg()).decode(),
            "embedding": base64.b64encode(bytes(4 * 16)).decode(), "dims": 16,
            "probs": [0.4, 0.6], "confidence": 0.6}


@pytest.fixture
def events(client, city):
    """One wrong disposal with an evidence image at each station."""
    ids = {}
    for station in READS_STATION:
        ev = disposal(station=station, bin="recyclable", item="battery", category="hazardous")
        assert post_events(client, city, [ev], station=station).get_json()["accepted"] == 1
        r = client.put(f"/api/v1/events/{ev['event_id']}/evidence", data=jpeg(),
                       content_type="image/jpeg",
                       headers={"Authorization": f"Bearer {city.tokens[station]}"})
        assert r.status_code == 201, r.get_json()
        ids[station] = ev["event_id"]
        r = client.put(f"/api/v1/events/{ev['event_id']}/sample", json=sample_body(station),
                       headers={"Authorization": f"Bearer {city.tokens[station]}"})
        assert r.status_code == 201, r.get_json()
        litter = {"event_id": str(uuid.uuid4()), "type": "litter", "station_id": station,
                  "bin": "other", "ts": ev["ts"]}
        assert post_events(client, city, [litter], station=station).get_json()["accepted"] == 1
    return ids


@pytest.fixture
def case_ids(app, events):
    """The litter case each station's finding opened."""
    from server.store import connect
    store = connect(app.config["SETTINGS"].database)
    try:
        return {c["station_id"]: c["id"] for c in store.cases("city")}
    finally:
        store.close()


def api_cases(events, case_ids=None):
    """(method, OpenAPI path, url, json body, users allowed) for the people's API."""
    case_ids = case_ids or dict.fromkeys(READS_STATION, 0)
    cases = []
    for code, readers in READS_SCOPE.items():
        query = f"level={LEVEL[code]}" + ("" if code == "city" else f"&code={code}")
        for path in ("/api/v1/stats", "/api/v1/stats/daily", "/api/v1/insights"):
            cases.append(("GET", path, f"{path}?{query}", None, readers))
        within = "" if code == "city" else f"&within={code}"
        cases.append(("GET", "/api/v1/stations/health", f"/api/v1/stations/health?x=1{within}",
                      None, readers))
        # Inspections: the managers who read the scope, and inspectors whose scope holds it.
        inspects = {"insp"} if code.startswith("110102001") else set()
        for path in ("/api/v1/inspections", "/exports/inspections.csv", "/exports/inspections.xlsx"):
            cases.append(("GET", path, f"{path}?x=1{within}", None, readers | inspects))
        # Cases: whoever reads the scope, its inspectors, and the volunteer
        # whose station lies inside it (who lists that station's only).
        vol = {"vol"} if "110102001001".startswith(code) or code == "city" else set()
        cases.append(("GET", "/api/v1/cases", f"/api/v1/cases?x=1{within}", None, readers | inspects | vol))
        cases.append(("GET", "/api/v1/cases/summary", f"/api/v1/cases/summary?x=1{within}", None, readers))
        # Households needing a visit, as counts: whoever reads the scope.
        cases.append(("GET", "/api/v1/households/summary", f"/api/v1/households/summary?{query}", None, readers))
        for path in ("/exports/cases.csv", "/exports/cases.xlsx"):
            cases.append(("GET", path, f"{path}?x=1{within}", None, readers & RANKS))
        if code in BELOW:
            for path in ("/api/v1/rankings", "/exports/stats.csv", "/exports/stats.xlsx"):
                cases.append(("GET", path, f"{path}?level={BELOW[code]}{within}", None,
                              readers & RANKS))
    # A community's households: its own manager only, nobody above it.
    for community in ("110102001001", "110102001002", "110105001001"):
        for path in ("/api/v1/households", "/exports/households.csv", "/exports/households.xlsx"):
            cases.append(("GET", path, f"{path}?community={community}", None,
                          {"sanlihe"} if community == "110102001001" else set()))
    # A household's card at a station: looked up by its volunteer or the
    # community's manager; points redeemed by its volunteer only.
    desks = {"st-a": {"vol", "sanlihe"}, "st-b": set(), "st-c": set()}
    for station, desk in desks.items():
        card = f"/api/v1/stations/{station}/households/hh-1"
        cases += [("GET", "/api/v1/stations/{station_id}/households/{household}", card, None, desk),
                  ("POST", "/api/v1/stations/{station_id}/households/{household}/redemptions",
                   card + "/redemptions", {"redemption_id": "r-00000001", "points": 1, "reward": "x"},
                   desk & {"vol"})]
    for station, readers in READS_STATION.items():
        event = events[station]
        cases += [
            ("GET", "/api/v1/stations/{station_id}/events", f"/api/v1/stations/{station}/events",
             None, readers),
            ("GET", "/api/v1/stations/{station_id}/today", f"/api/v1/stations/{station}/today",
             None, readers),
            ("GET", "/api/v1/stations/{station_id}/agreement", f"/api/v1/stations/{station}/agreement",
             None, readers),
            ("GET", "/api/v1/events/{event_id}/evidence", f"/api/v1/events/{event}/evidence",
             None, readers),
            # Feedback changes the counted verdict: only the station's own
            # volunteer gives it; managers who read the station do not.
            ("POST", "/api/v1/events/{event_id}/feedback", f"/api/v1/events/{event}/feedback",
             {"assisted": True}, readers & {"vol"}),
            # An audit changes no count: the station's volunteer or an inspector of it.
            ("POST", "/api/v1/events/{event_id}/audit", f"/api/v1/events/{event}/audit",
             {"truth": "correct"}, readers & {"vol", "insp"}),
            # Inspections are recorded by inspectors only.
            ("POST", "/api/v1/inspections", "/api/v1/inspections", {
                "station_id": station, "start": "2026-11-29T07:00:00+08:00",
                "end": "2026-11-29T07:30:00+08:00", "checked": 10, "wrong": 1}, readers & {"insp"}),
            ("GET", "/api/v1/quiz/questions", f"/api/v1/quiz/questions?station={station}",
             None, readers),
            # A case is read with its station; 督办 by street, district and city staff
            # (before it is resolved); moved by the volunteer (handled) and the managers.
            ("GET", "/api/v1/cases/{case_id}", f"/api/v1/cases/{case_ids[station]}", None, readers),
            ("POST", "/api/v1/cases/{case_id}/escalate", f"/api/v1/cases/{case_ids[station]}/escalate",
             {}, readers & RANKS),
            ("POST", "/api/v1/cases/{case_id}/transition", f"/api/v1/cases/{case_ids[station]}/transition",
             {"to": "resolved"}, readers - {"insp"}),
            ("POST", "/api/v1/quiz", "/api/v1/quiz", {"station_id": station}, readers),
            ("GET", "/api/v1/samples/{event_id}", f"/api/v1/samples/{event}", None, LABELS_STATION[station]),
            ("GET", "/api/v1/samples/{event_id}/image", f"/api/v1/samples/{event}/image", None,
             LABELS_STATION[station]),
            ("POST", "/api/v1/samples/{event_id}/label", f"/api/v1/samples/{event}/label",
             {"label": "battery"}, LABELS_STATION[station]),
        ]
    everyone = set(USERS) - {None}
    cases += [("GET", "/api/v1/samples", "/api/v1/samples", None, {"lab"}),
              ("GET", "/api/v1/me", "/api/v1/me", None, everyone),
              ("GET", "/up", "/up", None, "public"),
              ("GET", "/up/db", "/up/db", None, "public"),
              ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, "public")]
    return cases


def call(client, method, url, body):
    if method == "GET":
        response = client.get(url)
    elif url == "/api/v1/quiz":
        sheet = client.get(f"/api/v1/quiz/questions?station={body['station_id']}").get_json()
        token = sheet.get("token", "not-a-sheet")
        answers = ["other"] * len(sheet.get("questions", [None] * 5))
        response = client.post(url, json={**body, "token": token, "answers": answers})
    else:
        response = client.post(url, json=body)
    status = response.status_code
    response.close()
    return status


@pytest.mark.parametrize("user", USERS)
def test_every_api_route_for_every_role(client, city, events, case_ids, user):
    if user:
        login(client, user)
    for method, _, url, body, allowed in api_cases(events, case_ids):
        status = call(client, method, url, body)
        if allowed == "public":
            expected = 200
        elif user is None:
            expected = 401
        else:
            expected = 200 if user in allowed else 403
        if expected == 200 and method == "POST" and status == 201:
            expected = 201      # a record made (an inspection, a first audit)
        if expected == 200 and url.endswith("/redemptions"):
            expected = 409      # let through, and the small city has no points rule
        assert status == expected, (user, method, url)


@pytest.mark.parametrize("user", USERS)
def test_device_routes_take_a_device_token_not_a_person(client, city, events, user):
    if user:
        login(client, user)
    assert client.post("/api/v1/events", json={"device_id": "dev-st-a", "events": []}
                       ).status_code == 401
    assert client.post("/api/v1/heartbeat", json={"device_id": "dev-st-a"}).status_code == 401
    assert client.post("/api/v1/scans", json={"device_id": "dev-st-a", "household": "hh-1"}).status_code == 401
    assert client.put(f"/api/v1/events/{events['st-a']}/evidence", data=jpeg(),
                      content_type="image/jpeg").status_code == 401
    assert client.put(f"/api/v1/events/{events['st-a']}/sample", json=sample_body("st-a")).status_code == 401
    for path in ("/api/v1/artifacts/model/waste-effl0-int8@871d0c72",
                 "/api/v1/artifacts/model/waste-effl0-int8@871d0c72/manifest"):
        assert client.get(path).status_code == 401, path


def test_a_device_speaks_only_for_its_own_station(client, city, events):
    token = {"Authorization": f"Bearer {city.tokens['st-a']}"}
    r = client.put(f"/api/v1/events/{events['st-b']}/evidence", data=jpeg(),
                   content_type="image/jpeg", headers=token)
    assert r.status_code == 403
    r = client.put(f"/api/v1/events/{events['st-b']}/sample", json=sample_body("st-b"), headers=token)
    assert r.status_code == 403
    r = client.post("/api/v1/heartbeat", headers=token, json={
        "device_id": "dev-st-b", "ts": "2026-11-29T07:42:13+08:00", "fps": 5.0, "dead_letters": 0,
        "pending_events": 0, "model": "waste-effl0-int8@3fa2c1d0", "rules": "beijing@2020.1",
        "camera": "ok"})
    assert r.status_code == 403
    r = client.post("/api/v1/scans", headers=token, json={"device_id": "dev-st-b", "household": "hh-1"})
    assert r.status_code == 403
    body = post_events(client, city, [disposal(station="st-b")], station="st-a").get_json()
    assert body["accepted"] == 0 and len(body["rejected"]) == 1


def page_cases():
    """(rule, url, users allowed) for the pages."""
    cases = []
    for code, readers in READS_SCOPE.items():
        cases.append(("/dashboard/<code>", f"/dashboard/{code}", readers))
        if code in BELOW:
            cases.append(("/rankings", f"/rankings?within={code}", readers & RANKS))
    cases.append(("/rankings", "/rankings", RANKS))  # opens on the user's own scope
    cases.append(("/inspect", "/inspect", {"insp"}))  # the inspector's spot checks
    cases.append(("/label", "/label", {"lab"}))  # the labeller's samples
    # A community's households: its own manager only.
    for community in ("110102001001", "110102001002", "110105001001"):
        cases.append(("/households/<community>", f"/households/{community}",
                      {"sanlihe"} if community == "110102001001" else set()))
    for station, readers in READS_STATION.items():
        cases.append(("/station/<station_id>", f"/station/{station}", readers))
        cases.append(("/station/<station_id>/stream", f"/station/{station}/stream", readers))
    return cases


@pytest.mark.parametrize("user", USERS)
def test_every_page_for_every_role(app, client, city, user):
    app.config.update(FAST_STREAM)
    if user:
        login(client, user)
    for _, url, allowed in page_cases():
        response = client.get(url)
        status = response.status_code
        response.close()
        if user is None:
            expected = 401 if url.endswith("/stream") else 302
        else:
            expected = 200 if user in allowed else 403
        assert status == expected, (user, url)
    if user is None:
        return
    home = client.get("/")
    assert home.status_code == 302 and client.get(home.headers["Location"]).status_code == 200


def test_rankings_open_on_the_users_own_scope(client, city):
    login(client, "xichangan")
    page = client.get("/rankings").get_data(as_text=True)
    assert "西长安街街道" in page and "新街口街道" not in page  # no street they cannot open
    login(client, "sanlihe")
    assert client.get("/rankings").status_code == 403


def test_the_matrix_covers_every_route_and_page(app):
    openapi = {(method.upper(), path) for path, item in load("openapi.json")["paths"].items()
               for method in item if method in ("get", "post", "put", "delete", "patch")}
    covered = {(m, p) for m, p, *_ in api_cases(dict.fromkeys(READS_STATION, "x"))}
    covered |= {("POST", "/api/v1/events"), ("POST", "/api/v1/heartbeat"),
                ("PUT", "/api/v1/events/{event_id}/evidence"), ("POST", "/api/v1/scans"),
                ("PUT", "/api/v1/events/{event_id}/sample")}
    # Devices fetch updates with their token; tests/server/api/test_artifacts.py has them.
    covered |= {("GET", "/api/v1/artifacts/{kind}/{version}"), ("GET", "/api/v1/artifacts/{kind}/{version}/manifest")}
    # Logging in and out are open to everyone; tests/server/api/test_session.py has them.
    covered |= {("POST", "/api/v1/login"), ("POST", "/api/v1/logout")}
    assert openapi == covered
    pages = {rule for rule, *_ in page_cases()} | {"/", "/login", "/logout"}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        if rule.endpoint.startswith("web_"):
            served.add(rule.rule)
        else:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in openapi, f"{method} {rule.rule} is not in the OpenAPI document"
    assert served == pages


def test_access_errors_answer_json_on_the_api_and_a_page_on_the_web(client, city):
    login(client, "chaoyang")
    body = client.get("/api/v1/stations/st-a/today").get_json()
    assert body["error"]["code"] == "forbidden"
    page = client.get("/station/st-a")
    assert page.status_code == 403 and "无权访问" in page.get_data(as_text=True)
    assert json.loads(client.get("/api/v1/stations/nope/today").data)["error"]["code"] == "not_found"


def test_one_module_decides():
    user = {"role": "street", "scope": "110102001"}
    assert access.may_rank(user) and access.contains_scope(user, "110102001002")
    assert not access.contains_scope(user, "110102003001")
    assert not access.contains_scope({"role": "volunteer", "scope": "st-a"}, "city")
