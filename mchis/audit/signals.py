"""Logins, failed logins and logouts, from Django's authentication signals."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from mchis.audit.models import AuditAction
from mchis.audit.services import audit_login_failed, audit_record


@receiver(user_logged_in, dispatch_uid="mchis.audit.login")
def _logged_in(sender, request, user, **kwargs):
    audit_record(action=AuditAction.LOGIN, actor=user)


@receiver(user_login_failed, dispatch_uid="mchis.audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # `credentials` has the password masked already; only the username is kept.
    audit_login_failed(username=str(credentials.get("username", ""))[:150])


@receiver(user_logged_out, dispatch_uid="mchis.audit.logout")
def _logged_out(sender, request, user, **kwargs):
    audit_record(action=AuditAction.LOGOUT, actor=user)
