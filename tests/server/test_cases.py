"""The case rules on their own (server/cases.py): the state machine, the
levels, the request checks and the month's figures, without a store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.cases import STATES, TRANSITIONS, UNRESOLVED, age_level, current_level, parse_transition, summary, transition_change, utc_iso
from server.errors import ApiError

from .support import make_settings

SETTINGS = make_settings("unused.db")
T0 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


def case(kind="overflow", opened=T0, resolved=None, state=None, station="st-a", level=0, closed=None):
    return {"id": 1, "kind": kind, "station_id": station, "opened_at": utc_iso(opened),
            "resolved_at": utc_iso(resolved) if resolved else None,
            "closed_at": utc_iso(closed) if closed else None, "level": level,
            "state": state or ("resolved" if resolved else "open"), "assignee": ""}


def test_every_state_is_reached_from_open_and_the_final_ones_go_nowhere():
    reached, todo = {"open"}, ["open"]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    assert reached == set(STATES)
    assert TRANSITIONS["closed"] == TRANSITIONS["false_alarm"] == ()
    assert all("open" not in TRANSITIONS[s] for s in STATES)   # nothing goes back
    assert set(UNRESOLVED) == {"open", "dispatched"}


def test_levels_by_age_stop_rising_once_resolved():
    assert age_level(utc_iso(T0), T0 + timedelta(minutes=29), SETTINGS) == 0
    assert age_level(utc_iso(T0), T0 + timedelta(minutes=30), SETTINGS) == 1
    assert age_level(utc_iso(T0), T0 + timedelta(minutes=120), SETTINGS) == 2
    later = T0 + timedelta(days=1)
    assert current_level(case(), later, SETTINGS) == 2
    assert current_level(case(resolved=T0 + timedelta(minutes=40)), later, SETTINGS) == 1
    assert current_level(case(level=3, resolved=T0 + timedelta(minutes=5)), later, SETTINGS) == 3
    assert current_level(case(state="false_alarm", closed=T0 + timedelta(minutes=1)), later, SETTINGS) == 0


def test_a_transition_the_state_does_not_allow_names_the_allowed_ones():
    change = transition_change(parse_transition({"to": "closed"}), lambda c, to: None)
    with pytest.raises(ApiError) as err:
        change(case(), utc_iso(T0))
    assert err.value.status == 400 and "dispatched, resolved, false_alarm" in err.value.message
    updates, history = transition_change(parse_transition({"to": "resolved", "note": " 已清 "}),
                                         lambda c, to: None)(case(), "NOW")
    assert updates == {"state": "resolved", "resolved_at": "NOW", "open_key": None}
    assert history == {"action": "resolved", "note": "已清"}


@pytest.mark.parametrize("body", [None, [], {"to": ""}, {"to": "resolved", "extra": 1},
                                  {"to": "dispatched", "assignee": "保洁 010-12345678"},
                                  {"to": "dispatched", "assignee": "１３９１２３４５６７８"},
                                  {"to": "closed", "outcome": "great"}, {"to": "resolved", "note": 5}])
def test_bad_requests(body):
    with pytest.raises(ApiError) as err:
        parse_transition(body)
    assert err.value.status == 400


def test_the_months_figures():
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    opened = [case(resolved=T0 + timedelta(minutes=60)), case(resolved=T0 + timedelta(minutes=90)),
              case(resolved=T0 + timedelta(minutes=120)), case("litter"),
              case("litter", state="false_alarm", closed=T0)]
    overflows = opened[:3] + [
        case(opened=start - timedelta(hours=5), resolved=start + timedelta(hours=2), station="st-b"),
        case(opened=end - timedelta(hours=1), station="st-c")]        # still open at the end
    figures = summary(opened, overflows, start, end, end + timedelta(days=3))
    assert figures["opened"] == 5 and figures["false_alarms"] == 1 and figures["resolved"] == 3
    assert figures["rectification_rate"] == pytest.approx(3 / 4)
    assert figures["resolve_seconds"] == {"median": 5400.0, "p90": pytest.approx(6840.0), "count": 3}
    assert figures["overflow_hours"] == [{"station_id": "st-a", "hours": 4.5},
                                         {"station_id": "st-b", "hours": 2.0},
                                         {"station_id": "st-c", "hours": 1.0}]
    assert summary([], [], start, end, end)["rectification_rate"] is None
