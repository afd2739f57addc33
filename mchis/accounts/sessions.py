"""Signed-in sessions (P26; GB/T 22239 "timeout logout"): tracked, limited, listed, ended.

Every login writes a `UserSession` row (session key, address, browser); the session itself
remembers its row's id and the user's `privilege_epoch` at login. `SessionSecurityMiddleware`
then, on every request of a signed-in browser (pages and the session-authenticated API alike):

* logs out a session whose row is ended: `sessions_end` marks rows and deletes their stored
  sessions, and the row check makes that work whatever the session engine (a cookie-based
  session cannot be deleted on the server);
* logs out after `MCHIS_SESSION_IDLE_MINUTES` without a request, and `MCHIS_SESSION_MAX_AGE`
  seconds after login whatever the activity (Django's own expiry slides with each request,
  so it cannot be the absolute limit);
* rotates the session id when the user's privilege epoch moved (roles granted or revoked,
  password or electronic key changed), so an id captured before the change does not carry
  the new privileges;
* notes activity at most once a minute (one UPDATE a minute per session, not one per
  request; idle time is therefore measured to within a minute, on the early side);
* keeps the row's key in step whenever the session id changes during a request (Django's
  `login()`, `update_session_auth_hash()`, or a gate's own `cycle_key()`).
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.dispatch import receiver
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.models import User, UserSession
from mchis.audit.middleware import source_ip
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record

# Keys inside the session.
SESSION_ROW = "_mchis_session"
SESSION_EPOCH = "_mchis_epoch"
# Activity is written to the row at most this often.
SEEN_EVERY = timedelta(minutes=1)


class EndReason:
    LOGOUT = "logout"
    IDLE = "idle"
    EXPIRED = "expired"
    BY_USER = "ended by user"
    PASSWORD_CHANGED = "password changed"  # noqa: S105 (a reason, not a password)
    PASSWORD_SET = "password set by administrator"  # noqa: S105


def session_idle_limit() -> timedelta:
    return timedelta(minutes=int(settings.MCHIS_SESSION_IDLE_MINUTES))


def session_max_age() -> timedelta:
    return timedelta(seconds=int(settings.SESSION_COOKIE_AGE))


def _store_delete(keys: list[str]) -> None:
    """Delete the stored sessions (database, cache...). With the database engine this is
    part of the caller's transaction."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store().delete(key)


def privilege_epoch_bump(*, user: User) -> None:
    """Mark a privilege change: each of the user's sessions rotates its id at its next request."""
    User.objects.filter(pk=user.pk).update(privilege_epoch=F("privilege_epoch") + 1)
    user.refresh_from_db(fields=["privilege_epoch"])


@transaction.atomic
def sessions_end(*, user: User, reason: str, keep_session_key: str | None = None, by: User | None = None) -> int:
    """End the user's open sessions (all but `keep_session_key`). Returns how many.

    `by`: who ended them, for the audit trail (None: the system, or a caller that writes its
    own audit event for the action that ended them).
    """
    rows = UserSession.objects.select_for_update().filter(user=user, ended_at__isnull=True)
    if keep_session_key:
        rows = rows.exclude(session_key=keep_session_key)
    found = list(rows.values_list("pk", "session_key"))
    if not found:
        return 0
    UserSession.objects.filter(pk__in=[pk for pk, _key in found]).update(
        ended_at=timezone.now(), end_reason=reason[:32]
    )
    _store_delete([key for _pk, key in found])
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type="accounts.usersession",
        object_ids=[str(pk) for pk, _key in found],
        fields=["ended_at"],
        reason=f"sessions of user {user.pk} ended: {reason}",
        institution=user.institution_id,
    )
    return len(found)


@transaction.atomic
def session_end(*, user: User, session_id: int) -> bool:
    """The user ends one of their own open sessions. False: no such open session of theirs."""
    row = UserSession.objects.select_for_update().filter(pk=session_id, user=user, ended_at__isnull=True).first()
    if row is None:
        return False
    row.ended_at = timezone.now()
    row.end_reason = EndReason.BY_USER
    row.save(update_fields=["ended_at", "end_reason"])
    _store_delete([row.session_key])
    audit_record(
        action=AuditAction.SECURITY,
        actor=user,
        object_type="accounts.usersession",
        object_ids=[str(row.pk)],
        fields=["ended_at"],
        reason=EndReason.BY_USER,
    )
    return True


def _alive_q(now) -> Q:
    return Q(ended_at__isnull=True, last_seen_at__gt=now - session_idle_limit(), created_at__gt=now - session_max_age())


def sessions_open(*, user: User) -> QuerySet[UserSession]:
    """The user's sessions that are still usable, newest activity first."""
    return UserSession.objects.filter(_alive_q(timezone.now()), user=user).order_by("-last_seen_at")


def _stale_close(user: User, now) -> None:
    """Close rows of sessions that lapsed without a request (browser closed, machine off)."""
    open_rows = UserSession.objects.filter(user=user, ended_at__isnull=True)
    open_rows.filter(created_at__lte=now - session_max_age()).update(ended_at=now, end_reason=EndReason.EXPIRED)
    open_rows.filter(last_seen_at__lte=now - session_idle_limit()).update(ended_at=now, end_reason=EndReason.IDLE)


# --- signals: login and logout ------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="mchis.accounts.sessions.login")
def _logged_in(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is None:
        return
    if not session.session_key:
        session.save()
    now = timezone.now()
    _stale_close(user, now)
    row, _created = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "created_at": now,
            "last_seen_at": now,
            "ip": source_ip(request) or None,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
            "ended_at": None,
            "end_reason": "",
        },
    )
    session[SESSION_ROW] = row.pk
    session[SESSION_EPOCH] = user.privilege_epoch
    request._mchis_session_key = session.session_key


@receiver(user_logged_out, dispatch_uid="mchis.accounts.sessions.logout")
def _logged_out(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    row_id = session.get(SESSION_ROW) if session is not None else None
    if row_id:
        UserSession.objects.filter(pk=row_id, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=EndReason.LOGOUT
        )


def session_rotate(request) -> None:
    """Give the signed-in session a new id, keeping its data and its row in step."""
    request.session.cycle_key()
    _row_follow(request)


def _row_follow(request) -> None:
    session = request.session
    row_id = session.get(SESSION_ROW)
    key = session.session_key
    if row_id and key and key != getattr(request, "_mchis_session_key", None):
        UserSession.objects.filter(pk=row_id, ended_at__isnull=True).update(session_key=key)
        request._mchis_session_key = key


# --- the middleware ----------------------------------------------------------------------


class SessionSecurityMiddleware:
    """Idle and absolute limits, ended sessions, id rotation on privilege change (see above).

    Placed after AuthenticationMiddleware (it needs the user), the audit context (the
    logout it causes is audited with the request's address) and messages (it tells the
    user why they were logged out).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = self._check(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if hasattr(request, "_mchis_session_key") and hasattr(request, "session"):
            # The view may have changed the session id (login, password change...).
            _row_follow(request)
        return response

    def _check(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        session = request.session
        now = timezone.now()
        row_id = session.get(SESSION_ROW)
        row = UserSession.objects.filter(pk=row_id).first() if row_id else None
        if row is None or row.user_id != user.pk or row.ended_at is not None:
            # Ended elsewhere ("end other sessions", password change, suspected compromise),
            # or a session from before sessions were tracked.
            if row is not None and row.user_id != user.pk:
                # Never let this logout touch another user's row.
                session.pop(SESSION_ROW, None)
                row = None
            return self._end(request, row, None, _("Your session was ended. Please log in again."))
        if now - row.created_at >= session_max_age():
            return self._end(
                request,
                row,
                EndReason.EXPIRED,
                _("You were logged out because a session lasts at most %(hours)s hours. Please log in again.")
                % {"hours": f"{session_max_age().total_seconds() / 3600:g}"},
            )
        if now - row.last_seen_at >= session_idle_limit():
            return self._end(
                request,
                row,
                EndReason.IDLE,
                _("You were logged out after %(minutes)s minutes without activity. Please log in again.")
                % {"minutes": int(session_idle_limit().total_seconds() // 60)},
            )
        request._mchis_session_key = row.session_key
        if row.session_key != session.session_key:
            _row_follow(request)
        if session.get(SESSION_EPOCH) != user.privilege_epoch:
            session_rotate(request)
            session[SESSION_EPOCH] = user.privilege_epoch
        if now - row.last_seen_at >= SEEN_EVERY:
            UserSession.objects.filter(pk=row.pk).update(last_seen_at=now)
        return None

    @staticmethod
    def _end(request, row: UserSession | None, reason: str | None, message: str):
        if row is not None and reason is not None and row.ended_at is None:
            UserSession.objects.filter(pk=row.pk, ended_at__isnull=True).update(
                ended_at=timezone.now(), end_reason=reason
            )
        logout(request)
        if request.path.startswith("/api/"):
            # Continue as an anonymous caller: the API refuses it like any other.
            return None
        messages.warning(request, message)
        if request.path == resolve_url(settings.LOGIN_URL):
            return None
        return redirect_to_login(request.get_full_path())


def session_refresh(request, user: User) -> None:
    """After the signed-in user changed their own password: keep this session valid (Django
    ties sessions to the password hash), give it a new id, and take in the new epoch."""
    update_session_auth_hash(request, user)
    _row_follow(request)
    request.session[SESSION_EPOCH] = user.privilege_epoch
