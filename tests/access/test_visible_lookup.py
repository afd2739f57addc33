"""`ProtectedManager.visible_lookup`: the policy's own query, compiled once per actor and shape.

The identifier lookup is the hottest read of the system (issue 3 benchmark); these tests pin
that the cached statement answers exactly as the ORM query it was compiled from (P10, P17).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from mchis.access import managers
from mchis.access.models import BreakGlassGrant
from mchis.access.services import break_glass_open
from mchis.accounts.models import User
from mchis.crypto.fields import blind_values
from mchis.people.models import FIRST, Person

pytestmark = pytest.mark.django_db


def lookup(actor, person):
    values = blind_values(Person, "document_number_bidx", person.document_number)
    return Person.objects.visible_lookup(actor, field="document_number_bidx", values=values, **FIRST)


def orm(actor, person):
    values = blind_values(Person, "document_number_bidx", person.document_number)
    return list(Person.objects.visible_to(actor).filter(document_number_bidx__in=values).order_by("created_at")[:1])


def test_every_actor_sees_through_the_cached_lookup_what_the_policy_query_shows(actors, persons):
    for actor in actors.values():
        for person in persons.values():
            expected = orm(actor, person)
            # Twice: compiled on the first call, reused on the second.
            for _ in range(2):
                got = lookup(actor, person)
                assert [p.pk for p in got] == [p.pk for p in expected], (actor.username, person.name)
                if got:
                    assert got[0].name == person.name


def test_a_statement_is_compiled_once_per_actor_and_shape(actors, persons, monkeypatch):
    compiled = []
    original = managers.ProtectedManager._lookup_compile

    def counting(self, *args):
        compiled.append(args[1:])
        return original(self, *args)

    monkeypatch.setattr(managers.ProtectedManager, "_lookup_compile", counting)
    Person.objects._lookup_cache().clear()
    clinician = actors["clinician.thc1"]
    for person in persons.values():
        lookup(clinician, person)
    assert len(compiled) == 1
    lookup(actors["clinician.mch"], persons["P_a"])
    assert len(compiled) == 2


def test_a_role_that_ends_closes_the_cached_lookup(actors, persons):
    clinician = actors["clinician.thc1"]
    assert lookup(clinician, persons["P_b"])
    clinician.role_assignments.update(expires_at=timezone.now())
    # A new request loads the user afresh: the reaches differ, so does the statement.
    assert lookup(User.objects.get(pk=clinician.pk), persons["P_b"]) == []


def test_break_glass_expiry_is_judged_by_the_database_clock_not_the_compiled_statement(actors, persons):
    clinician = actors["clinician.thc1"]
    assert lookup(clinician, persons["P_c"]) == []
    grant = break_glass_open(
        actor=clinician,
        document_number=persons["P_c"].document_number,
        reason="emergency_delivery",
        reason_text="产妇急诊入院分娩，需查看孕期记录",
    )
    assert [p.pk for p in lookup(clinician, persons["P_c"])] == [persons["P_c"].pk]
    BreakGlassGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lookup(clinician, persons["P_c"]) == []


def test_an_actor_without_reach_gets_nothing_and_no_query(actors, persons, django_assert_num_queries):
    auditor = actors["auditadmin"]
    lookup(auditor, persons["P_a"])
    with django_assert_num_queries(0):
        assert lookup(auditor, persons["P_a"]) == []
