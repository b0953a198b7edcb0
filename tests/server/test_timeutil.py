from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.timeutil import beijing, make_period, parse_ts, periods_of_day


def test_month_and_inspection_periods():
    m = make_period("2026-11")
    assert (m.start, m.end, m.days) == (date(2026, 11, 1), date(2026, 11, 30), 30)
    i = make_period("2026-01", "inspection")
    assert (i.start, i.end) == (date(2025, 12, 20), date(2026, 1, 19))
    assert make_period("2026-03").previous().label == "2026-02"
    assert make_period("2026-01").previous().label == "2025-12"


@pytest.mark.parametrize("label, kind", [("2026-13", "month"), ("26-01", "month"),
                                         ("2026-01", "weekly"), ("", "month")])
def test_bad_periods(label, kind):
    with pytest.raises(ValueError):
        make_period(label, kind)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_a_day_lies_in_the_periods_it_is_filed_under(day):
    for kind, label in periods_of_day(day).items():
        period = make_period(label, kind)
        assert period.start <= day <= period.end


def test_timestamps_need_an_offset_and_days_are_beijing_days():
    with pytest.raises(ValueError):
        parse_ts("2026-11-29T07:42:13")
    late_utc = parse_ts("2026-11-29T17:30:00Z")
    assert beijing(late_utc).date() == date(2026, 11, 30)
    assert beijing(late_utc).utcoffset() == timedelta(hours=8)
