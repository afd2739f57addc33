"""Break-glass access (P5): time-limited, with a reason, audited, reviewed by a supervisor."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.models import BreakGlassGrant, BreakGlassReason, ReviewOutcome
from mchis.access.policy import actor_reaches, clinical_clearance
from mchis.accounts.roles import Role
from mchis.audit.services import audit_denied, audit_record
from mchis.crypto.fields import blind_lookup
from mchis.people.identifiers import id_normalise
from mchis.people.models import Person, first_match

REVIEWER_ROLES = frozenset({Role.LEADER, Role.DATA_CUSTODIAN})
MIN_EXPLANATION = 10


def break_glass_hours() -> float:
    return float(settings.MCHIS_BREAK_GLASS_HOURS)


def break_glass_open(*, actor, document_number: str, reason: str, reason_text: str) -> BreakGlassGrant:
    """Open a person's record outside the actor's jurisdiction for a few hours.

    Refusals are recorded outside the grant's transaction so that they are kept.
    """
    if clinical_clearance(actor) is None or actor.institution_id is None:
        audit_denied(actor=actor, object_type="people.person", reason="break-glass without a clinical role")
        raise NotAllowed
    errors: dict[str, list[str]] = {}
    if reason not in BreakGlassReason.values:
        errors["reason"] = [_("choose a reason from the list")]
    if len((reason_text or "").strip()) < MIN_EXPLANATION:
        errors["reason_text"] = [_("explain the emergency in at least %(n)s characters") % {"n": MIN_EXPLANATION}]
    number = id_normalise(document_number)
    if not number:
        errors["document_number"] = [_("the document number is required")]
    if errors:
        raise ValidationError(errors)
    person = first_match(
        Person.objects.visible_to(actor, action="break_glass").filter(
            **blind_lookup(Person, "document_number_bidx", number)
        )
    )
    if person is None:
        audit_denied(actor=actor, object_type="people.person", reason="break-glass: no match")
        raise RecordNotFound
    with transaction.atomic():
        # Asked again while her grant is open: the same grant, neither extended (the time limit
        # is the rule's) nor queued for review twice.
        already = (
            BreakGlassGrant.objects.filter(actor=actor, person=person, expires_at__gt=timezone.now())
            .order_by("-expires_at")
            .first()
        )
        if already is not None:
            return already
        return _break_glass_grant(actor=actor, person=person, reason=reason, reason_text=reason_text)


def _break_glass_grant(*, actor, person: Person, reason: str, reason_text: str) -> BreakGlassGrant:
    now = timezone.now()
    grant = BreakGlassGrant.objects.create(
        actor=actor,
        institution_id=actor.institution_id,
        person=person,
        reason=reason,
        reason_text=reason_text.strip(),
        created_at=now,
        expires_at=now + timedelta(hours=break_glass_hours()),
    )
    audit_record(
        action="break_glass",
        actor=actor,
        object_type="people.person",
        object_ids=[str(person.pk)],
        # The reason from the list only: the clinician's explanation may describe her health
        # (an HIV-positive woman in labour), and audit administrators read events but never
        # clinical content. It stays on the grant, for the supervisor who reviews it.
        reason=reason,
        purpose="emergency",
        extra={"grant": grant.pk, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


def break_glass_reviewable(*, reviewer):
    """Grants of the reviewer's institutions awaiting review, oldest first."""
    institutions = [r.institution_id for r in actor_reaches(reviewer) if r.role in REVIEWER_ROLES]
    return (
        BreakGlassGrant.objects.filter(institution_id__in=institutions, reviewed_at__isnull=True)
        .exclude(actor=reviewer)
        .select_related("actor", "institution")
        .order_by("created_at")
    )


@transaction.atomic
def break_glass_review(*, reviewer, grant_id: int, outcome: str, note: str = "") -> BreakGlassGrant:
    grant = break_glass_reviewable(reviewer=reviewer).select_for_update(of=("self",)).filter(pk=grant_id).first()
    if grant is None:
        # Not a grant this reviewer may review, or none at all: the same answer, recorded.
        audit_denied(actor=reviewer, object_type="access.breakglassgrant", object_ids=[str(grant_id)])
        raise RecordNotFound
    if outcome not in ReviewOutcome.values:
        raise ValidationError({"outcome": [_("choose justified or not justified")]})
    if outcome == ReviewOutcome.NOT_JUSTIFIED and len(note.strip()) < MIN_EXPLANATION:
        raise ValidationError({"note": [_("say why the access was not justified")]})
    grant.reviewed_by = reviewer
    grant.reviewed_at = timezone.now()
    grant.review_outcome = outcome
    grant.review_note = note.strip()
    if outcome == ReviewOutcome.NOT_JUSTIFIED:
        # An unjustified access ends at once.
        grant.expires_at = min(grant.expires_at, grant.reviewed_at)
    grant.save()
    audit_record(
        action="security",
        actor=reviewer,
        object_type="access.breakglassgrant",
        object_ids=[str(grant.pk)],
        fields=["review_outcome"],
        reason=outcome,
    )
    return grant
