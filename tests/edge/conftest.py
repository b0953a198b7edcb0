"""Fixtures of the edge tests; the helpers live in real_server.py and edge_doubles.py."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import edge_doubles  # noqa: E402
from real_server import RealServer  # noqa: E402


@pytest.fixture
def real_server(tmp_path):
    """The real app on loopback, a fresh database, station st-t and its device dev-st-t."""
    server = RealServer(tmp_path / "server")
    yield server
    server.stop()


@pytest.fixture
def colour_items(tmp_path):
    return edge_doubles.make_colour_items(tmp_path / "items")


@pytest.fixture
def colour_classifier():
    return edge_doubles.ColourClassifier()
