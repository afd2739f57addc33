"""The protected-data path for persons (issue: p50 ≤ 3 ms and ≤ 3× a plaintext indexed lookup;
service creates at ≥ 50 % of a plain ORM insert's throughput)."""

from __future__ import annotations

import os
import random
import time
from datetime import date, timedelta

from bench.timing import timed, versus

PERSONS = int(os.environ.get("MCHIS_BENCH_PERSONS", "1000000"))
BATCH = 5000


def _populate(n: int, plain_model) -> list[tuple[str, str]]:
    """n persons, spread over the small demo's clinical institutions, inserted in bulk through
    the model (so every value is really encrypted and indexed), and the same rows in plaintext
    into `plain_model`'s table (the creates' baseline inserts into a table of the same size).
    Returns (id, number) samples."""
    from django.db import transaction

    from mchis.accounts.models import RoleAssignment
    from mchis.orgs.models import county_path_of
    from mchis.people.identifiers import id_make
    from mchis.people.models import Person, PersonLink

    clinicians = list(RoleAssignment.objects.filter(role="clinician").select_related("institution", "user"))
    rng = random.Random(7)
    samples: list[tuple[str, str]] = []
    made = 0
    start = date(1975, 1, 1)
    while made < n:
        persons, links, plain = [], [], []
        for i in range(made, min(n, made + BATCH)):
            a = clinicians[i % len(clinicians)]
            # 500 women per birth date (even sequence numbers: female), every number once.
            born = start + timedelta(days=i // 500)
            number = id_make(area_code="410121", born=born, sequence=(i % 500) * 2)
            p = Person(
                document_type="resident_id",
                document_number=number,
                name="测试" + str(i % 997),
                sex=2,
                birth_date=born,
                phone=f"13{i:09d}",
                address="某县某镇某村",
                county_path=county_path_of(a.institution.region_path),
                registered_by=a.institution,
            )
            persons.append(p)
            plain.append(
                plain_model(
                    document_type="resident_id",
                    document_number=number,
                    name=p.name,
                    sex=2,
                    birth_date=born,
                    phone=p.phone,
                    address=p.address,
                    county_path=p.county_path,
                    registered_by_id=a.institution.pk,
                )
            )
            links.append(
                PersonLink(
                    person=p,
                    institution=a.institution,
                    institution_region_path=a.institution.region_path,
                    created_by=a.user,
                )
            )
            if rng.random() < 2000 / n:
                samples.append((a.user.username, number))
        with transaction.atomic():
            Person.unscoped.bulk_create(persons)
            PersonLink.objects.bulk_create(links)
            plain_model.objects.bulk_create(plain)
        made += len(persons)
    return samples


def suite_people() -> dict:
    from django.core.management import call_command
    from django.test import override_settings

    from mchis.accounts.models import User
    from mchis.crypto.fields import blind_lookup
    from mchis.demo.generator import demo_load, demo_plan
    from mchis.people.identifiers import id_make
    from mchis.people.models import Person
    from mchis.people.selectors import person_find_by_document
    from mchis.people.services import person_register

    call_command("migrate", verbosity=0)
    demo_load(demo_plan("small"))
    plain_model = _plain_person_model("bench_plain_person")
    t0 = time.perf_counter()
    samples = _populate(PERSONS, plain_model)
    populate_s = time.perf_counter() - t0
    # Fresh planner statistics after a bulk load, as autovacuum (PostgreSQL) would gather them.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    users = {u.username: u for u in User.objects.all()}
    rng = random.Random(3)
    lookups = [(users[u], n, blind_lookup(Person, "document_number_bidx", n)) for u, n in samples]

    def plain_lookup():
        _u, _n, where = rng.choice(lookups)
        return Person.unscoped.filter(**where).first()

    def selector_lookup():
        user, number, _where = rng.choice(lookups)
        # As a request calls it (no ATOMIC_REQUESTS): the lookup in autocommit, then the read's
        # audit event in a transaction of its own (committed as MCHIS_AUDIT_READ_COMMIT says).
        found = person_find_by_document(actor=user, document_number=number, purpose="care")
        assert found is not None and found.name
        return found

    baseline = timed(plain_lookup, repeat=2000)
    selector = timed(selector_lookup, repeat=2000)
    # The same with the read's event committed without waiting for the WAL flush
    # (MCHIS_AUDIT_READ_COMMIT=async), shown beside the default (durable): what the flush costs.
    with override_settings(MCHIS_AUDIT_READ_COMMIT="async"):
        selector_async = timed(selector_lookup, repeat=1000)

    # Creates: the service against a plain ORM insert of the same row into a plaintext table
    # holding as many rows as the persons' table ("with 1,000,000 persons" holds for both). The
    # same insert into an empty table is shown too: the difference is the cost of the table's
    # size alone (deeper B-trees, fewer of their pages in the cache), not of protecting the data.
    empty_model = _plain_person_model("bench_plain_person_empty")
    clinician = users["clinician.thc1"]
    seq = iter(range(10**6))

    def plain_insert(model=plain_model):
        i = next(seq)
        born = date(2000, 1, 1) + timedelta(days=i // 500)  # every number once
        model.objects.create(
            document_type="resident_id",
            document_number=id_make(area_code="410122", born=born, sequence=i % 500 * 2),
            name="王秀英",
            sex=2,
            birth_date=born,
            phone="13800138000",
            address="某县某镇某村",
            county_path=clinician.institution.region_path,
            registered_by_id=clinician.institution_id,
        )

    def service_create():
        i = next(seq)
        born = date(2000, 1, 1) + timedelta(days=i // 500)  # every number once
        person_register(
            actor=clinician,
            institution=clinician.institution,
            document_type="resident_id",
            document_number=id_make(area_code="410122", born=born, sequence=i % 500 * 2),
            name="王秀英",
            sex=2,
            birth_date=born,
            phone="13800138000",
            address="某县某镇某村",
        )

    # The ceiling: registrations' own rows (person, link, audit event, object index row) with
    # every value computed beforehand, sent by the bare driver with nothing between the
    # statements. No implementation that writes these rows can do better than this ratio.
    floor = iter(_recorded_rows(service_create, 1020))
    plain = timed(plain_insert, repeat=1000, warmup=20)
    rows_alone = timed(lambda: _replay(next(floor)), repeat=1000, warmup=20)
    empty = timed(lambda: plain_insert(empty_model), repeat=1000, warmup=20)
    before = Person.unscoped.count()
    service = timed(service_create, repeat=1000, warmup=20)
    # Each call registered a new person (none was found already registered and linked).
    assert Person.unscoped.count() == before + 1020, "a benchmark registration found an existing person"
    return {
        "persons": Person.unscoped.count(),
        "populate_seconds": round(populate_s, 1),
        "baseline_plaintext_indexed_lookup": baseline,
        "find_by_id_number_via_selector": versus(selector, baseline),
        "find_by_id_number_via_selector_async_read_commit": versus(selector_async, baseline),
        "baseline_plain_orm_insert": {
            **plain,
            "per_second": round(1000 / plain["mean_ms"], 1),
            "table_rows": plain_model.objects.count(),
        },
        "plain_orm_insert_into_empty_table": {**empty, "per_second": round(1000 / empty["mean_ms"], 1)},
        "registration_rows_written_alone": {
            **rows_alone,
            "per_second": round(1000 / rows_alone["mean_ms"], 1),
            "throughput_vs_plain_insert": round(plain["mean_ms"] / rows_alone["mean_ms"], 2),
        },
        "create_via_service": {
            **service,
            "per_second": round(1000 / service["mean_ms"], 1),
            "throughput_vs_plain_insert": round(plain["mean_ms"] / service["mean_ms"], 2),
            "throughput_vs_plain_insert_into_empty_table": round(empty["mean_ms"] / service["mean_ms"], 2),
        },
        "targets": "find p50 <= 3 ms and ratio <= 3; create throughput_vs_plain_insert >= 0.5",
    }


def _recorded_rows(register, n: int) -> list[list[tuple[str, object, bool]]]:
    """The INSERT statements of n registrations with their values as sent to the driver
    (`register` called n times in a transaction that is then rolled back, so the same rows
    can be written again by `_replay`, in the same order: SQLite's event ids follow on)."""
    from django.db import connection, transaction

    recorded: list[list[tuple[str, object, bool]]] = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("INSERT", "WITH")):
            recorded[-1].append((sql, params, many))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(record):
        for _ in range(n):
            recorded.append([])
            register()
        transaction.set_rollback(True)
    return recorded


def _replay(statements: list[tuple[str, object, bool]]) -> None:
    """One registration's rows by the bare DB-API connection: on PostgreSQL its one statement
    (its own transaction, as the service sends it), on SQLite the statements between BEGIN
    IMMEDIATE and COMMIT."""
    from django.db import connection

    raw = connection.connection
    if connection.vendor == "postgresql":
        with raw.cursor() as cursor:
            for sql, params, _many in statements:
                cursor.execute(sql, params)
        return
    cursor = raw.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    for sql, params, many in statements:
        if "%%" in sql:
            raise ValueError("a recorded statement holds a literal %")
        sql = sql.replace("%s", "?")
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
            cursor.fetchall()
    cursor.execute("COMMIT")
    cursor.close()


def _plain_person_model(table: str):
    """The same columns in plaintext, without policy, encryption, blind index or audit: the
    baseline (a model of its own per table)."""
    from django.db import connection, models

    meta = type("Meta", (), {"app_label": "people", "db_table": table})
    fields = {
        "document_type": models.CharField(max_length=24),
        "document_number": models.CharField(max_length=40, db_index=True),
        "name": models.TextField(),
        "sex": models.PositiveSmallIntegerField(),
        "birth_date": models.DateField(),
        "phone": models.TextField(),
        "address": models.TextField(),
        "county_path": models.CharField(max_length=255, db_index=True),
        "registered_by_id": models.BigIntegerField(),
        "created_at": models.DateTimeField(auto_now_add=True),
    }
    name = "".join(part.title() for part in table.split("_"))  # a model name per table
    model = type(name, (models.Model,), {"__module__": __name__, "Meta": meta, **fields})

    with connection.schema_editor() as editor:
        editor.create_model(model)
    return model
