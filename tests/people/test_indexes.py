"""What a registration writes: a Person row and a PersonLink row, each with every index of its
table. The indexes are the ones the registry's questions need and no more, on SQLite and
PostgreSQL alike: the dedupe in a county (P20), lookups by blind index (P2), reach through
the institutions holding a person's records (P15, P17).

Gone (people 0003): PostgreSQL's "_like" twins of the blind index and path columns (exact
matches and "C"-collated ranges never need them), the county's own index (the unique
constraint starts with the county), and the foreign keys' own indexes (covered by the link's
two composite indexes, or never searched).
"""

from datetime import date

import pytest
from django.apps import apps

from mchis.crypto.fields import BlindIndexField, blind_lookup
from mchis.maternal.models import OPEN_STATES, Pregnancy
from mchis.ops import rows
from mchis.orgs.models import PathField, county_path_of
from mchis.people.identifiers import id_make
from mchis.people.models import Person
from mchis.people.policy import PersonPolicy
from tests.indexes import index_shapes, query_plan, table_indexes

pytestmark = pytest.mark.django_db

# (columns, unique, partial, pattern_ops), the primary key aside.
PERSON_INDEXES = {
    # One registration per number per county (P20); also the index of `county_path IN (…)`.
    (("county_path", "document_number_bidx"), True, False, False),
    # Exact-match search by number and by phone (P2, blind_lookup).
    (("document_number_bidx",), False, False, False),
    (("phone_bidx",), False, False, False),
}
LINK_INDEXES = {
    # One link per person and institution; the policy's EXISTS per person; CASCADE.
    (("person_id", "institution_id"), True, False, False),
    # The persons of an institution (institution roles, P15).
    (("institution_id", "person_id"), False, False, False),
    # The persons under a region (area roles, P17): a range on a "C"-collated path.
    (("institution_region_path",), False, False, False),
}


def test_a_person_row_writes_three_indexes_besides_its_primary_key():
    assert index_shapes("people_person") == PERSON_INDEXES


def test_a_link_row_writes_three_indexes_besides_its_primary_key():
    assert index_shapes("people_personlink") == LINK_INDEXES


def concrete_fields(kind):
    for model in apps.get_models():
        for field in model._meta.local_concrete_fields:
            if isinstance(field, kind):
                yield model._meta.db_table, field.column


@pytest.mark.parametrize("kind", [BlindIndexField, PathField])
def test_no_blind_index_or_path_column_has_a_like_index(kind):
    columns = list(concrete_fields(kind))
    assert columns
    for table, column in columns:
        like = [ix.name for ix in table_indexes(table) if column in ix.columns and ix.pattern_ops]
        assert not like, (table, column, like)


def test_every_blind_index_column_leads_an_index_over_every_row():
    for table, column in concrete_fields(BlindIndexField):
        assert any(ix.columns[0] == column and not ix.partial for ix in table_indexes(table)), (table, column)


# --- the unique constraint, no longer partial ------------------------------------------------
def person(institution, *, number=None, name="王秀英"):
    return Person(
        document_type="resident_id" if number else "none",
        document_number=number,
        name=name,
        sex=2,
        birth_date=date(1995, 2, 3),
        county_path=county_path_of(institution.region_path),
        registered_by=institution,
    )


@pytest.fixture
def thc1(actors):
    return actors["clinician.thc1"].institution


def test_a_second_person_with_a_number_in_the_county_is_refused(thc1):
    """P20, whatever code writes: what registration's insert-first relies on."""
    number = id_make(area_code="410121", born=date(1995, 2, 3), sequence=88)
    assert rows.insert(person(thc1, number=number), skip_conflicts=True) is True
    assert rows.insert(person(thc1, number=number), skip_conflicts=True) is False


def test_children_without_a_document_are_many_per_county(thc1):
    """NULLs are distinct in a unique index, on SQLite and PostgreSQL (NULLS DISTINCT)."""
    first, second = person(thc1, name="之女"), person(thc1, name="之子")
    assert first.county_path == second.county_path
    assert rows.insert(first, skip_conflicts=True) is True
    assert rows.insert(second, skip_conflicts=True) is True
    third = person(thc1, name="之三")
    third.save(force_insert=True)
    assert Person.unscoped.filter(document_number_bidx__isnull=True, county_path=first.county_path).count() >= 3


# --- the queries the indexes serve -----------------------------------------------------------
def county_index_name() -> str:
    """The index that starts with the county (SQLite names a constraint's index itself)."""
    (name,) = [ix.name for ix in table_indexes("people_person") if ix.columns[0] == "county_path"]
    return name


def test_the_county_match_uses_the_unique_index(actors):
    """PersonPolicy.filter_match: registration looks in the counties the actor registers in."""
    actor = actors["clinician.thc1"]
    qs = PersonPolicy().filter_match(actor, Person.unscoped.all())
    assert "county_path" in str(qs.query)
    text = query_plan(qs)
    assert county_index_name() in text, text


def test_the_match_by_number_uses_an_index(actors):
    actor = actors["clinician.thc1"]
    number = id_make(area_code="410121", born=date(1995, 2, 3), sequence=88)
    qs = Person.objects.visible_to(actor, action="match").filter(**blind_lookup(Person, "document_number_bidx", number))
    text = query_plan(qs)
    assert county_index_name() in text or "person_by_number" in text, text


def test_the_open_episode_match_uses_indexes(actors):
    """MaternalPolicy.filter_match (`person__county_path__in`): the second pregnancy check."""
    actor = actors["clinician.thc1"]
    some = Person.unscoped.values_list("pk", flat=True).first()
    qs = Pregnancy.objects.visible_to(actor, action="match").filter(person=some, state__in=OPEN_STATES)
    assert "county_path" in str(qs.query)
    text = query_plan(qs)
    # SQLite says SCAN for a table read whole, PostgreSQL "Seq Scan" (which it avoids if it can).
    scans = [step for step in text.split(" | ") if step.startswith("SCAN ") or "Seq Scan" in step]
    assert not scans, text
