"""The person registry: validation, dedupe within a county, blind-index lookups (P2, P20)."""

import shutil
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.policy import WITHHELD
from mchis.audit.context import audit_context
from mchis.audit.models import AuditEvent
from mchis.crypto.keyring import keyring, keyring_reset, keys_begin_rotation, keys_path
from mchis.ops import rows
from mchis.people.identifiers import id_make
from mchis.people.models import Person, PersonLink
from mchis.people.selectors import person_find_by_document, person_find_by_phone, person_get
from mchis.people.services import person_register, person_update

pytestmark = pytest.mark.django_db


def register(actor, **overrides):
    values = {
        "document_type": "resident_id",
        "document_number": id_make(area_code="410121", born=date(1995, 2, 3), sequence=88),
        "name": "王秀英",
        "sex": 2,
        "birth_date": date(1995, 2, 3),
        "phone": "138-0013-8000",
        "address": "安平县某镇某村3号",
    }
    values.update(overrides)
    return person_register(actor=actor, institution=actor.institution, **values)


@pytest.fixture
def before(actors):
    """Persons already in the registry (the demo's synthetic women)."""
    return person_count()


def person_count():
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM people_person")
        return cursor.fetchone()[0]


def test_identifiers_are_encrypted_at_rest(actors):
    _person, created = register(actors["clinician.thc1"])
    assert created
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, document_number, phone, address, birth_date FROM people_person")
        row = cursor.fetchone()
    assert "王秀英" not in str(row) and "1995" not in str(row) and "13800138000" not in str(row)


def test_the_same_woman_registered_again_in_the_county_is_found_and_linked(actors, before):
    first, _ = register(actors["clinician.thc1"])
    again, created = register(actors["clinician.mch"], name="王秀英", phone="")
    assert not created and again.pk == first.pk
    assert person_count() == before + 1
    assert set(PersonLink.objects.filter(person=first).values_list("institution_id", flat=True)) == {
        actors["clinician.thc1"].institution_id,
        actors["clinician.mch"].institution_id,
    }
    # Now her care at the MCH hospital lets its clinician see her.
    assert person_get(actor=actors["clinician.mch"], person_id=first.pk, purpose="care").name == "王秀英"


def test_a_number_typed_in_full_width_is_the_same_number(actors, before):
    """Full-width digits (a Chinese input method's full-width mode) find her, not a second record."""
    full = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    number = id_make(area_code="410121", born=date(1995, 2, 3), sequence=88)
    first, created = register(
        actors["clinician.thc1"], document_number=number.translate(full), phone="１３８００１３８０００"
    )
    assert created and first.document_number == number and first.phone == "13800138000"
    again, created = register(actors["clinician.mch"])
    assert not created and again.pk == first.pk and person_count() == before + 1
    clinician = actors["clinician.thc1"]
    assert [v.id for v in person_find_by_phone(actor=clinician, phone="１３８００１３８０００", purpose="care")] == [
        first.pk
    ]


def test_a_number_registered_under_another_name_links_and_shows_nothing(actors, before):
    """Registering links her whole record to the institution, so the identity given must be
    hers: a document number alone (anyone's, typed at random) reaches no one (P2). The
    refusal names her record on the trail (P10)."""
    first, _ = register(actors["clinician.thc1"])
    other = actors["clinician.thc2"]
    for name in ("随便写", "王秀"):
        with audit_context(path="/people/register/"), pytest.raises(ValidationError) as exc:
            register(other, name=name)
        assert list(exc.value.message_dict) == ["document_number"]
    assert "another name or birth date" in exc.value.message_dict["document_number"][0]
    assert person_count() == before + 1
    assert not PersonLink.objects.filter(person=first, institution=other.institution).exists()
    with pytest.raises(RecordNotFound):
        person_get(actor=other, person_id=first.pk, purpose="care")
    refusals = AuditEvent.objects.filter(action="deny", actor_id=other.pk, object_ids=str(first.pk))
    assert refusals.filter(reason__startswith="registration: the identity given").count() == 2
    # Her name however it is typed (full-width, spaced) is her name.
    again, created = register(other, name=" 王 秀英")
    assert not created and again.pk == first.pk
    # At an institution that holds her record already, a slip in the name is only that.
    with audit_context(path="/people/register/"), pytest.raises(ValidationError) as exc:
        register(other, name="王秀")
    assert list(exc.value.message_dict) == ["name"]
    assert refusals.filter(reason__startswith="registration: the identity given").count() == 2


def test_lower_case_x_finds_the_same_person(actors):
    number = next(
        n
        for seq in range(0, 999, 2)
        if (n := id_make(area_code="410121", born=date(1990, 1, 1), sequence=seq))[-1] == "X"
    )
    person, _ = register(actors["clinician.thc1"], document_number=number, birth_date=date(1990, 1, 1))
    found = person_find_by_document(actor=actors["clinician.thc1"], document_number=number.lower(), purpose="care")
    assert found.id == person.pk


def test_registration_in_another_county_is_a_different_record(actors, before):
    register(actors["clinician.thc1"])
    _, created = register(actors["clinician.other"])
    assert created and person_count() == before + 2


def test_lookup_by_phone_finds_exact_matches_only(actors):
    person, _ = register(actors["clinician.thc1"])
    assert [
        v.id for v in person_find_by_phone(actor=actors["clinician.thc1"], phone="13800138000", purpose="care")
    ] == [person.pk]
    assert person_find_by_phone(actor=actors["clinician.thc1"], phone="1380013800", purpose="care") == []


def test_a_child_without_a_document_is_allowed(actors):
    child, created = register(
        actors["clinician.thc1"],
        document_type="none",
        document_number="",
        name="王秀英之女",
        sex=2,
        birth_date=timezone.localdate() - timedelta(days=3),
        phone="",
        address="",
    )
    assert created and child.document_number is None


def test_an_adult_without_a_document_is_refused(actors):
    with pytest.raises(ValidationError) as exc:
        register(actors["clinician.thc1"], document_type="none", document_number="")
    assert "document_type" in exc.value.message_dict


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"document_number": "41012119950203088X"[:-1] + "0"}, "document_number", "check character"),
        ({"birth_date": timezone.localdate() + timedelta(days=1)}, "birth_date", "future"),
        ({"phone": "138-ABCD-8000"}, "phone", "digits only"),
        ({"sex": 1}, "sex", "resident ID"),
        ({"birth_date": date(1995, 2, 4)}, "birth_date", "resident ID"),
        ({"name": "  "}, "name", "required"),
    ],
)
def test_bad_input_names_the_field_and_rule_and_stores_nothing(actors, overrides, field, rule, before):
    if field == "document_number":
        good = id_make(area_code="410121", born=date(1995, 2, 3), sequence=88)
        overrides = {"document_number": good[:-1] + ("0" if good[-1] != "0" else "1")}
    with pytest.raises(ValidationError) as exc:
        register(actors["clinician.thc1"], **overrides)
    assert rule in " ".join(exc.value.message_dict[field])
    assert person_count() == before


def test_only_clinical_roles_register_and_only_at_their_institution(actors, before):
    with pytest.raises(NotAllowed):
        register(actors["info.mch"])
    clinician = actors["clinician.thc1"]
    with pytest.raises(NotAllowed):
        person_register(
            actor=clinician,
            institution=actors["clinician.mch"].institution,
            document_type="resident_id",
            document_number=id_make(area_code="410121", born=date(1995, 2, 3), sequence=88),
            name="王秀英",
            sex=2,
            birth_date=date(1995, 2, 3),
        )
    assert person_count() == before


def test_not_found_and_not_allowed_are_the_same_answer(actors, persons):
    with pytest.raises(RecordNotFound) as hidden:
        person_get(actor=actors["clinician.thc1"], person_id=persons["P_a"].pk, purpose="care")
    import uuid

    with pytest.raises(RecordNotFound) as missing:
        person_get(actor=actors["clinician.thc1"], person_id=uuid.uuid4(), purpose="care")
    assert type(hidden.value) is type(missing.value) and str(hidden.value) == str(missing.value)


def test_withheld_fields_are_shown_as_withheld(actors, persons):
    view = person_get(actor=actors["leader.thc1"], person_id=persons["P_b"].pk, purpose="supervision")
    assert view.name is WITHHELD and view.sex == 2
    assert set(view.withheld) == {"document_number", "name", "birth_date", "phone", "address"}


def test_update_changes_fields_and_refuses_a_duplicate_document(actors, persons):
    clinician = actors["clinician.thc1"]
    person_update(actor=clinician, person=persons["P_b"], phone="13911112222")
    assert Person.objects.visible_to(clinician).get(pk=persons["P_b"].pk).phone == "13911112222"
    link_a = persons["P_a"]
    with audit_context(path="/people/change/"), pytest.raises(ValidationError) as exc:
        person_update(
            actor=clinician, person=persons["P_b"], document_number=link_a.document_number, birth_date=link_a.birth_date
        )
    assert "document_number" in exc.value.message_dict
    # A number tried against the county's registry: the refusal names both records (P10).
    refused = AuditEvent.objects.get(action="deny", actor_id=clinician.pk)
    assert refused.object_id_list == [str(persons["P_b"].pk), str(link_a.pk)]


def test_an_update_based_on_a_stale_version_changes_nothing(actors, persons):
    from mchis.access.errors import StaleVersion

    clinician = actors["clinician.thc1"]
    pk = persons["P_b"].pk
    person_update(actor=clinician, person_id=pk, expected_version=1, phone="13911112222")
    with pytest.raises(StaleVersion) as exc:
        person_update(actor=clinician, person_id=pk, expected_version=1, phone="13933334444")
    assert exc.value.current == 2
    assert Person.objects.visible_to(clinician).get(pk=pk).phone == "13911112222"


def test_updating_by_id_out_of_reach_is_not_found(actors, persons):
    with pytest.raises(RecordNotFound):
        person_update(actor=actors["clinician.thc1"], person_id=persons["P_a"].pk, phone="13911112222")
    with pytest.raises(RecordNotFound):
        person_update(actor=actors["clinician.thc1"], person_id="not-a-uuid", phone="13911112222")


def test_the_database_itself_refuses_a_second_record_of_a_number_in_a_county(actors, before):
    """P20: the unique constraint behind registration's fast path, whatever code writes."""
    first, _ = register(actors["clinician.thc1"])
    twin = Person(
        document_type="resident_id",
        document_number=id_make(area_code="410121", born=date(1995, 2, 3), sequence=88),
        name="王秀英",
        sex=2,
        birth_date=date(1995, 2, 3),
        county_path=first.county_path,
        registered_by_id=first.registered_by_id,
    )
    assert rows.insert(twin, skip_conflicts=True) is False
    assert person_count() == before + 1
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


@pytest.fixture
def begin_rotation(tmp_path):
    """Begins `keys rotate` on a copy of the tests' key file: a new active key, the old one still
    indexing the rows not rotated yet, so one number has two index values."""
    copy = tmp_path / "keys.json"
    shutil.copy(keys_path(), copy)
    copy.chmod(0o600)
    with override_settings(MCHIS_KEYS_FILE=str(copy)):

        def begin():
            keys_begin_rotation(copy)
            keyring_reset()
            assert keyring().rotating_from is not None

        yield begin
    keyring_reset()


def test_during_a_key_rotation_she_is_found_by_her_number_indexed_under_the_old_key(actors, before, begin_rotation):
    first, _ = register(actors["clinician.thc1"])
    begin_rotation()
    # Her row still carries the old key's index: the unique constraint cannot see her, the lookup must.
    again, created = register(actors["clinician.mch"])
    assert not created and again.pk == first.pk
    assert person_count() == before + 1
    assert PersonLink.objects.filter(person=first, institution=actors["clinician.mch"].institution).exists()
