"""Labels of the maternal choice values in the page's language (the selectors return codes)."""

from django import template

from mchis.maternal import models
from mchis.people.models import Sex

register = template.Library()

CHOICES = {
    "state": models.PregnancyState,
    "dating_basis": models.DatingBasis,
    "mode": models.DeliveryMode,
    "maternal_outcome": models.MaternalOutcome,
    "birth_outcome": models.BirthOutcome,
    "sex": Sex,
    "postpartum_kind": models.PostpartumKind,
    "finding": models.Finding,
    "referral_reason": models.ReferralReason,
    "referral_outcome": models.ReferralOutcome,
    "presentation": models.Presentation,
    "end_reason": models.EndReason,
    "infection_result": models.InfectionResult,
    "case_close_reason": models.CaseCloseReason,
    "transfer_state": models.TransferState,
}


@register.filter
def label(value, kind: str):
    """The label of `value` among the choices of `kind`; the value itself when unknown
    (a withheld value shows as withheld)."""
    choices = CHOICES.get(kind)
    try:
        return dict(choices.choices)[value] if choices is not None else value
    except (KeyError, TypeError):
        return value


@register.filter
def name_of(names: dict, key) -> str:
    """`institutions|name_of:record.to_institution_id`: a name from a dict of reference data."""
    return names.get(key, "") if isinstance(names, dict) else ""


@register.filter
def visit_fields(names) -> str:
    """The labels of a visit's fields (the ones accepted with a warning), comma-separated."""
    from mchis.maternal.forms import PostpartumForm, VisitForm

    fields = {**PostpartumForm.base_fields, **VisitForm.base_fields}
    return "、".join(str(fields[n].label) if n in fields else n for n in names or ())
