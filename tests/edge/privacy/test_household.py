"""Household tokens: from a line reader, attached within a window, never logged in clear."""
import logging

from edge.privacy.household import HouseholdTokens, LineReader, token_hash
from tests.polling import wait_until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_token_is_attached_once_within_the_window():
    clock = Clock()
    tokens = HouseholdTokens(window=10, clock=clock)
    tokens.offer("hh-5f1c9e\n")
    clock.now += 3
    assert tokens.take() == "hh-5f1c9e"
    assert tokens.take() is None
    tokens.offer("hh-aaaa")
    clock.now += 11
    assert tokens.take() is None  # expired


def test_bad_lines_are_ignored():
    tokens = HouseholdTokens(window=10)
    for line in ("", "   ", "a b c d", "x" * 100, "\x00\x01bad"):
        tokens.offer(line)
    assert tokens.take() is None and tokens.invalid == 3


def test_a_phone_number_is_never_taken_for_a_household(caplog):
    caplog.set_level(logging.DEBUG)
    tokens = HouseholdTokens(window=10)
    for line in ("13812345678", "138-1234-5678", "8613812345678", "010-6234-5678"):
        tokens.offer(line)
        assert tokens.take() is None, line
    assert tokens.invalid == 4
    assert "1234" not in caplog.text
    tokens.offer("62345678")         # a card serial of eight digits is allowed
    assert tokens.take() == "62345678"


def test_reader_follows_a_file_and_never_logs_the_token(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "reader.txt"
    path.write_text("hh-old-token\n")  # already there before start: not a new card
    tokens = HouseholdTokens(window=10)
    reader = LineReader(path, tokens, poll=0.02)
    reader.start()
    try:
        assert wait_until(lambda: reader.state == "ok", timeout=5)  # at the end of the file
        with open(path, "a") as f:
            f.write("hh-secret-42\n")
        assert wait_until(lambda: tokens.read > 0, timeout=5)
        assert tokens.take() == "hh-secret-42"
    finally:
        reader.stop()
        reader.join(2)
    assert "hh-secret-42" not in caplog.text
    assert token_hash("hh-secret-42") in caplog.text
    assert "hh-old-token" not in caplog.text


def test_reader_on_a_fifo_with_carriage_returns(tmp_path):
    import os
    path = tmp_path / "fifo"
    os.mkfifo(path)
    tokens = HouseholdTokens(window=10)
    reader = LineReader(path, tokens, poll=0.02)
    reader.start()
    try:
        fd = os.open(path, os.O_WRONLY)  # blocks until the reader opened it
        os.write(fd, b"hh-one\r")
        assert wait_until(lambda: tokens.read > 0, timeout=5)
        assert tokens.take() == "hh-one"
        os.close(fd)
    finally:
        reader.stop()
    reader.join(3)


def test_a_token_read_after_a_disposal_ended_waits_for_the_next_even_when_judging_lags():
    """The next resident scans their card while the camera is still judging the
    previous disposal: the token belongs to the next disposal, not the one
    being judged."""
    from types import SimpleNamespace

    from edge.events import EventMaker

    clock = Clock()
    wall = Clock()
    wall.now = 1_800_000_000.0
    tokens = HouseholdTokens(window=15, clock=clock)
    maker = EventMaker(SimpleNamespace(station=SimpleNamespace(id="st-a"), tz=None),
                       SimpleNamespace(model="m@1", rules=SimpleNamespace(tag="beijing@2020.1")), tokens,
                       wall_clock=wall)
    judged = SimpleNamespace(item="food_waste", category="kitchen", verdict="correct", confidence=0.9)

    def disposal(ended_ago):
        return SimpleNamespace(category="kitchen", bin="kitchen", start_index=0, start_t=0.0,
                               start_wall=wall.now - ended_ago - 2, end_wall=wall.now - ended_ago)

    tokens.offer("hh-next-resident")          # read 3 s after the previous disposal ended...
    event = maker.event(disposal(ended_ago=3.0), judged)
    assert "household" not in event           # ...so not the previous disposal's
    clock.now += 5
    wall.now += 5
    event = maker.event(disposal(ended_ago=0.5), judged)
    assert event["household"] == "hh-next-resident"


def test_every_accepted_token_is_passed_on_and_nothing_else():
    passed = []
    tokens = HouseholdTokens(window=10, on_read=passed.append)
    for line in ("hh-1\n", "", "13812345678", "a b", "hh-2\r"):
        tokens.offer(line)
    assert passed == ["hh-1", "hh-2"]
