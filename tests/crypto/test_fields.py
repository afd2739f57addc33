from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from django.core.exceptions import FieldError, ValidationError
from django.db import models, transaction
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter
from django.test.utils import isolate_apps

from mchis.crypto.fields import (
    BlindIndexField,
    DecryptionError,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedTextField,
    SealedValue,
    blind_lookup,
)
from mchis.crypto.ids import uuid7
from mchis.crypto.keyring import DecryptionFailed, KeyRing, keyring
from tests.crypto.helpers import RESULTS, column, set_column
from tests.crypto.models import Contact, Numbered, Patient, normalise_phone


def make_patient(**values) -> Patient:
    defaults = {"name": "王芳", "born": dt.date(1994, 3, 7), "results": RESULTS, "id_number": "11010119940307128x"}
    return Patient.objects.create(**{**defaults, **values})


# --- round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize("suite", ["intl", "gm"])
def test_values_round_trip_under_each_suite(tables, keyfile, suite):
    kid = keyfile.add_key(suite=suite)
    p = make_patient(nickname="芳芳")
    empty = Patient.objects.create(name="", born=None, results=None, id_number=None)

    got = Patient.objects.get(pk=p.pk)
    assert (got.name, got.nickname, got.born, got.results, got.id_number) == (
        "王芳",
        "芳芳",
        dt.date(1994, 3, 7),
        RESULTS,
        "11010119940307128x",
    )
    assert column(Patient, "name", p.pk).startswith(f"{suite}:{kid}:")

    got = Patient.objects.get(pk=empty.pk)
    assert got.name == ""
    assert got.born is None and got.results is None and got.id_number is None
    assert column(Patient, "name", empty.pk) != ""  # the empty string is encrypted too
    assert column(Patient, "born", empty.pk) is None  # None stays NULL


def test_values_written_under_either_key_of_a_mixed_ring_decrypt(tables, keyfile):
    gm_kid = keyfile.add_key(suite="gm")
    under_gm = make_patient(name="李娜")
    keyfile.activate("k1")
    under_intl = make_patient(name="张敏")

    assert column(Patient, "name", under_gm.pk).startswith(f"gm:{gm_kid}:")
    assert column(Patient, "name", under_intl.pk).startswith("intl:k1:")
    names = {p.pk: p.name for p in Patient.objects.all()}
    assert names == {under_gm.pk: "李娜", under_intl.pk: "张敏"}


def test_plaintext_is_encoded_canonically(tables, keyfile):
    p = make_patient(results={"b": [1, 2], "a": "中"})
    field = Patient._meta.get_field("results")
    plain = keyring().decrypt(column(Patient, "results", p.pk), field.aad(str(p.pk)))
    assert plain == '{"a":"中","b":[1,2]}'.encode()
    born = Patient._meta.get_field("born")
    assert keyring().decrypt(column(Patient, "born", p.pk), born.aad(str(p.pk))) == b"1994-03-07"


def test_dates_given_as_text_or_datetime_are_stored_as_dates(tables, keyfile):
    a = make_patient(born="2001-02-03")
    b = make_patient(born=dt.datetime(2001, 2, 3, 10, 30))
    assert Patient.objects.get(pk=a.pk).born == dt.date(2001, 2, 3)
    assert Patient.objects.get(pk=b.pk).born == dt.date(2001, 2, 3)


def test_the_database_holds_ciphertext_not_plaintext(tables, keyfile):
    p = make_patient(name="王芳", phone="138 0013 8000")
    for name in ("name", "born", "results", "id_number", "phone"):
        stored = column(Patient, name, p.pk)
        assert stored.startswith("intl:k1:")
        assert "王芳" not in stored and "1994" not in stored and "negative" not in stored and "13800" not in stored
    # Equal plaintexts encrypt differently (random nonce), so ciphertexts reveal no equality.
    q = make_patient(name="王芳")
    assert column(Patient, "name", p.pk) != column(Patient, "name", q.pk)


# --- binding to row and column, tampering ------------------------------------------------
def test_a_value_moved_to_another_row_does_not_decrypt_and_the_error_names_model_field_and_row(tables, keyfile):
    a = make_patient(name="王芳")
    b = make_patient(name="李娜")
    set_column(Patient, "name", b.pk, column(Patient, "name", a.pk))

    moved = Patient.objects.get(pk=b.pk)
    with pytest.raises(DecryptionError) as failure:
        _ = moved.name
    message = str(failure.value)
    assert "crypto_tests.Patient" in message and ".name" in message and str(b.pk) in message
    assert "王芳" not in message and "intl:k1:" not in message
    assert isinstance(failure.value, DecryptionFailed)
    assert Patient.objects.get(pk=a.pk).name == "王芳"


def test_a_value_moved_to_another_column_does_not_decrypt(tables, keyfile):
    p = make_patient(name="王芳", id_number="11010119940307128X")
    set_column(Patient, "name", p.pk, column(Patient, "id_number", p.pk))
    with pytest.raises(DecryptionError, match=rf"crypto_tests\.Patient\.name of row {p.pk}"):
        _ = Patient.objects.get(pk=p.pk).name


def test_a_value_moved_to_another_model_does_not_decrypt(tables, keyfile):
    p = make_patient(phone="13800138000")
    c = Contact.objects.create(phone="13900139000")
    set_column(Contact, "phone", c.pk, column(Patient, "phone", p.pk))
    with pytest.raises(DecryptionError, match=r"crypto_tests\.Contact\.phone"):
        _ = Contact.objects.get(pk=c.pk).phone


@pytest.mark.parametrize("where", ["body", "key id", "suite"])
def test_a_tampered_value_does_not_decrypt(tables, keyfile, where):
    p = make_patient(name="王芳")
    suite, kid, body = column(Patient, "name", p.pk).split(":", 2)
    if where == "body":
        body = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    elif where == "key id":
        kid = "k9"
    else:
        suite = "gm"
    set_column(Patient, "name", p.pk, f"{suite}:{kid}:{body}")
    with pytest.raises(DecryptionError, match=str(p.pk)):
        _ = Patient.objects.get(pk=p.pk).name


# --- lazy decryption ---------------------------------------------------------------------
def test_values_decrypt_only_when_read_and_unread_values_are_written_back_unchanged(tables, keyfile, monkeypatch):
    p = make_patient(name="王芳", phone="13800138000")
    before = {f: column(Patient, f, p.pk) for f in ("name", "born", "results", "id_number", "id_number_bidx", "phone")}

    calls = []
    real = KeyRing.decrypt
    monkeypatch.setattr(KeyRing, "decrypt", lambda self, token, aad: calls.append(aad) or real(self, token, aad))

    got = Patient.objects.get(pk=p.pk)
    got.visits = 3
    got.save()
    assert calls == []
    after = {f: column(Patient, f, p.pk) for f in before}
    assert after == before

    assert got.name == "王芳"
    assert got.name == "王芳"
    assert len(calls) == 1  # decrypted once, then cached on the instance


def test_assignment_stores_plaintext_and_save_encrypts_it(tables, keyfile):
    p = make_patient(name="王芳")
    got = Patient.objects.get(pk=p.pk)
    got.name = "王芳芳"
    assert got.name == "王芳芳"
    got.save()
    assert column(Patient, "name", p.pk).startswith("intl:k1:")
    assert Patient.objects.get(pk=p.pk).name == "王芳芳"


def test_refresh_from_db_and_deferred_loading_give_plaintext(tables, keyfile):
    p = make_patient(name="王芳")
    Patient.objects.filter(pk=p.pk).update(visits=5)
    p.name = "changed in memory"
    p.refresh_from_db()
    assert p.name == "王芳"
    assert p.visits == 5

    deferred = Patient.objects.only("id").get(pk=p.pk)
    assert "name" not in deferred.__dict__
    assert deferred.name == "王芳"
    assert deferred.born == dt.date(1994, 3, 7)


def test_a_copy_saved_under_a_new_row_id_is_re_encrypted_for_it(tables, keyfile):
    p = make_patient(name="王芳")
    copy_ = Patient.objects.get(pk=p.pk)
    copy_.pk = uuid7()
    copy_._state.adding = True
    copy_.save()
    assert Patient.objects.get(pk=copy_.pk).name == "王芳"
    assert Patient.objects.get(pk=copy_.pk).results == RESULTS


def test_bulk_create_encrypts(tables, keyfile):
    made = Patient.objects.bulk_create([Patient(name=f"p{i}", phone=f"1380000000{i}") for i in range(5)])
    assert sorted(p.name for p in Patient.objects.filter(pk__in=[m.pk for m in made])) == [f"p{i}" for i in range(5)]
    assert Patient.objects.filter(**blind_lookup(Patient, "phone_bidx", "13800000003")).get().name == "p3"


def test_a_model_whose_row_id_comes_from_the_database_fails_the_system_check():
    errors = Numbered.check()
    assert [e.id for e in errors if e.id.startswith("mchis.")] == ["mchis.E202"]
    assert Patient.check() == []
    with pytest.raises(ValueError, match="row id"):
        Numbered._meta.get_field("secret").pre_save(Numbered(secret="x"), True)


# --- values(), values_list() and other ways round the instance ---------------------------
def test_values_return_sealed_values_never_strings(tables, keyfile):
    p = make_patient(name="王芳", nickname="芳芳")
    row = Patient.objects.values("id", "name", "born", "results", "nickname").get(pk=p.pk)
    for name in ("name", "born", "results", "nickname"):
        sealed = row[name]
        assert type(sealed) is SealedValue
        assert not isinstance(sealed, str)
        assert sealed != column(Patient, name, p.pk)
        assert "intl:" not in repr(sealed) and "intl:" not in str(sealed)
        assert repr(sealed) == f"<SealedValue crypto_tests.Patient.{name}>"
        with pytest.raises(TypeError):
            json.dumps(sealed)
    assert row["name"].decrypt(pk=row["id"]) == "王芳"
    assert row["born"].decrypt(pk=str(row["id"])) == dt.date(1994, 3, 7)
    other = make_patient(name="李娜")
    with pytest.raises(DecryptionError):
        row["name"].decrypt(pk=other.pk)

    flat = list(Patient.objects.filter(pk=p.pk).values_list("name", flat=True))
    assert type(flat[0]) is SealedValue

    # A sealed value from values() cannot be put back on an instance as if it were a value.
    other.name = row["name"]
    with pytest.raises(TypeError, match="not bound to a row"):
        _ = other.name
    with pytest.raises(TypeError, match="not bound to a row"):
        other.save()


def test_sealed_values_copy(tables, keyfile):
    p = make_patient(name="王芳")
    sealed = Patient.objects.values_list("name", flat=True).get(pk=p.pk)
    assert copy.deepcopy(sealed) == sealed and copy.deepcopy(sealed).decrypt(pk=p.pk) == "王芳"


def test_plaintext_cannot_reach_the_column_through_update_or_bulk_update(tables, keyfile):
    p = make_patient(name="王芳")
    sealed = Patient.objects.values_list("name", flat=True).get(pk=p.pk)
    p.name = "other"
    attempts = [
        (lambda: Patient.objects.filter(pk=p.pk).update(name="plain text"), r"Patient\.name is encrypted"),
        (lambda: Patient.objects.filter(pk=p.pk).update(born=dt.date(2000, 1, 1)), r"Patient\.born is encrypted"),
        (lambda: Patient.objects.filter(pk=p.pk).update(name=sealed), r"Patient\.name .*SealedValue"),
        (lambda: Patient.objects.bulk_update([p], ["name"]), r"Patient\.name is encrypted"),
    ]
    for attempt, message in attempts:
        # Django marks the transaction for rollback on a failed update: keep the test's usable.
        with pytest.raises(TypeError, match=rf"crypto_tests\.{message}") as failure, transaction.atomic():
            attempt()
        assert "plain text" not in str(failure.value) and "other" not in str(failure.value)
    assert Patient.objects.get(pk=p.pk).name == "王芳"

    Patient.objects.filter(pk=p.pk).update(nickname=None)  # NULL carries no value: allowed
    assert Patient.objects.get(pk=p.pk).nickname is None


def test_encrypted_columns_cannot_be_searched_except_for_null(tables, keyfile):
    p = make_patient(name="王芳", phone=None)
    with pytest.raises(TypeError, match=r"crypto_tests\.Patient\.name is encrypted"):
        Patient.objects.filter(name="王芳").count()
    with pytest.raises(TypeError, match=r"Patient\.name is encrypted"):
        Patient.objects.exclude(name="王芳").count()
    with pytest.raises(TypeError, match=r"Patient\.name is encrypted"):
        Patient.objects.get_or_create(name="王芳")
    for lookup in ("icontains", "startswith", "in", "gt", "regex"):
        with pytest.raises(FieldError, match=rf"crypto_tests\.Patient\.name is encrypted .*'{lookup}'"):
            Patient.objects.filter(**{f"name__{lookup}": ["王芳"] if lookup == "in" else "王"}).count()
    with pytest.raises(FieldError, match=r"Patient\.results is encrypted"):
        Patient.objects.filter(results__hiv="negative").count()

    assert list(Patient.objects.filter(phone__isnull=True).values_list("pk", flat=True)) == [p.pk]
    assert list(Patient.objects.filter(phone=None).values_list("pk", flat=True)) == [p.pk]
    assert Patient.objects.filter(name__isnull=False).count() == 1


def test_full_clean_validates_plaintext(tables, keyfile):
    p = Patient(name="王芳", nickname="x" * 21)
    with pytest.raises(ValidationError, match="at most 20 characters"):
        p.full_clean()


# --- blind indexes ---------------------------------------------------------------------------
def test_blind_lookup_finds_exact_matches_after_normalising_only(tables, keyfile):
    a = make_patient(name="王芳", id_number="11010119940307128x", phone="138-0013-8000")
    make_patient(name="李娜", id_number="110101199403071236", phone="13800138001")

    def find(field, value):
        return [p.name for p in Patient.objects.filter(**blind_lookup(Patient, field, value))]

    assert find("id_number_bidx", "11010119940307128X") == ["王芳"]
    assert find("id_number_bidx", " 110101 19940307128x ") == ["王芳"]
    assert find("id_number_bidx", "11010119940307128") == []  # a prefix is not a match
    assert find("id_number_bidx", "110101199403071") == []
    assert find("phone_bidx", "138 0013 8000") == ["王芳"]
    assert find("phone_bidx", "") == []
    assert find("phone_bidx", None) == []
    stored = column(Patient, "id_number_bidx", a.pk)
    assert stored.startswith("k1:") and "1101" not in stored and len(stored) <= 64


def test_blind_indexes_differ_per_purpose(tables, keyfile):
    p = make_patient(phone="13800138000")
    c = Contact.objects.create(phone="13800138000")
    assert column(Patient, "phone_bidx", p.pk) != column(Contact, "phone_bidx", c.pk)
    assert Contact.objects.filter(**blind_lookup(Contact, "phone_bidx", "13800138000")).get().pk == c.pk
    assert not Contact.objects.filter(**blind_lookup(Patient, "phone_bidx", "13800138000")).exists()
    assert Patient._meta.get_field("phone_bidx").index_purpose == "crypto_tests.patient.phone"


def test_blind_index_follows_its_source(tables, keyfile):
    p = make_patient(phone=None)
    assert column(Patient, "phone_bidx", p.pk) is None
    p.phone = "13800138000"
    p.save()
    assert Patient.objects.filter(**blind_lookup(Patient, "phone_bidx", "13800138000")).get().pk == p.pk
    got = Patient.objects.get(pk=p.pk)
    got.phone = "13900139000"
    got.save()
    assert not Patient.objects.filter(**blind_lookup(Patient, "phone_bidx", "13800138000")).exists()
    assert Patient.objects.filter(**blind_lookup(Patient, "phone_bidx", "13900139000")).exists()
    got.phone = ""
    got.save()
    assert column(Patient, "phone_bidx", p.pk) is None


def test_blind_lookup_refuses_a_field_that_is_not_a_blind_index():
    with pytest.raises(TypeError, match="not a BlindIndexField"):
        blind_lookup(Patient, "phone", "13800138000")


# --- migrations ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field",
    [
        EncryptedTextField(null=True, blank=True, verbose_name="name"),
        EncryptedCharField(max_length=20),
        EncryptedDateField(),
        EncryptedJSONField(null=True),
        BlindIndexField(source="phone", normalizer=normalise_phone, purpose="people.phone"),
        BlindIndexField(source="id_number", normalizer="tests.crypto.models.normalise_id"),
        BlindIndexField(source="id_number"),
    ],
)
def test_fields_deconstruct_to_serialisable_arguments_that_rebuild_the_same_field(field):
    _name, path, args, kwargs = field.deconstruct()
    assert path.startswith("mchis.crypto.fields.")
    rebuilt = type(field)(*args, **kwargs)
    assert rebuilt.deconstruct()[1:] == (path, args, kwargs)
    assert all(not callable(v) for v in kwargs.values())
    MigrationWriter.serialize(field)  # raises when something cannot go into a migration
    if isinstance(field, BlindIndexField):
        assert not {"max_length", "db_index", "null", "editable"} & set(kwargs)
        assert (rebuilt.max_length, rebuilt.null, rebuilt.editable) == (64, True, False)
        # Its index is the model's, in Meta (see the index checks below).
        assert (rebuilt.db_index, rebuilt.unique) == (False, False)


def test_the_autodetector_sees_no_change_after_a_round_trip_through_migration_state():
    before = ProjectState()
    before.add_model(ModelState.from_model(Patient))
    # The model rendered from the state has its fields rebuilt from their deconstruction, as
    # loading a migration file does.
    rendered = before.apps.get_model("crypto_tests", "patient")
    after = ProjectState()
    after.add_model(ModelState.from_model(rendered))
    assert MigrationAutodetector(before, after).changes(graph=MigrationGraph()) == {}


# --- the index of a blind index (mchis.E206, mchis.E207) -------------------------------------
def blind_model(*, meta: dict | None = None, **field_kwargs):
    """A model with a blind index, in a registry of its own, and its check() errors of mchis."""
    with isolate_apps():
        attrs = {
            "__module__": __name__,
            "id": models.UUIDField(primary_key=True, default=uuid7, editable=False),
            "phone": EncryptedTextField(null=True),
            "phone_bidx": BlindIndexField(source="phone", **field_kwargs),
            "Meta": type("Meta", (), {"app_label": "crypto_tests", **(meta or {})}),
        }
        model = type("Indexed", (models.Model,), attrs)
        return [e.id for e in model.check() if e.id.startswith("mchis.")]


@pytest.mark.parametrize(
    "meta",
    [
        {"indexes": [models.Index(fields=["phone_bidx"], name="indexed_phone")]},
        {"indexes": [models.Index(fields=["phone_bidx", "id"], name="indexed_phone_id")]},
        {"constraints": [models.UniqueConstraint(fields=["phone_bidx"], name="indexed_phone_once")]},
    ],
)
def test_a_blind_index_with_an_index_in_meta_that_starts_with_it_passes(meta):
    assert blind_model(meta=meta) == []


@pytest.mark.parametrize(
    "meta",
    [
        {},
        # Not first: "phone_bidx IN (…)" alone cannot use it.
        {"indexes": [models.Index(fields=["id", "phone_bidx"], name="indexed_id_phone")]},
        # Partial: not every row is in it.
        {"indexes": [models.Index(fields=["phone_bidx"], condition=models.Q(phone__isnull=True), name="indexed_some")]},
    ],
)
def test_a_model_without_an_index_that_starts_with_its_blind_index_fails_the_check(meta):
    assert blind_model(meta=meta) == ["mchis.E206"]


@pytest.mark.parametrize("kwargs", [{"db_index": True}, {"unique": True}])
def test_a_blind_index_is_not_indexed_through_the_field(kwargs):
    """On PostgreSQL, db_index or unique on a CharField adds a varchar_pattern_ops ("_like")
    index for LIKE, which an exact-match column never runs and every INSERT pays for."""
    meta = {"indexes": [models.Index(fields=["phone_bidx"], name="indexed_phone")]}
    assert blind_model(meta=meta, **kwargs) == ["mchis.E207"]


def test_every_installed_blind_index_has_its_index():
    from django.core import checks

    assert [e for e in checks.run_checks() if e.id in ("mchis.E206", "mchis.E207")] == []
