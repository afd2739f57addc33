"""Nobody decides their own request (P19), and a handover does not make it someone else's:
the leaver's pending requests move to the successor, but the one who filed a request still
never decides it, even while holding the deciding role until the leaving day."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.accounts.handover import handover_start
from mchis.accounts.models import User
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.approvals.selectors import approval_may_decide, approvals_awaiting
from mchis.approvals.services import approval_decide, approval_request
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def filer(users):
    """The county MCH hospital's custodian, also its information officer (a small county)."""
    custodian = users["custodian.mch"]
    role_grant(user=custodian, role=Role.MCH_INFO_OFFICER, institution=custodian.institution)
    return User.objects.get(pk=custodian.pk)


def test_a_request_moved_at_handover_is_still_not_decided_by_the_one_who_filed_it(users, filer, account_payload):
    request = approval_request(requester=filer, kind="account", payload=account_payload(), reason="新入职")
    handover_start(
        actor=users["secadmin"],
        from_user=filer,
        to_user=users["leader.mch"],
        leaving_on=timezone.localdate() + timedelta(days=3),
    )
    request.refresh_from_db()
    assert request.requester == users["leader.mch"]

    filer = User.objects.get(pk=filer.pk)
    assert not approvals_awaiting(user=filer).exists()
    assert not approval_may_decide(actor=filer, request=request)
    with pytest.raises(ValidationError) as exc:
        approval_decide(actor=filer, request_id=request.pk, approve=True)
    assert "own request" in exc.value.message_dict["decision"][0]
    assert ApprovalRequest.objects.get(pk=request.pk).state == ApprovalState.PENDING
    assert not User.objects.filter(username="new.colleague").exists()
    assert AuditEvent.objects.filter(action="deny", reason="own request", actor_id=filer.pk).exists()

    # Another officer over the institution still decides it.
    approval_decide(actor=users["info.mch"], request_id=request.pk, approve=True)
    assert User.objects.filter(username="new.colleague").exists()
