"""Role × (own institution, another institution of the county, another county) × data level.

P_a is registered at the county MCH hospital, P_b at a township health centre of the same
county, P_c in the second county of the same city. Each demo account sees exactly the persons
below, at the level below (P15, P17, P19: technical roles and the health administration see
no case data at all).
"""

import pytest

from mchis.access.levels import Level
from mchis.access.policy import WITHHELD
from mchis.people.models import Person
from mchis.people.policy import PersonPolicy

pytestmark = pytest.mark.django_db

EXPECTED = {
    # account: {person: clearance}
    "clinician.mch": {"P_a": Level.L4},
    "pmtct.mch": {"P_a": Level.L5},
    "custodian.mch": {"P_a": Level.L4},
    "leader.mch": {"P_a": Level.L3},
    "info.mch": {"P_a": Level.L4, "P_b": Level.L4},
    "sysadmin": {},
    "secadmin": {},
    "auditadmin": {},
    "healthadmin.county": {},
    "leader.county": {},
    "inspector.county": {"P_a": Level.L3, "P_b": Level.L3},
    "clinician.thc1": {"P_b": Level.L4},
    "custodian.thc1": {"P_b": Level.L4},
    "leader.thc1": {"P_b": Level.L3},
    "clinician.thc2": {},
    "info.city": {"P_a": Level.L4, "P_b": Level.L4, "P_c": Level.L4},
    "healthadmin.city": {},
    "healthadmin.province": {},
    "clinician.other": {"P_c": Level.L4},
}


def test_every_role_is_covered(actors):
    from mchis.accounts.roles import Role

    assert {r for u in EXPECTED for r in actors[u].role_names()} == set(Role.values)


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_who_sees_whom(username, actors, persons):
    actor = actors[username]
    policy = PersonPolicy()
    ours = [p.pk for p in persons.values()]  # the demo's own synthetic women are left aside
    visible = set(Person.objects.visible_to(actor).filter(pk__in=ours).values_list("pk", flat=True))
    expected = EXPECTED[username]
    assert visible == {persons[p].pk for p in expected}
    for key, person in persons.items():
        assert policy.can_view(actor, person) == (key in expected), key
        level = policy.clearance(actor, person)
        if key in expected:
            assert level == expected[key], key
        else:
            # Out of reach, or in reach of a role not cleared for case data (L2 and below).
            assert level is None or level < Level.L3, key


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_fields_above_clearance_are_withheld(username, actors, persons):
    actor = actors[username]
    policy = PersonPolicy()
    for key, level in EXPECTED[username].items():
        shown = policy.redact(actor, persons[key], ["sex", "name", "document_number"])
        assert shown["sex"] == 2
        if level >= Level.L4:
            assert shown["name"] in {"甲女士", "乙女士", "丙女士"}
        else:
            assert shown["name"] is WITHHELD and shown["document_number"] is WITHHELD


def test_l5_fields_need_l5_clearance(actors, persons):
    class WithL5(PersonPolicy):
        field_levels = {**PersonPolicy.field_levels, "address": Level.L5}

    policy = WithL5()
    assert policy.redact(actors["pmtct.mch"], persons["P_a"], ["address"])["address"] == "某村1号"
    assert policy.redact(actors["clinician.mch"], persons["P_a"], ["address"])["address"] is WITHHELD


def test_writers_are_clinical_roles_of_a_covering_institution(actors, persons):
    policy = PersonPolicy()
    assert policy.can_change(actors["clinician.thc1"], persons["P_b"])
    assert not policy.can_change(actors["info.mch"], persons["P_b"])  # reviews, does not write
    assert not policy.can_change(actors["clinician.thc1"], persons["P_a"])


def test_an_expired_role_reaches_nothing(actors, persons):
    from django.utils import timezone

    actor = actors["clinician.thc1"]
    actor.role_assignments.update(expires_at=timezone.now())
    fresh = type(actor).objects.get(pk=actor.pk)
    assert not Person.objects.visible_to(fresh).exists()


def test_a_disabled_account_reaches_nothing(actors, persons):
    actor = type(actors["info.city"]).objects.get(username="info.city")
    actor.is_active = False
    assert not Person.objects.visible_to(actor).exists()
