"""One event per request for the reads of a web request (P10, issue 3).

A page often reads records of more than one kind: a pregnancy page shows the episode and the
woman, the worklist the episodes and the masked names. `AuditContextMiddleware` collects the
request's reads and writes them as one event before the response leaves; the event lists
every id shown, the object index finds it under each record, and `audit verify` checks it like
any other. When that event cannot be written, the response is a server error and the data is
not sent.
"""

from __future__ import annotations

import pytest
from django.db import connection

from mchis.audit.context import audit_context
from mchis.audit.models import AuditEvent, AuditObjectRef
from mchis.audit.services import audit_record, reads_flush
from mchis.audit.verify import audit_verify


def _read(object_type: str, ids, **kwargs):
    return audit_record(action="read", object_type=object_type, object_ids=ids, **kwargs)


@pytest.mark.django_db
def test_reads_of_one_kind_become_one_event_with_every_id_and_field(request_reads):
    assert _read("maternal.Pregnancy", ["p1"], fields=["edd"], purpose="care", extra={"list": "mine"}) is None
    _read("maternal.pregnancy", ["p1", "p2"], fields=["edd", "visit"], purpose="care", extra={"list": "all"})
    assert not AuditEvent.objects.exists()  # nothing is written before the response is ready
    (event,) = reads_flush(request_reads)
    stored = AuditEvent.objects.get()
    assert stored.pk == event.pk and stored.object_type == "maternal.pregnancy"
    assert stored.object_id_list == ["p1", "p2"] and stored.field_name_list == ["edd", "visit"]
    assert stored.purpose == "care" and stored.extra == '{"list":["mine","all"]}'
    assert stored.path == "/maternal/x/"
    assert audit_verify().ok


@pytest.mark.django_db
def test_reads_of_several_kinds_name_the_kind_of_each_id(request_reads):
    _read("maternal.pregnancy", ["p1"], fields=["edd"], extra={"page": 1})
    _read("people.person", ["w1", "w2"], fields=["name"], extra={"masked": True})
    reads_flush(request_reads)
    event = AuditEvent.objects.get()
    assert event.object_type == ""
    assert event.object_id_list == ["maternal.pregnancy:p1", "people.person:w1", "people.person:w2"]
    assert event.field_name_list == ["maternal.pregnancy:edd", "people.person:name"]
    assert event.extra == '{"maternal.pregnancy":{"page":1},"people.person":{"masked":true}}'
    assert event.object_kinds == ["maternal.pregnancy", "people.person"]
    # "Who saw this record" goes through the object index, which holds each kind as usual.
    refs = AuditObjectRef.objects.filter(event=event).order_by("id")
    assert [(r.object_type, r.object_id) for r in refs] == event.object_refs
    assert event.object_refs == [("maternal.pregnancy", "p1"), ("people.person", "w1"), ("people.person", "w2")]
    assert audit_verify().ok


@pytest.mark.django_db
def test_verify_names_an_event_of_several_kinds_whose_index_rows_were_changed(request_reads, attacker):
    _read("maternal.pregnancy", ["p1"])
    _read("people.person", ["w1"])
    (event,) = reads_flush(request_reads)
    # The woman's row moved to another kind: "who saw her" would no longer find the event.
    attacker(
        "UPDATE audit_auditobjectref SET object_type = 'maternal.pregnancy' WHERE event_id = %s AND object_id = 'w1'",
        [event.pk],
    )
    result = audit_verify()
    assert not result.ok
    assert any("object index" in p.message and p.event_id == event.pk for p in result.problems)


@pytest.mark.django_db
def test_verify_names_an_index_row_that_stands_for_two_ids(request_reads, attacker):
    _read("maternal.pregnancy", ["p1"])
    _read("people.person", ["w1"])
    (event,) = reads_flush(request_reads)
    # One row holding both, read back as the same text: still one row where the event lists two.
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s AND object_id = 'w1'", [event.pk])
    attacker("UPDATE audit_auditobjectref SET object_id = 'p1 people.person:w1' WHERE event_id = %s", [event.pk])
    result = audit_verify()
    assert not result.ok
    assert any("object index" in p.message and p.event_id == event.pk for p in result.problems)


@pytest.mark.django_db
def test_reads_that_differ_in_reason_stay_separate_events(request_reads):
    _read("people.person", ["w1"])
    _read("people.person", ["w1"], reason="idempotent replay")
    assert len(reads_flush(request_reads)) == 2
    assert sorted(AuditEvent.objects.values_list("reason", flat=True)) == ["", "idempotent replay"]


@pytest.mark.django_db
def test_a_malformed_read_fails_where_it_is_recorded_not_at_the_end(request_reads):
    with pytest.raises(ValueError, match="without spaces"):
        _read("people.person", ["w 1"])
    assert request_reads.reads == []


@pytest.mark.django_db
def test_metadata_too_long_for_one_event_is_kept_in_one_event_per_read(request_reads):
    _read("people.person", ["w1"], extra={"note": "x" * 2500})
    _read("people.person", ["w2"], extra={"note": "y" * 2500})
    assert len(reads_flush(request_reads)) == 2
    assert sorted(AuditEvent.objects.values_list("object_ids", flat=True)) == ["w1", "w2"]


@pytest.mark.django_db
def test_reads_after_the_requests_event_is_written_are_written_at_once(request_reads):
    reads_flush(request_reads)
    assert _read("people.person", ["w1"]) is not None  # a streamed body reads after the flush
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_outside_a_web_request_each_read_is_written_at_once():
    with audit_context(path="job:report"):
        assert _read("people.person", ["w1"]) is not None
    assert _read("people.person", ["w2"]) is not None
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_persons_page_writes_one_read_event(login, persons):
    client = login("clinician.thc1")
    before = AuditEvent.objects.filter(action="read").count()
    response = client.get(f"/people/{persons['P_b'].pk}/")
    assert response.status_code == 200
    (event,) = AuditEvent.objects.filter(action="read").order_by("id")[before:]
    assert event.object_refs == [("people.person", str(persons["P_b"].pk))]
    assert event.request_id == response["X-Request-ID"]


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER test_audit_unavailable BEFORE INSERT ON audit_auditevent "
        "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION test_audit_unavailable() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$",
        "CREATE TRIGGER test_audit_unavailable BEFORE INSERT ON audit_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION test_audit_unavailable()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER IF EXISTS test_audit_unavailable"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS test_audit_unavailable ON audit_auditevent",
        "DROP FUNCTION IF EXISTS test_audit_unavailable()",
    ],
}


@pytest.mark.django_db(transaction=True)
def test_when_the_reads_event_cannot_be_written_the_data_is_not_sent(login, persons):
    # Transactional: the page's event is written in a transaction of its own, as in service.
    person = persons["P_b"]
    client = login("clinician.thc1")
    client.raise_request_exception = False
    with connection.cursor() as cursor:
        for sql in _REFUSE[connection.vendor]:
            cursor.execute(sql)
    try:
        response = client.get(f"/people/{person.pk}/")
    finally:
        with connection.cursor() as cursor:
            for sql in _ALLOW[connection.vendor]:
                cursor.execute(sql)
    assert response.status_code == 500
    body = response.content.decode()
    assert person.document_number not in body and "乙女士" not in body


@pytest.mark.django_db
def test_a_read_whose_ids_already_name_their_kinds_keeps_its_metadata_as_given(request_reads):
    _read("", ["maternal.pregnancy:p1", "people.person:w1"], extra={"list": "mine"})
    reads_flush(request_reads)
    event = AuditEvent.objects.get()
    assert event.object_type == "" and event.extra == '{"list":"mine"}'
    assert event.object_refs == [("maternal.pregnancy", "p1"), ("people.person", "w1")]
    assert audit_verify().ok
