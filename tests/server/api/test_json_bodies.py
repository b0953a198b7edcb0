"""Every JSON endpoint parses its body strictly (server/jsonbody.py): deep
nesting, NaN, Infinity and oversized numbers are a 400 in the one error shape."""
from __future__ import annotations

import pytest

from server.contract import load
from server.jsonbody import MAX_DEPTH, nesting_depth

from ..support import disposal, login, post_events
from .test_events import assert_error_shape
from .test_samples import put_sample, sample_body

JSON_ROUTES = [(method.upper(), path) for path, ops in load("openapi.json")["paths"].items()
               for method, op in ops.items()
               if "application/json" in op.get("requestBody", {}).get("content", {})]


def send(client, city, method, path, text):
    if "/label" in path:  # checked for a labeller before its body is read
        login(client, "lab")
    headers = {"Authorization": f"Bearer {city.tokens['st-a']}"}
    return client.open(path, method=method, data=text, content_type="application/json",
                       headers=headers)


@pytest.fixture
def ready(client, city):
    """A stored uncertain event with its learning sample (for the feedback, sample and label
    routes) and a volunteer's session."""
    ev = disposal(verdict="uncertain", confidence=0.4)
    post_events(client, city, [ev])
    assert put_sample(client, city, ev["event_id"], sample_body()).status_code == 201
    login(client, "vol")
    return ev["event_id"]


def route(path, event_id):
    # A body is read before the case is looked up: any case id will do.
    return (path.replace("{event_id}", event_id).replace("{case_id}", "1")
            .replace("{station_id}", "st-a").replace("{household}", "hh-1"))


def test_every_json_route_of_the_document_is_covered():
    assert {p for _, p in JSON_ROUTES} == {
        "/api/v1/events", "/api/v1/heartbeat", "/api/v1/scans", "/api/v1/login", "/api/v1/quiz",
        "/api/v1/events/{event_id}/feedback", "/api/v1/events/{event_id}/audit",
        "/api/v1/inspections", "/api/v1/cases/{case_id}/transition", "/api/v1/cases/{case_id}/escalate",
        "/api/v1/stations/{station_id}/households/{household}/redemptions",
        "/api/v1/events/{event_id}/sample", "/api/v1/samples/{event_id}/label"}


@pytest.mark.parametrize("method, path", JSON_ROUTES)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_a_400(client, city, ready, method, path, depth):
    text = "[" * depth + "]" * depth  # once a 500 from the parser's recursion
    error = assert_error_shape(send(client, city, method, route(path, ready), text), 400, "invalid_json")
    assert "nested" in error["message"]


@pytest.mark.parametrize("method, path", JSON_ROUTES)
@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
                                  '{"a": 1e999}', '{"a": 1' + "0" * 5000 + "}"])
def test_non_finite_and_huge_numbers_are_a_400(client, city, ready, method, path, text):
    assert_error_shape(send(client, city, method, route(path, ready), text), 400, "invalid_json")


@pytest.mark.parametrize("text, depth", [
    (b"{}", 0), (b'{"a": [1, {"b": "[[[[["}]}', 0),
    (b"[" * 40 + b"]" * 40, 33), (b'[' * 40 + b'"]]]]"' + b"]" * 40, 33),
    (b'{"s": "\\"[[[[' + b"[" * 50 + b'"}', 1),
])
def test_nesting_depth_ignores_brackets_in_strings(text, depth):
    assert min(nesting_depth(text), MAX_DEPTH + 1) == depth
