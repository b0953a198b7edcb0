"""Real requests and responses checked against the OpenAPI document."""
from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from server.api.openapi import openapi_document

from ..support import audited_district, disposal, login, post_events

DOC = openapi_document()
REGISTRY = Registry().with_resource(
    "urn:openapi", Resource.from_contents(DOC, default_specification=DRAFT202012))


def check(response, path: str, method: str):
    operation = DOC["paths"][path][method]
    spec = operation["responses"].get(str(response.status_code))
    assert spec is not None, f"{method} {path} answered {response.status_code}, not documented"
    if "$ref" in spec:
        spec = DOC["components"]["responses"][spec["$ref"].rsplit("/", 1)[-1]]
    schema = spec["content"]["application/json"]["schema"]
    validator = Draft202012Validator({"$ref": "urn:openapi" + schema["$ref"]} if "$ref" in schema
                                     else schema, registry=REGISTRY)
    errors = [e.message for e in validator.iter_errors(response.get_json())]
    assert not errors, errors


def test_every_route_is_documented(app):
    documented = {(p, m.upper()) for p, ops in DOC["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/up", "/exports/")):
            continue
        path = re.sub(r"<(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in openapi.json"


def test_schemas_are_valid(client):
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == DOC
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_responses_match_the_document(client, city):
    ev = disposal()
    check(post_events(client, city, [ev, disposal(bin="green")]), "/api/v1/events", "post")
    check(post_events(client, city, {"x": 1}), "/api/v1/events", "post")
    check(client.get("/api/v1/stats", query_string={"level": "city"}), "/api/v1/stats", "get")
    login(client, "city")
    check(client.get("/api/v1/me"), "/api/v1/me", "get")
    for query in ({"level": "city"}, {"level": "district", "code": "110102"},
                  {"level": "community", "code": "110102001001", "period": "inspection"},
                  {"level": "nope"}):
        check(client.get("/api/v1/stats", query_string=query), "/api/v1/stats", "get")
    check(client.get("/up"), "/up", "get")
    check(client.get("/up/db"), "/up/db", "get")


def test_rankings_with_inspected_and_corrected_figures_match_the_document(client, city):
    month = audited_district(client, city)
    login(client, "xicheng")
    for metric in ("accuracy", "accuracy_corrected", "unknown"):
        check(client.get("/api/v1/rankings", query_string={"level": "community", "within": "110102",
                                                           "month": month, "metric": metric}),
              "/api/v1/rankings", "get")
    metrics = next(p for p in DOC["paths"]["/api/v1/rankings"]["get"]["parameters"] if p["name"] == "metric")
    assert "accuracy_corrected" in metrics["schema"]["enum"]


def test_request_examples_match_the_document():
    validator = Draft202012Validator({"$ref": "urn:openapi#/components/schemas/EventBatch"},
                                     registry=REGISTRY)
    assert validator.is_valid({"device_id": "dev-0007", "events": [disposal()]})
    assert not validator.is_valid({"device_id": "dev-0007", "events": [disposal(bin="green")]})


@pytest.mark.parametrize("path", ["/up", "/up/db"])
def test_health(client, path):
    assert client.get(path).get_json()["status"] == "ok"


def test_household_answers_match_the_document(client, city):
    post_events(client, city, [disposal(household="hh-1", verdict="correct", bin="hazardous")])
    login(client, "sanlihe")
    check(client.get("/api/v1/households", query_string={"community": "110102001001"}), "/api/v1/households", "get")
    login(client, "xichangan")
    for query in ({"level": "street", "code": "110102001"}, {"level": "community", "code": "110102001001"},
                  {"level": "district", "code": "110102"}, {"level": "street"}):
        check(client.get("/api/v1/households/summary", query_string=query), "/api/v1/households/summary", "get")
    response = client.post("/api/v1/scans", json={"device_id": "dev-st-a", "household": "hh-1"},
                           headers={"Authorization": f"Bearer {city.tokens['st-a']}"})
    check(response, "/api/v1/scans", "post")
    check(client.post("/api/v1/scans", json={"device_id": "dev-st-a", "household": "13812345678"},
                      headers={"Authorization": f"Bearer {city.tokens['st-a']}"}), "/api/v1/scans", "post")
