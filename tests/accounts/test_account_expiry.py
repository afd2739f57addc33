"""Accounts end on their date (P29): the day before they work, from the start of the day
they are refused at login, an open session is signed out, and the periodic job disables them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mchis.accounts.lifecycle import account_expired, accounts_expire
from mchis.accounts.models import DisabledReason, User, UserSession
from mchis.accounts.tasks import accounts_lifecycle_job
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def expire_on(username: str, days_from_today: int) -> None:
    User.objects.filter(username=username).update(expires_on=timezone.localdate() + timedelta(days=days_from_today))


def password_accepted(demo, username: str) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": demo[username]["password"]})
    return response.status_code == 302


def test_the_day_before_its_end_the_account_logs_in(demo):
    expire_on("clinician.mch", 1)
    assert password_accepted(demo, "clinician.mch")


def test_on_its_end_day_the_account_is_refused_like_a_wrong_password(demo):
    expire_on("clinician.mch", 0)
    response = Client().post(
        "/accounts/login/", {"username": "clinician.mch", "password": demo["clinician.mch"]["password"]}
    )
    assert response.status_code == 200
    wrong = Client().post("/accounts/login/", {"username": "clinician.mch", "password": "not-the-password"})
    assert response.context["form"].errors == wrong.context["form"].errors
    assert AuditEvent.objects.filter(action="login_failed", actor_username="clinician.mch").exists()


def test_an_open_session_is_signed_out_when_the_end_day_comes(login):
    client = login("clinician.mch")
    assert client.get("/").status_code == 200
    expire_on("clinician.mch", 0)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    user = User.objects.get(username="clinician.mch")
    assert AuditEvent.objects.filter(actor_id=user.pk, reason="signed out: account expired").exists()
    assert not UserSession.objects.filter(user=user, ended_at__isnull=True).exists()
    # And it stays signed out.
    assert client.get("/").status_code == 302


def test_the_job_disables_accounts_whose_end_day_has_come_and_only_those(demo):
    expire_on("clinician.mch", 0)
    expire_on("clinician.thc1", -3)
    expire_on("clinician.thc2", 1)
    assert accounts_expire() == 2
    for username in ("clinician.mch", "clinician.thc1"):
        user = User.objects.get(username=username)
        assert not user.is_active and user.disabled_reason == DisabledReason.EXPIRED and user.disabled_at
        assert AuditEvent.objects.filter(
            object_type="accounts.user", object_ids=str(user.pk), reason="account disabled (expired)"
        ).exists()
    assert User.objects.get(username="clinician.thc2").is_active
    assert accounts_expire() == 0


def test_the_periodic_job_runs_expiry_and_due_handovers(demo):
    expire_on("clinician.mch", 0)
    assert accounts_lifecycle_job.call_local() == {"expired": 1, "handed_over": 0}


def test_account_expired_is_false_without_an_end_date(demo):
    user = User.objects.get(username="clinician.mch")
    assert user.expires_on is None and not account_expired(user)
