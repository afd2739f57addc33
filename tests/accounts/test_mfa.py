"""Electronic keys, the second factor (P28, P29): enrolment, verification, recovery codes,
the gates, loss and the key register, WebAuthn ceremonies, the demo's keys."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re

import cbor2
import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import Client

from mchis.access.errors import RecordNotFound
from mchis.accounts import mfa
from mchis.accounts.models import (
    ElectronicKey,
    KeyEventKind,
    KeyKind,
    KeyState,
    LoginFailure,
    Notice,
    RecoveryCode,
    User,
    UserSession,
)
from mchis.accounts.services import role_grant, user_create
from mchis.audit.models import AuditEvent
from mchis.demo.generator import demo_plan, demo_totp_secret
from tests.conftest import agreement_accept_through_page, second_factor_through_page

pytestmark = pytest.mark.django_db

PASSWORD = "Xy7!fresh-start-9"
ENROL = "/accounts/keys/enrol/"
VERIFY = "/accounts/keys/verify/"


# --- helpers ---------------------------------------------------------------------------


def english(client: Client) -> Client:
    """Pages in English, so tests read the messages whatever translations are compiled."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def password_only(username: str, password: str) -> Client:
    """A client past the password step only (pages in English)."""
    client = english(Client())
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302, f"password login as {username} failed"
    return client


def active_key(username: str) -> ElectronicKey:
    return ElectronicKey.objects.get(user__username=username, state=KeyState.ACTIVE)


def events(key: ElectronicKey) -> list[str]:
    return list(key.events.order_by("at", "id").values_list("kind", flat=True))


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


@pytest.fixture
def clock(monkeypatch):
    """The TOTP clock, held in the middle of a time step; move it with `clock[0] += 30`."""
    now = [1_900_000_005.0 + 15]
    monkeypatch.setattr(mfa, "_clock", lambda: now[0])
    return now


@pytest.fixture
def newcomer(demo):
    """A clinician at township centre 1 with a password and no electronic key yet."""
    institution = User.objects.get(username="clinician.thc1").institution
    user = user_create(username="newcomer", display_name="新来的医生", institution=institution, password=PASSWORD)
    role_grant(user=user, role="clinician", institution=institution)
    return user


def enrol_totp(user: User) -> tuple[ElectronicKey, list[str]]:
    """Enrol an authenticator app through the services (the pages are tested separately)."""
    key = mfa.totp_key_start(user=user, label="手机")
    key, codes = mfa.totp_key_activate(user=user, key_id=key.pk, code=pyotp.TOTP(key.secret).now())
    return key, codes


# --- TOTP enrolment through the pages ------------------------------------------------------


def test_an_account_without_a_key_is_held_on_enrolment_and_sees_no_data(newcomer):
    client = password_only("newcomer", PASSWORD)
    for url in ["/", "/people/", "/orgs/mine/", "/accounts/keys/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == ENROL, url
    api = client.get("/api/v1/institutions/")
    assert api.status_code == 403 and api.json()["gate"] == "accounts:mfa_enrol"
    assert client.get(ENROL).status_code == 200


def test_enrolling_an_authenticator_app_shows_secret_and_qr_and_needs_a_right_code(newcomer):
    client = password_only("newcomer", PASSWORD)
    response = client.post("/accounts/keys/enrol/app/", {"label": "我的手机"})
    key = ElectronicKey.objects.get(user=newcomer)
    assert response["Location"] == f"/accounts/keys/enrol/app/{key.pk}/"
    assert key.state == KeyState.PENDING and key.kind == KeyKind.TOTP and key.label == "我的手机"
    page = client.get(response["Location"]).content.decode()
    assert mfa.totp_secret_format(key.secret) in page
    assert 'src="data:image/svg+xml' in page

    wrong = client.post(response["Location"], {"code": "000000" if pyotp.TOTP(key.secret).now() != "000000" else "1"})
    assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    key.refresh_from_db()
    assert key.state == KeyState.PENDING

    session_before = client.cookies["mchis_session"].value
    done = client.post(response["Location"], {"code": pyotp.TOTP(key.secret).now()})
    # The first key's recovery codes are shown in the answer itself, once, and kept nowhere.
    shown = re.findall(r'<code class="fs-5">([0-9A-Z-]+)</code>', done.content.decode())
    assert done.status_code == 200 and len(shown) == 10
    assert "no-store" in done["Cache-Control"]
    assert not any(code in json.dumps(dict(client.session.items())) for code in shown)
    # Enrolling verified this session, under a new session id.
    assert client.cookies["mchis_session"].value != session_before
    key.refresh_from_db()
    assert key.state == KeyState.ACTIVE and key.activated_at is not None and key.last_step is not None
    assert events(key) == [KeyEventKind.ISSUED, KeyEventKind.ACTIVATED]
    agreement_accept_through_page(client)
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(
        object_type="accounts.electronickey", object_ids=str(key.pk), reason__contains="activated"
    ).exists()


def test_starting_again_continues_the_same_enrolment(newcomer):
    first = mfa.totp_key_start(user=newcomer, label="a")
    again = mfa.totp_key_start(user=newcomer, label="b")
    assert again.pk == first.pk and again.secret == first.secret
    assert ElectronicKey.objects.filter(user=newcomer).count() == 1


def test_the_totp_secret_is_encrypted_at_rest_and_bound_to_its_row(newcomer):
    from mchis.crypto.fields import DecryptionError

    key = mfa.totp_key_start(user=newcomer)
    other = mfa.totp_key_start(user=User.objects.get(username="clinician.mch"))
    stored = ElectronicKey.objects.filter(pk=key.pk).values_list("secret", flat=True).get()
    assert key.secret not in stored.token
    assert stored.decrypt(pk=key.pk) == key.secret
    with pytest.raises(DecryptionError):
        stored.decrypt(pk=other.pk)


def test_the_first_key_brings_ten_recovery_codes_a_second_key_none(newcomer):
    _key, codes = enrol_totp(newcomer)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=newcomer).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h for c in codes for h in stored)  # hashes, never the codes
    second = mfa.totp_key_start(user=newcomer, label="备用手机")
    second, more = mfa.totp_key_activate(user=newcomer, key_id=second.pk, code=pyotp.TOTP(second.secret).now())
    assert more is None and RecoveryCode.objects.filter(user=newcomer).count() == 10


# --- verification: TOTP ------------------------------------------------------------------


def test_a_password_alone_reaches_only_the_verification_page(demo):
    client = password_only("clinician.thc1", demo["clinician.thc1"]["password"])
    for url in ["/", "/people/", ENROL, "/accounts/keys/enrol/app/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == VERIFY, url
    # No key can be added by someone who has only the password.
    client.post("/accounts/keys/enrol/app/", {"label": "attacker"})
    assert not ElectronicKey.objects.filter(label="attacker").exists()
    api = client.get("/api/v1/institutions/")
    assert api.status_code == 403 and api.json()["gate"] == "accounts:mfa_verify"

    before = client.cookies["mchis_session"].value
    second_factor_through_page(client, username="clinician.thc1", secret=demo["clinician.thc1"]["totp_secret"])
    assert client.cookies["mchis_session"].value != before  # the id rotates at the privilege change
    agreement_accept_through_page(client)
    assert client.get("/people/").status_code == 200
    key = active_key("clinician.thc1")
    assert key.last_used_at is not None
    assert AuditEvent.objects.filter(
        action="security", actor_username="clinician.thc1", reason="second factor verified (totp)"
    ).exists()


def test_a_wrong_code_is_refused_and_audited(demo, clock):
    user = User.objects.get(username="clinician.thc1")
    right = code_at(demo["clinician.thc1"]["totp_secret"], int(clock[0] // 30))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(ValidationError) as exc:
        mfa.second_factor_verify(user=user, code=wrong)
    assert exc.value.message_dict == {"code": ["The code is not correct."]}
    failed = AuditEvent.objects.get(action="login_failed", actor_username="clinician.thc1")
    assert failed.outcome == "failed" and "wrong code" in failed.reason and wrong not in str(failed.extra)
    assert LoginFailure.objects.filter(subject=f"otp:{user.pk}").count() == 1


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_clock_drift_is_accepted_two_are_not(demo, clock, offset, accepted):
    user = User.objects.get(username="clinician.thc1")
    step = int(clock[0] // 30) + offset
    code = code_at(demo["clinician.thc1"]["totp_secret"], step)
    if accepted:
        verified = mfa.second_factor_verify(user=user, code=code)
        assert verified.mark == str(active_key("clinician.thc1").pk)
        assert active_key("clinician.thc1").last_step == step
    else:
        with pytest.raises(ValidationError):
            mfa.second_factor_verify(user=user, code=code)


def test_a_code_is_never_accepted_twice_nor_an_older_one_after_it(demo, clock):
    user = User.objects.get(username="clinician.thc1")
    secret = demo["clinician.thc1"]["totp_secret"]
    now = int(clock[0] // 30)
    mfa.second_factor_verify(user=user, code=code_at(secret, now))
    with pytest.raises(ValidationError) as exc:
        mfa.second_factor_verify(user=user, code=code_at(secret, now))
    assert "already used" in exc.value.message_dict["code"][0]
    with pytest.raises(ValidationError):
        mfa.second_factor_verify(user=user, code=code_at(secret, now - 1))
    # The next step's code is new, and so accepted.
    mfa.second_factor_verify(user=user, code=code_at(secret, now + 1))
    assert AuditEvent.objects.filter(action="login_failed", reason__contains="code already used").count() == 2


def test_repeated_wrong_codes_lock_the_second_factor_even_for_the_right_code(demo, clock, settings):
    user = User.objects.get(username="clinician.thc1")
    right = code_at(demo["clinician.thc1"]["totp_secret"], int(clock[0] // 30))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _attempt in range(settings.MCHIS_LOCKOUT_FAILURES - 1):
        with pytest.raises(ValidationError):
            mfa.second_factor_verify(user=user, code=wrong)
    with pytest.raises(ValidationError) as exc:
        mfa.second_factor_verify(user=user, code=wrong)
    assert "Too many wrong attempts" in exc.value.message_dict["code"][0]
    with pytest.raises(ValidationError) as exc:
        mfa.second_factor_verify(user=user, code=right)
    assert "Too many wrong attempts" in exc.value.message_dict["code"][0]
    assert active_key("clinician.thc1").last_step is None


def test_the_verification_page_refuses_a_wrong_code_and_stays_held(demo):
    client = password_only("info.mch", demo["info.mch"]["password"])
    response = client.post(VERIFY, {"code": "12345x"})
    assert response.status_code == 200 and "not correct" in response.content.decode()
    assert client.get("/")["Location"] == VERIFY


# --- recovery codes ------------------------------------------------------------------------


def test_a_recovery_code_verifies_once(newcomer):
    _key, codes = enrol_totp(newcomer)
    verified = mfa.second_factor_verify(user=newcomer, code=codes[0].lower().replace("-", " "))
    assert verified.mark.startswith(f"{mfa.RECOVERY_MARK}:") and verified.codes_left == 9
    with pytest.raises(ValidationError):
        mfa.second_factor_verify(user=newcomer, code=codes[0])
    assert RecoveryCode.objects.filter(user=newcomer, used_at__isnull=False).count() == 1


def test_a_recovery_code_opens_a_session_through_the_page(newcomer):
    _key, codes = enrol_totp(newcomer)
    client = password_only("newcomer", PASSWORD)
    response = client.post(VERIFY, {"code": codes[3]})
    assert response.status_code == 302
    agreement_accept_through_page(client)
    assert client.get("/").status_code == 200
    other = password_only("newcomer", PASSWORD)
    assert other.post(VERIFY, {"code": codes[3]}).status_code == 200  # used up


def test_regenerating_recovery_codes_invalidates_the_old_ones(newcomer):
    _key, old = enrol_totp(newcomer)
    new = mfa.recovery_codes_generate(user=newcomer)
    assert set(new).isdisjoint(old) and RecoveryCode.objects.filter(user=newcomer).count() == 10
    with pytest.raises(ValidationError):
        mfa.second_factor_verify(user=newcomer, code=old[0])
    assert mfa.second_factor_verify(user=newcomer, code=new[0]).mark.startswith(f"{mfa.RECOVERY_MARK}:")


def test_a_new_set_of_codes_ends_the_sessions_the_old_ones_opened(newcomer):
    """Codes seen by someone else: the holder makes a new set, and a session opened with
    one of the old codes must verify again (P28)."""
    _key, old = enrol_totp(newcomer)
    intruder = password_only("newcomer", PASSWORD)
    assert intruder.post(VERIFY, {"code": old[0]}).status_code == 302
    agreement_accept_through_page(intruder)
    assert intruder.get("/").status_code == 200
    mfa.recovery_codes_generate(user=newcomer)
    assert intruder.get("/")["Location"] == VERIFY


def test_the_holder_regenerates_codes_on_the_page_and_sees_them_once(login):
    client = english(login("clinician.thc1"))
    assert "Unused recovery codes: 0." in client.get("/accounts/keys/").content.decode()
    response = client.post("/accounts/keys/recovery-codes/")
    assert response.status_code == 200 and response.content.decode().count('<code class="fs-5">') == 10
    assert client.get("/accounts/keys/recovery-codes/").status_code == 405  # shown once, never fetched again
    assert "Unused recovery codes: 10." in client.get("/accounts/keys/").content.decode()


def test_without_a_key_there_are_no_recovery_codes(newcomer):
    with pytest.raises(ValidationError):
        mfa.recovery_codes_generate(user=newcomer)


# --- who must have a key ------------------------------------------------------------------


def test_the_requirement_follows_the_role_setting(newcomer, settings):
    settings.MCHIS_MFA_REQUIRED_ROLES = ["security_admin"]
    client = password_only("newcomer", PASSWORD)
    agreement_accept_through_page(client)
    assert client.get("/").status_code == 200  # a clinician needs no key here

    settings.MCHIS_MFA_REQUIRED_ROLES = ["clinician", "security_admin"]
    assert client.get("/")["Location"] == ENROL

    settings.MCHIS_MFA_REQUIRED_ROLES = ["none"]
    assert client.get("/").status_code == 200


def test_an_account_with_a_key_verifies_it_even_when_its_role_needs_none(demo, settings):
    settings.MCHIS_MFA_REQUIRED_ROLES = ["security_admin"]
    client = password_only("clinician.thc1", demo["clinician.thc1"]["password"])
    assert client.get("/")["Location"] == VERIFY


def test_an_unknown_role_in_the_setting_is_a_configuration_error(settings, newcomer):
    settings.MCHIS_MFA_REQUIRED_ROLES = ["clinican"]
    with pytest.raises(ImproperlyConfigured):
        mfa.mfa_required(user=newcomer)


def test_by_default_even_an_account_without_a_role_needs_a_key(demo):
    institution = User.objects.get(username="clinician.thc1").institution
    user_create(username="norole", display_name="无角色", institution=institution, password=PASSWORD)
    assert password_only("norole", PASSWORD).get("/")["Location"] == ENROL


# --- my keys: loss ---------------------------------------------------------------------


def test_a_key_reported_lost_is_revoked_at_once_and_the_register_keepers_are_told(login, demo):
    client = login("clinician.thc1")
    elsewhere = login("clinician.thc1")
    key = active_key("clinician.thc1")
    holder = User.objects.get(username="clinician.thc1")
    epoch = holder.privilege_epoch
    assert f"/accounts/keys/{key.pk}/lost/" in client.get("/accounts/keys/").content.decode()

    # Without the confirmation box nothing happens.
    client.post(f"/accounts/keys/{key.pk}/lost/")
    key.refresh_from_db()
    assert key.state == KeyState.ACTIVE

    response = client.post(f"/accounts/keys/{key.pk}/lost/", {"confirm": "on"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.state == KeyState.LOST and key.ended_at is not None
    assert events(key)[-1] == KeyEventKind.LOST
    holder.refresh_from_db()
    assert holder.privilege_epoch > epoch
    # The other session is over; this one is no longer verified (its key is gone), and with
    # no key left the holder must enrol a new one.
    assert elsewhere.get("/")["Location"].startswith("/accounts/login/")
    assert client.get("/")["Location"] == ENROL
    assert UserSession.objects.filter(user=holder, ended_at__isnull=True).count() == 1
    told = set(Notice.objects.filter(kind="key_lost").values_list("recipient__username", flat=True))
    assert told == {"custodian.thc1", "secadmin"}
    notice = Notice.objects.filter(kind="key_lost").first()
    assert "clinician.thc1" in notice.title and notice.url == "/accounts/keys/register/"
    assert AuditEvent.objects.filter(object_ids=str(key.pk), reason="electronic key reported lost and revoked").exists()


def test_a_lost_key_no_longer_verifies(demo, clock):
    holder = User.objects.get(username="clinician.thc1")
    key = active_key("clinician.thc1")
    mfa.key_report_lost(user=holder, key_id=key.pk)
    with pytest.raises(ValidationError):
        mfa.second_factor_verify(user=holder, code=code_at(demo["clinician.thc1"]["totp_secret"], int(clock[0] // 30)))
    # A new login is sent to enrolment, not to verification with the lost key.
    assert password_only("clinician.thc1", demo["clinician.thc1"]["password"]).get("/")["Location"] == ENROL


def test_losing_one_of_two_keys_ends_only_the_verification_it_gave(newcomer):
    phone, codes = enrol_totp(newcomer)
    spare = mfa.totp_key_start(user=newcomer, label="备用")
    spare, _none = mfa.totp_key_activate(user=newcomer, key_id=spare.pk, code=pyotp.TOTP(spare.secret).now())
    client = password_only("newcomer", PASSWORD)
    assert client.post(VERIFY, {"code": codes[0]}).status_code == 302  # a recovery-code session
    agreement_accept_through_page(client)
    mfa.key_report_lost(user=newcomer, key_id=phone.pk, keep_session_key=client.session.session_key)
    # The spare key is still in use; a session verified by a recovery code is not tied to the lost key.
    assert client.get("/").status_code == 200
    assert RecoveryCode.objects.filter(user=newcomer, used_at__isnull=True).count() == 9


def test_losing_the_last_key_takes_the_recovery_codes_with_it(newcomer):
    key, _codes = enrol_totp(newcomer)
    mfa.key_report_lost(user=newcomer, key_id=key.pk)
    assert not RecoveryCode.objects.filter(user=newcomer, used_at__isnull=True).exists()


def test_nobody_reports_someone_elses_key_lost(demo):
    key = active_key("clinician.thc1")
    with pytest.raises(RecordNotFound):
        mfa.key_report_lost(user=User.objects.get(username="clinician.mch"), key_id=key.pk)
    key.refresh_from_db()
    assert key.state == KeyState.ACTIVE


# --- the key register ------------------------------------------------------------------


def register_holders(client: Client) -> set[str]:
    html = client.get("/accounts/keys/register/").content.decode()
    return {u for u in User.objects.values_list("username", flat=True) if f"({u})" in html}


def test_a_custodian_sees_only_the_keys_of_their_institution(login):
    thc1 = register_holders(login("custodian.thc1"))
    assert thc1 == {"clinician.thc1", "custodian.thc1", "leader.thc1"}
    mch = register_holders(login("custodian.mch"))
    assert "clinician.mch" in mch and "clinician.thc1" not in mch and "clinician.thc2" not in mch


def test_a_security_administrator_sees_the_keys_of_their_jurisdiction(login):
    seen = register_holders(login("secadmin"))
    assert {"clinician.thc1", "clinician.thc2", "clinician.mch", "healthadmin.county"} <= seen
    assert not seen & {"info.city", "healthadmin.city", "healthadmin.province"}


def test_the_register_is_closed_to_other_roles(login):
    assert login("clinician.thc1").get("/accounts/keys/register/").status_code == 404
    assert login("auditadmin").get("/accounts/keys/register/").status_code == 404


def test_the_custodian_records_a_key_returned_and_revokes_another(login, demo):
    custodian = login("custodian.thc1")
    key = active_key("clinician.thc1")
    response = custodian.post(
        f"/accounts/keys/register/{key.pk}/returned/", {"note": "调岗交回", "back": "?state=active"}
    )
    assert response["Location"] == "/accounts/keys/register/?state=active"
    key.refresh_from_db()
    assert key.state == KeyState.RETURNED and events(key)[-1] == KeyEventKind.RETURNED
    assert key.events.last().note == "调岗交回" and key.events.last().by.username == "custodian.thc1"

    leader_key = active_key("leader.thc1")
    custodian.post(f"/accounts/keys/register/{leader_key.pk}/revoke/", {"reason": ""})
    leader_key.refresh_from_db()
    assert leader_key.state == KeyState.ACTIVE  # a revocation needs its reason
    custodian.post(f"/accounts/keys/register/{leader_key.pk}/revoke/", {"reason": "离职"})
    leader_key.refresh_from_db()
    assert leader_key.state == KeyState.REVOKED
    html = custodian.get("/accounts/keys/register/").content.decode()
    assert "离职" in html and "调岗交回" in html


def test_register_actions_outside_the_keepers_reach_look_like_a_missing_key(demo):
    custodian = User.objects.get(username="custodian.thc1")
    other = active_key("clinician.mch")
    with pytest.raises(RecordNotFound):
        mfa.key_revoke(actor=custodian, key_id=other.pk, reason="x")
    with pytest.raises(RecordNotFound):
        mfa.key_return(actor=custodian, key_id=other.pk)
    with pytest.raises(ValidationError):  # the custodian's own key is kept by someone else
        mfa.key_return(actor=custodian, key_id=active_key("custodian.thc1").pk)
    other.refresh_from_db()
    assert other.state == KeyState.ACTIVE


def test_a_revoked_key_ends_the_verification_it_gave(login):
    client = login("clinician.thc1")
    mfa.key_revoke(actor=User.objects.get(username="secadmin"), key_id=active_key("clinician.thc1").pk, reason="更换")
    assert client.get("/")["Location"] == ENROL


def test_keys_revoke_all_revokes_pending_and_active_keys_and_the_codes(newcomer):
    key, _codes = enrol_totp(newcomer)
    pending = mfa.totp_key_start(user=newcomer, label="未完成")
    secadmin = User.objects.get(username="secadmin")
    assert mfa.keys_revoke_all(user=newcomer, by=secadmin, reason="suspected compromise") == 2
    for k in (key, pending):
        k.refresh_from_db()
        assert k.state == KeyState.REVOKED and events(k)[-1] == KeyEventKind.REVOKED
        assert k.events.last().note == "suspected compromise"
    assert not RecoveryCode.objects.filter(user=newcomer, used_at__isnull=True).exists()
    assert AuditEvent.objects.filter(actor_username="secadmin", reason__startswith="all electronic keys").exists()
    assert mfa.keys_revoke_all(user=newcomer, by=secadmin, reason="again") == 0


def test_navigation_offers_my_keys_to_all_and_the_register_to_its_keepers(login):
    clinician = login("clinician.thc1").get("/").content.decode()
    custodian = login("custodian.thc1").get("/").content.decode()
    assert 'href="/accounts/keys/"' in clinician and 'href="/accounts/keys/register/"' not in clinician
    assert 'href="/accounts/keys/register/"' in custodian


# --- WebAuthn / FIDO2 ------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftKey:
    """A software security key (P-256, "none" attestation) that answers real ceremonies,
    so the server side is tested with the bytes a browser would send."""

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0

    def _cose_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str = "http://testserver") -> dict:
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_key()
        auth_data = rp_hash + bytes([0x01 | 0x04 | 0x40]) + self.sign_count.to_bytes(4, "big") + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "attestationObject": b64(attestation)},
        }

    def get(self, options: dict, *, origin: str = "http://testserver", count: int | None = None) -> dict:
        self.sign_count = self.sign_count + 1 if count is None else count
        auth_data = (
            hashlib.sha256(options["rpId"].encode()).digest() + bytes([0x05]) + self.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
            },
        }


def post_json(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


REG_OPTIONS = "/accounts/keys/enrol/security-key/options/"
REG = "/accounts/keys/enrol/security-key/"
AUTH_OPTIONS = "/accounts/keys/verify/security-key/options/"
AUTH = "/accounts/keys/verify/security-key/"


def register_security_key(client: Client, key: SoftKey, **kwargs):
    options = post_json(client, REG_OPTIONS).json()
    return post_json(client, REG, {"label": "蓝色钥匙", "credential": key.create(options, **kwargs)})


def test_a_security_key_is_registered_and_then_logs_in(newcomer):
    client = password_only("newcomer", PASSWORD)
    soft = SoftKey()
    options = post_json(client, REG_OPTIONS).json()
    assert options["rp"]["id"] == "testserver"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    response = post_json(client, REG, {"label": "蓝色钥匙", "credential": soft.create(options)})
    assert response.status_code == 200 and response.json()["redirect"] == "/"
    assert len(response.json()["codes"]) == 10
    key = ElectronicKey.objects.get(user=newcomer)
    assert key.kind == KeyKind.WEBAUTHN and key.state == KeyState.ACTIVE and key.label == "蓝色钥匙"
    assert key.credential_id == b64(soft.credential_id) and key.public_key
    assert events(key) == [KeyEventKind.ISSUED, KeyEventKind.ACTIVATED]
    assert RecoveryCode.objects.filter(user=newcomer).count() == 10

    later = password_only("newcomer", PASSWORD)
    assert later.get("/")["Location"] == VERIFY
    assert 'id="webauthn-authenticate"' in later.get(VERIFY).content.decode()
    options = post_json(later, AUTH_OPTIONS).json()
    assert options["allowCredentials"][0]["id"] == key.credential_id
    done = post_json(later, AUTH, {"credential": soft.get(options)})
    assert done.status_code == 200 and done.json()["redirect"] == "/"
    key.refresh_from_db()
    assert key.sign_count == 1
    agreement_accept_through_page(later)
    assert later.get("/").status_code == 200


def test_a_registration_from_another_origin_or_without_a_challenge_is_refused(newcomer):
    client = password_only("newcomer", PASSWORD)
    assert register_security_key(client, SoftKey(), origin="https://evil.example").status_code == 400
    # No options asked for: no challenge in the session.
    stray = SoftKey().create({"rp": {"id": "testserver"}, "challenge": b64(b"x" * 32)})
    assert post_json(client, REG, {"credential": stray}).status_code == 400
    assert not ElectronicKey.objects.filter(user=newcomer).exists()


def test_a_registration_response_cannot_be_replayed(login):
    # A verified holder adding a second key: the enrolment pages stay open to them.
    client = login("clinician.thc1")
    options = post_json(client, REG_OPTIONS).json()
    body = {"credential": SoftKey().create(options)}
    added = post_json(client, REG, body)
    assert added.status_code == 200 and added.json() == {"redirect": "/accounts/keys/"}  # no new codes
    assert post_json(client, REG, body).status_code == 400
    assert post_json(client, REG, {"credential": SoftKey().create(options)}).status_code == 400
    assert ElectronicKey.objects.filter(user__username="clinician.thc1", kind=KeyKind.WEBAUTHN).count() == 1


def test_an_expired_challenge_is_refused(newcomer):
    client = password_only("newcomer", PASSWORD)
    options = post_json(client, REG_OPTIONS).json()
    session = client.session
    session[mfa.SESSION_CHALLENGE]["at"] -= mfa.CHALLENGE_SECONDS + 1
    session.save()
    assert post_json(client, REG, {"credential": SoftKey().create(options)}).status_code == 400


@pytest.fixture
def webauthn_holder(newcomer):
    """The newcomer with a registered software security key."""
    soft = SoftKey()
    client = password_only("newcomer", PASSWORD)
    assert register_security_key(client, soft).status_code == 200
    return soft


def test_a_signature_counter_that_does_not_go_up_is_refused_as_a_possible_clone(webauthn_holder):
    first = password_only("newcomer", PASSWORD)
    answer = webauthn_holder.get(post_json(first, AUTH_OPTIONS).json())
    assert post_json(first, AUTH, {"credential": answer}).status_code == 200
    second = password_only("newcomer", PASSWORD)
    options = post_json(second, AUTH_OPTIONS).json()
    refused = post_json(second, AUTH, {"credential": webauthn_holder.get(options, count=1)})
    assert refused.status_code == 400 and refused.json()["error"] == "The security key was not accepted."
    assert AuditEvent.objects.filter(action="login_failed", reason__contains="possible cloned key").exists()
    assert second.get("/")["Location"] == VERIFY


def test_an_authentication_is_refused_with_a_foreign_signature_or_challenge(webauthn_holder):
    client = password_only("newcomer", PASSWORD)
    # Signed by a different private key under the same credential id.
    impostor = SoftKey()
    impostor.credential_id = webauthn_holder.credential_id
    assert (
        post_json(client, AUTH, {"credential": impostor.get(post_json(client, AUTH_OPTIONS).json())}).status_code == 400
    )
    # A registration challenge does not serve an authentication.
    options = post_json(client, REG_OPTIONS)
    assert options.status_code == 302  # enrolment pages are closed while verification is due
    # The answer to one challenge does not serve the next.
    old = post_json(client, AUTH_OPTIONS).json()
    post_json(client, AUTH_OPTIONS)
    assert post_json(client, AUTH, {"credential": webauthn_holder.get(old)}).status_code == 400
    assert client.get("/")["Location"] == VERIFY


def test_authentication_options_need_a_registered_security_key(demo):
    client = password_only("clinician.thc1", demo["clinician.thc1"]["password"])
    response = post_json(client, AUTH_OPTIONS)
    assert response.status_code == 400 and "No security key" in response.json()["error"]


# --- the demo's keys -----------------------------------------------------------------------


def test_every_demo_account_has_a_working_totp_secret(demo, clock):
    plan = demo_plan("small")
    assert set(demo) == {a.username for a in plan.accounts}
    for username, credentials in demo.items():
        secret = credentials["totp_secret"]
        assert secret == demo_totp_secret(seed=plan.seed, username=username)
        assert len(base64.b32decode(secret)) == 20
        user = User.objects.get(username=username)
        assert mfa.second_factor_verify(user=user, code=code_at(secret, int(clock[0] // 30))).method == "totp"


def test_demo_secrets_follow_the_seed():
    assert demo_totp_secret(seed=1, username="a") == demo_totp_secret(seed=1, username="a")
    assert demo_totp_secret(seed=1, username="a") != demo_totp_secret(seed=2, username="a")
    assert demo_totp_secret(seed=1, username="a") != demo_totp_secret(seed=1, username="b")


def test_the_demo_command_writes_the_totp_secrets(tmp_path, db, fast_passwords):
    from django.core.management import call_command

    out = tmp_path / "credentials.json"
    call_command("demo", size="small", credentials_out=str(out), stdout=io.StringIO())
    written = json.loads(out.read_text())
    assert all(pyotp.TOTP(c["totp_secret"]).now().isdigit() for c in written)
    assert {c["username"]: c["totp_secret"] for c in written} == {
        c["username"]: demo_totp_secret(seed=demo_plan("small").seed, username=c["username"]) for c in written
    }


# --- issuing physical keys and recording losses (P28, P29) ----------------------------------


def issue(actor: str, holder: str, *, kind: str = KeyKind.WEBAUTHN, serial: str = "FIDO-0001", label: str = ""):
    return mfa.key_issue(
        actor=User.objects.get(username=actor),
        holder=User.objects.get(username=holder),
        kind=kind,
        serial=serial,
        label=label,
    )


def issue_refused(actor: str, holder: str, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        issue(actor, holder, **kwargs)
    return exc.value.message_dict


def test_p28_a_custodian_issues_a_security_key_that_works_once_its_holder_enrols_it(login):
    """P28: the register records the issue (serial, custodian, who issued it) when the key is
    handed over; the key is usable only after its holder enrols that very key, into the same entry."""
    key = issue("custodian.thc1", "clinician.thc1", serial="FIDO-0001", label="蓝色U盾")
    custodian = User.objects.get(username="custodian.thc1")
    assert key.state == KeyState.PENDING and key.kind == KeyKind.WEBAUTHN
    assert key.serial == "FIDO-0001" and key.custodian == custodian and key.issued_by == custodian
    assert key.credential_id is None
    assert [(e.kind, e.by) for e in key.events.all()] == [(KeyEventKind.ISSUED, custodian)]
    assert AuditEvent.objects.filter(
        action="security", actor_username="custodian.thc1", object_ids=str(key.pk), reason__contains="issued to user"
    ).exists()
    notice = Notice.objects.get(kind="key_issued")
    assert notice.recipient.username == "clinician.thc1" and notice.url == ENROL
    # Pending, it verifies nothing: the holder's verified sessions still rest on the app alone.
    assert str(key.pk) not in {str(k.pk) for k in mfa.keys_active(user=key.user)}

    holder = english(login("clinician.thc1"))
    page = holder.get(ENROL).content.decode()
    assert "FIDO-0001" in page and f'<option value="{key.pk}">' in page
    soft = SoftKey()
    options = post_json(holder, REG_OPTIONS).json()
    done = post_json(holder, REG, {"label": "", "credential": soft.create(options), "issued": str(key.pk)})
    assert done.status_code == 200
    key.refresh_from_db()
    # The same register entry, now in use, with its serial, label and custodian kept.
    assert key.state == KeyState.ACTIVE and key.credential_id == b64(soft.credential_id)
    assert key.serial == "FIDO-0001" and key.label == "蓝色U盾" and key.custodian == custodian
    assert [(e.kind, e.by.username) for e in key.events.all()] == [
        (KeyEventKind.ISSUED, "custodian.thc1"),
        (KeyEventKind.ACTIVATED, "clinician.thc1"),
    ]
    assert ElectronicKey.objects.filter(user=key.user, kind=KeyKind.WEBAUTHN).count() == 1
    assert "FIDO-0001" not in holder.get(ENROL).content.decode()  # nothing waits any more

    register = english(login("custodian.thc1")).get("/accounts/keys/register/?q=FIDO-0001").content.decode()
    assert "FIDO-0001" in register and "Custodian" in register


def test_p28_an_issued_hardware_totp_token_is_programmed_and_enrolled_into_its_entry(newcomer):
    """P28: a hardware TOTP token issued to a person with no key yet; choosing it on the
    enrolment page gives its entry the secret, and the first right code puts it in use."""
    key = issue("secadmin", "newcomer", kind=KeyKind.TOTP, serial="OTP-77-0001")
    client = password_only("newcomer", PASSWORD)
    assert client.get("/")["Location"] == ENROL  # a pending issued key is not a key in use
    # The confirmation page does not open for a token whose enrolment has not started.
    assert client.get(f"/accounts/keys/enrol/app/{key.pk}/").status_code == 404
    response = client.post("/accounts/keys/enrol/app/", {"issued": str(key.pk), "label": "ignored"})
    assert response["Location"] == f"/accounts/keys/enrol/app/{key.pk}/"
    key.refresh_from_db()
    assert key.secret and key.state == KeyState.PENDING
    done = client.post(response["Location"], {"code": pyotp.TOTP(key.secret).now()})
    assert done.status_code == 200 and done.content.decode().count('<code class="fs-5">') == 10
    key.refresh_from_db()
    assert key.state == KeyState.ACTIVE and key.serial == "OTP-77-0001"
    assert key.custodian.username == "secadmin" and key.label == "Hardware TOTP token OTP-77-0001"
    assert events(key) == [KeyEventKind.ISSUED, KeyEventKind.ACTIVATED]
    assert ElectronicKey.objects.filter(user=newcomer).count() == 1


def test_p28_an_app_of_ones_own_is_never_bound_to_an_issued_token(newcomer):
    token = issue("custodian.thc1", "newcomer", kind=KeyKind.TOTP, serial="OTP-77-0002")
    app = mfa.totp_key_start(user=newcomer, label="手机")
    assert app.pk != token.pk and app.serial == "" and app.custodian is None
    token.refresh_from_db()
    assert token.secret is None and token.state == KeyState.PENDING


def test_p28_only_the_holder_enrols_an_issued_key_and_only_while_it_waits(newcomer, demo):
    key = issue("custodian.thc1", "clinician.thc1", kind=KeyKind.TOTP, serial="OTP-77-0003")
    with pytest.raises(ValidationError) as exc:
        mfa.totp_key_start(user=newcomer, issued_id=key.pk)  # someone else's token
    assert "issued" in exc.value.message_dict
    with pytest.raises(ValidationError):
        mfa.totp_key_start(user=key.user, issued_id="not-a-key-id")
    mfa.key_revoke(actor=User.objects.get(username="secadmin"), key_id=key.pk, reason="发错了")
    with pytest.raises(ValidationError) as exc:
        mfa.totp_key_start(user=key.user, issued_id=key.pk)
    assert "no longer waiting" in exc.value.message_dict["issued"][0]


def test_p28_issuing_refuses_bad_input_naming_the_field(newcomer):
    issue("custodian.thc1", "clinician.thc1", serial="FIDO-0009")
    # A serial belongs to one key in use at a time, whatever its case.
    assert "serial" in issue_refused("secadmin", "leader.thc1", serial="fido-0009")
    assert set(issue_refused("custodian.thc1", "leader.thc1", serial="  ")) == {"serial"}
    assert set(issue_refused("custodian.thc1", "leader.thc1", kind="smartcard", serial="X-1")) == {"kind"}
    # Outside the part of the register the actor keeps (another institution), and audited.
    outside = issue_refused("custodian.thc1", "clinician.mch", serial="FIDO-0010")
    assert set(outside) == {"holder"} and "outside" in outside["holder"][0]
    assert AuditEvent.objects.filter(
        actor_username="custodian.thc1", outcome="denied", reason__contains="electronic key issue"
    ).exists()
    # Nobody keeps the register entry of their own key; clinicians keep none at all.
    assert "holder" in issue_refused("custodian.thc1", "custodian.thc1", serial="FIDO-0011")
    assert "holder" in issue_refused("clinician.thc1", "newcomer", serial="FIDO-0012")
    # A person without an account in use.
    User.objects.filter(username="newcomer").update(is_active=False)
    gone = issue_refused("custodian.thc1", "newcomer", serial="FIDO-0013")
    assert "no account in use" in gone["holder"][0]
    assert not ElectronicKey.objects.filter(serial__in=["fido-0009", "FIDO-0010", "FIDO-0011", "FIDO-0013"]).exists()


def test_p28_a_returned_token_may_be_issued_again(demo):
    first = issue("custodian.thc1", "clinician.thc1", serial="FIDO-0020")
    mfa.key_return(actor=User.objects.get(username="custodian.thc1"), key_id=first.pk, note="交回")
    again = issue("custodian.thc1", "leader.thc1", serial="FIDO-0020")
    assert again.pk != first.pk and again.user.username == "leader.thc1"


def test_p28_the_issue_form_on_the_register(login):
    client = english(login("custodian.thc1"))
    page = client.get("/accounts/keys/register/").content.decode()
    assert 'action="/accounts/keys/register/issue/"' in page and "Issue a key" in page
    form = {"username": "leader.thc1", "kind": KeyKind.WEBAUTHN, "serial": "FIDO-0030", "label": ""}
    response = client.post("/accounts/keys/register/issue/", form)
    assert response.status_code == 302 and response["Location"] == "/accounts/keys/register/"
    key = ElectronicKey.objects.get(serial="FIDO-0030")
    assert key.user.username == "leader.thc1" and key.custodian.username == "custodian.thc1"
    assert "issued, waiting for the holder to enrol it" in client.get("/accounts/keys/register/").content.decode()
    # A duplicate serial is shown on its field; an account outside the register reads as unknown.
    again = client.post("/accounts/keys/register/issue/", {**form, "username": "clinician.thc1"})
    assert again.status_code == 200 and "registered to a key in use already" in again.content.decode()
    outside = client.post("/accounts/keys/register/issue/", {**form, "username": "clinician.mch", "serial": "F-31"})
    unknown = client.post("/accounts/keys/register/issue/", {**form, "username": "nobody.at.all", "serial": "F-31"})
    assert "No active account with this username" in outside.content.decode()
    assert "No active account with this username" in unknown.content.decode()
    assert not ElectronicKey.objects.filter(serial="F-31").exists()
    # Closed to anyone who keeps no register.
    assert login("clinician.thc1").post("/accounts/keys/register/issue/", form).status_code == 404


def test_p28_p29_a_keeper_records_lost_the_only_key_of_a_holder_who_cannot_log_in(login, demo):
    """P28, P29: the holder lost their only key, so cannot pass the second factor to report
    it; the custodian records the loss on their word. The key ends as lost (not merely
    revoked), the holder's sessions end, and the custodians and security administrators
    are told exactly as when the holder reports it."""
    holder_session = login("clinician.thc1")
    key = active_key("clinician.thc1")
    custodian = english(login("custodian.thc1"))
    assert f"/accounts/keys/register/{key.pk}/lost/" in custodian.get("/accounts/keys/register/").content.decode()

    custodian.post(f"/accounts/keys/register/{key.pk}/lost/", {"note": "电话报失"})
    key.refresh_from_db()
    assert key.state == KeyState.ACTIVE  # not without the confirmation box

    response = custodian.post(
        f"/accounts/keys/register/{key.pk}/lost/", {"confirm": "on", "note": "电话报失", "back": "?state=active"}
    )
    assert response["Location"] == "/accounts/keys/register/?state=active"
    key.refresh_from_db()
    assert key.state == KeyState.LOST and key.ended_at is not None
    last = key.events.last()
    assert last.kind == KeyEventKind.LOST and last.by.username == "custodian.thc1" and last.note == "电话报失"
    assert holder_session.get("/")["Location"].startswith("/accounts/login/")
    assert not UserSession.objects.filter(user=key.user, ended_at__isnull=True).exists()
    told = set(Notice.objects.filter(kind="key_lost").values_list("recipient__username", flat=True))
    assert told == {"custodian.thc1", "secadmin"}
    assert AuditEvent.objects.filter(
        actor_username="custodian.thc1", object_ids=str(key.pk), reason__contains="recorded lost"
    ).exists()
    # The holder's password now leads only to enrolling a replacement.
    assert password_only("clinician.thc1", demo["clinician.thc1"]["password"]).get("/")["Location"] == ENROL


def test_p28_recording_a_loss_keeps_to_the_register_keepers_reach(demo):
    custodian = User.objects.get(username="custodian.thc1")
    with pytest.raises(RecordNotFound):
        mfa.key_record_lost(actor=custodian, key_id=active_key("clinician.mch").pk)
    with pytest.raises(ValidationError):  # the entry of one's own key is kept by someone else
        mfa.key_record_lost(actor=custodian, key_id=active_key("custodian.thc1").pk)
    ended = issue("secadmin", "leader.thc1", serial="FIDO-0040")
    mfa.key_record_lost(actor=User.objects.get(username="secadmin"), key_id=ended.pk, note="未启用即遗失")
    with pytest.raises(ValidationError):  # once ended, it stays ended
        mfa.key_record_lost(actor=custodian, key_id=ended.pk)
    ended.refresh_from_db()
    assert ended.state == KeyState.LOST


def test_p28_the_database_holds_one_live_key_per_serial_whatever_the_case(demo):
    """P28: the partial unique index behind `key_issue`'s check, for two issues racing."""
    from django.db import IntegrityError, transaction

    holder = User.objects.get(username="clinician.thc1")
    ElectronicKey.objects.create(user=holder, kind=KeyKind.WEBAUTHN, label="a", serial="FIDO-0050")
    with pytest.raises(IntegrityError), transaction.atomic():
        ElectronicKey.objects.create(user=holder, kind=KeyKind.WEBAUTHN, label="b", serial="fido-0050")
    # An ended key's serial and keys without a serial are not held to it.
    ElectronicKey.objects.create(user=holder, kind=KeyKind.WEBAUTHN, label="c", serial="FIDO-0050", state=KeyState.LOST)
    ElectronicKey.objects.create(user=holder, kind=KeyKind.TOTP, label="d")
    ElectronicKey.objects.create(user=holder, kind=KeyKind.TOTP, label="e")
