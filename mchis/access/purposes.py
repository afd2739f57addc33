from django.db import models
from django.utils.translation import gettext_lazy as _


class Purpose(models.TextChoices):
    """Purpose of use, recorded with every read of personal data (P5)."""

    CARE = "care", _("care of the person")
    REGISTRATION = "registration", _("registration")
    QUALITY_REVIEW = "quality_review", _("data quality review")
    SUPERVISION = "supervision", _("supervision and inspection")
    EMERGENCY = "emergency", _("emergency (break-glass)")
