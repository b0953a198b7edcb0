"""Property: no query parameter of any route, API or page, makes the server
answer 5xx. Every parameter the OpenAPI document lists, and those the pages
read, get odd values: huge and negative integers, months out of range, control
characters, lone surrogates, long strings. With TESTING the app re-raises, so
a 500 fails the test with its traceback. The budget is bounded (a few hundred
requests per route) so that this runs in CI in seconds."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.api.openapi import openapi_document

from .support import login

DOC = openapi_document()
API_ROUTES = {path: sorted({p["name"] for p in op.get("parameters", []) if p["in"] == "query"})
              for path, ops in DOC["paths"].items() for method, op in ops.items()
              if method == "get" and path != "/api/v1/openapi.json"}
# The pages and the query parameters they read (server/web/).
PAGE_ROUTES = {
    "/login": ["next", "lang"],
    "/rankings": ["level", "within", "month", "period", "metric", "n", "lang"],
    "/dashboard/{code}": ["month", "period", "lang"],
    "/station/{station_id}": ["lang"],
    "/station/{station_id}/stream": ["after", "lang"],
}
ROUTES = {**API_ROUTES, **PAGE_ROUTES}
PATH_VALUES = {"{code}": "110102001001", "{station_id}": "st-a",
               "{event_id}": "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e10"}

ODD_VALUES = [
    "", " ", "0", "-1", "1e3", "NaN", "Infinity", str(2**63), str(2**63 - 1), str(-2**63 - 1),
    "9" * 50, "0001-01", "0000-00", "9999-12", "2026-11\n", "2026-11%0A", "2026-13", "2026-1",
    "city", "district", "street", "community", "station", "month", "inspection", "accuracy",
    "110102", "110102001", "110102001001", "1101020010019", "st-a", "../../etc/passwd",
    "\x00", "\ud800", "\t/evil.example", "//evil.example", "/\t/x", "zh", "en", "x" * 5000,
]
VALUES = st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=30),
                   st.integers(min_value=-2**70, max_value=2**70).map(str))


def get(client, route, params, last_event_id=None):
    """GET as a client's bytes: a lone surrogate goes out as its UTF-8-style
    bytes, and a header cannot carry a line break on the wire."""
    path = route
    for placeholder, value in PATH_VALUES.items():
        path = path.replace(placeholder, value)
    headers = {}
    if last_event_id is not None and route.endswith("/stream"):
        headers["Last-Event-ID"] = last_event_id.encode("utf-8", "surrogatepass").decode(
            "latin-1").replace("\n", " ").replace("\r", " ")
    query = urlencode(params, encoding="utf-8", errors="surrogatepass")
    response = client.get(path, query_string=query, headers=headers, buffered=False)
    response.close()
    return response.status_code


def test_every_odd_value_in_every_parameter_alone(client, city):
    """The sweep: each odd value in each parameter of each route, the others
    left out, as the city user (who may read every route)."""
    login(client, "city")
    failures = []
    for route, names in sorted(ROUTES.items()):
        for name in names + (["Last-Event-ID"] if route.endswith("/stream") else []):
            for value in ODD_VALUES:
                params = {} if name == "Last-Event-ID" else {name: value}
                try:
                    status = get(client, route, params, value if name == "Last-Event-ID" else None)
                except Exception as exc:  # TESTING re-raises what would be a 500
                    status = f"500: {type(exc).__name__}: {exc}"[:120]
                if not isinstance(status, int) or status >= 500:
                    failures.append((route, name, value[:20], status))
    assert not failures


def params_for(names):
    return st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names)) if names else st.just({})


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("username", ["city", "sanlihe", "vol"])
def test_no_query_parameter_makes_a_5xx(client, city, route, username):
    login(client, username)

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(params=params_for(ROUTES[route]), last_event_id=st.one_of(st.none(), VALUES))
    def check(params, last_event_id):
        status = get(client, route, params, last_event_id)
        assert status < 500, (route, params, last_event_id, status)

    check()
