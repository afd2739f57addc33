"""Access review (P4): each finding appears, and disappears once the account is put right."""

import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.accounts.agreements import agreement_accept, agreement_current
from mchis.accounts.models import (
    DisabledReason,
    ElectronicKey,
    KeyState,
    RoleAssignment,
    SecurityAgreement,
    User,
    UserSession,
)
from mchis.accounts.review import FindingKind, access_review, account_disable
from mchis.accounts.roles import Role
from mchis.audit.models import AuditEvent
from mchis.demo.generator import demo_plan

pytestmark = pytest.mark.django_db


def found(kind: str, username: str, **scope) -> list[str]:
    return [f.detail for f in access_review(**scope) if f.kind == kind and f.username == username]


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.select_related("institution")}


def test_dormant_accounts(users, settings):
    clinician = users["clinician.thc1"]
    assert not found(FindingKind.DORMANT, "clinician.thc1")
    User.objects.filter(pk=clinician.pk).update(last_login=timezone.now() - timedelta(days=91))
    assert "more than 90 days" in found(FindingKind.DORMANT, "clinician.thc1")[0]
    settings.MCHIS_DORMANT_DAYS = 120
    assert not found(FindingKind.DORMANT, "clinician.thc1")
    settings.MCHIS_DORMANT_DAYS = 90
    User.objects.filter(pk=clinician.pk).update(last_login=timezone.now())
    assert not found(FindingKind.DORMANT, "clinician.thc1")


def test_an_account_never_used_since_created_long_ago_is_dormant(users):
    User.objects.filter(username="clinician.thc2").update(
        last_login=None, date_joined=timezone.now() - timedelta(days=200)
    )
    assert "never logged in" in found(FindingKind.DORMANT, "clinician.thc2")[0]


def test_expired_accounts_still_active(users):
    User.objects.filter(username="leader.thc1").update(expires_on=date.today() - timedelta(days=1))
    assert found(FindingKind.EXPIRED, "leader.thc1")
    User.objects.filter(username="leader.thc1").update(is_active=False, disabled_reason=DisabledReason.EXPIRED)
    assert not found(FindingKind.EXPIRED, "leader.thc1")


def test_an_account_expiring_later_is_not_a_finding(users):
    User.objects.filter(username="leader.thc1").update(expires_on=date.today() + timedelta(days=30))
    assert not found(FindingKind.EXPIRED, "leader.thc1")


def test_accounts_without_an_electronic_key(users, settings):
    assert not found(FindingKind.NO_SECOND_FACTOR, "pmtct.mch")  # the demo's authenticator app
    ElectronicKey.objects.filter(user=users["pmtct.mch"]).update(state=KeyState.LOST)
    assert found(FindingKind.NO_SECOND_FACTOR, "pmtct.mch")
    # Where keys are required of some roles only, the others are not findings.
    settings.MCHIS_MFA_REQUIRED_ROLES = [Role.SECURITY_ADMIN]
    assert not found(FindingKind.NO_SECOND_FACTOR, "pmtct.mch")
    settings.MCHIS_MFA_REQUIRED_ROLES = ["all"]
    ElectronicKey.objects.filter(user=users["pmtct.mch"]).update(state=KeyState.ACTIVE)
    assert not found(FindingKind.NO_SECOND_FACTOR, "pmtct.mch")


def test_a_role_held_at_the_wrong_kind_of_institution(users):
    # Written past role_grant's checks, as data imported from an older system would be.
    bad = RoleAssignment.objects.create(
        user=users["healthadmin.county"], role=Role.CLINICIAN, institution=users["healthadmin.county"].institution
    )
    assert "health commission" in found(FindingKind.UNUSUAL_ROLE, "healthadmin.county")[0]
    bad.delete()
    assert not found(FindingKind.UNUSUAL_ROLE, "healthadmin.county")


def test_a_county_level_role_held_at_a_township_centre(users):
    RoleAssignment.objects.create(
        user=users["clinician.thc1"], role=Role.INSPECTOR, institution=users["clinician.thc1"].institution
    )
    details = found(FindingKind.UNUSUAL_ROLE, "clinician.thc1")
    assert any("inspector" in d for d in details)


def test_a_technical_role_with_a_clinical_one_breaks_separation_of_duties(users):
    RoleAssignment.objects.create(
        user=users["secadmin"], role=Role.CLINICIAN, institution=users["secadmin"].institution
    )
    assert any("P19" in d for d in found(FindingKind.UNUSUAL_ROLE, "secadmin"))


def test_p19_a_technical_role_with_a_role_cleared_above_l2_breaks_separation_of_duties(users):
    # Held from before the rule (written past role_grant's checks): the review finds it.
    RoleAssignment.objects.create(
        user=users["auditadmin"], role=Role.LEADER, institution=users["auditadmin"].institution
    )
    assert any("P19" in d and "above L2" in d for d in found(FindingKind.UNUSUAL_ROLE, "auditadmin"))


def test_two_technical_roles_break_separation_of_duties(users):
    RoleAssignment.objects.create(
        user=users["sysadmin"], role=Role.AUDIT_ADMIN, institution=users["sysadmin"].institution
    )
    assert any("P19" in d for d in found(FindingKind.UNUSUAL_ROLE, "sysadmin"))


def test_an_expired_role_is_not_reviewed(users):
    RoleAssignment.objects.create(
        user=users["healthadmin.county"],
        role=Role.CLINICIAN,
        institution=users["healthadmin.county"].institution,
        expires_at=timezone.now() - timedelta(days=1),
    )
    assert not found(FindingKind.UNUSUAL_ROLE, "healthadmin.county")


def test_the_current_agreement_not_accepted(users):
    clinician = users["clinician.thc1"]
    assert "version 1" in found(FindingKind.AGREEMENT, "clinician.thc1")[0]
    agreement_accept(user=clinician, agreement_id=agreement_current(institution=clinician.institution).pk, ip=None)
    assert not found(FindingKind.AGREEMENT, "clinician.thc1")


def test_an_institution_without_an_agreement_is_a_finding_for_its_users(users):
    """P18 holds nobody where nothing was published: the review shows it."""
    clinician = users["clinician.thc1"]
    SecurityAgreement.objects.filter(institution=clinician.institution).delete()
    assert found(FindingKind.AGREEMENT, "clinician.thc1") == ["the institution has published no security agreement"]


def test_disabled_accounts_are_not_reviewed(users):
    User.objects.filter(username="leader.thc1").update(is_active=False)
    assert not [f for f in access_review() if f.username == "leader.thc1"]


def test_a_security_admin_reviews_their_jurisdiction_only(actors):
    mine = {f.username for f in access_review(actor=actors["secadmin"])}
    assert {"clinician.thc1", "healthadmin.county"} <= mine
    assert not mine & {"clinician.other", "healthadmin.city", "healthadmin.province"}
    # Anybody else has no jurisdiction to review.
    assert access_review(actor=actors["clinician.thc1"]) == []


def test_review_of_one_region(actors):
    township = actors["clinician.thc1"].institution.region
    assert {f.username for f in access_review(region=township.code)} == {
        "clinician.thc1",
        "custodian.thc1",
        "leader.thc1",
    }
    with pytest.raises(ValueError):
        access_review(region="999999")


def test_the_page_lists_findings_and_disables_accounts(login, users):
    target = users["clinician.thc1"]
    other = login("clinician.thc1")
    client = login("secadmin")
    User.objects.filter(pk=target.pk).update(last_login=timezone.now() - timedelta(days=100))
    page = client.get("/accounts/access-review/?kind=dormant")
    assert page.status_code == 200 and "clinician.thc1" in page.content.decode()
    assert AuditEvent.objects.filter(actor=users["secadmin"], purpose="access review").exists()
    response = client.post(f"/accounts/access-review/{target.pk}/disable/", {"kind": "dormant"})
    assert response.status_code == 302 and response["Location"].endswith("?kind=dormant")
    target.refresh_from_db()
    assert not target.is_active and target.disabled_reason == DisabledReason.ACCESS_REVIEW
    assert not UserSession.objects.filter(user=target, ended_at__isnull=True).exists()
    assert other.get("/")["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(object_ids=str(target.pk), reason__contains="access_review").exists()
    after = client.get("/accounts/access-review/?kind=dormant").context["page"]
    assert "clinician.thc1" not in {f.username for f in after}


def test_no_disabling_outside_the_jurisdiction_or_oneself(actors):
    for target in ("clinician.other", "healthadmin.city", "secadmin"):
        with pytest.raises(RecordNotFound):
            account_disable(actor=actors["secadmin"], user_id=actors[target].pk)
        assert User.objects.get(username=target).is_active


def test_the_page_is_the_security_admins(login, users):
    client = login("custodian.thc1")
    assert client.get("/accounts/access-review/").status_code == 404
    assert client.post(f"/accounts/access-review/{users['clinician.thc1'].pk}/disable/").status_code == 404
    assert User.objects.get(username="clinician.thc1").is_active


def test_the_command_prints_the_findings(users):
    User.objects.filter(username="leader.thc1").update(expires_on=date.today() - timedelta(days=1))
    out = StringIO()
    call_command("access-review", stdout=out)
    text = out.getvalue()
    assert "expired accounts still active (1)" in text and "leader.thc1" in text
    assert "current security agreement not accepted" in text
    assert AuditEvent.objects.filter(path="command:access-review").exists()


def test_the_command_writes_json(users):
    User.objects.filter(username="leader.thc1").update(expires_on=date.today() - timedelta(days=1))
    out = StringIO()
    call_command("access-review", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["counts"]["expired"] == 1 and data["dormant_days"] == 90
    (expired,) = [f for f in data["findings"] if f["kind"] == "expired"]
    assert expired["username"] == "leader.thc1" and expired["institution_code"]


def test_the_command_reviews_one_region(users):
    county = demo_plan("small").demo_county_code
    out = StringIO()
    call_command("access-review", "--region", county, "--json", stdout=out)
    names = {f["username"] for f in json.loads(out.getvalue())["findings"]}
    assert "clinician.thc1" in names and "healthadmin.city" not in names
    with pytest.raises(CommandError):
        call_command("access-review", "--region", "999999", stdout=StringIO())
