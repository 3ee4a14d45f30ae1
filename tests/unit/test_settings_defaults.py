"""Defaults a deployment relies on across upgrades: where the SQLite database lives."""

from __future__ import annotations

from pathlib import Path

from slipstream.config import Settings


def test_the_default_database_is_slipstream_db_in_the_home(tmp_path: Path):
    # The file name is part of every existing installation: renaming it would start them on an empty database.
    assert Settings(home=tmp_path).database_url == f"sqlite:///{tmp_path / 'slipstream.db'}"


def test_an_explicit_database_url_is_kept(tmp_path: Path):
    url = "postgresql+psycopg://localhost/test"
    assert Settings(home=tmp_path, database_url=url).database_url == url
