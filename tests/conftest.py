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


@pytest.fixture
def actors(demo):
    """Demo users by username (with a clinician added in the second county)."""
    from mchis.accounts.models import User
    from mchis.accounts.services import role_grant, user_create
    from mchis.demo.generator import demo_plan
    from mchis.orgs.models import Institution, InstitutionKind

    second_county = [r.code for r in demo_plan("small").regions if r.level == 3][1]
    centre = (
        Institution.objects.filter(kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE, region__parent__code=second_county)
        .order_by("code")
        .first()
    )
    other = user_create(
        username="clinician.other", display_name="邻县医生", institution=centre, password="Xy7!other-county"
    )
    role_grant(user=other, role="clinician", institution=centre)
    return {u.username: u for u in User.objects.all()}


@pytest.fixture
def persons(actors):
    """P_a at the county MCH hospital, P_b at township centre 1, P_c in the second county."""
    from datetime import date

    from mchis.people.identifiers import id_make
    from mchis.people.services import person_register

    def register(username, seq, name):
        actor = actors[username]
        number = id_make(
            area_code=actor.institution.region_path.split("/")[4][:6], born=date(1992, 5, seq), sequence=seq * 2
        )
        person, _created = person_register(
            actor=actor,
            institution=actor.institution,
            document_type="resident_id",
            document_number=number,
            name=name,
            sex=2,
            birth_date=date(1992, 5, seq),
            phone=f"1390000{seq:04d}",
            address="某村1号",
        )
        return person

    return {
        "P_a": register("clinician.mch", 1, "甲女士"),
        "P_b": register("clinician.thc1", 2, "乙女士"),
        "P_c": register("clinician.other", 3, "丙女士"),
    }
