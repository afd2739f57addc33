"""Suspected compromise (P4): lock at once, end sessions, revoke keys, tell the superior authority."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from mchis.access.errors import RecordNotFound
from mchis.accounts.compromise import compromise_clear, compromise_flag
from mchis.accounts.models import (
    CompromiseReport,
    DisabledReason,
    ElectronicKey,
    KeyKind,
    KeyState,
    Notice,
    User,
    UserSession,
)
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant, user_create
from mchis.audit.models import AuditEvent
from mchis.orgs.models import Institution, InstitutionKind

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def key_for(user: User) -> ElectronicKey:
    return ElectronicKey.objects.create(user=user, kind=KeyKind.TOTP, label="手机", state=KeyState.ACTIVE)


def recipients(kind: str = "compromise") -> set[str]:
    return set(Notice.objects.filter(kind=kind).values_list("recipient__username", flat=True))


def test_flagging_locks_ends_sessions_revokes_keys_and_records(actors, login):
    clinician = actors["clinician.thc1"]
    client = login("clinician.thc1")
    assert client.get("/").status_code == 200
    key = key_for(clinician)
    report = compromise_flag(actor=actors["custodian.thc1"], user=clinician, reason="密码被他人看到")
    clinician = fresh(clinician)
    assert not clinician.is_active and clinician.disabled_reason == DisabledReason.COMPROMISED
    assert clinician.must_change_password and clinician.disabled_at is not None
    assert not UserSession.objects.filter(user=clinician, ended_at__isnull=True).exists()
    key.refresh_from_db()
    assert key.state == KeyState.REVOKED
    assert report.reason == "密码被他人看到" and report.reported_by == actors["custodian.thc1"]
    assert AuditEvent.objects.filter(
        object_type="accounts.user", object_ids=str(clinician.pk), reason__contains="suspected compromise"
    ).exists()
    # The holder, signed in a moment ago, is out with their next click.
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_township_centre_account_is_reported_to_the_county_commission(actors):
    compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="电子钥匙丢失")
    told = recipients()
    assert "healthadmin.county" in told  # the superior health authority (P4)
    assert {"custodian.thc1", "secadmin"} <= told  # the custodian and the security administrator
    assert "healthadmin.city" not in told and "clinician.thc1" not in told


def test_the_reporter_is_not_told_what_they_reported(actors):
    compromise_flag(actor=actors["custodian.thc1"], user=actors["clinician.thc1"], reason="密码泄露")
    told = recipients()
    assert "custodian.thc1" not in told and {"secadmin", "healthadmin.county"} <= told


def test_a_county_commission_account_is_reported_to_the_city_commission(actors):
    compromise_flag(actor=actors["secadmin"], user=actors["leader.county"], reason="账号异地登录")
    told = recipients()
    assert "healthadmin.city" in told and "healthadmin.county" not in told


def test_the_security_admin_notice_links_to_the_reports(actors):
    compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="电子钥匙丢失")
    notice = Notice.objects.get(kind="compromise", recipient=actors["secadmin"])
    assert notice.url == "/accounts/compromise/" and "clinician.thc1" in notice.title
    assert Notice.objects.get(kind="compromise", recipient=actors["healthadmin.county"]).url == ""


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        ("clinician.thc1", "clinician.thc1"),  # one's own account
        ("clinician.thc1", "custodian.thc1"),  # a colleague of the same institution
        ("secadmin", "clinician.thc2"),  # a security administrator, inside the county
        ("secadmin", "healthadmin.county"),
    ],
)
def test_who_may_flag(actors, actor, target):
    compromise_flag(actor=actors[actor], user=actors[target], reason="疑似泄露")
    assert not fresh(actors[target]).is_active


@pytest.mark.parametrize(
    ("actor", "target"),
    [
        ("clinician.thc1", "clinician.thc2"),  # another institution
        ("custodian.mch", "clinician.thc1"),  # a custodian of another institution
        ("healthadmin.county", "clinician.thc1"),  # the authority is told, it does not flag
        ("secadmin", "healthadmin.city"),  # above the security administrator's county
        ("secadmin", "clinician.other"),  # the neighbouring county
    ],
)
def test_who_may_not_flag(actors, actor, target):
    with pytest.raises(ValidationError) as exc:
        compromise_flag(actor=actors[actor], user=actors[target], reason="疑似泄露")
    assert "username" in exc.value.message_dict
    assert fresh(actors[target]).is_active and not CompromiseReport.objects.exists()


def test_a_custodian_flags_accounts_of_the_institution_they_keep(actors):
    # The custodian of one township centre also keeps the register of another.
    thc2 = actors["clinician.thc2"].institution
    role_grant(user=actors["custodian.thc1"], role=Role.DATA_CUSTODIAN, institution=thc2)
    compromise_flag(actor=actors["custodian.thc1"], user=actors["clinician.thc2"], reason="密码贴在显示器上")
    assert not fresh(actors["clinician.thc2"]).is_active


def test_what_happened_is_required(actors):
    with pytest.raises(ValidationError) as exc:
        compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="  ")
    assert "reason" in exc.value.message_dict


def test_flagging_twice_is_refused_while_locked(actors):
    compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="一")
    with pytest.raises(ValidationError):
        compromise_flag(actor=actors["secadmin"], user=actors["clinician.thc1"], reason="二")
    assert CompromiseReport.objects.count() == 1


def test_reporting_ones_own_account_through_the_page_logs_out_at_once(login, actors):
    client = login("clinician.thc1")
    response = client.post("/accounts/compromise/report/", {"username": "clinician.thc1", "reason": "密码泄露"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not fresh(actors["clinician.thc1"]).is_active
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_reporting_a_colleague_through_the_page(login, actors):
    client = login("clinician.thc1")
    response = client.post("/accounts/compromise/report/", {"username": "leader.thc1", "reason": "共用密码"})
    assert response.status_code == 302
    assert not fresh(actors["leader.thc1"]).is_active
    assert client.get("/").status_code == 200  # the reporter stays signed in


def test_an_out_of_reach_account_looks_like_an_unknown_one(login, actors):
    client = login("clinician.thc1")
    refused = client.post("/accounts/compromise/report/", {"username": "clinician.thc2", "reason": "x"})
    unknown = client.post("/accounts/compromise/report/", {"username": "no-such-user", "reason": "x"})
    assert refused.status_code == unknown.status_code == 200
    assert refused.context["form"].errors["username"] == unknown.context["form"].errors["username"]
    assert fresh(actors["clinician.thc2"]).is_active
    assert AuditEvent.objects.filter(action="deny", reason__contains="compromise report refused").count() == 2


def test_clearing_sets_a_new_initial_password_and_re_enables(actors, demo):
    clinician = actors["clinician.thc1"]
    key = key_for(clinician)
    report = compromise_flag(actor=clinician, user=clinician, reason="电子钥匙丢失")
    cleared, password = compromise_clear(actor=actors["secadmin"], report_id=report.pk)
    clinician = fresh(clinician)
    assert clinician.is_active and clinician.disabled_reason == "" and clinician.must_change_password
    assert clinician.check_password(password) and not clinician.check_password(demo["clinician.thc1"]["password"])
    assert cleared.cleared_by == actors["secadmin"] and cleared.cleared_at is not None
    key.refresh_from_db()
    assert key.state == KeyState.REVOKED  # a new key must be enrolled
    assert Notice.objects.filter(recipient=clinician, kind="compromise_cleared").exists()
    # The holder logs in with the new password and is sent to change it first.
    client = Client()
    assert client.post("/accounts/login/", {"username": "clinician.thc1", "password": password}).status_code == 302
    assert client.get("/")["Location"] != "/"


def test_the_old_password_no_longer_logs_in(actors, demo):
    report = compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="泄露")
    compromise_clear(actor=actors["secadmin"], report_id=report.pk)
    response = Client().post(
        "/accounts/login/", {"username": "clinician.thc1", "password": demo["clinician.thc1"]["password"]}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["custodian.thc1", "leader.thc1", "healthadmin.county", "sysadmin"])
def test_only_a_security_admin_clears(actors, who):
    report = compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="泄露")
    with pytest.raises(RecordNotFound):
        compromise_clear(actor=actors[who], report_id=report.pk)
    assert not fresh(actors["clinician.thc1"]).is_active


def test_a_security_admin_of_another_county_does_not_clear(actors):
    second_county_mch = Institution.objects.filter(
        kind=InstitutionKind.MCH_HOSPITAL, region=actors["clinician.other"].institution.region.parent
    ).get()
    other_admin = user_create(
        username="secadmin.other", display_name="邻县安全员", institution=second_county_mch, password="Xy7!neighbour"
    )
    role_grant(user=other_admin, role=Role.SECURITY_ADMIN, institution=second_county_mch)
    report = compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="泄露")
    with pytest.raises(RecordNotFound):
        compromise_clear(actor=other_admin, report_id=report.pk)


def test_an_account_closed_for_another_reason_stays_closed(actors):
    # A handed-over account is flagged (its old password was found on a note): clearing the
    # report must not bring it back.
    User.objects.filter(pk=actors["clinician.thc2"].pk).update(is_active=False, disabled_reason=DisabledReason.HANDOVER)
    report = compromise_flag(actor=actors["secadmin"], user=actors["clinician.thc2"], reason="旧密码写在便签上")
    assert fresh(actors["clinician.thc2"]).disabled_reason == DisabledReason.HANDOVER
    cleared, password = compromise_clear(actor=actors["secadmin"], report_id=report.pk)
    account = fresh(actors["clinician.thc2"])
    assert password is None and cleared.cleared_at is not None
    assert not account.is_active and account.disabled_reason == DisabledReason.HANDOVER


def test_clearing_through_the_page_shows_the_password_once(login, actors):
    report = compromise_flag(actor=actors["clinician.thc1"], user=actors["clinician.thc1"], reason="泄露")
    client = login("secadmin")
    listing = client.get("/accounts/compromise/")
    assert listing.status_code == 200 and "clinician.thc1" in listing.content.decode()
    response = client.post(f"/accounts/compromise/{report.pk}/clear/")
    assert response.status_code == 200
    password = response.context["password"]
    assert password in response.content.decode() and "no-store" in response["Cache-Control"]
    assert fresh(actors["clinician.thc1"]).check_password(password)
    # A second clearing finds nothing to clear: the password is never shown again.
    assert client.post(f"/accounts/compromise/{report.pk}/clear/").status_code == 404


def test_the_reports_page_is_the_security_admins(login):
    assert login("custodian.thc1").get("/accounts/compromise/").status_code == 404
