"""Cards read at the station go to its tablet: the scan sender against the
real server on loopback (tests/edge/real_server.py), with its faults."""
import sqlite3

from edge.privacy.household import HouseholdTokens
from edge.uploader import Client
from edge.uploader.scans import ScanSender
from tests.polling import wait_until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def stored(server) -> list[tuple]:
    with sqlite3.connect(server.db) as conn:
        return conn.execute("SELECT station_id, household FROM card_scans ORDER BY id").fetchall()


def sender(server, **kw) -> ScanSender:
    kw.setdefault("retry", 0.05)
    return ScanSender(Client(server.url, server.device_id, server.token, timeout=2.0), **kw)


def test_a_card_read_reaches_the_server_for_the_tablet(real_server):
    s = sender(real_server)
    tokens = HouseholdTokens(window=10, on_read=s.offer)
    s.start()
    try:
        tokens.offer("hh-5f1c9e\n")
        tokens.offer("13812345678")                   # a phone number is never read, nor passed on
        assert wait_until(lambda: s.sent == 1, timeout=5)
    finally:
        s.stop()
        s.join(5)
    assert stored(real_server) == [("st-t", "hh-5f1c9e")]
    assert tokens.take() == "hh-5f1c9e"                # and the disposal still gets it


def test_a_network_error_is_retried_briefly(real_server):
    real_server.faults += [503, "disconnect"]
    s = sender(real_server)
    s.start()
    try:
        s.offer("hh-1")
        assert wait_until(lambda: s.sent == 1, timeout=5)
    finally:
        s.stop()
        s.join(5)
    assert [r for r in real_server.requests if r[1] == "/api/v1/scans"][-1][2] == 202
    assert stored(real_server) == [("st-t", "hh-1")]


def test_a_card_too_old_for_the_tablet_is_dropped_not_sent(real_server):
    clock = Clock()
    s = sender(real_server, clock=clock, max_age=10)
    s.offer("hh-late")
    clock.now += 11            # the network was away while the resident stood there
    s._deliver(*s.queue.get_nowait())
    assert (s.sent, s.dropped) == (0, 1)
    assert stored(real_server) == []


def test_a_refused_card_is_dropped_at_once(real_server):
    s = sender(real_server)
    s._deliver("x" * 65, s.clock())           # not a token the server takes
    assert (s.sent, s.dropped) == (0, 1)
    assert [r[2] for r in real_server.requests if r[1] == "/api/v1/scans"] == [400]


def test_a_full_queue_drops_the_oldest_card():
    s = ScanSender(client=None)
    for k in range(12):
        s.offer(f"hh-{k}")
    assert s.dropped == 4
    assert s.queue.get_nowait()[0] == "hh-4"
