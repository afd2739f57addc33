"""The audit trail: verification speed (≥ 200,000 events/s over 1,000,000 events) and the cost
of auditing under 8 concurrent writers on PostgreSQL (≥ 70 % of the throughput without it)."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

from bench.timing import proc_cpu

EVENTS = int(os.environ.get("MCHIS_BENCH_AUDIT_EVENTS", "1000000"))
WORKERS = 8
TRANSACTIONS = int(os.environ.get("MCHIS_BENCH_AUDIT_TRANSACTIONS", "300"))


def _fill(n: int) -> float:
    """n realistic read events with real MACs and object refs, inserted in bulk, then sealed.

    One in four is a page that showed records of two kinds (an episode and the woman): its
    ids name their kind, as `reads_flush` writes such a request's event."""
    from django.db import transaction
    from django.utils import timezone

    from mchis.audit.integrity import event_message, mac_function
    from mchis.audit.models import AuditEvent, AuditObjectRef
    from mchis.audit.services import _text_values, audit_seal
    from mchis.crypto.keyring import keyring

    ring = keyring()
    mac = mac_function(ring.active.suite.name, ring.audit_mac_key)
    rng = random.Random(1)
    start = (AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    t0 = timezone.now() - timedelta(days=1)
    began = time.perf_counter()
    for base in range(start, n + 1, 5000):
        events, refs = [], []
        for i in range(base, min(base + 5000, n + 1)):
            ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(rng.choice((1, 1, 2, 3)))]
            if i % 4:
                kind, pairs = "people.person", [("people.person", x) for x in ids]
                tokens, fields, path = ids, "address name phone", "/people/"
            else:
                kind, pairs = "", [("maternal.pregnancy", ids[0]), *(("people.person", x) for x in ids[1:] or ids)]
                tokens = [f"{t}:{x}" for t, x in pairs]
                fields, path = "maternal.pregnancy:edd people.person:name", f"/maternal/{ids[0]}/"
            e = AuditEvent(
                id=i,
                at=t0 + timedelta(microseconds=i * 50),
                suite=ring.active.suite.name,
                actor_id=None,
                actor_username=f"user{rng.randint(1, 500)}",
                institution_id=None,
                action="read",
                outcome="ok",
                object_type=kind,
                object_ids=" ".join(tokens),
                field_names=fields,
                purpose="care",
                reason="",
                source_ip="10.1.2.3",
                request_id=uuid.uuid4().hex,
                path=path,
                user_agent="Mozilla/5.0",
                extra="",
            )
            e.mac = mac(event_message(_text_values(e))).hex()
            events.append(e)
            refs += [AuditObjectRef(event_id=i, object_type=t, object_id=x) for t, x in pairs]
        with transaction.atomic():
            AuditEvent.objects.bulk_create(events)
            AuditObjectRef.objects.bulk_create(refs)
    audit_seal(safety_delay=timedelta(0))
    return time.perf_counter() - began


def _raw_read_rate() -> float:
    """Baseline: stream the same rows and columns with no hashing at all."""
    from django.db import connection, transaction

    began = time.perf_counter()
    n = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent ORDER BY id")
        while rows := cursor.fetchmany(10_000):
            n += len(rows)
    return n / (time.perf_counter() - began)


def suite_audit_verify() -> dict:
    from django.core.management import call_command
    from django.db import connection

    from mchis.audit.verify import audit_verify

    call_command("migrate", verbosity=0)
    fill_s = _fill(EVENTS)
    connection.close()
    baseline = _raw_read_rate()
    result = audit_verify()
    assert result.ok, result.first
    return {
        "events": result.events,
        "seals": result.seals,
        "fill_seconds": round(fill_s, 1),
        "baseline_raw_read_events_per_second": round(baseline),
        "verify_events_per_second": round(result.events_per_second),
        "ratio_to_raw_read": round(result.events_per_second / baseline, 2),
        "target": "verify_events_per_second >= 200000",
    }


def _worker(
    kind: str, audited: bool, n: int, worker: int, start: multiprocessing.Event, out: multiprocessing.Queue
) -> None:
    """n transactions of one kind: "raw" is one INSERT by SQL (the cheapest write there is);
    "orm" is the same row written through a Django model; "registration" is a transaction
    the system really runs, a person registered through `person_register` (validation,
    encryption, person, link and its audit event; without audit, the service's
    event is left out of the registration's statement in this process); "raw_rows_alone" is
    "raw" with its event's row computed beforehand (the ceiling)."""
    import django

    django.setup()
    from django.db import connection, models, transaction

    from mchis.audit.services import audit_record

    if kind == "registration":
        _registrations(audited, n, worker, start, out)
        return
    if kind == "raw_rows_alone":
        _raw_rows_alone(n, start, out)
        return

    class BenchWrite(models.Model):
        note = models.TextField()

        class Meta:
            app_label = "ops"
            db_table = "bench_write"
            managed = False

        def __str__(self) -> str:
            return self.note

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    start.wait()
    began, cpu, backend_cpu = time.perf_counter(), time.process_time(), proc_cpu(backend)
    for i in range(n):
        note = f"w{os.getpid()}-{i}"
        with transaction.atomic():
            if kind == "raw":
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO bench_write (note) VALUES (%s) RETURNING id", [note])
                    row_id = cursor.fetchone()[0]
            else:
                row_id = BenchWrite.objects.create(note=note).pk
            if audited:
                audit_record(action="create", object_type="bench.write", object_ids=[str(row_id)], fields=["note"])
    # Wall time, then the CPU seconds of this worker and of its database backend.
    out.put((time.perf_counter() - began, time.process_time() - cpu, proc_cpu(backend) - backend_cpu))
    connection.close()


def _raw_rows_alone(n: int, start, out) -> None:
    """The "raw" transactions with their event as the system writes it (the same statement:
    event and object index row), but the event's id, text and MAC computed before the clock
    starts, the statement sent by the cursor `audit_record` uses: what an audited "raw"
    transaction costs when `audit_record`'s own work costs nothing."""
    from django.db import connection, transaction

    from mchis.audit.services import _REFS_INSERT_PG, _event_pending
    from mchis.ops import rows

    events = []
    for i in range(n):
        pending = _event_pending(
            action="create",
            actor=None,
            actor_username="bench",
            object_type="bench.write",
            object_ids=[str(i + 1)],
            fields=["note"],
            outcome="ok",
            purpose="",
            reason="",
            institution=None,
            extra=None,
        )
        events.append([*pending._finish(connection), "bench.write", pending.ids])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    start.wait()
    began, cpu, backend_cpu = time.perf_counter(), time.process_time(), proc_cpu(backend)
    for i, params in enumerate(events):
        # The transaction and the first INSERT exactly as "raw" sends them; the event by the
        # cursor `audit_record` uses.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_write (note) VALUES (%s) RETURNING id", [f"w{os.getpid()}-{i}"])
                cursor.fetchone()
            rows.cursor(connection).execute(_REFS_INSERT_PG, params)
    out.put((time.perf_counter() - began, time.process_time() - cpu, proc_cpu(backend) - backend_cpu))
    connection.close()


def _registrations(audited: bool, n: int, worker: int, start, out) -> None:
    from datetime import date

    from django.db import connection

    import mchis.people.services as people_services
    from mchis.accounts.models import User
    from mchis.audit.services import PendingEvent
    from mchis.people.identifiers import id_make

    if not audited:
        # The same registrations without their event: insert_together gets the person and
        # her link only.
        together = people_services.rows.insert_together

        def without_event(first, *rest, **kwargs):
            return together(first, *(r for r in rest if not isinstance(r, PendingEvent)), **kwargs)

        people_services.rows = SimpleNamespace(insert_together=without_event)
    clinician = User.objects.select_related("institution").get(username="clinician.thc1")
    # Numbers no other worker or run uses: a worker's own birth dates, 500 per day.
    first = date(1980, 1, 1) + timedelta(days=worker * 1000 + (0 if audited else 500))
    numbers = [
        id_make(area_code="410122", born=first + timedelta(days=i // 500), sequence=(i % 500) * 2) for i in range(n)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    start.wait()
    began, cpu, backend_cpu = time.perf_counter(), time.process_time(), proc_cpu(backend)
    for number in numbers:
        people_services.person_register(
            actor=clinician,
            institution=clinician.institution,
            document_type="resident_id",
            document_number=number,
            name="王秀英",
            sex=2,
            birth_date=date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
            phone="13800138000",
            address="某县某镇某村",
        )
    out.put((time.perf_counter() - began, time.process_time() - cpu, proc_cpu(backend) - backend_cpu))
    connection.close()


def _concurrent_rate(kind: str, audited: bool) -> tuple[float, dict]:
    """Transactions per second of WORKERS processes, and the CPU microseconds per transaction
    of the workers (Python) and of their database backends."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, audited, TRANSACTIONS, k, start, out)) for k in range(WORKERS)]
    for p in procs:
        p.start()
    time.sleep(3)  # let every worker finish django.setup()
    began = time.perf_counter()
    start.set()
    reports = [out.get() for _ in procs]
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    total = WORKERS * TRANSACTIONS
    cpu_us = {
        "workers": round(sum(r[1] for r in reports) * 1e6 / total),
        "database_backends": round(sum(r[2] for r in reports) * 1e6 / total),
    }
    return total / elapsed, cpu_us


def suite_audit_concurrency() -> dict:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"skipped": "concurrent writers are measured on PostgreSQL (SQLite has one writer at a time)"}
    from mchis.demo.generator import demo_load, demo_plan

    call_command("migrate", verbosity=0)
    demo_load(demo_plan("small"))  # the institutions and the clinician of the registrations
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_write (id bigserial PRIMARY KEY, note text NOT NULL)")
    connection.close()
    result: dict = {"workers": WORKERS, "transactions_per_worker": TRANSACTIONS, "target": "ratio >= 0.7"}
    for kind in ("raw", "orm", "registration"):
        plain, plain_cpu = _concurrent_rate(kind, audited=False)
        audited, audited_cpu = _concurrent_rate(kind, audited=True)
        result[kind] = {
            "baseline_without_audit_tps": round(plain, 1),
            "with_audit_tps": round(audited, 1),
            "ratio": round(audited / plain, 2),
            # Where the difference goes: CPU per transaction, without and with the audit event.
            "cpu_us_per_transaction": {"without_audit": plain_cpu, "with_audit": audited_cpu},
        }
        if kind == "raw":
            # The ceiling of "raw": the same event rows, computed beforehand (against the same
            # baseline, measured again right before it).
            plain, plain_cpu = _concurrent_rate(kind, audited=False)
            alone, alone_cpu = _concurrent_rate("raw_rows_alone", audited=True)
            result["raw_event_rows_alone"] = {
                "baseline_without_audit_tps": round(plain, 1),
                "with_event_rows_tps": round(alone, 1),
                "ratio": round(alone / plain, 2),
                "cpu_us_per_transaction": {"without_audit": plain_cpu, "with_event_rows": alone_cpu},
            }
    return result
