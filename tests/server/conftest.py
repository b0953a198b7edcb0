"""Fixtures over a fresh temporary SQLite file for every test."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server import create_app

from .support import City, make_settings


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "sortwatch.db"


@pytest.fixture
def app(db_path):
    return create_app({"SETTINGS": make_settings(db_path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def city_template(tmp_path_factory):
    """The small city is built once through the real commands (password
    hashing and fsyncs make that slow), then each test gets a copy of the file."""
    folder = tmp_path_factory.mktemp("city")
    app = create_app({"SETTINGS": make_settings(folder / "city.db"), "TESTING": True})
    return folder / "city.db", City(app.test_cli_runner(), folder)


@pytest.fixture
def city(app, db_path, city_template) -> City:
    template, built = city_template
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, db_path)
    built.runner = app.test_cli_runner()
    return built
