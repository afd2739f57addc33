from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import Role
from mchis.crypto.fields import EncryptedTextField
from mchis.crypto.ids import uuid7


class ApprovalState(models.TextChoices):
    PENDING = "pending", _("waiting for a decision")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn")
    EXPIRED = "expired", _("expired")


class ApprovalRequest(models.Model):
    """Something that needs someone's yes (DESIGN "Approvals", P3, P5, P16, P29, P31).

    `kind` names a registered `ApprovalKind` (mchis.approvals.kinds): it decides who may ask,
    who decides, and what approval does. Deciders are addressed by role and place, never by
    name, so a request survives its decider's leaving; the requester is a person and moves to
    their successor at handover.

    The primary key is a uuid7 because `secret` is encrypted bound to its row (the AAD needs
    the id before INSERT), and because request ids appear in URLs and notices: a uuid does
    not tell how many requests there are.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    kind = models.CharField(_("kind"), max_length=40)
    # What the request is about, when it concerns an existing record (its own policy applies).
    subject_type = models.CharField(_("subject type"), max_length=100, blank=True)
    subject_id = models.CharField(_("subject"), max_length=64, blank=True)
    # Checked by the kind; never clinical data (see kinds.py).
    payload = models.JSONField(_("details"), default=dict, blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="approval_requests",
    )
    # Who filed it. The requester moves to their successor at handover; this stays, so that
    # the one who filed a request never decides it, handed over or not (P19).
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("filed by"),
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
    )
    requester_institution = models.ForeignKey(
        "orgs.Institution", verbose_name=_("requesting institution"), on_delete=models.PROTECT, related_name="+"
    )
    # Who decides: a role, held either at `decider_institution` or at an institution whose
    # region is `decider_region` or one of its ancestors. Exactly one of the two is set.
    decider_role = models.CharField(_("decided by role"), max_length=32, choices=Role.choices)
    decider_institution = models.ForeignKey(
        "orgs.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decider_region = models.ForeignKey("orgs.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    state = models.CharField(_("state"), max_length=16, choices=ApprovalState.choices, default=ApprovalState.PENDING)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    # A pending request expires at this time; it can no longer be decided.
    expires_at = models.DateTimeField(_("decision due by"))
    # When what the request grants ends (an account's expiry, an export's download window).
    grants_until = models.DateTimeField(_("grants until"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # When the request left the pending state (decided, withdrawn or expired).
    decided_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    # A value the approval produced for the requester alone, shown once and then wiped: an
    # account request's initial password, handed over in person by the custodian.
    secret = EncryptedTextField(null=True, blank=True)
    secret_shown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        indexes = [
            models.Index(fields=["state", "decider_role", "expires_at"], name="approval_waiting"),
            models.Index(fields=["requester", "created_at"], name="approval_requester"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(decider_institution__isnull=True, decider_region__isnull=False)
                | Q(decider_institution__isnull=False, decider_region__isnull=True),
                name="approval_one_decider_place",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.state})"

    @staticmethod
    def own_q(user) -> Q:
        """Requests that are the user's own: theirs now, or filed by them and handed over since
        (P19: nobody decides their own request)."""
        return Q(requester_id=user.pk) | Q(filed_by_id=user.pk)

    def is_own(self, user) -> bool:
        return user.pk in (self.requester_id, self.filed_by_id)

    @property
    def is_pending(self) -> bool:
        return self.state == ApprovalState.PENDING and self.expires_at > timezone.now()

    @property
    def secret_waiting(self) -> bool:
        """Whether a one-time value is stored (without decrypting it)."""
        return self.secret_shown_at is None and self.state == ApprovalState.APPROVED and self.has_secret

    @property
    def has_secret(self) -> bool:
        # Reading the descriptor would decrypt; the raw attribute tells presence alone.
        return self.__dict__.get("secret") is not None
