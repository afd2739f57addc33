from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BreakGlassReason(models.TextChoices):
    EMERGENCY_DELIVERY = "emergency_delivery", _("emergency delivery")
    EMERGENCY_TREATMENT = "emergency_treatment", _("emergency treatment")
    REFERRAL_ARRIVED = "referral_arrived", _("referred patient arrived before the transfer")
    OTHER = "other", _("other (explain)")


class ReviewOutcome(models.TextChoices):
    JUSTIFIED = "justified", _("justified")
    NOT_JUSTIFIED = "not_justified", _("not justified")


class BreakGlassGrant(models.Model):
    """Time-limited access of a clinician to one person outside their jurisdiction (P5).

    Opened by the clinician with a reason, audited, and queued for review by a leader or the
    data custodian of the clinician's institution.
    """

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass_grants")
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=32, choices=BreakGlassReason.choices)
    reason_text = models.TextField(_("explanation"))
    created_at = models.DateTimeField(_("opened at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_outcome = models.CharField(_("review"), max_length=16, choices=ReviewOutcome.choices, blank=True)
    review_note = models.TextField(_("review note"), blank=True)

    class Meta:
        verbose_name = _("break-glass access")
        verbose_name_plural = _("break-glass accesses")
        indexes = [
            models.Index(fields=["actor", "person", "expires_at"], name="breakglass_active"),
            models.Index(fields=["institution", "reviewed_at"], name="breakglass_review"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} · {self.get_reason_display()} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.expires_at > timezone.now()
