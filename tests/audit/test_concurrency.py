"""Concurrent writers and sealers on PostgreSQL: ids drawn at INSERT, rows visible at COMMIT.

Sealing must neither lose an event that commits late nor report it as tampering, must take
rollbacks in its stride, and two sealers at once must not fork the chain.
"""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from mchis.audit import services
from mchis.audit.integrity import ranges_ids
from mchis.audit.models import AuditEvent, AuditSeal
from mchis.audit.services import audit_record, audit_seal
from mchis.audit.verify import audit_verify

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"),
    pytest.mark.django_db(transaction=True),
]


def in_thread(fn):
    """Run fn in a thread with its own database connection; re-raise its error."""
    errors = []

    def run():
        try:
            fn()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def read(tag: str) -> int:
    return audit_record(action="read", object_type="people.person", object_ids=[tag], fields=["name"]).id


def test_an_event_committed_after_its_range_was_sealed_is_sealed_later():
    recorded, sealed = threading.Event(), threading.Event()
    slow_id = []

    def slow_transaction():
        with transaction.atomic():
            slow_id.append(read("slow"))
            recorded.set()
            assert sealed.wait(10)

    thread, errors = in_thread(slow_transaction)
    assert recorded.wait(10)
    # A higher id, committed first (a fresh block of ids: the thread drew its own earlier).
    services.audit_ids_forget()
    fast_id = read("fast")
    (first,) = audit_seal(safety_delay=timedelta(0))
    assert slow_id[0] in ranges_ids(first.gaps) and first.last_id == fast_id
    sealed.set()
    thread.join()
    assert not errors
    result = audit_verify()
    assert result.ok and result.unsealed == 1, result.problems
    (second,) = audit_seal(safety_delay=timedelta(0))
    assert second.late == str(slow_id[0])
    result = audit_verify()
    assert result.ok and (result.sealed, result.unsealed) == (2, 0)


def test_many_writers_and_two_sealers_lose_nothing_and_raise_no_false_alarm():
    committed: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(seed: int):
        rng = random.Random(seed)
        for n in range(25):
            try:
                with transaction.atomic():
                    event_id = read(f"w{seed}-{n}")
                    time.sleep(rng.random() * 0.02)
                    if rng.random() < 0.2:
                        raise RuntimeError("roll back")
            except RuntimeError:
                continue
            with lock:
                committed.append(event_id)

    def sealer():
        while not done.is_set():
            audit_seal(safety_delay=timedelta(0))
            time.sleep(0.005)

    sealers = [in_thread(sealer) for _ in range(2)]
    writers = [in_thread(lambda s=s: writer(s)) for s in range(6)]
    for thread, errors in writers:
        thread.join()
        assert not errors, errors
    done.set()
    for thread, errors in sealers:
        thread.join()
        assert not errors, errors

    audit_seal(safety_delay=timedelta(0))
    result = audit_verify()
    assert result.ok, result.problems
    assert result.unsealed == 0 and result.sealed == len(committed) == AuditEvent.objects.count()
    assert set(AuditEvent.objects.values_list("id", flat=True)) == set(committed)
    numbers = list(AuditSeal.objects.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1)), "the chain forked or skipped"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ids are drawn in blocks on PostgreSQL only")
def test_a_forked_process_does_not_reuse_its_parents_block_of_ids():
    """A pre-loading server forks workers that inherit the connection object (and the ids
    the parent drew): a child must draw its own."""
    import os

    parent_id = read("parent")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            connection.connection = None  # the inherited socket stays the parent's: open a new one
            child_id = services._event_id_next()
            os.write(write_fd, str(child_id).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child_id = int(os.read(read_fd, 64))
    # The parent's next id comes from its own block; the child's from a fresh one.
    assert child_id != services._event_id_next()
    assert child_id > parent_id
