"""Machine clients of the API and the memory of idempotent requests.

`ApiClient`: a facility system that reports over the network (网络直报), bound to one
institution and one clinical role, with a secret stored only as a hash, an expiry and a
revocation. Each client acts through its own `User` account (no password, never able to log
in, one role assignment) so that the policy layer, the audit trail and every selector treat
it exactly like a person holding that role (docs/architecture.md, "API").

`IdempotencyRecord`: the first answer to a POST sent with an `Idempotency-Key`, kept for a
day so that a retry gets the same answer instead of a second record. The answer holds
personal data, so it is encrypted at rest like the record itself (P2).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import Role
from mchis.crypto.fields import EncryptedJSONField
from mchis.crypto.ids import uuid7


class ApiClient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(_("name"), max_length=100)
    institution = models.ForeignKey(
        "orgs.Institution", verbose_name=_("institution"), on_delete=models.PROTECT, related_name="api_clients"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    # The account the client acts as: the policy layer sees a user holding `role` at `institution`.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client", editable=False
    )
    # "<suite>:<hex digest>" of the secret, bound to the client id (mchis.api.credentials).
    secret_hash = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    # None: created at the console (`mchis apiclient create`); the audit event says by whom.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Written at most once a minute (mchis.api.services.LAST_USED_EVERY).
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        indexes = [models.Index(fields=["institution", "created_at"], name="api_client_by_institution")]

    def __str__(self) -> str:
        return f"{self.name} ({self.pk})"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"


class IdempotencyRecord(models.Model):
    """The stored answer to one (owner, Idempotency-Key) pair (mchis.api.conventions)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # The acting account: a person, or a machine client's account.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and body: the same key with another request is refused (422).
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    # {"body": …, "headers": {…}}: the answer as first sent, encrypted and bound to this row.
    response = EncryptedJSONField(null=True)
    # What the answer showed, for the audit event of a replay (ids only, never values).
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")]

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.key}"
