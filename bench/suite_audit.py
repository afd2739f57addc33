"""The audit trail: verification speed (≥ 200,000 events/s over 1,000,000 events) and the cost
of auditing under 8 concurrent writers on PostgreSQL (≥ 70 % of the throughput without it)."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
import uuid
from datetime import timedelta

EVENTS = int(os.environ.get("MCHIS_BENCH_AUDIT_EVENTS", "1000000"))
WORKERS = 8
TRANSACTIONS = int(os.environ.get("MCHIS_BENCH_AUDIT_TRANSACTIONS", "300"))


def _fill(n: int) -> float:
    """n realistic read events with real MACs and object refs, inserted in bulk, then sealed."""
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
            e = AuditEvent(
                id=i,
                at=t0 + timedelta(microseconds=i * 50),
                suite=ring.active.suite.name,
                actor_id=None,
                actor_username=f"user{rng.randint(1, 500)}",
                institution_id=None,
                action="read",
                outcome="ok",
                object_type="people.person",
                object_ids=" ".join(ids),
                field_names="address name phone",
                purpose="care",
                reason="",
                source_ip="10.1.2.3",
                request_id=uuid.uuid4().hex,
                path="/people/",
                user_agent="Mozilla/5.0",
                extra="",
            )
            e.mac = mac(event_message(_text_values(e))).hex()
            events.append(e)
            refs += [AuditObjectRef(event_id=i, object_type="people.person", object_id=x) for x in ids]
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


def _worker(kind: str, audited: bool, n: int, start: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    """n transactions of one kind: "raw" is one INSERT by SQL (the cheapest write there is);
    "orm" is the same row written through a Django model, as the services write."""
    import django

    django.setup()
    from django.db import connection, models, transaction

    from mchis.audit.services import audit_record

    class BenchWrite(models.Model):
        note = models.TextField()

        class Meta:
            app_label = "ops"
            db_table = "bench_write"
            managed = False

        def __str__(self) -> str:
            return self.note

    start.wait()
    began = time.perf_counter()
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
    out.put(time.perf_counter() - began)
    connection.close()


def _concurrent_rate(kind: str, audited: bool) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, audited, TRANSACTIONS, start, out)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    time.sleep(3)  # let every worker finish django.setup()
    began = time.perf_counter()
    start.set()
    for _ in procs:
        out.get()
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return WORKERS * TRANSACTIONS / elapsed


def suite_audit_concurrency() -> dict:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"skipped": "concurrent writers are measured on PostgreSQL (SQLite has one writer at a time)"}
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_write (id bigserial PRIMARY KEY, note text NOT NULL)")
    connection.close()
    result: dict = {"workers": WORKERS, "transactions_per_worker": TRANSACTIONS, "target": "ratio >= 0.7"}
    for kind in ("raw", "orm"):
        plain = _concurrent_rate(kind, audited=False)
        audited = _concurrent_rate(kind, audited=True)
        result[kind] = {
            "baseline_without_audit_tps": round(plain, 1),
            "with_audit_tps": round(audited, 1),
            "ratio": round(audited / plain, 2),
        }
    return result
