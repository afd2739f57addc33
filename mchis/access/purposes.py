import functools

from django.db import models
from django.utils.translation import gettext_lazy as _

from mchis.access.errors import RecordNotFound
from mchis.accounts.roles import Role
from mchis.audit.services import audit_denied
from mchis.crypto.ids import id_parse


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


def _held(user) -> list[str]:
    """The purposes `user`'s roles read personal data for, in ROLE_PURPOSES order."""
    names = user.role_names()
    return [purpose for role, purposes in ROLE_PURPOSES.items() if role in names for purpose in purposes]


def purpose_for(user, *, wanted: str = Purpose.CARE) -> str:
    """The purpose of use recorded with `user`'s reads on a page or API call meant for
    `wanted`: `wanted` when one of their roles reads for it, otherwise what their roles read
    for (a county information officer opening a pregnancy page reviews it, she does not
    care for the woman); "" when none of their roles reads personal data."""
    held = _held(user)
    if wanted in held:
        return wanted
    return held[0] if held else ""


def purpose_allowed(user, purpose: str) -> bool:
    """Whether one of `user`'s roles reads personal data for `purpose`."""
    return purpose in _held(user)


def reads_for_purpose(selector=None, *, record: tuple[str, str] | None = None):
    """Mark a selector of personal data: it runs only for a purpose one of the actor's roles
    reads for (P5: purpose of use decides access, beside role, jurisdiction and level).
    Otherwise the refusal is audited and reads as "not found", like any record out of reach;
    `record` (object type, keyword argument) names the record asked for in that denial.
    Pages and API calls that ask `purpose_for` always pass; this holds the line for any
    other caller. tests/access/test_purposes.py checks every selector taking a purpose is
    marked."""

    def mark(fn):
        @functools.wraps(fn)
        def checked(*, actor, purpose: str, **kwargs):
            if not purpose_allowed(actor, purpose):
                asked = id_parse(kwargs.get(record[1])) if record else None
                audit_denied(
                    actor=actor,
                    object_type=record[0] if asked is not None else "",
                    object_ids=[str(asked)] if asked is not None else [],
                    purpose=purpose,
                    reason="purpose of use not among the reader's",
                )
                raise RecordNotFound
            return fn(actor=actor, purpose=purpose, **kwargs)

        checked.reads_for_purpose = True
        return checked

    return mark(selector) if selector is not None else mark
