"""The sealing job: a short task that reschedules itself every few seconds, and a watchdog."""

import time

import pytest
from huey import MemoryHuey

from mchis.audit import tasks
from mchis.audit.models import AuditSeal

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(monkeypatch):
    """A private job store, and a record of what the tasks schedule."""
    huey = MemoryHuey("audit-test", immediate=False)
    monkeypatch.setattr(tasks, "HUEY", huey)
    scheduled, started = [], []
    monkeypatch.setattr(tasks.audit_seal_tick, "schedule", lambda args, delay: scheduled.append((args, delay)))
    monkeypatch.setattr(tasks, "audit_seal_tick", _Recorder(tasks.audit_seal_tick, started))
    return huey, scheduled, started


class _Recorder:
    def __init__(self, task, calls):
        self.task, self.calls = task, calls

    def __call__(self, *args):
        self.calls.append(args)

    def __getattr__(self, name):
        return getattr(self.task, name)


def test_a_tick_seals_and_schedules_the_next_one_seconds_later(queue, read_event):
    huey, scheduled, _started = queue
    read_event("P-1")
    huey.storage.put_data(tasks.GENERATION_KEY, b"g1")
    # The job's own safety delay (two seconds) leaves this young event for the next tick.
    assert tasks.audit_seal_tick.call_local("g1") == 0
    assert scheduled == [(("g1",), tasks.SEAL_INTERVAL)]
    assert tasks.SEAL_INTERVAL <= 10


def test_a_tick_of_an_old_chain_stops(queue, read_event):
    huey, scheduled, _started = queue
    huey.storage.put_data(tasks.GENERATION_KEY, b"new")
    assert tasks.audit_seal_tick.call_local("old") == 0
    assert scheduled == []


def test_the_watchdog_starts_a_chain_only_when_none_ran_recently(queue):
    huey, _scheduled, started = queue
    assert tasks.audit_seal_watchdog.call_local() is True
    generation = huey.storage.peek_data(tasks.GENERATION_KEY).decode()
    assert started == [(generation,)]
    huey.storage.put_data(tasks.LAST_RUN_KEY, str(time.time()).encode())
    assert tasks.audit_seal_watchdog.call_local() is False
    huey.storage.put_data(tasks.LAST_RUN_KEY, str(time.time() - 10 * tasks.SEAL_INTERVAL).encode())
    assert tasks.audit_seal_watchdog.call_local() is True
    assert len(started) == 2 and started[1] != started[0]


def test_a_tick_seals_what_is_old_enough(queue, read_event, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    huey, _scheduled, _started = queue
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: a_minute_ago)
        read_event("P-1")
    huey.storage.put_data(tasks.GENERATION_KEY, b"g1")
    assert tasks.audit_seal_tick.call_local("g1") == 1
    assert AuditSeal.objects.count() == 1
