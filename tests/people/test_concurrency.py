"""Two clinicians registering the same woman at once (PostgreSQL: real concurrent
transactions). The unique constraint on (county, number index) is what decides: the second
INSERT waits for the first transaction, is refused when it commits, and the second
registration finds her and links her instead (P20: found, not duplicated)."""

import threading
import time
from datetime import date

import pytest
from django.db import connection, transaction

from mchis.people.identifiers import id_make
from mchis.people.models import Person, PersonLink
from mchis.people.services import person_register
from tests.api.test_concurrency import in_thread

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"),
    pytest.mark.django_db(transaction=True),
]

NUMBER = id_make(area_code="410121", born=date(1994, 6, 7), sequence=66)


def register(actor, number: str = NUMBER):
    return person_register(
        actor=actor,
        institution=actor.institution,
        document_type="resident_id",
        document_number=number,
        name="赵小红",
        sex=2,
        birth_date=date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
    )


def test_the_same_woman_registered_at_once_at_two_institutions_is_one_person(actors):
    first_inside = threading.Event()

    def held():
        # The first registration runs in a caller's transaction (as a pregnancy registration
        # does) that stays open after she is inserted.
        with transaction.atomic():
            result = register(actors["clinician.thc1"])
            first_inside.set()
            time.sleep(0.7)
        return result

    results: list = []
    one = in_thread(held, results)
    assert first_inside.wait(10)
    two = in_thread(lambda: register(actors["clinician.mch"]), results)
    one.join(10)
    two.join(10)
    assert not [r for r in results if isinstance(r, BaseException)], results
    (person_a, created_a), (person_b, created_b) = results
    assert person_a.pk == person_b.pk and sorted([created_a, created_b]) == [False, True]
    persons = Person.unscoped.filter(document_number_bidx__in=[person_a.document_number_bidx])
    assert persons.count() == 1
    assert set(PersonLink.objects.filter(person_id=person_a.pk).values_list("institution_id", flat=True)) == {
        actors["clinician.thc1"].institution_id,
        actors["clinician.mch"].institution_id,
    }


def test_registrations_at_once_outside_any_transaction_make_one_person_each(actors):
    """The common case, each registration one statement: started together, the second INSERT
    waits on the unique index for the first to commit, writes nothing, and links her."""
    clinicians = [actors["clinician.thc1"], actors["clinician.mch"]]
    for sequence in range(70, 80, 2):
        number = id_make(area_code="410121", born=date(1995, 2, 3), sequence=sequence)
        start = threading.Barrier(2)
        results: list = []

        def register_at(actor, number=number, start=start):
            start.wait(10)
            return register(actor, number)

        threads = [in_thread(lambda a=a: register_at(a), results) for a in clinicians]
        for t in threads:
            t.join(10)
        assert not [r for r in results if isinstance(r, BaseException)], results
        assert len({person.pk for person, _created in results}) == 1
        assert sorted(created for _person, created in results) == [False, True]
        assert PersonLink.objects.filter(person_id=results[0][0].pk).count() == 2
