"""Sessions (P26; GB/T 22239 timeout logout): tracked per login, idle and absolute limits,
id rotation at login and at privilege changes, ending one's other sessions."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from mchis.accounts.models import User, UserSession
from mchis.accounts.services import role_grant
from mchis.accounts.sessions import sessions_end
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def key_of(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def row_of(client: Client) -> UserSession:
    return UserSession.objects.get(session_key=key_of(client))


def signed_in(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def test_a_login_is_tracked_with_address_and_browser(demo):
    client = Client(REMOTE_ADDR="10.20.30.40", HTTP_USER_AGENT="TestBrowser/1.0")
    client.post("/accounts/login/", {"username": "info.mch", "password": demo["info.mch"]["password"]})
    row = row_of(client)
    assert row.user.username == "info.mch" and row.ended_at is None
    assert row.ip == "10.20.30.40" and row.user_agent == "TestBrowser/1.0"


def test_the_session_id_changes_at_login(demo):
    client = Client()
    session = client.session
    session["before"] = "login"
    session.save()
    before = key_of(client)
    client.post("/accounts/login/", {"username": "info.mch", "password": demo["info.mch"]["password"]})
    assert key_of(client) != before
    assert not Session.objects.filter(session_key=before).exists()


def test_the_session_id_changes_after_a_role_grant_and_the_row_follows(login):
    client = login("info.mch")
    before = key_of(client)
    user = User.objects.get(username="info.mch")
    role_grant(user=user, role="inspector", institution=user.institution)
    assert signed_in(client)
    after = key_of(client)
    assert after != before
    assert row_of(client).ended_at is None
    assert not Session.objects.filter(session_key=before).exists()
    # The old id no longer opens anything.
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = before
    assert stale.get("/").status_code == 302


def test_the_session_id_stays_without_a_privilege_change(login):
    client = login("info.mch")
    before = key_of(client)
    assert signed_in(client) and signed_in(client)
    assert key_of(client) == before


def test_idle_for_fifteen_minutes_logs_out_with_a_message(login):
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=timezone.now() - timedelta(minutes=15))
    response = client.get("/orgs/mine/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    row = UserSession.objects.get(user__username="info.mch")
    assert row.ended_at is not None and row.end_reason == "idle"
    page = client.get(response["Location"]).content.decode()
    assert ("15" in page and "activity" in page) or "分钟" in page
    assert AuditEvent.objects.filter(action="logout", actor_username="info.mch").exists()


def test_fourteen_idle_minutes_are_fine(login):
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=timezone.now() - timedelta(minutes=14))
    assert signed_in(client)


def test_the_idle_limit_is_configurable(login, settings):
    settings.MCHIS_SESSION_IDLE_MINUTES = 5
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=timezone.now() - timedelta(minutes=6))
    assert not signed_in(client)


def test_the_absolute_limit_ends_even_an_active_session(login):
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(
        created_at=timezone.now() - timedelta(hours=12), last_seen_at=timezone.now()
    )
    response = client.get("/")
    assert response.status_code == 302
    assert UserSession.objects.get(user__username="info.mch").end_reason == "expired"


def test_just_under_the_absolute_limit_is_fine(login):
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(
        created_at=timezone.now() - timedelta(hours=11, minutes=59)
    )
    assert signed_in(client)


def test_the_idle_timeout_applies_to_the_api(login):
    client = login("info.mch")
    assert client.get("/api/v1/").status_code == 200
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=timezone.now() - timedelta(minutes=16))
    assert client.get("/api/v1/").status_code in (401, 403)


def test_activity_is_written_at_most_once_a_minute(login):
    client = login("info.mch")
    recent = timezone.now() - timedelta(seconds=30)
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=recent)
    assert signed_in(client)
    assert row_of(client).last_seen_at == recent
    older = timezone.now() - timedelta(minutes=2)
    UserSession.objects.filter(session_key=key_of(client)).update(last_seen_at=older)
    assert signed_in(client)
    assert row_of(client).last_seen_at > older


def test_logout_ends_the_row(login):
    client = login("info.mch")
    row = row_of(client)
    client.post("/accounts/logout/")
    row.refresh_from_db()
    assert row.ended_at is not None and row.end_reason == "logout"


def test_a_session_whose_row_was_ended_is_logged_out(login):
    # Whatever the session engine (a cookie-based session cannot be deleted on the server).
    client = login("info.mch")
    UserSession.objects.filter(session_key=key_of(client)).update(ended_at=timezone.now(), end_reason="test")
    assert not signed_in(client)


def test_sessions_end_logs_out_every_session_but_the_kept_one(login):
    first, second, third = login("info.mch"), login("info.mch"), login("info.mch")
    user = User.objects.get(username="info.mch")
    assert sessions_end(user=user, reason="test", keep_session_key=key_of(first)) == 2
    assert signed_in(first)
    assert not signed_in(second) and not signed_in(third)
    assert AuditEvent.objects.filter(object_type="accounts.usersession", action="security").exists()


# --- My sessions ---------------------------------------------------------------------------------


def test_my_sessions_lists_open_sessions_and_marks_this_one(login):
    client = login("info.mch")
    login("info.mch")
    login("clinician.thc1")
    response = client.get("/accounts/sessions/")
    rows = response.context["rows"]
    assert len(rows) == 2 and [r.is_current for r in rows].count(True) == 1
    assert all(r.user.username == "info.mch" for r in rows)


def test_end_all_other_sessions(login):
    mine, other = login("info.mch"), login("info.mch")
    other_row = row_of(other)
    response = mine.post("/accounts/sessions/end-others/")
    assert response.status_code == 302
    assert signed_in(mine) and not signed_in(other)
    other_row.refresh_from_db()
    assert other_row.end_reason == "ended by user"


def test_end_one_other_session(login):
    mine, other = login("info.mch"), login("info.mch")
    target = row_of(other)
    assert mine.post(f"/accounts/sessions/{target.pk}/end/").status_code == 302
    assert signed_in(mine) and not signed_in(other)


def test_nobody_ends_someone_elses_session(login):
    mine, theirs = login("info.mch"), login("clinician.thc1")
    target = row_of(theirs)
    assert mine.post(f"/accounts/sessions/{target.pk}/end/").status_code == 404
    assert signed_in(theirs)


def test_ending_the_current_session_from_the_list_asks_to_log_out(login):
    client = login("info.mch")
    client.post(f"/accounts/sessions/{row_of(client).pk}/end/")
    assert signed_in(client)


def test_ending_sessions_needs_a_post(login):
    mine, other = login("info.mch"), login("info.mch")
    assert mine.get("/accounts/sessions/end-others/").status_code == 405
    assert signed_in(other)
