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

    def _login(username: str, *, accept_agreement: bool = True) -> Client:
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": demo[username]["password"]})
        assert response.status_code == 302, f"login as {username} failed"
        second_factor_through_page(client, username=username, secret=demo[username]["totp_secret"])
        if accept_agreement:
            agreement_accept_through_page(client)
        return client

    return _login


def totp_code_fresh(*, username: str, secret: str) -> str:
    """A code of the demo account's authenticator app that the server will accept now.

    The server accepts each time step once (P28, replay protection), within one step of
    drift. The current step is preferred (it stays acceptable if a step boundary passes
    before the server checks it), then the next; a test that logs the same account in a
    third time within 30 seconds has used both, and the key's memory of the last step is
    cleared here, a test-only shortcut standing in for waiting half a minute.
    """
    import time

    import pyotp

    from mchis.accounts.models import ElectronicKey, KeyKind, KeyState

    key = ElectronicKey.objects.get(user__username=username, kind=KeyKind.TOTP, state=KeyState.ACTIVE)
    now = int(time.time() // 30)
    step = next((s for s in (now, now + 1) if key.last_step is None or s > key.last_step), None)
    if step is None:
        ElectronicKey.objects.filter(pk=key.pk).update(last_step=None)
        step = now
    return pyotp.TOTP(secret).generate_otp(step)


def second_factor_through_page(client: Client, *, username: str, secret: str) -> None:
    """Type the authenticator app's code on the verification page, as a person does (P28)."""
    code = totp_code_fresh(username=username, secret=secret)
    response = client.post("/accounts/keys/verify/", {"code": code})
    assert response.status_code == 302, f"second factor of {username} refused"


def agreement_accept_through_page(client: Client) -> None:
    """Accept the institution's current security agreement on its page, as a person does (P18).

    The last step of a login (password, second factor, agreement), like the gate order."""
    page = client.get("/accounts/agreement/")
    if page.status_code != 200 or not page.context["pending"]:
        return
    response = client.post("/accounts/agreement/", {"agreement": page.context["agreement"].pk, "accept": "on"})
    assert response.status_code == 302, "accepting the security agreement failed"
    # Follow the redirect as a browser does (it shows, and so consumes, the confirmation).
    client.get(response["Location"])


@pytest.fixture(autouse=True)
def audit_anchor_of_the_test(settings, tmp_path):
    """Each test's database starts its seal chain afresh: so does the chain head kept outside
    it (mchis/audit/anchors.py), or one test's head would stand against the next one's chain."""
    settings.MCHIS_AUDIT_ANCHOR_FILE = str(tmp_path / "audit-anchor")


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


@pytest.fixture(autouse=True)
def reference_data(request):
    """Transactional tests (`transaction=True`, a live server) run on a database that is
    flushed after each of them, which also empties the reference data that migrations
    install; the demo's pregnancies need the 2017 risk rule table: put it back first."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction"))
    )
    if not transactional:
        return
    import importlib

    from django.apps import apps

    from mchis.maternal.models import RiskRuleTable

    request.getfixturevalue("transactional_db")
    if not RiskRuleTable.objects.exists():
        importlib.import_module("mchis.maternal.migrations.0002_risk_rules_2017").install(apps, None)


class Installation:
    """An installation of its own in a temporary data dir, with its own SQLite database
    whichever database the suite runs on, driven through the `mchis` command in new
    processes, as an operator drives one."""

    def __init__(self, data_dir):
        import os

        self.data_dir = data_dir
        self.env = {**os.environ, "MCHIS_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "mchis.settings"}
        self.env.pop("DATABASE_URL", None)
        self.env.pop("MCHIS_KEYS_FILE", None)

    def run(self, *args: str, check: bool = True):
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "mchis", *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        if check and done.returncode != 0:
            raise AssertionError(f"mchis {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done


@pytest.fixture
def installation(tmp_path) -> Installation:
    return Installation(tmp_path)
