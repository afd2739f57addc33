"""Password policy (P26; GB/T 22239 "credentials with complexity and periodic change").

Defaults from DOMAIN.md, each configurable: at least `MCHIS_PASSWORD_MIN_LENGTH` (8)
characters from 3 of the 4 classes (lower case, upper case, digits, others); not the
username and not containing it; none of the last `MCHIS_PASSWORD_HISTORY` (5) passwords; not
on Django's list of common passwords; changed every `MCHIS_PASSWORD_MAX_AGE_DAYS` (90) days
and at the first login after an administrator set it. Hashing is Argon2 (settings).

The rules are Django password validators (`AUTH_PASSWORD_VALIDATORS`), so every path that
calls `validate_password` applies them; each message names its rule. `gate_password` is the
login gate that holds a user with an expired or administrator-set password on the change
page (mchis.accounts.gates).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.gates import Gate
from mchis.accounts.models import PasswordHistory, User
from mchis.accounts.sessions import EndReason, sessions_end
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record


def password_min_length() -> int:
    return int(settings.MCHIS_PASSWORD_MIN_LENGTH)


def password_max_age() -> timedelta | None:
    days = int(settings.MCHIS_PASSWORD_MAX_AGE_DAYS)
    return timedelta(days=days) if days > 0 else None


def password_history_depth() -> int:
    return max(0, int(settings.MCHIS_PASSWORD_HISTORY))


# --- validators ---------------------------------------------------------------------------


class LengthValidator:
    def validate(self, password, user=None):
        n = password_min_length()
        if len(password) < n:
            raise ValidationError(
                _("Password rule (length): at least %(min_length)d characters.") % {"min_length": n},
                code="password_too_short",
            )

    def get_help_text(self):
        n = password_min_length()
        return _("At least %(min_length)d characters.") % {"min_length": n}


def character_classes(password: str) -> int:
    """How many of the four classes (lower, upper, digit, other) the password uses."""
    return sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not (c.islower() or c.isupper() or c.isdigit()) for c in password),
        ]
    )


class CharacterClassValidator:
    required = 3

    def validate(self, password, user=None):
        if character_classes(password) < self.required:
            raise ValidationError(
                _(
                    "Password rule (character classes): use at least 3 of the 4 kinds of character: "
                    "lower-case letters, upper-case letters, digits, other characters."
                ),
                code="password_classes",
            )

    def get_help_text(self):
        return _("At least 3 of: lower-case letters, upper-case letters, digits, other characters.")


class UsernameValidator:
    def validate(self, password, user=None):
        username = (getattr(user, "username", "") or "").strip().lower()
        # Containment is checked for names of 3 characters or more: a two-letter name would
        # rule out every password that happens to hold those two letters.
        lowered = password.lower()
        if username and (lowered == username or (len(username) >= 3 and username in lowered)):
            raise ValidationError(
                _("Password rule (username): the password must not be or contain the username."),
                code="password_contains_username",
            )

    def get_help_text(self):
        return _("Not the username, and not containing it.")


class HistoryValidator:
    """None of the last N passwords; the current one counts among them."""

    def validate(self, password, user=None):
        depth = password_history_depth()
        if depth == 0 or user is None or user.pk is None:
            return
        hashes = list(
            PasswordHistory.objects.filter(user_id=user.pk)
            .order_by("-created_at", "-pk")
            .values_list("password", flat=True)[:depth]
        )
        if user.password and user.password not in hashes:
            hashes.insert(0, user.password)
        if any(check_password(password, encoded) for encoded in hashes[:depth]):
            raise ValidationError(
                _("Password rule (history): the password must differ from your last %(count)d passwords.")
                % {"count": depth},
                code="password_reused",
            )

    def get_help_text(self):
        depth = password_history_depth()
        return _("None of your last %(count)d passwords.") % {"count": depth}


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def validate(self, password, user=None):
        try:
            super().validate(password, user)
        except ValidationError as exc:
            raise ValidationError(
                _("Password rule (common passwords): the password is on the list of commonly used passwords."),
                code="password_too_common",
            ) from exc

    def get_help_text(self):
        return _("Not a commonly used password.")


# --- changing a password --------------------------------------------------------------------


def password_history_add(*, user: User) -> None:
    """Remember the user's current password hash; keep only as many as the rule needs."""
    PasswordHistory.objects.create(user=user, password=user.password)
    keep = max(password_history_depth(), 1)
    old = PasswordHistory.objects.filter(user=user).order_by("-created_at", "-pk").values_list("pk", flat=True)[keep:]
    PasswordHistory.objects.filter(pk__in=list(old)).delete()


@transaction.atomic
def password_set(
    *, user: User, password: str, by: User | None, session_key: str | None = None, extra: dict | None = None
) -> User:
    """Set a new password after checking the policy; returns the updated user.

    Set by the holder (`by` is the user): the change clock restarts and the holder's other
    sessions end (their current one, `session_key`, stays). Set by anyone else (an
    administrator, or None for the system): the holder must change it at the next login,
    and all their sessions end.
    """
    locked = User.objects.select_for_update().get(pk=user.pk)
    try:
        validate_password(password, locked)
    except ValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc
    by_holder = by is not None and by.pk == locked.pk
    locked.set_password(password)
    if by_holder:
        locked.password_changed_at = timezone.now()
        locked.must_change_password = False
    else:
        locked.password_changed_at = None
        locked.must_change_password = True
    # A password change is a privilege change: the sessions that stay get a new id.
    locked.privilege_epoch += 1
    locked.save(update_fields=["password", "password_changed_at", "must_change_password", "privilege_epoch"])
    password_history_add(user=locked)
    if by_holder:
        sessions_end(user=locked, reason=EndReason.PASSWORD_CHANGED, keep_session_key=session_key, by=by)
    else:
        sessions_end(user=locked, reason=EndReason.PASSWORD_SET, by=by)
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type="accounts.user",
        object_ids=[str(locked.pk)],
        fields=["password", "password_changed_at", "must_change_password"],
        reason="password changed by its holder" if by_holder else "password set by an administrator",
        institution=locked.institution_id,
        extra=extra,
    )
    for name in ("password", "password_changed_at", "must_change_password", "privilege_epoch"):
        setattr(user, name, getattr(locked, name))
    return locked


def password_expired(user: User) -> bool:
    """Older than the maximum age (or never set by its holder and not known when)."""
    max_age = password_max_age()
    if max_age is None:
        return False
    if user.password_changed_at is None:
        return True
    return timezone.now() - user.password_changed_at >= max_age


def gate_password(request) -> Gate | None:
    """Login gate: a new password first, when an administrator set it or it is too old (P26)."""
    user = request.user
    if user.must_change_password:
        return Gate("accounts:password_change", _("You must set a new password before continuing."))
    if password_expired(user):
        days = int(settings.MCHIS_PASSWORD_MAX_AGE_DAYS)
        return Gate(
            "accounts:password_change",
            _("Your password has not been changed for %(days)d days: set a new one before continuing.")
            % {"days": days},
        )
    return None
