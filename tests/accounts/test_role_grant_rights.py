"""P19 on grants: a security administrator grants and revokes roles only inside their
jurisdiction and never beyond their own rights; nobody changes their own roles; an approved
account request grants exactly what was approved, in the decider's name."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from mchis.accounts.models import RoleAssignment, User
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant, role_revoke, user_create
from mchis.approvals.models import ApprovalRequest
from mchis.audit.models import AuditEvent
from mchis.orgs.models import Institution, InstitutionKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.select_related("institution", "institution__region")}


@pytest.fixture
def places(users):
    county = users["secadmin"].institution.region
    return {
        "county_mch": users["secadmin"].institution,
        "thc1": users["clinician.thc1"].institution,
        "city_mch": users["info.city"].institution,
        "other_county_mch": Institution.objects.filter(kind=InstitutionKind.MCH_HOSPITAL, region__level=3)
        .exclude(region=county)
        .order_by("code")
        .first(),
    }


def newcomer(institution, username="newcomer"):
    return user_create(username=username, display_name="新人", institution=institution, password="Tr0ub4dor&3x")


def error(exc) -> str:
    return exc.value.message_dict["role"][0]


def test_a_security_administrator_grants_inside_their_county(users, places):
    user = newcomer(places["thc1"])
    assignment = role_grant(user=user, role=Role.CLINICIAN, institution=places["thc1"], granted_by=users["secadmin"])
    assert assignment.granted_by == users["secadmin"]
    assert AuditEvent.objects.filter(
        object_type="accounts.roleassignment", object_ids=str(assignment.pk), actor_id=users["secadmin"].pk
    ).exists()


def test_not_outside_their_jurisdiction(users, places):
    user = newcomer(places["other_county_mch"])
    with pytest.raises(ValidationError) as exc:
        role_grant(user=user, role=Role.CLINICIAN, institution=places["other_county_mch"], granted_by=users["secadmin"])
    assert "outside your jurisdiction" in error(exc)


def test_not_to_a_person_of_an_institution_outside_it(users, places):
    outsider = newcomer(places["other_county_mch"])
    with pytest.raises(ValidationError) as exc:
        role_grant(user=outsider, role=Role.CLINICIAN, institution=places["county_mch"], granted_by=users["secadmin"])
    assert "this person's institution" in error(exc)


def test_never_a_security_administrator_above_their_own_region(users, places):
    user = newcomer(places["city_mch"])
    with pytest.raises(ValidationError) as exc:
        role_grant(user=user, role=Role.SECURITY_ADMIN, institution=places["city_mch"], granted_by=users["secadmin"])
    assert "P19" in error(exc)
    assert not RoleAssignment.objects.filter(user=user).exists()


def test_a_technical_role_at_their_own_level_is_within_their_rights(users, places):
    user = newcomer(places["county_mch"])
    role_grant(user=user, role=Role.SECURITY_ADMIN, institution=places["county_mch"], granted_by=users["secadmin"])
    assert Role.SECURITY_ADMIN in User.objects.get(pk=user.pk).role_names()


@pytest.mark.parametrize("grantor", ["info.mch", "sysadmin", "auditadmin", "custodian.mch", "healthadmin.province"])
def test_only_a_security_administrator_grants(users, places, grantor):
    user = newcomer(places["county_mch"])
    with pytest.raises(ValidationError) as exc:
        role_grant(user=user, role=Role.CLINICIAN, institution=places["county_mch"], granted_by=users[grantor])
    assert "only a security administrator" in error(exc)


def test_grants_by_the_system_itself_follow_the_role_rules_only(places):
    user = newcomer(places["other_county_mch"])
    role_grant(user=user, role=Role.CLINICIAN, institution=places["other_county_mch"])
    assert User.objects.get(pk=user.pk).role_names() == {Role.CLINICIAN}


def test_an_approval_that_does_not_cover_the_grant_is_refused(users, places):
    user = newcomer(places["county_mch"])
    fake = ApprovalRequest(kind="account", payload={"roles": [Role.CLINICIAN], "username": "newcomer"})
    with pytest.raises(ValidationError) as exc:
        role_grant(
            user=user,
            role=Role.CLINICIAN,
            institution=places["county_mch"],
            granted_by=users["info.mch"],
            approval=fake,
        )
    assert "not covered by an approved request" in error(exc)


# --- revoking ---------------------------------------------------------------------------------


def test_revoking_is_audited_and_rotates_the_holders_sessions(users):
    clinician = users["clinician.thc1"]
    epoch = clinician.privilege_epoch
    assignment = RoleAssignment.objects.get(user=clinician, role=Role.CLINICIAN)
    role_revoke(assignment=assignment, revoked_by=users["secadmin"], reason="调岗")
    clinician.refresh_from_db()
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert clinician.privilege_epoch > epoch
    assert AuditEvent.objects.filter(
        object_type="accounts.roleassignment",
        object_ids=str(assignment.pk),
        actor_id=users["secadmin"].pk,
        reason__startswith="role clinician revoked",
    ).exists()


def test_nobody_revokes_their_own_roles(users):
    assignment = RoleAssignment.objects.get(user=users["secadmin"], role=Role.SECURITY_ADMIN)
    with pytest.raises(ValidationError) as exc:
        role_revoke(assignment=assignment, revoked_by=users["secadmin"])
    assert "own roles" in error(exc)


def test_revoking_outside_the_jurisdiction_is_refused(users):
    assignment = RoleAssignment.objects.get(user=users["info.city"], role=Role.MCH_INFO_OFFICER)
    with pytest.raises(ValidationError) as exc:
        role_revoke(assignment=assignment, revoked_by=users["secadmin"])
    assert "P19" in error(exc)
    assert RoleAssignment.objects.filter(pk=assignment.pk).exists()
