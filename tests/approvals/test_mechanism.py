"""The one approval mechanism (DESIGN "Approvals"; P3, P19, P29): ask, decide, withdraw,
expire; nobody decides their own request; only the deciding role at the right place
decides; decisions are final; every step audited and notified."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.accounts.models import Notice, User
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant
from mchis.approvals import kinds as kinds_module
from mchis.approvals.kinds import ApprovalKind, DeciderScope, approval_kind_register
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.approvals.selectors import approval_deciders, approval_get, approvals_awaiting, approvals_mine
from mchis.approvals.services import approval_decide, approval_request, approval_withdraw, approvals_expire
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def events(request, action="approval"):
    return AuditEvent.objects.filter(
        object_type="approvals.approvalrequest", object_ids__contains=str(request.pk), action=action
    )


@pytest.fixture
def thing_kind(monkeypatch):
    """A kind of request decided by a leader of the requester's own institution."""
    done = []

    def on_approved(*, request, decider):
        done.append((request.pk, decider.username))
        if request.payload.get("fail"):
            raise ValidationError({"decision": ["cannot do it"]})

    kind = ApprovalKind(
        name="test_thing",
        label="test thing",
        requester_roles=frozenset({Role.CLINICIAN}),
        decider_role=Role.LEADER,
        decider_scope=DeciderScope.INSTITUTION,
        clean=lambda *, requester, payload: {"fail": bool(payload.get("fail"))},
        on_approved=on_approved,
        describe=lambda *, request: [],
    )
    monkeypatch.setitem(kinds_module.APPROVAL_KINDS, "test_thing", kind)
    return kind, done


def ask(users, account_payload, by="custodian.mch", **overrides):
    return approval_request(
        requester=users[by], kind="account", payload=account_payload(**overrides), reason="新入职医生"
    )


def test_a_request_of_an_unknown_kind_is_refused_and_the_refusal_recorded(users):
    with pytest.raises(ValidationError) as exc:
        approval_request(requester=users["custodian.mch"], kind="no_such_kind", payload={}, reason="x")
    assert "kind" in exc.value.message_dict
    assert not ApprovalRequest.objects.exists()
    assert AuditEvent.objects.filter(action="deny", reason="approval of an unknown kind").exists()


def test_registering_a_region_scoped_kind_needs_an_area_role(thing_kind):
    thing_kind, _done = thing_kind
    with pytest.raises(ValueError, match="not an area role"):
        approval_kind_register(
            ApprovalKind(
                name="bad_kind",
                label="bad",
                requester_roles=frozenset({Role.CLINICIAN}),
                decider_role=Role.LEADER,
                decider_scope=DeciderScope.REGION,
                clean=thing_kind.clean,
                on_approved=thing_kind.on_approved,
                describe=thing_kind.describe,
            )
        )


def test_only_the_kinds_requester_roles_may_ask(users, account_payload):
    with pytest.raises(ValidationError) as exc:
        ask(users, account_payload, by="clinician.mch")
    assert "kind" in exc.value.message_dict
    assert not ApprovalRequest.objects.exists()


def test_a_request_is_pending_audited_and_told_to_the_nearest_deciders(users, account_payload):
    request = ask(users, account_payload)
    assert request.state == ApprovalState.PENDING
    assert request.decider_role == Role.MCH_INFO_OFFICER
    assert request.decider_region == users["custodian.mch"].institution.region
    assert request.expires_at > timezone.now() + timedelta(days=13)
    assert events(request).filter(actor_id=users["custodian.mch"].pk).count() == 1
    told = set(Notice.objects.filter(kind="approval").values_list("recipient__username", flat=True))
    # The county's officer is told; the city's may decide but is not disturbed.
    assert told == {"info.mch"}
    assert {"info.mch", "info.city"} <= set(approval_deciders(request=request).values_list("username", flat=True))


def test_a_request_is_visible_to_its_requester_and_deciders_only(users, account_payload, other_county_info):
    request = ask(users, account_payload)
    assert approval_get(actor=users["custodian.mch"], request_id=request.pk) == request
    assert approval_get(actor=users["info.mch"], request_id=request.pk) == request
    assert approval_get(actor=users["info.city"], request_id=request.pk) == request
    for outsider in (users["clinician.mch"], users["secadmin"], users["leader.mch"], other_county_info):
        with pytest.raises(RecordNotFound):
            approval_get(actor=outsider, request_id=request.pk)
    assert AuditEvent.objects.filter(action="deny", reason="approval not visible").count() == 4


def test_lists_waiting_for_me_and_my_requests(users, account_payload, other_county_info):
    request = ask(users, account_payload)
    assert list(approvals_awaiting(user=users["info.mch"])) == [request]
    assert list(approvals_awaiting(user=users["info.city"])) == [request]
    assert not approvals_awaiting(user=other_county_info).exists()
    assert not approvals_awaiting(user=users["custodian.mch"]).exists()
    assert list(approvals_mine(user=users["custodian.mch"])) == [request]
    assert not approvals_mine(user=users["info.mch"]).exists()


def test_nobody_decides_their_own_request(users, account_payload):
    custodian = users["custodian.mch"]
    # The custodian also works as information officer: they still cannot decide their own request.
    role_grant(user=custodian, role=Role.MCH_INFO_OFFICER, institution=custodian.institution)
    custodian = User.objects.get(pk=custodian.pk)
    request = ask({"custodian.mch": custodian}, account_payload)
    assert not approvals_awaiting(user=custodian).exists()
    with pytest.raises(ValidationError) as exc:
        approval_decide(actor=custodian, request_id=request.pk, approve=True)
    assert "own request" in exc.value.message_dict["decision"][0]
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING
    assert AuditEvent.objects.filter(action="deny", reason="own request", actor_id=custodian.pk).exists()
    assert not User.objects.filter(username="new.colleague").exists()


@pytest.mark.parametrize("username", ["clinician.mch", "leader.mch", "secadmin", "healthadmin.county"])
def test_a_user_without_the_deciding_role_cannot_decide(users, account_payload, username):
    request = ask(users, account_payload)
    with pytest.raises(RecordNotFound):
        approval_decide(actor=users[username], request_id=request.pk, approve=True)
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING


def test_an_officer_of_another_jurisdiction_cannot_decide(users, account_payload, other_county_info):
    request = ask(users, account_payload)
    with pytest.raises(RecordNotFound):
        approval_decide(actor=other_county_info, request_id=request.pk, approve=True)
    assert not User.objects.filter(username="new.colleague").exists()


def test_an_officer_of_a_covering_region_may_decide(users, account_payload):
    request = ask(users, account_payload)
    decided = approval_decide(actor=users["info.city"], request_id=request.pk, approve=True)
    assert decided.state == ApprovalState.APPROVED and decided.decided_by == users["info.city"]


def test_an_expired_request_cannot_be_decided_and_is_marked_expired(users, account_payload):
    request = ask(users, account_payload)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError) as exc:
        approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    assert "expired" in exc.value.message_dict["decision"][0]
    request.refresh_from_db()
    assert request.state == ApprovalState.EXPIRED
    assert not User.objects.filter(username="new.colleague").exists()
    assert events(request).filter(actor_id__isnull=True, reason__contains="expired").exists()


def test_decisions_are_final(users, account_payload):
    request = ask(users, account_payload)
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=False, note="编制未批")
    with pytest.raises(ValidationError):
        approval_decide(actor=users["info.city"], request_id=request.pk, approve=True)
    with pytest.raises(ValidationError):
        approval_withdraw(actor=users["custodian.mch"], request_id=request.pk)
    request.refresh_from_db()
    assert request.state == ApprovalState.REJECTED and request.decided_by == users["info.mch"]


def test_a_rejection_needs_a_note_creates_nothing_and_tells_the_requester(users, account_payload):
    request = ask(users, account_payload)
    with pytest.raises(ValidationError) as exc:
        approval_decide(actor=users["info.mch"], request_id=request.pk, approve=False)
    assert "note" in exc.value.message_dict
    rejected = approval_decide(actor=users["info.mch"], request_id=request.pk, approve=False, note="编制未批")
    assert rejected.state == ApprovalState.REJECTED and rejected.decision_note == "编制未批"
    assert not User.objects.filter(username="new.colleague").exists()
    assert Notice.objects.filter(recipient=users["custodian.mch"], kind="approval").exists()
    assert events(request).filter(actor_id=users["info.mch"].pk, reason__contains="rejected").exists()


def test_only_the_requester_withdraws_and_a_withdrawn_request_cannot_be_decided(users, account_payload):
    request = ask(users, account_payload)
    with pytest.raises(ValidationError):
        approval_withdraw(actor=users["info.mch"], request_id=request.pk)
    approval_withdraw(actor=users["custodian.mch"], request_id=request.pk)
    request.refresh_from_db()
    assert request.state == ApprovalState.WITHDRAWN
    with pytest.raises(ValidationError):
        approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    assert events(request).filter(reason__contains="withdrawn").exists()


def test_pending_requests_expire_by_the_job_and_the_requester_is_told(users, account_payload):
    old = ask(users, account_payload)
    fresh = ask(users, account_payload, by="custodian.thc1", username="thc.new")
    ApprovalRequest.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert approvals_expire() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == ApprovalState.EXPIRED and old.decided_at is not None
    assert fresh.state == ApprovalState.PENDING
    assert Notice.objects.filter(recipient=users["custodian.mch"], url__contains=str(old.pk)).count() == 1
    assert approvals_expire() == 0


def test_a_failing_action_leaves_the_request_pending(users, thing_kind):
    request = approval_request(requester=users["clinician.mch"], kind="test_thing", payload={"fail": True}, reason="x")
    with pytest.raises(ValidationError):
        approval_decide(actor=users["leader.mch"], request_id=request.pk, approve=True)
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING and request.decided_by is None
    assert not events(request).filter(reason__contains="approved").exists()


def test_an_institution_scoped_kind_is_decided_at_the_requesters_institution(users, thing_kind):
    request = approval_request(requester=users["clinician.mch"], kind="test_thing", payload={}, reason="x")
    with pytest.raises(RecordNotFound):
        approval_decide(actor=users["leader.thc1"], request_id=request.pk, approve=True)
    approval_decide(actor=users["leader.mch"], request_id=request.pk, approve=True)
    assert thing_kind[1] == [(request.pk, "leader.mch")]


def test_a_request_of_a_kind_no_longer_registered_cannot_be_approved(users, thing_kind, monkeypatch):
    request = approval_request(requester=users["clinician.mch"], kind="test_thing", payload={}, reason="x")
    monkeypatch.delitem(kinds_module.APPROVAL_KINDS, "test_thing")
    with pytest.raises(ValidationError):
        approval_decide(actor=users["leader.mch"], request_id=request.pk, approve=True)
    assert thing_kind[1] == []


def test_a_request_needs_a_reason(users, account_payload):
    with pytest.raises(ValidationError) as exc:
        approval_request(requester=users["custodian.mch"], kind="account", payload=account_payload(), reason=" ")
    assert "reason" in exc.value.message_dict
