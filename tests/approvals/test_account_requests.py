"""Account requests (P29, P3, P19): the custodian asks, the county MCH information officer
decides; approval creates the account with its roles, end date and a one-time initial
password that must be changed at first login."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.accounts.lifecycle import day_start
from mchis.accounts.models import RoleAssignment, User
from mchis.accounts.roles import Role
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.approvals.services import approval_decide, approval_request, approval_secret_take, approvals_expire
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def ask(users, payload, by="custodian.mch"):
    return approval_request(requester=users[by], kind="account", payload=payload, reason="新入职医生")


def test_an_approved_request_creates_the_account_with_roles_expiry_and_a_forced_password_change(users, account_payload):
    expires_on = timezone.localdate() + timedelta(days=200)
    request = ask(users, account_payload(roles=[Role.CLINICIAN, Role.PMTCT_OFFICER], expires_on=expires_on.isoformat()))
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True, note="同意")
    user = User.objects.get(username="new.colleague")
    assert user.display_name == "新同事"
    assert user.institution == users["custodian.mch"].institution
    assert user.expires_on == expires_on
    assert user.must_change_password is True
    assert user.is_active
    assignments = RoleAssignment.objects.filter(user=user)
    assert {a.role for a in assignments} == {Role.CLINICIAN, Role.PMTCT_OFFICER}
    for a in assignments:
        # Granted in the decider's name, at the requesting institution, ending with the account.
        assert a.granted_by == users["info.mch"]
        assert a.institution == user.institution
        assert a.expires_at == day_start(expires_on)
    request.refresh_from_db()
    assert request.state == ApprovalState.APPROVED
    assert (request.subject_type, request.subject_id) == ("accounts.user", str(user.pk))
    assert request.grants_until == day_start(expires_on)
    assert AuditEvent.objects.filter(
        action="approval", object_ids=str(request.pk), actor_id=users["info.mch"].pk, reason="approval account approved"
    ).exists()
    assert AuditEvent.objects.filter(
        object_type="accounts.user", object_ids=str(user.pk), actor_id=users["info.mch"].pk, reason="account created"
    ).exists()
    # Each grant's audit event names the approval that allowed it (P19).
    grants = AuditEvent.objects.filter(object_type="accounts.roleassignment", actor_id=users["info.mch"].pk)
    assert grants.count() == 2 and all(str(request.pk) in e.extra for e in grants)


def test_the_initial_password_is_stored_encrypted_shown_once_to_the_requester_and_wiped(users, account_payload):
    request = ask(users, account_payload())
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    # What the database holds is a token, never the password.
    stored = ApprovalRequest.objects.values_list("secret", flat=True).get(pk=request.pk).token
    # The decider sees the request but never the password.
    with pytest.raises(RecordNotFound):
        approval_secret_take(actor=users["info.mch"], request_id=request.pk)
    password = approval_secret_take(actor=users["custodian.mch"], request_id=request.pk)
    assert password and password not in stored
    assert authenticate(username="new.colleague", password=password) is not None
    with pytest.raises(ValidationError):
        approval_secret_take(actor=users["custodian.mch"], request_id=request.pk)
    request.refresh_from_db()
    assert request.secret is None and request.secret_shown_at is not None
    assert AuditEvent.objects.filter(
        object_type="approvals.approvalrequest", reason__contains="shown to the requester"
    ).exists()


def test_a_rejected_request_creates_nothing(users, account_payload):
    request = ask(users, account_payload())
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=False, note="不需要")
    assert not User.objects.filter(username="new.colleague").exists()
    request.refresh_from_db()
    assert not request.has_secret
    with pytest.raises(ValidationError):
        approval_secret_take(actor=users["custodian.mch"], request_id=request.pk)


def test_a_township_centres_request_is_decided_by_the_county_officer(users, account_payload):
    request = ask(users, account_payload(username="thc1.new"), by="custodian.thc1")
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    user = User.objects.get(username="thc1.new")
    assert user.institution == users["custodian.thc1"].institution


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"roles": [Role.SECURITY_ADMIN]}, "roles"),  # technical accounts: the security administrator's (P19)
        ({"roles": [Role.HEALTH_ADMIN]}, "roles"),  # not held at a hospital
        ({"roles": []}, "roles"),
        ({"roles": ["wizard"]}, "roles"),
        ({"username": "clinician.mch"}, "username"),  # taken
        ({"username": "bad name!"}, "username"),
        ({"display_name": ""}, "display_name"),
        ({"expires_on": date.today().isoformat()}, "expires_on"),
        ({"expires_on": "2001-01-01"}, "expires_on"),
        ({"expires_on": "2999-01-01"}, "expires_on"),
        ({"expires_on": "not a date"}, "expires_on"),
    ],
)
def test_a_request_is_checked_against_the_account_and_role_rules(users, account_payload, overrides, field):
    with pytest.raises(ValidationError) as exc:
        ask(users, account_payload(**overrides))
    assert field in exc.value.message_dict
    assert not ApprovalRequest.objects.exists()


def test_the_information_officer_role_cannot_be_requested_for_a_township_centre(users, account_payload):
    with pytest.raises(ValidationError) as exc:
        ask(users, account_payload(roles=[Role.MCH_INFO_OFFICER]), by="custodian.thc1")
    assert "MCH information officer" in exc.value.message_dict["roles"][0]


def test_the_same_username_cannot_be_requested_twice(users, account_payload):
    ask(users, account_payload())
    with pytest.raises(ValidationError) as exc:
        ask(users, account_payload(), by="custodian.thc1")
    assert "username" in exc.value.message_dict


def test_approval_fails_cleanly_when_the_username_was_taken_meanwhile(users, account_payload):
    from mchis.accounts.services import user_create

    request = ask(users, account_payload())
    user_create(
        username="new.colleague",
        display_name="抢先",
        institution=users["info.mch"].institution,
        password="Zq8#unique-pw",
    )
    with pytest.raises(ValidationError):
        approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING
    assert User.objects.get(username="new.colleague").display_name == "抢先"


def test_an_uncollected_initial_password_is_wiped_after_the_pending_period(users, account_payload, settings):
    request = ask(users, account_payload())
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    approvals_expire(now=timezone.now() + timedelta(days=settings.MCHIS_APPROVAL_PENDING_DAYS + 1))
    request.refresh_from_db()
    assert not request.has_secret
    with pytest.raises(ValidationError):
        approval_secret_take(actor=users["custodian.mch"], request_id=request.pk)


# --- pages ------------------------------------------------------------------------------------


def test_request_decide_and_show_the_password_once_through_the_pages(login, users):
    custodian = login("custodian.mch")
    form = custodian.get("/accounts/request/")
    assert form.status_code == 200
    expires_on = (timezone.localdate() + timedelta(days=100)).isoformat()
    response = custodian.post(
        "/accounts/request/",
        {
            "display_name": "新同事",
            "username": "page.new",
            "roles": [Role.CLINICIAN],
            "expires_on": expires_on,
            "reason": "新入职",
        },
    )
    assert response.status_code == 302
    request = ApprovalRequest.objects.get()
    assert response["Location"] == f"/approvals/{request.pk}/"

    info = login("info.mch")
    listing = info.get("/approvals/")
    assert str(request.pk) in listing.content.decode()
    detail = info.get(f"/approvals/{request.pk}/")
    assert detail.status_code == 200 and detail.context["may_decide"]
    assert info.post(f"/approvals/{request.pk}/decide/", {"decision": "approve", "note": ""}).status_code == 302
    assert User.objects.filter(username="page.new").exists()
    # The decider is offered no password.
    assert info.post(f"/approvals/{request.pk}/secret/").status_code == 404

    page = custodian.get(f"/approvals/{request.pk}/")
    assert page.context["item"].secret_waiting
    shown = custodian.post(f"/approvals/{request.pk}/secret/")
    assert shown.status_code == 200
    password = shown.context["value"]
    assert password in shown.content.decode()
    again = custodian.post(f"/approvals/{request.pk}/secret/", follow=True)
    assert password not in again.content.decode()


def test_the_request_page_is_for_custodians_only(login):
    assert login("clinician.mch").get("/accounts/request/").status_code == 404
    assert login("secadmin").get("/accounts/request/").status_code == 404


def test_a_stranger_gets_not_found_for_a_request_page(login, users, account_payload):
    request = ask(users, account_payload())
    client = login("clinician.mch")
    assert client.get(f"/approvals/{request.pk}/").status_code == 404
    assert client.post(f"/approvals/{request.pk}/decide/", {"decision": "approve"}).status_code == 404
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING


def test_the_requester_cannot_approve_through_the_page(login, users, account_payload):
    request = ask(users, account_payload())
    client = login("custodian.mch")
    page = client.get(f"/approvals/{request.pk}/")
    assert page.status_code == 200 and not page.context["may_decide"]
    client.post(f"/approvals/{request.pk}/decide/", {"decision": "approve"})
    request.refresh_from_db()
    assert request.state == ApprovalState.PENDING
