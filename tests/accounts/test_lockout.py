"""Lockout after repeated failures (P7; GB/T 22239 login-failure handling).

5 failures within 15 minutes lock the account name and the source address for 15 minutes;
during the lock the right password does not log in; the security administrator lists and
lifts lockouts within their jurisdiction.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mchis.accounts.lockout import (
    failure_record,
    failures_clear,
    lockout_active,
    lockout_lift,
    lockouts_visible,
    subject_ip,
    subject_user,
)
from mchis.accounts.models import Lockout, LoginFailure, User
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def attempt(username: str, password: str, ip: str = "10.1.1.1") -> tuple[int, str]:
    response = Client(REMOTE_ADDR=ip).post("/accounts/login/", {"username": username, "password": password})
    return response.status_code, response.content.decode()


def fail(username: str, times: int, ip: str = "10.1.1.1") -> None:
    for _ in range(times):
        status, _html = attempt(username, "not-the-password", ip)
        assert status == 200


# --- the service --------------------------------------------------------------------------


def test_four_failures_do_not_lock_and_the_fifth_does(db):
    subjects = ["user:someone", "ip:10.9.9.9"]
    for _ in range(4):
        assert failure_record(subjects=subjects) is None
    lock = failure_record(subjects=subjects)
    assert lock is not None
    assert {lo.subject for lo in Lockout.objects.all()} == set(subjects)
    assert lock.until - lock.locked_at == timedelta(minutes=15)
    assert lockout_active(subjects=["user:someone"]) and lockout_active(subjects=["ip:10.9.9.9"])


def test_failures_older_than_the_window_do_not_count(db):
    for _ in range(4):
        failure_record(subjects=["user:slow"])
    LoginFailure.objects.filter(subject="user:slow").update(at=timezone.now() - timedelta(minutes=16))
    assert failure_record(subjects=["user:slow"]) is None
    # ... and they are pruned on the next write.
    assert LoginFailure.objects.filter(subject="user:slow").count() == 1


def test_failures_just_inside_the_window_count(db):
    for _ in range(4):
        failure_record(subjects=["user:edge"])
    LoginFailure.objects.filter(subject="user:edge").update(at=timezone.now() - timedelta(minutes=14, seconds=50))
    assert failure_record(subjects=["user:edge"]) is not None


def test_a_lock_ends_after_fifteen_minutes(db):
    for _ in range(5):
        failure_record(subjects=["user:waiting"])
    lock = Lockout.objects.get(subject="user:waiting")
    Lockout.objects.filter(pk=lock.pk).update(until=timezone.now() - timedelta(seconds=1))
    assert lockout_active(subjects=["user:waiting"]) is None
    # The failures were consumed by the lock: a new series starts from zero.
    assert failure_record(subjects=["user:waiting"]) is None


def test_failures_during_a_lock_do_not_extend_it(db):
    for _ in range(5):
        failure_record(subjects=["user:stubborn"])
    until = Lockout.objects.get(subject="user:stubborn").until
    for _ in range(5):
        failure_record(subjects=["user:stubborn"])
    assert list(Lockout.objects.filter(subject="user:stubborn").values_list("until", flat=True)) == [until]


def test_limits_are_configurable(db, settings):
    settings.MCHIS_LOCKOUT_FAILURES = 2
    settings.MCHIS_LOCKOUT_MINUTES = 60
    assert failure_record(subjects=["user:strict"]) is None
    lock = failure_record(subjects=["user:strict"])
    assert lock.until - lock.locked_at == timedelta(minutes=60)


def test_clearing_forgets_failures(db):
    for _ in range(4):
        failure_record(subjects=["user:fine"])
    failures_clear(subjects=["user:fine"])
    assert failure_record(subjects=["user:fine"]) is None


def test_a_lockout_is_audited(db):
    for _ in range(5):
        failure_record(subjects=["ip:10.7.7.7"])
    lock = Lockout.objects.get(subject="ip:10.7.7.7")
    event = AuditEvent.objects.get(object_type="accounts.lockout", object_ids=str(lock.pk))
    assert event.action == "security" and "ip:10.7.7.7" in event.extra


def test_subjects_are_case_insensitive_for_names():
    assert subject_user("  Info.MCH ") == "user:info.mch"
    assert subject_ip("") == "ip:unknown"


# --- the login page --------------------------------------------------------------------------


def test_five_failed_logins_lock_the_account_and_the_right_password_is_refused(demo):
    fail("info.mch", 5, ip="10.1.1.1")
    # From another address, so only the account's lock applies.
    status, html = attempt("info.mch", demo["info.mch"]["password"], ip="10.2.2.2")
    assert status == 200 and "已被锁定" in html  # the page speaks Chinese by default
    assert "_auth_user_id" not in Client().session


def test_four_failed_logins_do_not_lock(demo):
    fail("info.mch", 4)
    status, _html = attempt("info.mch", demo["info.mch"]["password"])
    assert status == 302


def test_the_account_logs_in_again_after_the_lock(demo):
    fail("info.mch", 5)
    Lockout.objects.update(until=timezone.now() - timedelta(seconds=1))
    status, _html = attempt("info.mch", demo["info.mch"]["password"])
    assert status == 302


def test_the_address_is_locked_across_account_names(demo):
    # One source trying many names: the address is the rate limit.
    for name in ["a1", "a2", "a3", "a4", "a5"]:
        fail(name, 1, ip="10.3.3.3")
    status, html = attempt("clinician.thc1", demo["clinician.thc1"]["password"], ip="10.3.3.3")
    assert status == 200 and "已被锁定" in html  # the page speaks Chinese by default
    # The same account from another address is not locked.
    status, _html = attempt("clinician.thc1", demo["clinician.thc1"]["password"], ip="10.4.4.4")
    assert status == 302


def test_letter_case_does_not_buy_fresh_attempts(demo):
    for n, name in enumerate(["info.mch", "INFO.mch", "Info.Mch", "info.MCH", "INFO.MCH"]):
        fail(name, 1, ip=f"10.5.5.{n + 1}")
    status, html = attempt("info.mch", demo["info.mch"]["password"], ip="10.6.6.6")
    assert status == 200 and "已被锁定" in html  # the page speaks Chinese by default


def test_the_message_is_the_same_for_existing_and_unknown_names(demo):
    fail("info.mch", 5, ip="10.1.1.1")
    fail("nobody.here", 5, ip="10.1.1.2")
    _s, existing = attempt("info.mch", "whatever", ip="10.1.1.3")
    _s, unknown = attempt("nobody.here", "whatever", ip="10.1.1.4")

    def alert(html):
        return html.split('class="alert alert-danger"', 1)[1].split("</div>", 1)[0]

    assert alert(existing) == alert(unknown)


def test_a_success_clears_the_accounts_failures_but_not_the_addresss(demo):
    fail("info.mch", 4, ip="10.8.8.8")
    assert attempt("info.mch", demo["info.mch"]["password"], ip="10.8.8.8")[0] == 302
    assert not LoginFailure.objects.filter(subject="user:info.mch").exists()
    assert LoginFailure.objects.filter(subject="ip:10.8.8.8").count() == 4
    # One more failure from the address locks it: a valid login did not reset its count.
    fail("someone.else", 1, ip="10.8.8.8")
    assert lockout_active(subjects=["ip:10.8.8.8"]) is not None


def test_a_refused_attempt_during_a_lock_is_audited(demo):
    fail("info.mch", 5)
    attempt("info.mch", demo["info.mch"]["password"])
    assert AuditEvent.objects.filter(action="login_failed", reason="locked out").exists()


# --- the security administrator's page ---------------------------------------------------------


@pytest.fixture
def other_county_secadmin(actors):
    """A security administrator in the second demo county, where clinician.other works."""
    from mchis.accounts.services import role_grant, user_create

    centre = actors["clinician.other"].institution
    admin = user_create(
        username="secadmin.other", display_name="邻县安全员", institution=centre, password="Xy7!sec-other"
    )
    role_grant(user=admin, role="security_admin", institution=centre)
    return admin


def test_security_admin_lists_and_lifts_a_lockout_in_jurisdiction(login, demo):
    fail("clinician.thc1", 5, ip="10.1.1.1")
    client = login("secadmin")
    html = client.get("/accounts/lockouts/").content.decode()
    assert "user:clinician.thc1" in html and "ip:10.1.1.1" in html
    lock = Lockout.objects.get(subject="user:clinician.thc1")
    response = client.post(f"/accounts/lockouts/{lock.pk}/lift/")
    assert response.status_code == 302
    lock.refresh_from_db()
    assert lock.lifted_at is not None and lock.lifted_by.username == "secadmin"
    assert AuditEvent.objects.filter(action="security", reason="lockout lifted", actor_username="secadmin").exists()
    assert attempt("clinician.thc1", demo["clinician.thc1"]["password"], ip="10.2.2.2")[0] == 302


def test_other_roles_cannot_see_or_lift_lockouts(login):
    fail("clinician.thc1", 5)
    lock = Lockout.objects.get(subject="user:clinician.thc1")
    client = login("info.mch")
    assert client.get("/accounts/lockouts/").status_code == 404
    assert client.post(f"/accounts/lockouts/{lock.pk}/lift/").status_code == 404
    lock.refresh_from_db()
    assert lock.lifted_at is None


def test_a_security_admin_outside_the_jurisdiction_can_neither_see_nor_lift(login, actors, other_county_secadmin):
    fail("clinician.thc1", 5, ip="10.1.1.1")
    lock = Lockout.objects.get(subject="user:clinician.thc1")
    visible = {lo.subject for lo in lockouts_visible(actor=other_county_secadmin)}
    # The address tells nothing about an account: every security administrator sees it.
    assert visible == {"ip:10.1.1.1"}
    from mchis.access.errors import RecordNotFound

    with pytest.raises(RecordNotFound):
        lockout_lift(lockout=lock, by=other_county_secadmin)
    lock.refresh_from_db()
    assert lock.lifted_at is None


def test_the_lift_page_answers_not_found_outside_jurisdiction(login, actors):
    fail("clinician.other", 5, ip="10.1.1.1")
    lock = Lockout.objects.get(subject="user:clinician.other")
    client = login("secadmin")
    assert "user:clinician.other" not in client.get("/accounts/lockouts/").content.decode()
    assert client.post(f"/accounts/lockouts/{lock.pk}/lift/").status_code == 404
    assert Lockout.objects.get(pk=lock.pk).lifted_at is None
    assert User.objects.get(username="secadmin").jurisdiction() is not None


def test_second_factor_subjects_follow_the_accounts_jurisdiction(actors):
    inside, outside = actors["clinician.thc1"], actors["clinician.other"]
    for _ in range(5):
        failure_record(subjects=[f"otp:{inside.pk}", f"otp:{outside.pk}"])
    visible = {lo.subject for lo in lockouts_visible(actor=actors["secadmin"])}
    assert visible == {f"otp:{inside.pk}"}
