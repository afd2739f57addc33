"""The second factor: electronic keys (电子钥匙, P28, P29), their register and the two login gates.

A key is an authenticator app (TOTP, RFC 6238: 6 digits, 30-second steps, one step of
clock drift either way) or a WebAuthn/FIDO2 security key. Each key belongs to one person and
has a line in the key register (`KeyEvent`: issued, activated, returned, lost, revoked),
kept by the institution's data custodians and the security administrators over it.

Keys come two ways. A holder enrols an app or a security key of their own (self-enrolled:
no custodian). Or a keeper of the register issues a physical key, a FIDO2 security key or a
hardware TOTP token, to a person (`key_issue`): the register entry, with the token's serial
number and the issuing custodian, exists from the moment the token is handed over, pending,
and becomes usable when its holder enrols that token, choosing the entry on the enrolment
page (see `key_issue` for why it works this way).

Who needs one: every account by default; `settings.MCHIS_MFA_REQUIRED_ROLES` narrows it to
accounts holding one of the listed roles. Two gates (`mchis.accounts.gates`) enforce it:

* `gate_enrol` holds an account that needs a key and has no active one on the enrolment
  page, so it reaches no data until it has enrolled (enrolling counts as verifying);
* `gate_verify` holds a session that has not verified a second factor on the verification
  page: a TOTP code, a security key, or a single-use recovery code.

A verified session remembers which key verified it, and the gate checks on every request
that this key is still active: revoking a key (lost, returned, revoked) ends at once the
verification of every session it opened. The session id rotates at verification.

Codes are never accepted twice (the last accepted time step is kept per key, RFC 6238
§5.2), a security key's signature counter must go up, and failed attempts count towards the
lockout of `mchis.accounts.lockout` (subjects `otp:<user id>` and `ip:<address>`).

Recovery codes: ten, made when the account's first key is activated, shown once, stored
as keyed hashes (the key file's blind-index HMAC, so they follow the deployment's suite and
survive key rotation), regenerable by their holder. They exist only while the account has
an active key: when the last key ends, the unused codes go with it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from uuid import UUID

import pyotp
import segno
import webauthn
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.paginator import Page, Paginator
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from mchis.access.errors import RecordNotFound
from mchis.accounts.gates import Gate
from mchis.accounts.lockout import failure_record, failures_clear, lockout_active, lockout_minutes_left, subject_ip
from mchis.accounts.models import ElectronicKey, KeyEvent, KeyEventKind, KeyKind, KeyState, RecoveryCode, User
from mchis.accounts.notices import notice_send
from mchis.accounts.roles import Role
from mchis.accounts.selectors import institution_custodians, security_admin_regions, security_admins_over
from mchis.accounts.sessions import privilege_epoch_bump, session_rotate, sessions_end
from mchis.audit.context import context_current
from mchis.audit.models import AuditAction, AuditOutcome
from mchis.audit.services import audit_denied, audit_record
from mchis.crypto.keyring import keyring
from mchis.orgs.models import subtree_q

TOTP_DIGITS = 6
TOTP_PERIOD = 30
# Steps of clock drift accepted either way (RFC 6238 §5.2 recommends at most one).
TOTP_WINDOW = 1
ISSUER = "mchis"

RECOVERY_CODE_COUNT = 10
# 16 characters of Crockford's base32: 80 bits, beyond guessing even for someone holding
# the hash key. Copied by hand from paper, so O reads as 0 and I, L as 1 (no U at all).
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECOVERY_READ = str.maketrans({"O": "0", "I": "1", "L": "1"})
RECOVERY_LENGTH = 16
RECOVERY_PURPOSE = "accounts.RecoveryCode"

# Session keys.
SESSION_VERIFIED = "_mchis_mfa"
SESSION_CHALLENGE = "_mchis_mfa_challenge"
RECOVERY_MARK = "recovery"
# A WebAuthn challenge is good for this long (also the browser's timeout hint).
CHALLENGE_SECONDS = 300

LIVE_STATES = (KeyState.PENDING, KeyState.ACTIVE)
_OBJECT = "accounts.electronickey"


def _clock() -> float:
    """Seconds since the epoch; a function of its own so tests can move the clock."""
    return time.time()


# --- who needs a key -------------------------------------------------------------------


def mfa_required_roles() -> frozenset[str] | None:
    """The roles whose holders need a key; None: every account, with or without a role.

    `MCHIS_MFA_REQUIRED_ROLES`: "all" (the default), "none", or role names. An unknown name
    stops the system rather than silently exempting somebody.
    """
    value = [str(v).strip() for v in settings.MCHIS_MFA_REQUIRED_ROLES]
    if "all" in value:
        return None
    if "none" in value:
        return frozenset()
    unknown = sorted(set(value) - set(Role.values))
    if unknown:
        raise ImproperlyConfigured(f"MCHIS_MFA_REQUIRED_ROLES names unknown roles: {', '.join(unknown)}")
    return frozenset(value)


def mfa_required(*, user: User) -> bool:
    roles = mfa_required_roles()
    if roles is None:
        return True
    return bool(roles & user.role_names())


# --- reads -----------------------------------------------------------------------------


def keys_of_user(*, user: User) -> QuerySet[ElectronicKey]:
    """The user's own keys with their register lines, keys in use first."""
    return (
        ElectronicKey.objects.filter(user=user)
        .prefetch_related(Prefetch("events", queryset=KeyEvent.objects.select_related("by")))
        .order_by("state", "-issued_at")
    )


def keys_active(*, user: User, kind: str | None = None) -> QuerySet[ElectronicKey]:
    qs = ElectronicKey.objects.filter(user=user, state=KeyState.ACTIVE)
    return qs.filter(kind=kind) if kind else qs


def key_pending_totp(*, user: User, key_id: UUID | str) -> ElectronicKey:
    """The user's own TOTP key being enrolled (it has its secret); the same 404 for any other
    key, an issued token whose enrolment has not started included."""
    key = ElectronicKey.objects.filter(pk=key_id, user=user, kind=KeyKind.TOTP, state=KeyState.PENDING).first()
    if key is None or not key.secret:
        raise RecordNotFound
    return key


def keys_issued_waiting(*, user: User, kind: str | None = None) -> QuerySet[ElectronicKey]:
    """Keys issued to the user by a keeper of the register (`key_issue`) that the user has not
    enrolled yet, oldest first. An issued entry is one with a custodian; a security key is
    enrolled once it has its credential."""
    qs = ElectronicKey.objects.filter(
        user=user, state=KeyState.PENDING, custodian__isnull=False, credential_id__isnull=True
    ).select_related("issued_by")
    return (qs.filter(kind=kind) if kind else qs).order_by("issued_at", "pk")


def recovery_codes_unused(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _register_reach(*, actor: User, prefix: str = "") -> Q | None:
    """The people whose keys the actor keeps the register of (P28), as a condition on a user
    (`prefix` leads from the queried model to it): the users of the institutions where the
    actor is data custodian, and of the institutions in the jurisdiction of a security
    administrator. None for anyone else. One rule for reading the register, acting on its
    entries and issuing keys."""
    q = Q()
    custodian_of = [a.institution_id for a in actor.active_roles() if a.role == Role.DATA_CUSTODIAN]
    if custodian_of:
        q |= Q(**{f"{prefix}institution_id__in": custodian_of})
    for region in security_admin_regions(actor=actor):
        q |= subtree_q(region.path, f"{prefix}institution__region_path")
    return q or None


def keys_register_visible(*, actor: User) -> QuerySet[ElectronicKey]:
    """Keys in the actor's part of the register (`_register_reach`); nothing for anyone else."""
    q = _register_reach(actor=actor, prefix="user__")
    if q is None:
        return ElectronicKey.objects.none()
    return ElectronicKey.objects.filter(q)


def key_issue_holders(*, actor: User) -> QuerySet[User]:
    """The people the actor may issue a key to: active personal accounts (never a machine
    client's) in the actor's part of the register, the actor excepted."""
    q = _register_reach(actor=actor)
    if q is None:
        return User.objects.none()
    return User.objects.filter(q, is_active=True, api_client__isnull=True).exclude(pk=actor.pk)


def key_register_page(*, actor: User, state: str = "", query: str = "", page: str | int | None = 1) -> Page:
    """One page of the register, with each key's history; the read is audited (one event
    listing the keys shown)."""
    qs = keys_register_visible(actor=actor).select_related("user", "user__institution", "custodian", "issued_by")
    if state in KeyState.values:
        qs = qs.filter(state=state)
    query = (query or "").strip()
    if query:
        qs = qs.filter(
            Q(user__username__icontains=query) | Q(user__display_name__icontains=query) | Q(serial__iexact=query)
        )
    qs = qs.prefetch_related(Prefetch("events", queryset=KeyEvent.objects.select_related("by"))).order_by(
        "user__institution__region_path", "user__institution__name", "user__username", "-issued_at"
    )
    result = Paginator(qs, 50).get_page(page)
    if result.object_list:
        audit_record(
            action=AuditAction.READ,
            actor=actor,
            object_type=_OBJECT,
            object_ids=[str(k.pk) for k in result.object_list],
            fields=["user", "kind", "label", "serial", "state", "events"],
            purpose="key register",
        )
    return result


def key_register_get(*, actor: User, key_id: UUID | str) -> ElectronicKey:
    key = keys_register_visible(actor=actor).select_related("user", "user__institution").filter(pk=key_id).first()
    if key is None:
        raise RecordNotFound
    return key


# --- register lines and common steps -----------------------------------------------------


def _event(key: ElectronicKey, kind: str, *, by: User | None, note: str = "") -> None:
    KeyEvent.objects.create(key=key, kind=kind, by=by, note=(note or "")[:200])


def _label(label: str | None, default: str) -> str:
    text = " ".join((label or "").split())[:80]
    return text or default


def _recovery_hash(user: User, code: str, *, kid: str | None = None) -> str:
    # Bound to the user: a code copied to another account's rows does not match there.
    return keyring().blind_index(f"{user.pk}:{code}", purpose=RECOVERY_PURPOSE, kid=kid)


def _recovery_normalise(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isascii() and ch.isalnum()).translate(_RECOVERY_READ)


def recovery_code_format(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _recovery_replace(user: User) -> list[str]:
    """A fresh set of codes; every earlier code of the user stops working."""
    RecoveryCode.objects.filter(user=user).delete()
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _i in range(RECOVERY_LENGTH)) for _n in range(RECOVERY_CODE_COUNT)
    ]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_recovery_hash(user, c)) for c in codes)
    return [recovery_code_format(c) for c in codes]


def _activated(key: ElectronicKey, *, by: User) -> list[str] | None:
    """After a key became active: register line, privilege change, and the recovery codes
    when it is the account's first active key (returned so the page can show them once)."""
    _event(key, KeyEventKind.ACTIVATED, by=by)
    privilege_epoch_bump(user=key.user)
    first = not ElectronicKey.objects.filter(user_id=key.user_id, state=KeyState.ACTIVE).exclude(pk=key.pk).exists()
    return _recovery_replace(key.user) if first else None


def _ended(user: User) -> None:
    """After keys ended: a privilege change; and without an active key, no recovery codes."""
    privilege_epoch_bump(user=user)
    if not ElectronicKey.objects.filter(user=user, state=KeyState.ACTIVE).exists():
        RecoveryCode.objects.filter(user=user, used_at__isnull=True).delete()


# --- TOTP ------------------------------------------------------------------------------


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)


def _totp_clean(code: str) -> str | None:
    text = "".join((code or "").split())
    return text if len(text) == TOTP_DIGITS and text.isascii() and text.isdigit() else None


def _totp_step(*, secret: str, code: str, after: int | None) -> tuple[int | None, bool]:
    """(the step the code belongs to if it may be accepted, whether it matched an old step).

    Every step of the window is compared, in constant time, whatever matches first.
    """
    totp = _totp(secret)
    now = int(_clock() // TOTP_PERIOD)
    accepted, replayed = None, False
    for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if after is not None and step <= after:
                replayed = True
            elif accepted is None:
                accepted = step
    return accepted, replayed


def totp_provisioning(*, key: ElectronicKey) -> tuple[str, str]:
    """(otpauth:// URI, the URI as a QR code in an SVG data: URI) for an authenticator app."""
    uri = _totp(key.secret).provisioning_uri(name=key.user.username, issuer_name=ISSUER)
    return uri, segno.make(uri, error="m").svg_data_uri(scale=4, border=2)


def totp_secret_format(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _issued_waiting_locked(*, user: User, kind: str, issued_id: UUID | str) -> ElectronicKey:
    """The user's own issued key of `kind` still waiting for enrolment, locked; an error on
    the `issued` field for anything else (someone else's entry, an ended one, a bad id)."""
    try:
        pk = UUID(str(issued_id))
    except ValueError:
        pk = None
    key = keys_issued_waiting(user=user, kind=kind).select_for_update(of=("self",)).filter(pk=pk).first()
    if pk is None or key is None:
        raise ValidationError({"issued": [_("This issued key is no longer waiting to be enrolled.")]})
    return key


@transaction.atomic
def totp_key_start(*, user: User, label: str = "", issued_id: UUID | str | None = None) -> ElectronicKey:
    """Begin enrolling an authenticator app or a hardware TOTP token: a pending key with a
    new secret.

    `issued_id`: the hardware token a keeper of the register issued to the user (`key_issue`);
    its register entry gets the secret (the holder programs it into the token) and keeps its
    serial, label and custodian. Without it, an enrolment of the user's own already under way
    is continued (same secret) rather than piling up pending keys in the register.
    """
    if issued_id:
        key = _issued_waiting_locked(user=user, kind=KeyKind.TOTP, issued_id=issued_id)
        if not key.secret:
            key.secret = pyotp.random_base32()
            key.save(update_fields=["secret"])
            audit_record(
                action=AuditAction.SECURITY,
                actor=user,
                object_type=_OBJECT,
                object_ids=[str(key.pk)],
                fields=["secret"],
                reason=f"electronic key enrolment started: issued hardware token, serial {key.serial}",
            )
        return key
    label = _label(label, _("Authenticator app"))
    key = (
        ElectronicKey.objects.select_for_update()
        .filter(user=user, kind=KeyKind.TOTP, state=KeyState.PENDING, custodian__isnull=True)
        .order_by("-issued_at")
        .first()
    )
    if key is not None:
        if key.label != label:
            key.label = label
            key.save(update_fields=["label"])
            audit_record(
                action=AuditAction.SECURITY,
                actor=user,
                object_type=_OBJECT,
                object_ids=[str(key.pk)],
                fields=["label"],
                reason="electronic key relabelled during enrolment",
            )
        return key
    key = ElectronicKey(user=user, kind=KeyKind.TOTP, label=label, secret=pyotp.random_base32(), issued_by=user)
    key.save()
    _event(key, KeyEventKind.ISSUED, by=user, note="enrolment started")
    audit_record(
        action=AuditAction.SECURITY,
        actor=user,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["kind", "label", "secret", "state"],
        reason="electronic key issued: authenticator app enrolment started",
    )
    return key


def totp_key_activate(*, user: User, key_id: UUID | str, code: str) -> tuple[ElectronicKey, list[str] | None]:
    """Confirm an enrolment with a code from the app. Returns the key and, for the account's
    first key, the recovery codes to show once."""
    with transaction.atomic():
        key = (
            ElectronicKey.objects.select_for_update()
            .filter(pk=key_id, user=user, kind=KeyKind.TOTP, state=KeyState.PENDING)
            .first()
        )
        if key is None or not key.secret:
            raise ValidationError({"code": [_("This enrolment is no longer open. Please start again.")]})
        cleaned = _totp_clean(code)
        step = _totp_step(secret=key.secret, code=cleaned, after=None)[0] if cleaned else None
        if step is None:
            raise ValidationError(
                {"code": [_("The code is not correct. Check that the time on your device is right and try again.")]}
            )
        now = timezone.now()
        key.state = KeyState.ACTIVE
        key.activated_at = now
        key.last_used_at = now
        key.last_step = step
        key.save(update_fields=["state", "activated_at", "last_used_at", "last_step"])
        codes = _activated(key, by=user)
        audit_record(
            action=AuditAction.SECURITY,
            actor=user,
            object_type=_OBJECT,
            object_ids=[str(key.pk)],
            fields=["state", "activated_at"] + (["recovery_codes"] if codes else []),
            reason=(
                f"electronic key activated: issued hardware token, serial {key.serial}"
                if key.custodian_id
                else "electronic key activated: authenticator app"
            ),
        )
    return key, codes


@transaction.atomic
def totp_key_provision(*, user: User, secret: str, label: str, by: User | None = None) -> ElectronicKey:
    """Register an authenticator app whose secret was agreed outside the enrolment page
    (the demo's accounts), active at once. No recovery codes: their holder makes them."""
    pyotp.TOTP(secret).now()  # refuses a secret that is not base32
    now = timezone.now()
    key = ElectronicKey(
        user=user,
        kind=KeyKind.TOTP,
        label=_label(label, _("Authenticator app")),
        secret=secret,
        state=KeyState.ACTIVE,
        issued_by=by,
        activated_at=now,
    )
    key.save()
    _event(key, KeyEventKind.ISSUED, by=by, note="provisioned")
    _event(key, KeyEventKind.ACTIVATED, by=by)
    privilege_epoch_bump(user=user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["kind", "label", "secret", "state"],
        reason=f"electronic key provisioned for user {user.pk}: authenticator app",
        institution=user.institution_id,
    )
    return key


# --- WebAuthn / FIDO2 -------------------------------------------------------------------

RP_NAME = gettext_lazy("MCH information system")


def _user_handle(user: User) -> bytes:
    # Opaque and stable; no name or other personal data goes to the authenticator.
    return f"mchis-user-{user.pk}".encode()


def _descriptors(keys) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys if k.credential_id]


def webauthn_registration_options(*, user: User, rp_id: str) -> tuple[str, bytes]:
    """Options for `navigator.credentials.create()` (JSON) and their challenge."""
    existing = ElectronicKey.objects.filter(user=user, kind=KeyKind.WEBAUTHN, state__in=LIVE_STATES)
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=str(RP_NAME),
        user_name=user.username,
        user_id=_user_handle(user),
        user_display_name=user.display_name or user.username,
        timeout=CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return options_to_json(options), options.challenge


def webauthn_key_register(
    *,
    user: User,
    label: str,
    credential: dict | str,
    challenge: bytes,
    rp_id: str,
    origin: str,
    issued_id: UUID | str | None = None,
) -> tuple[ElectronicKey, list[str] | None]:
    """Verify a registration ceremony and register the security key, active at once.

    `issued_id`: the security key a keeper of the register issued to the user (`key_issue`);
    the credential goes into that register entry, which keeps its serial, label and
    custodian. Without it, a key of the user's own gets an entry of its own.
    """
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        message = _("The security key could not be registered. Please try again.")
        raise ValidationError({"credential": [message]}) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    with transaction.atomic():
        if ElectronicKey.objects.filter(credential_id=credential_id).exists():
            raise ValidationError({"credential": [_("This security key is already registered.")]})
        now = timezone.now()
        if issued_id:
            key = _issued_waiting_locked(user=user, kind=KeyKind.WEBAUTHN, issued_id=issued_id)
            reason = f"electronic key activated: issued security key, serial {key.serial}"
        else:
            key = ElectronicKey(
                user=user, kind=KeyKind.WEBAUTHN, label=_label(label, _("Security key")), issued_by=user
            )
            reason = "electronic key activated: security key"
        key.state = KeyState.ACTIVE
        key.credential_id = credential_id
        key.public_key = bytes_to_base64url(verified.credential_public_key)
        key.sign_count = verified.sign_count
        key.activated_at = now
        key.last_used_at = now
        key.save()
        if not issued_id:
            _event(key, KeyEventKind.ISSUED, by=user, note="security key registered")
        codes = _activated(key, by=user)
        audit_record(
            action=AuditAction.SECURITY,
            actor=user,
            object_type=_OBJECT,
            object_ids=[str(key.pk)],
            fields=["kind", "label", "credential_id", "public_key", "state"] + (["recovery_codes"] if codes else []),
            reason=reason,
            extra={"aaguid": verified.aaguid, "user_verified": verified.user_verified},
        )
    return key, codes


def webauthn_authentication_options(*, user: User, rp_id: str) -> tuple[str, bytes]:
    """Options for `navigator.credentials.get()` (JSON) and their challenge."""
    keys = list(keys_active(user=user, kind=KeyKind.WEBAUTHN))
    if not keys:
        raise ValidationError({"credential": [_("No security key is registered to your account.")]})
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=_descriptors(keys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


# --- verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    # What the session remembers: the key's id, or "recovery:<the used code's id>".
    mark: str
    method: str
    # Unused recovery codes left (after a recovery code was used).
    codes_left: int | None = None


def _subjects(user: User) -> list[str]:
    ctx = context_current()
    return [f"otp:{user.pk}", subject_ip(ctx.source_ip if ctx else "")]


def _locked_message(lockout) -> str:
    return _("Too many wrong attempts. Try again in %(minutes)s minutes.") % {"minutes": lockout_minutes_left(lockout)}


def _refuse_if_locked(user: User, field: str) -> list[str]:
    subjects = _subjects(user)
    lockout = lockout_active(subjects=subjects)
    if lockout is not None:
        with transaction.atomic():
            audit_record(
                action=AuditAction.LOGIN_FAILED,
                actor=user,
                outcome=AuditOutcome.FAILED,
                reason="second factor refused: locked out",
            )
        raise ValidationError({field: [_locked_message(lockout)]})
    return subjects


def _failed(*, user: User, subjects: list[str], field: str, method: str, why: str, message: str) -> ValidationError:
    """Count and audit a failed attempt (committed: the refusal must outlive it)."""
    with transaction.atomic():
        lockout = failure_record(subjects=subjects)
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            actor=user,
            outcome=AuditOutcome.FAILED,
            reason=f"second factor refused ({method}): {why}",
        )
    return ValidationError({field: [_locked_message(lockout) if lockout is not None else message]})


def _succeeded(*, user: User, subjects: list[str], key_ids: list[str], method: str, fields: list[str]) -> None:
    # The account's failures are forgotten, never the address's (see mchis.accounts.lockout).
    failures_clear(subjects=[s for s in subjects if s.startswith("otp:")])
    audit_record(
        action=AuditAction.SECURITY,
        actor=user,
        object_type=_OBJECT if key_ids else "accounts.recoverycode",
        object_ids=key_ids,
        fields=fields,
        reason=f"second factor verified ({method})",
    )


def second_factor_verify(*, user: User, code: str) -> Verified:
    """Check a code typed on the verification page: six digits from an authenticator app,
    or a recovery code (used up by this)."""
    subjects = _refuse_if_locked(user, "code")
    totp_code = _totp_clean(code)
    recovery = None if totp_code else _recovery_normalise(code)
    why = "wrong code"
    with transaction.atomic():
        if totp_code:
            method = "totp"
            for key in keys_active(user=user, kind=KeyKind.TOTP).select_for_update().order_by("pk"):
                step, replayed = _totp_step(secret=key.secret, code=totp_code, after=key.last_step)
                if step is not None:
                    key.last_step = step
                    key.last_used_at = timezone.now()
                    key.save(update_fields=["last_step", "last_used_at"])
                    _succeeded(user=user, subjects=subjects, key_ids=[str(key.pk)], method=method, fields=["last_step"])
                    return Verified(mark=str(key.pk), method=method)
                if replayed:
                    why = "code already used"
        elif recovery and keys_active(user=user).exists():
            method = "recovery code"
            for row in RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True).order_by("pk"):
                kid = row.code_hash.split(":", 1)[0]
                if hmac.compare_digest(row.code_hash, _recovery_hash(user, recovery, kid=kid)):
                    row.used_at = timezone.now()
                    row.save(update_fields=["used_at"])
                    _succeeded(user=user, subjects=subjects, key_ids=[], method=method, fields=["used_at"])
                    left = recovery_codes_unused(user=user)
                    return Verified(mark=f"{RECOVERY_MARK}:{row.pk}", method=method, codes_left=left)
        else:
            method = "recovery code"
    message = (
        _("This code was already used. Wait for the next code from your app.")
        if why == "code already used"
        else _("The code is not correct.")
    )
    raise _failed(user=user, subjects=subjects, field="code", method=method, why=why, message=message)


def webauthn_verify(*, user: User, credential: dict, challenge: bytes, rp_id: str, origin: str) -> Verified:
    """Check an authentication ceremony of one of the user's active security keys."""
    subjects = _refuse_if_locked(user, "credential")
    message = _("The security key was not accepted.")
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    why = "unknown or inactive credential"
    with transaction.atomic():
        key = None
        if isinstance(credential_id, str):
            key = keys_active(user=user, kind=KeyKind.WEBAUTHN).select_for_update().filter(credential_id=credential_id)
            key = key.first()
        if key is not None:
            try:
                # The counter is compared below, after the signature is known to be good, so
                # a counter that goes backwards is recorded as what it is: a sign of a clone.
                result = webauthn.verify_authentication_response(
                    credential=credential,
                    expected_challenge=challenge,
                    expected_rp_id=rp_id,
                    expected_origin=origin,
                    credential_public_key=base64url_to_bytes(key.public_key),
                    credential_current_sign_count=0,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError):
                result = None
                why = "ceremony did not verify"
            if result is not None:
                counting = key.sign_count > 0 or result.new_sign_count > 0
                if counting and result.new_sign_count <= key.sign_count:
                    why = "signature counter did not increase (possible cloned key)"
                else:
                    key.sign_count = result.new_sign_count
                    key.last_used_at = timezone.now()
                    key.save(update_fields=["sign_count", "last_used_at"])
                    _succeeded(
                        user=user, subjects=subjects, key_ids=[str(key.pk)], method="webauthn", fields=["sign_count"]
                    )
                    return Verified(mark=str(key.pk), method="webauthn")
    raise _failed(user=user, subjects=subjects, field="credential", method="webauthn", why=why, message=message)


# --- recovery codes ----------------------------------------------------------------------


@transaction.atomic
def recovery_codes_generate(*, user: User) -> list[str]:
    """A new set of recovery codes for the user (shown once); the old ones stop working."""
    if not keys_active(user=user).exists():
        raise ValidationError({"codes": [_("Recovery codes need an electronic key in use.")]})
    codes = _recovery_replace(user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=user,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["recovery_codes"],
        reason="recovery codes regenerated",
    )
    return codes


# --- issuing physical keys (the register) --------------------------------------------------

# The kinds of physical key a keeper of the register hands out, as the register names them.
ISSUE_KINDS = (
    (KeyKind.WEBAUTHN, gettext_lazy("FIDO2 security key")),
    (KeyKind.TOTP, gettext_lazy("hardware TOTP token")),
)


def _serial_clean(serial: str | None) -> str:
    return " ".join((serial or "").split())


def key_issue(*, actor: User, holder: User, kind: str, serial: str, label: str = "") -> ElectronicKey:
    """A data custodian or a security administrator issues a physical key to a person (P28):
    a FIDO2 security key or a hardware TOTP token, named by the serial number on it.

    Who: the keepers of the holder's part of the register, by the rule that opens the
    register page to them (`_register_reach`: the holder's institution's data custodian, or
    a security administrator whose jurisdiction covers it), never for their own key. The
    holder is an active personal account. A serial is registered to one key in use at a
    time (compared ignoring case); a token returned, lost or revoked may be issued again.

    Issued and enrolled keys are one register entry. The entry is written now, pending, with
    the serial, `issued_by` and `custodian` the issuer, and an ISSUED line naming them: the
    register records the hand-over of the token as it happens. The token itself cannot be
    used yet: a security key's credential is made by the token inside the holder's browser,
    and a TOTP token's secret must be programmed into it, so the holder enrols it on the
    enrolment page choosing this entry (`webauthn_key_register` / `totp_key_start` with
    `issued_id`); the credential or secret goes into the same row, which becomes active
    with an ACTIVATED line by the holder and keeps its serial and custodian. Only the holder
    can bind it, and only to an entry issued to them, so a token cannot be enrolled into
    someone else's account. Until then the pending entry is returned, recorded lost or
    revoked like any other; the holder is told in-app that a key waits for them.
    """
    serial = _serial_clean(serial)
    errors: dict[str, list[str]] = {}
    if kind not in KeyKind.values:
        errors["kind"] = [_("Choose the kind of key: a FIDO2 security key or a hardware TOTP token.")]
    if not serial:
        errors["serial"] = [_("Give the serial number printed on the key.")]
    elif len(serial) > ElectronicKey._meta.get_field("serial").max_length:
        errors["serial"] = [_("The serial number is too long.")]
    from mchis.accounts.lifecycle import account_expired  # lifecycle imports this module

    reach = _register_reach(actor=actor)
    in_reach = reach is not None and User.objects.filter(reach, pk=holder.pk).exists()
    if holder.pk == actor.pk:
        errors["holder"] = [_("Your own key is issued by someone else.")]
    elif not in_reach:
        errors["holder"] = [
            _("%(name)s is outside the part of the key register you keep (P28).")
            % {"name": holder.display_name or holder.username}
        ]
    elif not holder.is_active or account_expired(holder) or hasattr(holder, "api_client"):
        errors["holder"] = [
            _("%(name)s has no account in use: a key is issued only to a person with an active account.")
            % {"name": holder.display_name or holder.username}
        ]
    if "holder" in errors and not in_reach and holder.pk != actor.pk:
        audit_denied(
            actor=actor,
            object_type="accounts.user",
            object_ids=[str(holder.pk)],
            reason="electronic key issue: holder outside the actor's part of the register",
        )
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError(
        {"serial": [_("Serial number %(serial)s is registered to a key in use already.") % {"serial": serial}]}
    )
    with transaction.atomic():
        if ElectronicKey.objects.filter(serial__iexact=serial, state__in=LIVE_STATES).exists():
            raise duplicate
        default = _("Security key") if kind == KeyKind.WEBAUTHN else _("Hardware TOTP token")
        key = ElectronicKey(
            user=holder,
            kind=kind,
            label=_label(label, f"{default} {serial}"),
            serial=serial,
            custodian=actor,
            issued_by=actor,
        )
        try:
            # Two keepers issuing the same serial at once: the partial unique index decides.
            with transaction.atomic():
                key.save()
        except IntegrityError:
            raise duplicate from None
        _event(key, KeyEventKind.ISSUED, by=actor, note=f"issued to the holder, serial {serial}")
        audit_record(
            action=AuditAction.SECURITY,
            actor=actor,
            object_type=_OBJECT,
            object_ids=[str(key.pk)],
            fields=["user", "kind", "label", "serial", "custodian", "state"],
            reason=f"electronic key issued to user {holder.pk}: {kind}, serial {serial}",
            institution=holder.institution_id,
        )
        _notify_issued(key)
    return key


def _notify_issued(key: ElectronicKey) -> int:
    with translation.override(settings.LANGUAGE_CODE):
        title = _("An electronic key was issued to you: %(label)s") % {"label": key.label}
        body = _(
            '%(issuer)s issued you the key "%(label)s" (serial number %(serial)s). Enrol it on the page '
            "for setting up an electronic key, choosing this key; until then it does not work."
        ) % {
            "issuer": key.issued_by.display_name or key.issued_by.username,
            "label": key.label,
            "serial": key.serial,
        }
    return notice_send(
        recipients=[key.user], kind="key_issued", title=title, body=body, url=reverse("accounts:mfa_enrol")
    )


# --- ending keys: lost, returned, revoked --------------------------------------------------


def _end(key: ElectronicKey, *, state: str, event: str, by: User | None, note: str) -> None:
    key.state = state
    key.ended_at = timezone.now()
    key.save(update_fields=["state", "ended_at"])
    _event(key, event, by=by, note=note)


def _notify_loss(key: ElectronicKey) -> int:
    holder = key.user
    institution = holder.institution
    if institution is None:
        return 0
    recipients = [*institution_custodians(institution), *security_admins_over(institution)]
    # Notices are written in the deployment's language, whoever reads them (mchis.accounts.notices).
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Electronic key reported lost: %(name)s (%(username)s)") % {
            "name": holder.display_name,
            "username": holder.username,
        }
        body = _(
            'The electronic key "%(label)s" of %(name)s (%(username)s, %(institution)s) was reported lost '
            "at %(time)s and has been revoked. Record the replacement in the key register."
        ) % {
            "label": key.label,
            "name": holder.display_name,
            "username": holder.username,
            "institution": institution.name,
            "time": timezone.localtime(key.ended_at).strftime("%Y-%m-%d %H:%M"),
        }
    url = reverse("accounts:mfa_register")
    return notice_send(recipients=recipients, kind="key_lost", title=title, body=body, url=url)


@transaction.atomic
def key_report_lost(*, user: User, key_id: UUID | str, keep_session_key: str | None = None) -> ElectronicKey:
    """The holder reports their key lost (P29): revoked at once, every other session of the
    holder ended, the custodians and the security administrators told."""
    key = (
        # of=("self",): PostgreSQL locks no row on the nullable side of the institution join.
        ElectronicKey.objects.select_for_update(of=("self",))
        .select_related("user", "user__institution")
        .filter(pk=key_id, user=user, state__in=LIVE_STATES)
        .first()
    )
    if key is None:
        raise RecordNotFound
    # A session verified with the lost key stops being verified by itself (gate_verify);
    # the holder's other sessions, whatever verified them, end now.
    ended, told = _lost(key, by=user, note="reported lost by the holder", keep_session_key=keep_session_key)
    audit_record(
        action=AuditAction.SECURITY,
        actor=user,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["state", "ended_at"],
        reason="electronic key reported lost and revoked",
        extra={"sessions_ended": ended, "notices": told},
    )
    return key


def _lost(key: ElectronicKey, *, by: User, note: str, keep_session_key: str | None = None) -> tuple[int, int]:
    """A key lost, whoever reports it: ended as lost at once, the holder's sessions ended (but
    `keep_session_key`), custodians and security administrators told. Returns (sessions
    ended, notices sent) for the audit event."""
    _end(key, state=KeyState.LOST, event=KeyEventKind.LOST, by=by, note=note)
    _ended(key.user)
    ended = sessions_end(user=key.user, reason="electronic key lost", keep_session_key=keep_session_key, by=by)
    return ended, _notify_loss(key)


def _register_target(*, actor: User, key_id: UUID | str) -> ElectronicKey:
    key = key_register_get(actor=actor, key_id=key_id)
    key = (
        ElectronicKey.objects.select_for_update(of=("self",)).select_related("user", "user__institution").get(pk=key.pk)
    )
    if key.user_id == actor.pk:
        raise ValidationError({"key": [_("The register entry of your own key is kept by someone else.")]})
    if key.state not in LIVE_STATES:
        raise ValidationError({"key": [_("This key is no longer in use.")]})
    return key


@transaction.atomic
def key_return(*, actor: User, key_id: UUID | str, note: str = "") -> ElectronicKey:
    """The custodian or security administrator records that the holder handed the key back."""
    key = _register_target(actor=actor, key_id=key_id)
    _end(key, state=KeyState.RETURNED, event=KeyEventKind.RETURNED, by=actor, note=note)
    _ended(key.user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=actor,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["state", "ended_at"],
        reason=f"electronic key of user {key.user_id} recorded returned",
        institution=key.user.institution_id,
    )
    return key


@transaction.atomic
def key_record_lost(*, actor: User, key_id: UUID | str, note: str = "") -> ElectronicKey:
    """The custodian or security administrator records a key lost on the holder's word
    (P28, P29), for a holder who cannot report it themselves (their only key is gone, so
    they cannot pass the second factor). As the holder's own report: the key ends as lost at
    once, every session of the holder ends, and the institution's custodians and the
    security administrators over it are told."""
    key = _register_target(actor=actor, key_id=key_id)
    note = " ".join((note or "").split()) or "recorded lost by the register keeper"
    ended, told = _lost(key, by=actor, note=note)
    audit_record(
        action=AuditAction.SECURITY,
        actor=actor,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["state", "ended_at"],
        reason=f"electronic key of user {key.user_id} recorded lost and revoked",
        institution=key.user.institution_id,
        extra={"sessions_ended": ended, "notices": told},
    )
    return key


@transaction.atomic
def key_revoke(*, actor: User, key_id: UUID | str, reason: str) -> ElectronicKey:
    """The custodian or security administrator revokes a key (the holder must use another)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": [_("Give the reason for revoking the key.")]})
    key = _register_target(actor=actor, key_id=key_id)
    _end(key, state=KeyState.REVOKED, event=KeyEventKind.REVOKED, by=actor, note=reason)
    _ended(key.user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=actor,
        object_type=_OBJECT,
        object_ids=[str(key.pk)],
        fields=["state", "ended_at"],
        reason=f"electronic key of user {key.user_id} revoked: {reason}",
        institution=key.user.institution_id,
    )
    return key


@transaction.atomic
def keys_revoke_all(*, user: User, by: User | None, reason: str) -> int:
    """Revoke every key of the user still pending or in use, and their unused recovery codes
    (suspected compromise, handover). Returns how many keys were revoked."""
    keys = list(ElectronicKey.objects.select_for_update().filter(user=user, state__in=LIVE_STATES).order_by("pk"))
    for key in keys:
        _end(key, state=KeyState.REVOKED, event=KeyEventKind.REVOKED, by=by, note=reason)
    codes, _detail = RecoveryCode.objects.filter(user=user, used_at__isnull=True).delete()
    privilege_epoch_bump(user=user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type=_OBJECT,
        object_ids=[str(k.pk) for k in keys],
        fields=["state", "ended_at", "recovery_codes"],
        reason=f"all electronic keys of user {user.pk} revoked: {reason}",
        institution=user.institution_id,
        extra={"keys": len(keys), "recovery_codes": codes},
    )
    return len(keys)


# --- the session and the gates -------------------------------------------------------------


def session_verified_mark(request, *, verified: Verified) -> None:
    """The session passed the second factor: new session id (a privilege change), then
    remember what verified it."""
    session_rotate(request)
    request.session[SESSION_VERIFIED] = {"user": request.user.pk, "key": verified.mark, "at": int(_clock())}


def _active_key_ids(request) -> frozenset[str]:
    # One query per request, shared by both gates.
    cached = getattr(request, "_mchis_active_keys", None)
    if cached is None:
        ids = ElectronicKey.objects.filter(user=request.user, state=KeyState.ACTIVE).values_list("pk", flat=True)
        cached = request._mchis_active_keys = frozenset(str(pk) for pk in ids)
    return cached


def session_verified(request) -> bool:
    """Whether this session verified a second factor that still counts: the key that
    verified it is still active; a recovery code while the account has a key and the code's
    set is still the current one (a new set, made after codes were lost or seen, ends the
    sessions the old ones opened)."""
    mark = request.session.get(SESSION_VERIFIED)
    if not isinstance(mark, dict) or mark.get("user") != request.user.pk:
        return False
    active = _active_key_ids(request)
    key = str(mark.get("key"))
    if key in active:
        return True
    kind, _sep, code_id = key.partition(":")
    if kind != RECOVERY_MARK or not active or not code_id.isdigit():
        return False
    return RecoveryCode.objects.filter(pk=int(code_id), user=request.user).exists()


ENROL_PAGES = frozenset(
    {
        "accounts:mfa_totp_start",
        "accounts:mfa_totp_confirm",
        "accounts:mfa_webauthn_register_options",
        "accounts:mfa_webauthn_register",
    }
)
VERIFY_PAGES = frozenset({"accounts:mfa_webauthn_auth_options", "accounts:mfa_webauthn_auth"})


def gate_enrol(request) -> Gate | None:
    """Hold an account that needs a key and has none in use on the enrolment page (P28)."""
    if _active_key_ids(request) or not mfa_required(user=request.user):
        return None
    return Gate(
        "accounts:mfa_enrol", gettext_lazy("Set up an electronic key (second factor) to continue."), ENROL_PAGES
    )


def gate_verify(request) -> Gate | None:
    """Hold a session that has not verified a second factor on the verification page.

    An account with a key in use verifies it even where its roles do not require one: a
    key its holder relies on is never skipped.
    """
    if not _active_key_ids(request) or session_verified(request):
        return None
    return Gate(
        "accounts:mfa_verify", gettext_lazy("Confirm your electronic key (second factor) to continue."), VERIFY_PAGES
    )
