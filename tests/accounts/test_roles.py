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


def test_nobody_grants_their_own_roles(demo, county_mch):
    secadmin = User.objects.get(username="secadmin")
    with pytest.raises(ValidationError) as exc:
        role_grant(user=secadmin, role=Role.LEADER, institution=county_mch, granted_by=secadmin)
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
