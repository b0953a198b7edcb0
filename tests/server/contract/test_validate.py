"""The compiled validator agrees with event.schema.json (read by jsonschema,
the reference implementation) on generated events, and explains itself."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from server.contract import load
from server.contract.validate import event_errors

SCHEMA = load("event.schema.json")
VALIDATOR = Draft202012Validator(SCHEMA)
VALID = {"event_id": "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e10", "type": "disposal",
         "ts": "2026-11-29T07:42:13.250+08:00", "station_id": "st-xc-0042", "bin": "other",
         "item": "battery", "category": "hazardous", "verdict": "wrong", "confidence": 0.93,
         "household": "hh-5f1c9e", "assisted": False, "model": "waste-effl0-int8@3fa2c1d0",
         "rules": "beijing@2020.1"}

# Strings that sit near the edges of every field's pattern. None ends in a
# newline: Python's re (which jsonschema uses) lets "$" match before a final
# newline, while the ECMA-262 patterns of the schema do not; our validator
# follows ECMA, and test_trailing_newline_is_refused pins that down.
NEAR_MISSES = st.sampled_from([
    "", "x", "battery", "BATTERY", "food_waste", "a" * 40, "a" * 41, "st-xc-0042", "-st",
    "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e10", "0193A5C2-6F1E-7B4A-9D1E-2F6C1A9B3E10",
    "0193a5c2-6f1e-7b4a-9d1e-2f6c1a9b3e1", "2026-11-29T07:42:13+08:00", "2026-11-29T07:42:13",
    "2026-11-29T07:42:13Z", "2026-11-29 07:42:13+08:00", "2026-11-29T07:42:13.1234567+08:00",
    "２０２６-11-29T07:42:13Z", "kitchen", "recyclable", "hazardous", "other", "green",
    "correct", "wrong", "uncertain", "disposal", "bin_full", "litter", "hh_1", "hh 1", "m" * 80,
    "m" * 81, "张三", "overflow", "full", "ok", "clean"])
VALUES = st.one_of(NEAR_MISSES, st.none(), st.booleans(), st.integers(-2, 2),
                   st.floats(-1, 2, allow_nan=False), st.text(max_size=6),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
FIELDS = st.sampled_from(sorted(VALID) + ["state", "colour", "extra"])


@st.composite
def mutated_events(draw):
    ev = copy.deepcopy(VALID)
    ev["type"] = draw(st.sampled_from(["disposal", "bin_full", "litter", "other"]))
    if ev["type"] != "disposal" and draw(st.booleans()):
        ev = {k: ev[k] for k in ("event_id", "type", "ts", "station_id", "bin")}
    for _ in range(draw(st.integers(0, 3))):
        field = draw(FIELDS)
        if draw(st.integers(0, 3)) == 0:
            ev.pop(field, None)
        else:
            ev[field] = draw(VALUES)
    return ev


@given(mutated_events())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_validator_agrees_with_schema(ev):
    schema_ok = VALIDATOR.is_valid(ev)
    errors = event_errors(ev)
    assert schema_ok == (not errors), (ev, errors, [e.message for e in VALIDATOR.iter_errors(ev)])


def test_example_of_the_design_is_valid():
    assert event_errors(VALID) == [] and VALIDATOR.is_valid(VALID)


def test_trailing_newline_is_refused():
    assert event_errors(dict(VALID, item="battery\n"))


def test_non_objects_are_refused():
    for ev in (None, [], "event", 3):
        assert event_errors(ev) and not VALIDATOR.is_valid(ev)


def test_every_problem_of_an_event_is_named_with_the_schemas_words():
    ev = dict(VALID, bin="green", confidence=1.5, colour="red")
    del ev["rules"]
    assert sorted(event_errors(ev), key=lambda e: e["field"]) == [
        {"field": "bin", "message": "must be one of kitchen, recyclable, hazardous, other"},
        {"field": "colour", "message": "unknown field"},
        {"field": "confidence", "message": "must be a number from 0 to 1"},
        {"field": "rules", "message": "is required"},
    ]


def test_booleans_are_not_numbers():
    assert event_errors(dict(VALID, confidence=True)) == [
        {"field": "confidence", "message": "must be a number from 0 to 1"}]


def test_every_property_says_what_it_expects():
    assert all(prop.get("x-expected") for prop in SCHEMA["properties"].values())


def _finding(kind, **fields):
    ev = {k: VALID[k] for k in ("event_id", "ts", "station_id", "bin")}
    return dict(ev, type=kind, **fields)


def test_findings_carry_a_state_of_their_own_type():
    for kind, state in (("bin_full", "overflow"), ("bin_full", "full"), ("bin_full", "ok"),
                        ("litter", "litter"), ("litter", "clean"), ("bin_full", None)):
        ev = _finding(kind, **({"state": state} if state else {}))
        assert event_errors(ev) == [] and VALIDATOR.is_valid(ev), ev
    assert event_errors(_finding("litter", state="ok")) == [
        {"field": "state", "message": "must be one of litter, clean on a litter event"}]
    assert event_errors(_finding("bin_full", state="clean")) == [
        {"field": "state", "message": "must be one of full, overflow, ok on a bin_full event"}]
    assert event_errors(_finding("bin_full", state="gone"))[0]["field"] == "state"
    assert event_errors(dict(VALID, state="overflow")) == [
        {"field": "state", "message": "is not allowed on a disposal event"}]
    for ev in (_finding("litter", state="ok"), dict(VALID, state="overflow")):
        assert not VALIDATOR.is_valid(ev)
