from django.db import models
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import Role


class Purpose(models.TextChoices):
    """Purpose of use, recorded with every read of personal data (P5)."""

    CARE = "care", _("care of the person")
    REGISTRATION = "registration", _("registration")
    QUALITY_REVIEW = "quality_review", _("data quality review")
    SUPERVISION = "supervision", _("supervision and inspection")
    EMERGENCY = "emergency", _("emergency (break-glass)")


# What each role reads personal data for (P5), in the order a page that several roles open
# picks from: a clinician reads for care (and registration, and in an emergency), the county
# information office and a custodian to review data quality, a leader and an inspector to
# supervise. Roles absent here read no personal data.
ROLE_PURPOSES: dict[str, tuple[str, ...]] = {
    Role.CLINICIAN: (Purpose.CARE, Purpose.REGISTRATION, Purpose.EMERGENCY),
    Role.PMTCT_OFFICER: (Purpose.CARE, Purpose.REGISTRATION, Purpose.EMERGENCY),
    Role.MCH_INFO_OFFICER: (Purpose.QUALITY_REVIEW,),
    Role.DATA_CUSTODIAN: (Purpose.QUALITY_REVIEW,),
    Role.LEADER: (Purpose.SUPERVISION,),
    Role.INSPECTOR: (Purpose.SUPERVISION,),
}


def purpose_for(user, *, wanted: str = Purpose.CARE) -> str:
    """The purpose of use recorded with `user`'s reads on a page or API call meant for
    `wanted`: `wanted` when one of their roles reads for it, otherwise what their roles read
    for (a county information officer opening a pregnancy page reviews it, she does not
    care for the woman); "" when none of their roles reads personal data."""
    names = user.role_names()
    held = [purpose for role, purposes in ROLE_PURPOSES.items() if role in names for purpose in purposes]
    if wanted in held:
        return wanted
    return held[0] if held else ""
