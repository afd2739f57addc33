"""One event inserted by hand with an id far ahead of the others (P9, P10).

Inserting needs no trigger dropped. Before, the sealer listed every id of the hole it left
(a trillion ids: memory exhausted, sealing stopped for good) and the verifier would have too.
Now a hole is a range, whatever its size; on PostgreSQL an id the sequence never handed out is
not sealed at all. Either way sealing goes on, and `audit verify` names the event.
"""

import signal

import pytest
from django.db import connection

from mchis.audit.integrity import EVENT_FIELDS, IdRanges
from mchis.audit.models import AuditEvent
from mchis.audit.selectors import event_seal_get
from mchis.audit.verify import audit_verify

from .conftest import seal_now

pytestmark = pytest.mark.django_db

FAR = 10**12


@pytest.fixture
def deadline():
    """A hang fails the test instead of holding the run."""

    def fail(*_args):
        raise AssertionError("took over a minute: a hole of a trillion ids was walked id by id")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_sealing_and_verify_go_on_and_name_it(read_event, deadline):
    read_event("p1")
    assert seal_now()
    copied = AuditEvent.objects.order_by("id").last()
    columns = ", ".join(AuditEvent._meta.get_field(f).column for f in [*EVENT_FIELDS, "mac"] if f != "id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_auditevent (id, {columns}) SELECT %s, {columns} FROM audit_auditevent WHERE id = %s",  # noqa: S608 (names from the model)
            [FAR, copied.id],
        )
    later = read_event("p2")

    sealed = seal_now()
    assert sealed, "sealing stopped"
    assert event_seal_get(event_id=later.id) is not None  # the event after it is sealed
    result = audit_verify()
    assert not result.ok
    assert result.first.event_id == FAR and "MAC" in result.first.message, result.first


def test_id_ranges_hold_a_hole_of_any_size():
    hole = IdRanges.of_text(f"7 10-{FAR}")
    assert 7 in hole and FAR in hole and 8 not in hole and FAR + 1 not in hole
    assert len(hole) == FAR - 8
    assert hole.outside(5, FAR + 3) == [(5, 7), (8, 10), (FAR + 1, FAR + 3)]
    assert hole.minus(IdRanges.of_text("11 20-29")).text() == f"7 10 12-19 30-{FAR}"
    assert hole.count_within(9, 12) == 3
