from __future__ import annotations

import pytest
from django.test import Client

from mchis.demo.generator import demo_load, demo_plan


def pytest_configure(config):
    import tempfile
    from pathlib import Path

    from django.conf import settings

    from mchis.crypto.keyring import keyring_reset, keys_init

    # Each test session gets its own data keys, outside the repository and the data dir.
    keys_dir = Path(tempfile.mkdtemp(prefix="mchis-test-keys-"))
    settings.MCHIS_KEYS_FILE = str(keys_dir / "keys.json")
    keys_init(Path(settings.MCHIS_KEYS_FILE))
    keyring_reset()

    # Tests render pages without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def fast_passwords(settings):
    # Argon2 is the production hasher (see test_security_defaults); tests that create many
    # accounts use a fast one so the suite stays quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(db, fast_passwords):
    """The small synthetic county, loaded through the real generator. Returns credentials by username."""
    credentials = demo_load(demo_plan("small"))
    return {c["username"]: c for c in credentials}


@pytest.fixture
def login(demo):
    """A client signed in as the named demo account."""

    def _login(username: str) -> Client:
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": demo[username]["password"]})
        assert response.status_code == 302, f"login as {username} failed"
        return client

    return _login


@pytest.fixture(autouse=True)
def english_outside_requests():
    """Unit tests read rule messages in English; pages pick their language per request
    (Chinese by default), which tests of the shell check."""
    from django.utils import translation

    with translation.override("en"):
        yield
