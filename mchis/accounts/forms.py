"""Forms of the account pages: login (with lockout) and password change."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from mchis.accounts.lockout import (
    failure_record,
    failures_clear,
    lockout_active,
    lockout_minutes_left,
    subject_ip,
    subject_user,
)
from mchis.audit.middleware import source_ip
from mchis.audit.services import audit_login_failed


def locked_error(lockout) -> ValidationError:
    # One message for a locked name and a locked address, and whether or not the name exists:
    # it tells nothing an attacker could not learn by trying (no existence oracle).
    return ValidationError(
        gettext(
            "Too many failed logins: this account or this address is locked for %(minutes)d more minutes. "
            "Try again later or ask your security administrator."
        )
        % {"minutes": lockout_minutes_left(lockout)},
        code="locked",
    )


class LoginForm(AuthenticationForm):
    """Django's login form, behind the lockout of `mchis.accounts.lockout` (P7).

    The account name and the source address are both subjects: the name's lock stops
    guessing one account's password, the address's lock stops one source trying many names.
    During a lock the password is not even checked, so the right one does not log in.
    """

    @sensitive_variables("password")
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data
        user_subject = subject_user(username)
        subjects = [user_subject, subject_ip(source_ip(self.request) if self.request else "")]
        if lockout := lockout_active(subjects=subjects):
            audit_login_failed(username=username[:150], reason="locked out")
            raise locked_error(lockout)
        self.user_cache = authenticate(self.request, username=username, password=password)
        if self.user_cache is None:
            # `authenticate` has audited the failure (mchis.audit.signals).
            if lockout := failure_record(subjects=subjects):
                raise locked_error(lockout)
            raise self.get_invalid_login_error()
        self.confirm_login_allowed(self.user_cache)
        # Only the name's count restarts: the address keeps counting failures across names.
        failures_clear(subjects=[user_subject])
        return self.cleaned_data

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        # Registered networks (P5): an institution that lists address ranges admits its
        # users only from inside one (mchis.accounts.networks; its gate covers live sessions).
        from mchis.accounts.networks import login_allowed, login_refused_record

        ip = source_ip(self.request) if self.request else ""
        if not login_allowed(user, ip):
            login_refused_record(user=user, ip=ip)
            raise ValidationError(
                gettext("Your institution allows sign-in only from its registered networks (P5)."),
                code="network",
            )


class PasswordChangeForm(forms.Form):
    """Current password, new one twice. The policy itself is checked by `password_set`."""

    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    @sensitive_variables("old", "new1", "new2")
    def clean(self):
        cleaned = super().clean()
        old, new1, new2 = cleaned.get("old_password"), cleaned.get("new_password1"), cleaned.get("new_password2")
        if new1 and new2 and new1 != new2:
            self.add_error("new_password2", gettext("The two new passwords do not match."))
        if old:
            # Guessing the current password from a stolen session counts towards the
            # account's lockout like a failed login.
            subjects = [subject_user(self.user.get_username())]
            if lockout := lockout_active(subjects=subjects):
                self._refusal_audit("locked out")
                raise locked_error(lockout)
            if not self.user.check_password(old):
                # Audited like a failed login (GB/T 22239: failures are audit events), in the
                # failure's own transaction so that a refusal is never counted unrecorded.
                with transaction.atomic():
                    lockout = failure_record(subjects=subjects)
                    self._refusal_audit("wrong current password")
                if lockout:
                    raise locked_error(lockout)
                self.add_error("old_password", gettext("The current password is not correct."))
        return cleaned

    def _refusal_audit(self, why: str) -> None:
        audit_login_failed(username=self.user.get_username(), reason=f"password change refused: {why}")
