"""Break-glass (P5): a reason, a time limit, an audit event and a supervisor's review."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.models import BreakGlassGrant
from mchis.access.services import break_glass_open, break_glass_review, break_glass_reviewable
from mchis.audit.context import audit_context
from mchis.audit.models import AuditEvent
from mchis.people.models import Person
from mchis.people.selectors import person_get

pytestmark = pytest.mark.django_db


def open_for(actor, person, **kw):
    values = {"reason": "emergency_delivery", "reason_text": "产妇急诊入院分娩，需查看孕期记录"}
    values.update(kw)
    return break_glass_open(actor=actor, document_number=person.document_number, **values)


def test_a_clinician_opens_a_person_outside_jurisdiction_for_three_hours(actors, persons):
    clinician = actors["clinician.thc1"]
    with pytest.raises(RecordNotFound):
        person_get(actor=clinician, person_id=persons["P_c"].pk, purpose="care")
    grant = open_for(clinician, persons["P_c"])
    assert timedelta(hours=2, minutes=59) < grant.expires_at - grant.created_at <= timedelta(hours=3)
    view = person_get(actor=clinician, person_id=persons["P_c"].pk, purpose="emergency")
    assert view.name == "丙女士"
    event = AuditEvent.objects.filter(action="break_glass").get()
    assert event.actor_id == clinician.pk and str(persons["P_c"].pk) in event.object_ids
    # The reason from the list, not the explanation, which may describe her health and is the
    # reviewer's to read, not the audit administrators' (P10).
    assert (event.reason, grant.reason_text) == ("emergency_delivery", "产妇急诊入院分娩，需查看孕期记录")
    assert "产妇" not in event.reason + event.extra


def test_asking_again_while_the_grant_is_open_neither_extends_it_nor_queues_it_twice(actors, persons):
    clinician = actors["clinician.thc1"]
    first = open_for(clinician, persons["P_c"])
    assert open_for(clinician, persons["P_c"], reason_text="再次查看产妇孕期记录").pk == first.pk
    assert BreakGlassGrant.objects.get().expires_at == first.expires_at
    assert AuditEvent.objects.filter(action="break_glass").count() == 1
    # Once it has ended, a new emergency is a new grant, reviewed on its own.
    BreakGlassGrant.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert open_for(clinician, persons["P_c"]).pk != first.pk


def test_reads_through_a_grant_are_recorded_as_for_an_emergency(actors, persons):
    # P5: whatever the page asked for, what opened the record was the grant.
    clinician = actors["clinician.thc1"]
    open_for(clinician, persons["P_c"])
    person_get(actor=clinician, person_id=persons["P_c"].pk, purpose="care")
    person_get(actor=clinician, person_id=persons["P_b"].pk, purpose="care")  # her own centre's
    *_, granted, own = AuditEvent.objects.filter(action="read").order_by("id")
    assert (granted.object_ids, granted.purpose) == (str(persons["P_c"].pk), "emergency")
    assert (own.object_ids, own.purpose) == (str(persons["P_b"].pk), "care")


def test_through_grant_answers_alike_for_rows_loaded_with_and_without_the_policy(actors, persons):
    from mchis.people.policy import PersonPolicy

    clinician = actors["clinician.thc1"]
    open_for(clinician, persons["P_c"])
    policy = PersonPolicy()
    for key, expected in (("P_c", True), ("P_b", False)):
        annotated = Person.objects.visible_to(clinician).get(pk=persons[key].pk)
        assert annotated._policy_actor == clinician.pk  # loaded through filter_view
        plain = Person.unscoped.get(pk=persons[key].pk)
        assert policy.through_grant(clinician, annotated) is expected
        assert policy.through_grant(clinician, plain) is expected


def test_access_ends_when_the_grant_expires(actors, persons):
    clinician = actors["clinician.thc1"]
    grant = open_for(clinician, persons["P_c"])
    BreakGlassGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not Person.objects.visible_to(clinician).filter(pk=persons["P_c"].pk).exists()


def test_the_duration_is_configurable(actors, persons, settings):
    settings.MCHIS_BREAK_GLASS_HOURS = 1
    grant = open_for(actors["clinician.thc1"], persons["P_c"])
    assert grant.expires_at - grant.created_at == timedelta(hours=1)


@pytest.mark.parametrize(("kw", "field"), [({"reason": "curiosity"}, "reason"), ({"reason_text": "急"}, "reason_text")])
def test_a_reason_from_the_list_and_an_explanation_are_required(actors, persons, kw, field):
    with pytest.raises(ValidationError) as exc:
        open_for(actors["clinician.thc1"], persons["P_c"], **kw)
    assert field in exc.value.message_dict
    assert not BreakGlassGrant.objects.exists()


@pytest.mark.parametrize("username", ["info.mch", "sysadmin", "leader.thc1", "healthadmin.county"])
def test_only_clinical_roles_may_break_glass(actors, persons, username):
    with pytest.raises(NotAllowed):
        open_for(actors[username], persons["P_c"])
    assert AuditEvent.objects.filter(action="deny", actor_id=actors[username].pk).exists()


def test_the_supervisor_of_the_clinicians_institution_reviews_it(actors, persons):
    grant = open_for(actors["clinician.thc1"], persons["P_c"])
    assert list(break_glass_reviewable(reviewer=actors["leader.thc1"])) == [grant]
    assert list(break_glass_reviewable(reviewer=actors["custodian.thc1"])) == [grant]
    assert not break_glass_reviewable(reviewer=actors["leader.mch"]).exists()
    # Another institution's leader is refused as for a grant that does not exist, and the
    # refusal stays on the trail although the review's transaction rolled back (P10).
    with audit_context(path="/access/break-glass/review/"), pytest.raises(RecordNotFound):
        break_glass_review(reviewer=actors["leader.mch"], grant_id=grant.pk, outcome="justified")
    refused = AuditEvent.objects.get(action="deny", actor_id=actors["leader.mch"].pk)
    assert (refused.object_type, refused.object_ids) == ("access.breakglassgrant", str(grant.pk))
    break_glass_review(reviewer=actors["leader.thc1"], grant_id=grant.pk, outcome="justified")
    assert not break_glass_reviewable(reviewer=actors["leader.thc1"]).exists()


def test_an_unjustified_access_ends_at_once(actors, persons):
    clinician = actors["clinician.thc1"]
    grant = open_for(clinician, persons["P_c"])
    with pytest.raises(ValidationError):
        break_glass_review(reviewer=actors["leader.thc1"], grant_id=grant.pk, outcome="not_justified")
    break_glass_review(
        reviewer=actors["leader.thc1"], grant_id=grant.pk, outcome="not_justified", note="非急诊情形，不应调阅"
    )
    assert not Person.objects.visible_to(clinician).filter(pk=persons["P_c"].pk).exists()
