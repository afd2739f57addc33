"""Role grants: separation of duties (P19) and where each role may be held."""

import pytest
from django.core.exceptions import ValidationError

from mchis.accounts.models import User
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant, user_create
from mchis.orgs.models import InstitutionKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def county_mch(demo):
    return User.objects.get(username="info.mch").institution


@pytest.fixture
def township_centre(demo):
    return User.objects.get(username="clinician.thc1").institution


@pytest.fixture
def newcomer(county_mch):
    return user_create(username="newcomer", display_name="新人", institution=county_mch, password="Tr0ub4dor&3x")


def error(exc) -> str:
    return exc.value.message_dict["role"][0]


def test_technical_roles_are_mutually_exclusive(newcomer, county_mch):
    role_grant(user=newcomer, role=Role.SECURITY_ADMIN, institution=county_mch)
    with pytest.raises(ValidationError) as exc:
        role_grant(user=newcomer, role=Role.AUDIT_ADMIN, institution=county_mch)
    assert "P19" in error(exc)


def test_a_technical_administrator_cannot_be_a_clinician(newcomer, county_mch):
    role_grant(user=newcomer, role=Role.CLINICIAN, institution=county_mch)
    with pytest.raises(ValidationError) as exc:
        role_grant(user=newcomer, role=Role.SYSTEM_ADMIN, institution=county_mch)
    assert "P19" in error(exc)


def test_p19_a_technical_administrator_holds_no_role_cleared_for_health_data(newcomer, county_mch):
    """P19: technical administrators see no health data, so a technical role never sits beside
    a role cleared above L2, whichever is granted first; a role at L2 may."""
    from mchis.access.levels import ROLE_CLEARANCE, Level
    from mchis.accounts.roles import TECHNICAL_ROLES
    from mchis.accounts.services import _role_problem

    above_l2 = sorted(r for r, level in ROLE_CLEARANCE.items() if level > Level.L2)
    assert {Role.DATA_CUSTODIAN, Role.LEADER, Role.MCH_INFO_OFFICER, Role.INSPECTOR, Role.CLINICIAN} <= set(above_l2)
    # The county MCH hospital may host every one of these roles, so only P19 can refuse.
    for technical in sorted(TECHNICAL_ROLES):
        for other in above_l2:
            both_ways = [
                _role_problem(held={other}, role=technical, institution=county_mch),
                _role_problem(held={technical}, role=other, institution=county_mch),
            ]
            for problem in both_ways:
                assert problem and "P19" in problem and "see no health data" in problem, (technical, other)
                assert str(Role(technical).label) in problem and str(Role(other).label) in problem
    commission = User.objects.get(username="healthadmin.county").institution
    assert _role_problem(held={Role.HEALTH_ADMIN}, role=Role.SYSTEM_ADMIN, institution=commission) is None


def test_p19_a_data_custodian_is_not_made_security_administrator_nor_the_reverse(newcomer, county_mch, demo):
    role_grant(user=newcomer, role=Role.DATA_CUSTODIAN, institution=county_mch)
    with pytest.raises(ValidationError) as exc:
        role_grant(user=newcomer, role=Role.SECURITY_ADMIN, institution=county_mch)
    assert "P19" in error(exc) and "data custodian" in error(exc)
    secadmin = User.objects.get(username="secadmin")
    for role in (Role.LEADER, Role.MCH_INFO_OFFICER, Role.INSPECTOR, Role.DATA_CUSTODIAN):
        with pytest.raises(ValidationError) as exc:
            role_grant(user=secadmin, role=role, institution=county_mch)
        assert "technical administrators see no health data (P19)" in error(exc)
    assert newcomer.role_names() == {Role.DATA_CUSTODIAN}
    assert User.objects.get(username="secadmin").role_names() == {Role.SECURITY_ADMIN}


def test_nobody_grants_their_own_roles(demo, county_mch):
    secadmin = User.objects.get(username="secadmin")
    # A role P19 would let a security administrator hold (L2), so only this rule refuses it.
    commission = User.objects.get(username="healthadmin.county").institution
    with pytest.raises(ValidationError) as exc:
        role_grant(user=secadmin, role=Role.HEALTH_ADMIN, institution=commission, granted_by=secadmin)
    assert "own roles" in error(exc)


def test_information_officer_is_a_county_level_role(newcomer, township_centre):
    with pytest.raises(ValidationError) as exc:
        role_grant(user=newcomer, role=Role.MCH_INFO_OFFICER, institution=township_centre)
    assert "MCH information officer" in error(exc)


def test_clinicians_work_at_care_institutions_not_health_commissions(newcomer, demo):
    commission = User.objects.get(username="healthadmin.county").institution
    assert commission.kind == InstitutionKind.HEALTH_ADMINISTRATION
    with pytest.raises(ValidationError):
        role_grant(user=newcomer, role=Role.CLINICIAN, institution=commission)


def test_user_creation_refuses_weak_passwords_naming_the_field(county_mch):
    with pytest.raises(ValidationError) as exc:
        user_create(username="weak", display_name="弱", institution=county_mch, password="12345678")
    assert "password" in exc.value.message_dict
    assert not User.objects.filter(username="weak").exists()


def test_jurisdiction_of_an_area_role_is_its_institutions_region(demo):
    assert User.objects.get(username="info.mch").jurisdiction().level == 3
    assert User.objects.get(username="healthadmin.province").jurisdiction().level == 1
    assert User.objects.get(username="clinician.thc1").jurisdiction() is None
