"""Expired accounts stop working at the start of their end day (P29), before any job runs.

`AccountBackend` refuses them at login (with the same message as a wrong password: no hint
that the account exists); `AccountExpiryMiddleware` signs out a session opened before that
day. The periodic job `accounts_expire` then disables them (lifecycle.py).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.utils.translation import gettext as _

from mchis.accounts.lifecycle import account_expired
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record


class AccountBackend(ModelBackend):
    """Django's model backend, refusing accounts past their end date at login."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not account_expired(user)

    def get_user(self, user_id):
        # A signed-in session of an expired (still active) account is loaded, so that
        # AccountExpiryMiddleware can end it properly and record why; disabled accounts
        # are dropped as by ModelBackend.
        model = get_user_model()
        try:
            user = model._default_manager.get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if ModelBackend.user_can_authenticate(self, user) else None


class AccountExpiryMiddleware:
    """Signs out a session whose account reached its end date. After authentication and messages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and account_expired(user):
            audit_record(
                action=AuditAction.SECURITY,
                actor=user,
                object_type="accounts.user",
                object_ids=[str(user.pk)],
                fields=["expires_on"],
                # The logout itself is recorded by the logout signal; this says why.
                reason="signed out: account expired",
            )
            logout(request)
            if not request.path.startswith("/api/"):
                messages.warning(request, _("Your account has expired. Ask your institution's data custodian."))
                if request.path != resolve_url(settings.LOGIN_URL):
                    return redirect_to_login(request.get_full_path())
        return self.get_response(request)
