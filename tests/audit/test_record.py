"""Writing audit events: what is kept, what never is, and in which transaction (P10)."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from mchis.audit import services
from mchis.audit.context import audit_context
from mchis.audit.models import AuditAction, AuditEvent, AuditObjectRef, AuditOutcome
from mchis.audit.services import audit_denied, audit_record, denials_settle, event_mac
from mchis.audit.verify import audit_verify

pytestmark = pytest.mark.django_db


def test_an_event_keeps_metadata_and_a_mac_over_it(demo, read_event):
    from mchis.accounts.models import User

    clinician = User.objects.get(username="clinician.thc1")
    event = audit_record(
        action="update",
        actor=clinician,
        object_type="people.Person",
        object_ids=["01a2-uuid", 42],
        fields=["phone", "address"],
        purpose="care",
        reason="moved house",
        extra={"grant": 7},
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor_id == clinician.pk and stored.actor_username == "clinician.thc1"
    assert stored.institution_id == clinician.institution_id
    assert stored.object_type == "people.person"
    assert stored.object_id_list == ["01a2-uuid", "42"] and stored.field_name_list == ["phone", "address"]
    assert stored.outcome == AuditOutcome.OK and stored.extra == '{"grant":7}'
    assert stored.mac == event_mac(stored)
    refs = AuditObjectRef.objects.filter(event=stored).order_by("id")
    assert [(r.object_type, r.object_id) for r in refs] == [("people.person", "01a2-uuid"), ("people.person", "42")]


def test_anonymous_events_have_no_actor():
    event = audit_record(action="login_failed", outcome="failed")
    assert event.actor_id is None and event.actor_username == "" and event.institution_id is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "peek"}, "unknown audit action"),
        ({"action": "read", "outcome": "maybe"}, "unknown audit outcome"),
        ({"action": "read", "object_ids": ["1"]}, "name their type"),
        ({"action": "read", "object_ids": ["person:1"]}, "name their type"),
        ({"action": "update", "fields": ["people.person:血型"]}, "never values"),
        ({"action": "read", "object_type": "person", "object_ids": ["1"]}, "model label"),
        ({"action": "read", "object_type": "people.person", "object_ids": ["1 2"]}, "without spaces"),
        # An event of several kinds lists "<type>:<id>": a colon in an id would blur the two.
        ({"action": "read", "object_type": "people.person", "object_ids": ["1:2"]}, "colons"),
        ({"action": "read", "object_type": "people.person", "object_ids": "12"}, "not one string"),
        # A value where a field name belongs would put clinical data in the trail.
        ({"action": "update", "fields": ["hiv_result=positive"]}, "never values"),
        ({"action": "update", "fields": ["血型"]}, "never values"),
    ],
)
def test_malformed_events_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audit_record(**kwargs)
    assert not AuditEvent.objects.exists()


def test_the_audit_row_rolls_back_with_its_action(read_event):
    with pytest.raises(RuntimeError), transaction.atomic():
        read_event("p1")
        raise RuntimeError("the action failed")
    assert not AuditEvent.objects.exists() and not AuditObjectRef.objects.exists()
    read_event("p2")
    assert list(AuditEvent.objects.values_list("object_ids", flat=True)) == ["p2"]


def test_control_characters_cannot_reach_the_trail(read_event):
    # The canonical encoding separates fields with U+001F; no stored value may contain it.
    event = audit_record(action="read", reason="a\x1fb\nc\x00d", purpose="care\x1f")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.reason == "a b c d" and stored.purpose == "care "
    assert audit_verify().ok


def test_a_time_on_the_whole_second_verifies(monkeypatch, read_event):
    # SQLite stores such a time without ".000000"; the verifier must hash the same text.
    monkeypatch.setattr(services.timezone, "now", lambda: datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC))
    read_event("p1")
    assert audit_verify().ok


def test_a_deny_is_always_recorded_as_denied():
    event = audit_record(action=AuditAction.DENY, reason="outside jurisdiction")
    assert event.outcome == AuditOutcome.DENIED
    assert audit_denied(reason="no").action == AuditAction.DENY


def test_auditing_cannot_be_switched_off(login):
    # DESIGN "Audit": never a switch to turn auditing off. The settings that name the audit say
    # where the chain head is kept outside the database, and how a read's event is committed
    # (async or durable), never whether it is written.
    assert sorted({name for name in dir(settings) if "AUDIT" in name.upper()}) == [
        "MCHIS_AUDIT_ANCHOR_FILE",
        "MCHIS_AUDIT_READ_COMMIT",
    ]
    assert settings.MCHIS_AUDIT_READ_COMMIT in ("async", "durable")
    assert "mchis.audit.middleware.AuditContextMiddleware" in settings.MIDDLEWARE
    login("clinician.thc1")
    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert event.actor_username == "clinician.thc1" and event.path == "/accounts/login/"


def test_failed_logins_are_recorded_without_the_password(demo):
    Client().post("/accounts/login/", {"username": "clinician.thc1", "password": "Wrong-password-123"})
    Client().post("/accounts/login/", {"username": "nobody-by-this-name", "password": "Wrong-password-456"})
    failed = list(AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).order_by("id"))
    assert [e.actor_username for e in failed] == ["clinician.thc1", "nobody-by-this-name"]
    assert failed[0].actor_id is not None and failed[1].actor_id is None
    assert all(e.outcome == AuditOutcome.FAILED for e in failed)
    for event in failed:
        row = " ".join(str(v) for v in AuditEvent.objects.filter(pk=event.pk).values().first().values())
        assert "Wrong-password" not in row


def test_logout_is_recorded(login):
    client = login("info.mch")
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action=AuditAction.LOGOUT, actor_username="info.mch").count() == 1


def test_request_context_is_recorded_without_being_passed(login, demo):
    client = login("info.mch")
    response = client.get("/orgs/institutions/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="TestBrowser/1.0")
    # A view that audits a read finds the request's context itself; the refusal below does the same.
    clinician = login("clinician.thc1")
    refused = clinician.get("/orgs/institutions/", REMOTE_ADDR="10.9.9.9")
    assert refused.status_code == 404
    deny = AuditEvent.objects.get(action=AuditAction.DENY)
    assert deny.actor_username == "clinician.thc1" and deny.source_ip == "10.9.9.9"
    assert deny.path == "/orgs/institutions/" and deny.request_id == refused["X-Request-ID"]
    assert response["X-Request-ID"] != refused["X-Request-ID"]


def test_forwarded_addresses_count_only_behind_the_proxy(login, settings):
    client = login("clinician.thc1")
    client.get("/orgs/institutions/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client.get(
        "/orgs/institutions/",
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5",
        HTTP_X_REQUEST_ID="proxy-req-1",
    )
    ips = list(AuditEvent.objects.filter(action="deny").order_by("id").values_list("source_ip", "request_id"))
    assert ips[0][0] == "10.0.0.1"
    assert ips[1] == ("203.0.113.5", "proxy-req-1")


def test_a_refused_csrf_check_is_a_denial(demo):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
    deny = AuditEvent.objects.get(action=AuditAction.DENY)
    assert deny.actor_id is None and deny.reason == "HTTP 403"


def test_a_denial_a_service_recorded_is_not_recorded_twice(rf, demo):
    from django.http import HttpResponseForbidden

    from mchis.audit.middleware import AuditContextMiddleware

    def view(request):
        audit_denied(reason="policy said no")
        return HttpResponseForbidden()

    request = rf.get("/x/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    AuditContextMiddleware(view)(request)
    assert list(AuditEvent.objects.filter(action="deny").values_list("reason", flat=True)) == ["policy said no"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["async", "durable"])
def test_only_a_transaction_holding_nothing_but_a_read_event_commits_without_waiting(settings, mode):
    """P10: every write, and every event in a transaction that writes, commits durably; the
    event of a read, alone in its transaction, commits without waiting for the WAL flush on
    PostgreSQL unless MCHIS_AUDIT_READ_COMMIT is "durable" (docs/operations.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.MCHIS_AUDIT_READ_COMMIT = mode

    def relaxed(fn) -> bool:
        with CaptureQueriesContext(connection) as seen:
            fn()
        return any("synchronous_commit" in q["sql"] for q in seen.captured_queries)

    def read_alone():
        audit_record(action=AuditAction.READ, object_type="people.person", object_ids=["1"])

    def write_alone():
        audit_record(action=AuditAction.UPDATE, object_type="people.person", object_ids=["1"], fields=["phone"])

    def read_beside_a_write():
        with transaction.atomic():
            audit_record(action=AuditAction.UPDATE, object_type="people.person", object_ids=["1"], fields=["phone"])
            audit_record(action=AuditAction.READ, object_type="people.person", object_ids=["1"])

    expected = connection.vendor == "postgresql" and mode == "async"
    assert relaxed(read_alone) is expected
    assert relaxed(write_alone) is False
    assert relaxed(read_beside_a_write) is False
    assert AuditEvent.objects.count() == 4
    # The setting lasts for its transaction only: the next one is durable again.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    assert audit_verify().ok


def test_a_refusal_rolled_back_is_written_again_even_when_its_id_was_drawn_again():
    """On SQLite the next event draws the rolled-back refusal's id again: the refusal is found
    lost by its id and MAC together, not by its id alone (P10)."""
    with audit_context(path="/people/register/") as ctx:
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_denied(object_type="people.person", object_ids=["a"], reason="refused in a rolled-back transaction")
            raise RuntimeError
        audit_record(action="login", reason="the next event")
        assert denials_settle(ctx) == 1
    assert AuditEvent.objects.filter(action="deny", reason="refused in a rolled-back transaction").count() == 1
