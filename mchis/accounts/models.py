from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import AREA_ROLES, Role
from mchis.crypto.fields import EncryptedTextField
from mchis.crypto.ids import uuid7
from mchis.orgs.models import Institution, Region


class DisabledReason(models.TextChoices):
    """Why an account cannot log in (`User.is_active` is False). Kept to tell users and reviewers why."""

    ADMINISTRATOR = "administrator", _("disabled by an administrator")
    EXPIRED = "expired", _("account expired")
    HANDOVER = "handover", _("handed over to a successor")
    COMPROMISED = "compromised", _("suspected compromise")
    ACCESS_REVIEW = "access_review", _("disabled after access review")


class User(AbstractUser):
    """A person who logs in. Names are one field: Chinese names do not split into first/last."""

    display_name = models.CharField(_("name"), max_length=50)
    institution = models.ForeignKey(
        Institution,
        verbose_name=_("institution"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )

    # Account state, read by the login gates on every request (P4, P26, P29).
    # When the password was last set; None: never by its holder (an administrator set it).
    password_changed_at = models.DateTimeField(_("password changed at"), null=True, blank=True)
    # Set when an administrator sets a password or after a suspected compromise.
    must_change_password = models.BooleanField(_("must change password"), default=False)
    # The account stops working at the start of this day.
    expires_on = models.DateField(_("account expires on"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=24, choices=DisabledReason.choices, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    # Bumped at every privilege change (roles, second factor, password): each session
    # remembers the value it saw and rotates its id when it changes.
    privilege_epoch = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    def active_roles(self) -> list[RoleAssignment]:
        """The user's current role assignments, cached on the instance for the request."""
        cached = getattr(self, "_active_roles", None)
        if cached is None:
            now = timezone.now()
            cached = list(
                self.role_assignments.select_related("institution", "institution__region")
                .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
                .order_by("role")
            )
            self._active_roles = cached
        return cached

    def role_names(self) -> frozenset[str]:
        return frozenset(a.role for a in self.active_roles())

    def jurisdiction(self) -> Region | None:
        """The widest region this user's area roles reach (None: own institution only)."""
        regions = [a.institution.region for a in self.active_roles() if a.role in AREA_ROLES]
        return min(regions, key=lambda r: r.level) if regions else None


class RoleAssignment(models.Model):
    """A role held by a user at an institution, optionally until an expiry date."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT)
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)
    granted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [models.UniqueConstraint(fields=["user", "role", "institution"], name="role_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.institution}"


# --- Account state (P4, P26, P29) -------------------------------------------------------


class PasswordHistory(models.Model):
    """Hashes of a user's previous passwords: none of the last five may be reused (P26)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="password_history_recent")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.created_at:%Y-%m-%d}"


# --- Electronic keys (电子钥匙, P28, P29) -------------------------------------------------


class KeyKind(models.TextChoices):
    TOTP = "totp", _("authenticator app (TOTP)")
    WEBAUTHN = "webauthn", _("security key (WebAuthn/FIDO2)")


class KeyState(models.TextChoices):
    PENDING = "pending", _("being enrolled")
    ACTIVE = "active", _("in use")
    RETURNED = "returned", _("returned")
    LOST = "lost", _("reported lost")
    REVOKED = "revoked", _("revoked")


class ElectronicKey(models.Model):
    """A second factor registered to one person, with its place in the key register (P28).

    A TOTP secret is encrypted at rest (bound to this row); a WebAuthn key stores only its
    public credential.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(User, verbose_name=_("holder"), on_delete=models.PROTECT, related_name="keys")
    kind = models.CharField(_("kind"), max_length=16, choices=KeyKind.choices)
    label = models.CharField(_("label"), max_length=80)
    # A hardware key's serial or the register's own number, when there is one.
    serial = models.CharField(_("serial number"), max_length=64, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=KeyState.choices, default=KeyState.PENDING)
    secret = EncryptedTextField(_("TOTP secret"), null=True, blank=True)
    # Last accepted TOTP time step: a code is never accepted twice.
    last_step = models.BigIntegerField(null=True, blank=True, editable=False)
    credential_id = models.CharField(max_length=1400, null=True, blank=True, unique=True, editable=False)
    public_key = models.TextField(blank=True, editable=False)
    sign_count = models.PositiveBigIntegerField(default=0, editable=False)
    # The custodian who keeps the register entry for this key (P28); may differ from the holder.
    custodian = models.ForeignKey(
        User, verbose_name=_("custodian"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(
        User, verbose_name=_("issued by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(_("in use since"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("electronic key")
        verbose_name_plural = _("electronic keys")
        indexes = [models.Index(fields=["user", "state"], name="key_user_state")]
        constraints = [
            # A physical key's serial belongs to one key being enrolled or in use at a time
            # (P28); a returned or lost token may be issued again.
            models.UniqueConstraint(
                Upper("serial"),
                condition=models.Q(state__in=["pending", "active"]) & ~models.Q(serial=""),
                name="key_serial_live_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()})"


class KeyEventKind(models.TextChoices):
    ISSUED = "issued", _("issued")
    ACTIVATED = "activated", _("activated")
    RETURNED = "returned", _("returned")
    LOST = "lost", _("reported lost")
    REVOKED = "revoked", _("revoked")
    TRANSFERRED = "transferred", _("custody transferred")


class KeyEvent(models.Model):
    """One line of the key register: issue, return, loss, revocation (P28, P29)."""

    key = models.ForeignKey(ElectronicKey, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("event"), max_length=16, choices=KeyEventKind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    by = models.ForeignKey(
        User, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.key_id} {self.kind} @ {self.at:%Y-%m-%d %H:%M}"


class RecoveryCode(models.Model):
    """A single-use recovery code, stored as a hash like a password."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


# --- Lockout (P7; GB/T 22239 login-failure handling) ------------------------------------


class LoginFailure(models.Model):
    """A failed attempt against an account, a source address or an API credential."""

    # "user:<username>", "ip:<address>", "client:<id>", "otp:<user id>"
    subject = models.CharField(max_length=200, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.subject} @ {self.at:%Y-%m-%d %H:%M:%S}"


class Lockout(models.Model):
    subject = models.CharField(_("locked"), max_length=200, db_index=True)
    locked_at = models.DateTimeField(_("locked at"), default=timezone.now)
    until = models.DateTimeField(_("locked until"))
    failures = models.PositiveIntegerField(_("failures"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        User, verbose_name=_("lifted by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("lockout")
        verbose_name_plural = _("lockouts")
        indexes = [models.Index(fields=["subject", "until"], name="lockout_subject_until")]

    def __str__(self) -> str:
        return f"{self.subject} until {self.until:%Y-%m-%d %H:%M}"


# --- Sessions (P26) ---------------------------------------------------------------------


class UserSession(models.Model):
    """A signed-in browser session, listed to its user, who can end it."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(_("signed in at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last active"), default=timezone.now)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=200, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"], name="session_user_open")]

    def __str__(self) -> str:
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"


# --- Security agreements (安全协议, P18) ---------------------------------------------------


class SecurityAgreement(models.Model):
    """A version of an institution's security agreement. The newest published one applies."""

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="agreements"
    )
    version = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(_("text"))
    published_at = models.DateTimeField(_("published at"), default=timezone.now)
    published_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("security agreement")
        verbose_name_plural = _("security agreements")
        constraints = [
            models.UniqueConstraint(fields=["institution", "version"], name="agreement_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class AgreementAcceptance(models.Model):
    agreement = models.ForeignKey(SecurityAgreement, on_delete=models.PROTECT, related_name="acceptances")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="agreement_acceptances")
    accepted_at = models.DateTimeField(_("accepted at"), default=timezone.now)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agreement", "user"], name="agreement_acceptance_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} accepted {self.agreement_id}"


# --- Registered networks (P5) -----------------------------------------------------------


class InstitutionNetwork(models.Model):
    """An address range an institution's users may log in from. None listed: no restriction."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="networks")
    cidr = models.CharField(_("address range"), max_length=49)
    label = models.CharField(_("label"), max_length=100, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["institution", "cidr"], name="institution_network_unique")]

    def __str__(self) -> str:
        return self.cidr


# --- Handover (P29) and suspected compromise (P4) ----------------------------------------


class Handover(models.Model):
    """An operator leaves: their open work moves to a successor and their account closes."""

    from_user = models.ForeignKey(User, verbose_name=_("leaving"), on_delete=models.PROTECT, related_name="+")
    to_user = models.ForeignKey(User, verbose_name=_("successor"), on_delete=models.PROTECT, related_name="+")
    started_by = models.ForeignKey(User, verbose_name=_("started by"), on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    # The day the old account is disabled, whatever else happens (P29: "the same day").
    leaving_on = models.DateField(_("leaving on"))
    note = models.TextField(_("note"), blank=True)
    # What was moved, by kind: {"approvals": 2, "keys": 1, ...}
    moved = models.JSONField(default=dict, blank=True)
    from_confirmed_at = models.DateTimeField(_("handed over"), null=True, blank=True)
    to_confirmed_at = models.DateTimeField(_("received"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")

    def __str__(self) -> str:
        return f"{self.from_user_id} → {self.to_user_id}"


class CompromiseReport(models.Model):
    """An account flagged as possibly leaked (P4): locked at once, then cleared by the security administrator."""

    user = models.ForeignKey(User, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+")
    reported_by = models.ForeignKey(User, verbose_name=_("reported by"), on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    reason = models.TextField(_("what happened"))
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    cleared_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.reported_at:%Y-%m-%d %H:%M}"


# --- In-app notices ---------------------------------------------------------------------


class Notice(models.Model):
    """A message to one user inside the system (there is no e-mail on an air-gapped site)."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=32)
    # Plain text composed in the recipient-independent default language, never clinical data.
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notice_unread")]

    def __str__(self) -> str:
        return self.title
