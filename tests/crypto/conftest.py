from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from mchis.crypto.keyring import keyring_reset, keys_begin_rotation, keys_finish_rotation, keys_init, keys_write
from tests.crypto.models import TABLES


@pytest.fixture(scope="session")
def crypto_tables(django_db_setup, django_db_blocker):
    """The isolated test models' tables, created once outside any test transaction (SQLite's
    schema editor refuses to run inside one)."""
    with django_db_blocker.unblock():
        with connection.schema_editor() as editor:
            for model in TABLES:
                editor.create_model(model)
        yield
        with connection.schema_editor() as editor:
            for model in TABLES:
                editor.delete_model(model)


@pytest.fixture
def tables(crypto_tables, db):
    """A test in a transaction, with the test models' tables."""


class KeyFile:
    """A key file of the test's own, so tests can add keys and rotate without touching others."""

    def __init__(self, path: Path):
        self.path = path

    def data(self) -> dict:
        return json.loads(self.path.read_text())

    def add_key(self, *, suite: str) -> str:
        """Add a key of `suite` and make it active (a finished rotation with no data rewritten)."""
        _, new = keys_begin_rotation(self.path, suite=suite)
        keys_finish_rotation(self.path)
        keyring_reset()
        return new

    def activate(self, kid: str) -> None:
        data = self.data()
        data["active"] = kid
        keys_write(self.path, data)
        keyring_reset()


@pytest.fixture
def keyfile(tmp_path, settings):
    path = tmp_path / "keys.json"
    keys_init(path, suite="intl")
    settings.MCHIS_KEYS_FILE = str(path)
    keyring_reset()
    yield KeyFile(path)
    keyring_reset()
