"""Handover (P29): open work moves to a successor at the same institution, both sides confirm,
and the leaver's account closes (both confirmed, or on the leaving day by the job)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.accounts.handover import (
    HANDOVER_MOVERS,
    Side,
    handover_confirm,
    handover_get,
    handover_mover_register,
    handover_start,
    handovers_due,
)
from mchis.accounts.mfa import key_issue
from mchis.accounts.models import (
    DisabledReason,
    ElectronicKey,
    Handover,
    KeyEvent,
    KeyEventKind,
    KeyKind,
    KeyState,
    User,
    UserSession,
)
from mchis.accounts.roles import Role
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.approvals.selectors import approvals_awaiting
from mchis.approvals.services import approval_decide, approval_request
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.select_related("institution")}


def today():
    return timezone.localdate()


def account_request(users, username="pending.new"):
    return approval_request(
        requester=users["custodian.mch"],
        kind="account",
        payload={
            "display_name": "新人",
            "username": username,
            "roles": [Role.CLINICIAN],
            "expires_on": (today() + timedelta(days=90)).isoformat(),
        },
        reason="新入职",
    )


def start(users, *, by="secadmin", leaver="custodian.mch", successor="leader.mch", days=3, note="调往市局"):
    return handover_start(
        actor=users[by],
        from_user=users[leaver],
        to_user=users[successor],
        leaving_on=today() + timedelta(days=days),
        note=note,
    )


def handover_events(handover):
    return AuditEvent.objects.filter(object_type="accounts.handover", object_ids=str(handover.pk))


def test_starting_moves_pending_requests_and_key_custody_to_the_successor(users):
    request = account_request(users)
    key = ElectronicKey.objects.create(
        user=users["clinician.mch"], kind=KeyKind.WEBAUTHN, label="U盾 7", custodian=users["custodian.mch"]
    )
    handover = start(users)
    request.refresh_from_db()
    key.refresh_from_db()
    assert request.requester == users["leader.mch"] and request.state == ApprovalState.PENDING
    assert key.custodian == users["leader.mch"]
    assert KeyEvent.objects.filter(key=key, kind="transferred").exists()
    assert handover.moved == {"approvals": 1, "keys": 1}
    # The leaver still works until the leaving day or both confirmations.
    assert User.objects.get(username="custodian.mch").is_active
    assert handover_events(handover).filter(reason__startswith="handover started").exists()
    assert AuditEvent.objects.filter(object_type="accounts.electronickey", object_ids=str(key.pk)).exists()


def test_p28_p29_a_key_issued_by_the_leaving_custodian_passes_into_the_successors_custody(users):
    """P28, P29: the register entry of a key that custodian A issued is kept by A; when A
    hands over to B, B keeps it: the custody the handover moves is the custody the issue set."""
    issued = key_issue(
        actor=users["custodian.mch"], holder=users["clinician.mch"], kind=KeyKind.WEBAUTHN, serial="FIDO-CM-0042"
    )
    assert issued.custodian == users["custodian.mch"] and issued.issued_by == users["custodian.mch"]
    handover = start(users, by="secadmin", leaver="custodian.mch", successor="leader.mch")
    issued.refresh_from_db()
    assert issued.custodian == users["leader.mch"]
    assert issued.issued_by == users["custodian.mch"]  # who issued it stays on record
    assert list(issued.events.values_list("kind", flat=True)) == [KeyEventKind.ISSUED, KeyEventKind.TRANSFERRED]
    assert handover.moved["keys"] == 1
    # The holder's own (self-enrolled) key has no custodian and is not moved.
    own = ElectronicKey.objects.get(user=users["clinician.mch"], state=KeyState.ACTIVE)
    assert own.custodian is None


def test_the_data_custodian_may_start_a_handover_at_their_institution(users):
    handover = start(users, by="custodian.mch", leaver="clinician.mch", successor="pmtct.mch")
    assert handover.started_by == users["custodian.mch"]


@pytest.mark.parametrize(
    ("by", "leaver", "successor"),
    [
        ("clinician.mch", "pmtct.mch", "leader.mch"),  # no custodian or security role
        ("custodian.thc1", "clinician.mch", "leader.mch"),  # a custodian of another institution
        ("custodian.mch", "custodian.mch", "leader.mch"),  # nobody starts their own handover
    ],
)
def test_who_may_not_start_a_handover(users, by, leaver, successor):
    with pytest.raises(ValidationError) as exc:
        start(users, by=by, leaver=leaver, successor=successor)
    assert "from_user" in exc.value.message_dict
    assert not Handover.objects.exists()
    assert AuditEvent.objects.filter(action="deny", reason="handover: not allowed").exists()


@pytest.mark.parametrize(
    ("successor", "message"),
    [
        ("custodian.mch", "cannot be the person leaving"),
        ("clinician.thc1", "same institution"),
    ],
)
def test_the_successor_is_someone_else_at_the_same_institution(users, successor, message):
    with pytest.raises(ValidationError) as exc:
        start(users, successor=successor)
    assert message in exc.value.message_dict["to_user"][0]


def test_the_successor_must_be_active_and_the_day_not_past(users):
    User.objects.filter(username="leader.mch").update(is_active=False)
    users["leader.mch"].refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        start(users, days=-1)
    assert set(exc.value.message_dict) == {"to_user", "leaving_on"}


def test_one_open_handover_per_leaver(users):
    start(users)
    with pytest.raises(ValidationError) as exc:
        start(users, successor="info.mch")
    assert "from_user" in exc.value.message_dict


def test_both_confirmations_close_the_old_account_at_once(users, login):
    leaver_client = login("custodian.mch")
    key = ElectronicKey.objects.get(user=users["custodian.mch"], state=KeyState.ACTIVE)
    handover = start(users)
    handover_confirm(actor=users["custodian.mch"], handover_id=handover.pk, side=Side.HANDED_OVER)
    assert User.objects.get(username="custodian.mch").is_active
    handover = handover_confirm(actor=users["leader.mch"], handover_id=handover.pk, side=Side.RECEIVED, note="已接收")
    assert handover.completed_at and handover.from_confirmed_at and handover.to_confirmed_at
    leaver = User.objects.get(username="custodian.mch")
    assert not leaver.is_active and leaver.disabled_reason == DisabledReason.HANDOVER and leaver.disabled_at
    key.refresh_from_db()
    assert key.state == KeyState.REVOKED
    assert not UserSession.objects.filter(user=leaver, ended_at__isnull=True).exists()
    assert leaver_client.get("/").status_code == 302
    reasons = set(handover_events(handover).values_list("reason", flat=True))
    assert {"handover handed_over", "handover received", "handover: leaver's account closed"} <= reasons


def test_the_job_closes_the_account_on_the_leaving_day_not_before(users):
    handover = start(users, days=2)
    assert handovers_due(today=today() + timedelta(days=1)) == 0
    assert User.objects.get(username="custodian.mch").is_active
    # Work the leaver opened after the start moves too.
    late = account_request(users, username="late.new")
    assert handovers_due(today=today() + timedelta(days=2)) == 1
    leaver = User.objects.get(username="custodian.mch")
    assert not leaver.is_active and leaver.disabled_reason == DisabledReason.HANDOVER
    late.refresh_from_db()
    assert late.requester == users["leader.mch"]
    handover.refresh_from_db()
    assert handover.moved["approvals"] == 1 and handover.completed_at is None
    assert handovers_due(today=today() + timedelta(days=2)) == 0


def test_the_starter_confirms_for_a_departed_leaver_with_a_note(users):
    handover = start(users)
    handovers_due(today=today() + timedelta(days=3))
    with pytest.raises(ValidationError) as exc:
        handover_confirm(actor=users["secadmin"], handover_id=handover.pk, side=Side.HANDED_OVER)
    assert "note" in exc.value.message_dict
    handover_confirm(actor=users["secadmin"], handover_id=handover.pk, side=Side.HANDED_OVER, note="本人已离职")
    handover = handover_confirm(actor=users["leader.mch"], handover_id=handover.pk, side=Side.RECEIVED)
    assert handover.completed_at is not None
    assert "本人已离职" in handover.note
    assert handover_events(handover).filter(reason="handover handed_over (on behalf of the leaver)").exists()


def test_each_side_is_confirmed_by_its_own_person(users):
    handover = start(users)
    with pytest.raises(ValidationError):
        handover_confirm(actor=users["custodian.mch"], handover_id=handover.pk, side=Side.RECEIVED)
    with pytest.raises(ValidationError):
        handover_confirm(actor=users["leader.mch"], handover_id=handover.pk, side=Side.HANDED_OVER, note="x")
    handover_confirm(actor=users["leader.mch"], handover_id=handover.pk, side=Side.RECEIVED)
    with pytest.raises(ValidationError):
        handover_confirm(actor=users["leader.mch"], handover_id=handover.pk, side=Side.RECEIVED)


def test_a_handover_is_visible_to_those_involved_only(users):
    handover = start(users)
    for username in ("custodian.mch", "leader.mch", "secadmin"):
        assert handover_get(actor=users[username], handover_id=handover.pk) == handover
    for username in ("clinician.thc1", "custodian.thc1", "info.city"):
        with pytest.raises(RecordNotFound):
            handover_get(actor=users[username], handover_id=handover.pk)


def test_requests_waiting_on_a_leaving_decider_stay_decidable_by_the_role(users):
    request = account_request(users)
    # The county information officer leaves; another holds the role at the county hospital.
    from mchis.accounts.services import role_grant

    role_grant(user=users["pmtct.mch"], role=Role.MCH_INFO_OFFICER, institution=users["info.mch"].institution)
    handover = start(users, leaver="info.mch", successor="pmtct.mch", days=0)
    handovers_due()
    assert not User.objects.get(username="info.mch").is_active
    successor = User.objects.get(username="pmtct.mch")
    assert list(approvals_awaiting(user=successor)) == [request]
    approval_decide(actor=successor, request_id=request.pk, approve=True)
    assert ApprovalRequest.objects.get(pk=request.pk).state == ApprovalState.APPROVED
    assert handover.moved == {"approvals": 0, "keys": 0}


def test_modules_register_their_own_movers(users, monkeypatch):
    moved = []

    def loans_move(*, from_user, to_user, handover):
        moved.append((from_user.username, to_user.username))
        return 4

    monkeypatch.setitem(HANDOVER_MOVERS, "archive_loans", loans_move)
    handover = start(users)
    assert handover.moved["archive_loans"] == 4
    assert moved == [("custodian.mch", "leader.mch")]
    with pytest.raises(ValueError):
        handover_mover_register(name="archive_loans", mover=lambda **kw: 0)


# --- pages ------------------------------------------------------------------------------------


def test_start_and_confirm_through_the_pages(users, login):
    starter = login("custodian.mch")
    assert starter.get("/accounts/handovers/new/").status_code == 200
    response = starter.post(
        "/accounts/handovers/new/",
        {
            "from_user": users["clinician.mch"].pk,
            "to_user": users["pmtct.mch"].pk,
            "leaving_on": (today() + timedelta(days=5)).isoformat(),
            "note": "调岗",
        },
    )
    assert response.status_code == 302
    handover = Handover.objects.get()
    assert response["Location"] == f"/accounts/handovers/{handover.pk}/"
    assert starter.get("/accounts/handovers/").status_code == 200

    successor = login("pmtct.mch")
    page = successor.get(f"/accounts/handovers/{handover.pk}/")
    assert page.status_code == 200 and page.context["may_confirm_received"]
    successor.post(f"/accounts/handovers/{handover.pk}/confirm/", {"side": "received", "note": ""})
    leaver = login("clinician.mch")
    leaver.post(f"/accounts/handovers/{handover.pk}/confirm/", {"side": "handed_over", "note": ""})
    assert not User.objects.get(username="clinician.mch").is_active


def test_the_start_page_is_not_for_clinicians_and_a_strangers_handover_is_not_found(users, login):
    handover = start(users)
    client = login("clinician.thc1")
    assert client.get("/accounts/handovers/new/").status_code == 404
    assert client.get(f"/accounts/handovers/{handover.pk}/").status_code == 404
