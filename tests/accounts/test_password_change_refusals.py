"""A wrong current password on the change page is a failed authentication: it counts towards
the lockout and, like a failed login, it is an audit event (GB/T 22239: audit of every
user and important event, success or failure). So is a refusal during the lock."""

import pytest

from mchis.accounts.lockout import lockout_active
from mchis.accounts.models import User
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

WRONG = {"old_password": "guess", "new_password1": "Own-choice-22", "new_password2": "Own-choice-22"}


def refusals(user: User):
    return AuditEvent.objects.filter(action="login_failed", actor_id=user.pk, reason__startswith="password change")


def test_a_wrong_current_password_is_audited_as_a_failed_authentication(login):
    client = login("clinician.thc1")
    holder = User.objects.get(username="clinician.thc1")
    response = client.post("/accounts/password/", WRONG)
    assert response.status_code == 200 and response.context["form"].errors["old_password"]
    event = refusals(holder).get()
    assert event.outcome == "failed" and event.reason == "password change refused: wrong current password"


def test_guesses_during_the_lock_are_refused_and_audited_too(login, settings):
    client = login("clinician.thc1")
    holder = User.objects.get(username="clinician.thc1")
    for _ in range(settings.MCHIS_LOCKOUT_FAILURES):
        client.post("/accounts/password/", WRONG)
    assert lockout_active(subjects=["user:clinician.thc1"]) is not None
    client.post("/accounts/password/", WRONG)
    wrong = refusals(holder).filter(reason="password change refused: wrong current password")
    assert wrong.count() == settings.MCHIS_LOCKOUT_FAILURES
    assert refusals(holder).filter(reason="password change refused: locked out").count() == 1
