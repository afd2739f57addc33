"""Transfer: the receiving institution accepts; ownership and history follow; both sides audited
(issue 5, "Registration"; P15)."""

import pytest
from django.core.exceptions import ValidationError

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.audit.models import AuditEvent
from mchis.maternal.models import AntenatalVisit, Pregnancy
from mchis.maternal.selectors import pregnancy_get, transfer_list_incoming, worklist_high_risk
from mchis.maternal.services import (
    referral_record,
    risk_grade,
    transfer_accept,
    transfer_cancel,
    transfer_reject,
    transfer_request,
    visit_record,
)
from mchis.people.selectors import person_get
from mchis.people.services import person_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def moving(actors, register, today):
    """A woman of township 1 with a visit and a grading, moving to township 2."""
    sender = actors["clinician.thc1"]
    reg = register("clinician.thc1", conditions=["asthma"])
    visit_record(actor=sender, pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=105)
    risk_grade(actor=sender, pregnancy_id=reg.pregnancy.pk)
    return reg.pregnancy


def test_transfer_moves_ownership_and_history(actors, moving, today):
    sender, receiver = actors["clinician.thc1"], actors["clinician.thc2"]
    request = transfer_request(
        actor=sender,
        pregnancy_id=moving.pk,
        to_institution_id=receiver.institution_id,
        reason_text="搬到婆家居住",
    )
    transfer = request.obj
    # Waiting: the receiving side sees her (to recognise her), but cannot record care yet.
    incoming = {v.values["pregnancy_id"]: v for v in transfer_list_incoming(actor=receiver, purpose="care")}
    assert incoming[moving.pk].extra["name_masked"] == "王*英"
    assert incoming[moving.pk].reason_text == "搬到婆家居住"
    with pytest.raises(NotAllowed):
        visit_record(actor=receiver, pregnancy_id=moving.pk, visit_on=today)
    # The sending side cannot accept its own request.
    with pytest.raises(NotAllowed):
        transfer_accept(actor=sender, transfer_id=transfer.pk)

    accepted = transfer_accept(actor=receiver, transfer_id=transfer.pk, note="已接收")
    assert accepted.obj.state == "accepted"
    p = Pregnancy.objects.visible_to(receiver).get(pk=moving.pk)
    assert p.owner_institution_id == receiver.institution_id
    assert p.owner_region_path == receiver.institution.region_path
    assert p.registering_institution_id == sender.institution_id  # history keeps where it began
    # The history follows: the visit and the grading recorded at township 1 are hers at township 2.
    view = pregnancy_get(actor=receiver, pregnancy_id=moving.pk, purpose="care")
    assert len(view.visits) == 1 and view.visits[0].institution_id == sender.institution_id
    assert view.gradings[0].colour == "orange" and view.high_risk_case is not None
    assert view.transfers[0].state == "accepted"
    # The receiving side now records care; the sending side no longer reaches the episode.
    visit_record(actor=receiver, pregnancy_id=moving.pk, visit_on=today, hb_g_l=110)
    with pytest.raises(RecordNotFound):
        pregnancy_get(actor=sender, pregnancy_id=moving.pk, purpose="care")
    assert not AntenatalVisit.objects.visible_to(sender).filter(pregnancy_id=moving.pk).exists()
    # And she moves from the sending side's worklists to the receiving side's.
    assert moving.pk in {r.id for r in worklist_high_risk(actor=receiver, purpose="care", page_size=100).items}
    assert moving.pk not in {r.id for r in worklist_high_risk(actor=sender, purpose="care", page_size=100).items}


def test_both_sides_are_audited(actors, moving):
    sender, receiver = actors["clinician.thc1"], actors["clinician.thc2"]
    transfer = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=receiver.institution_id).obj
    transfer_accept(actor=receiver, transfer_id=transfer.pk)
    events = AuditEvent.objects.filter(object_type="maternal.pregnancy", object_ids=str(moving.pk)).order_by("id")
    request_event = next(e for e in events if "transfer" in e.field_name_list)
    accept_event = next(e for e in events if "owner_institution" in e.field_name_list)
    assert (request_event.actor, request_event.institution_id) == (sender, sender.institution_id)
    assert (accept_event.actor, accept_event.institution_id) == (receiver, receiver.institution_id)
    for event in (request_event, accept_event):
        assert f'"from_institution":{sender.institution_id}' in event.extra
        assert f'"to_institution":{receiver.institution_id}' in event.extra
    # The woman's registry record was linked to the receiving centre, and that is audited too.
    assert AuditEvent.objects.filter(
        object_type="people.person", object_ids=str(moving.person_id), field_names="links"
    ).exists()


def test_reject_and_cancel_leave_the_episode_where_it_was(actors, moving):
    sender, receiver = actors["clinician.thc1"], actors["clinician.thc2"]
    first = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=receiver.institution_id).obj
    with pytest.raises(ValidationError) as exc:
        transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=actors["clinician.mch"].institution_id)
    assert "already waiting" in exc.value.message_dict["to_institution_id"][0]
    with pytest.raises(ValidationError):
        transfer_reject(actor=receiver, transfer_id=first.pk, note="")
    # Waiting, the receiving side sees her registry record, to recognise her.
    assert person_get(actor=receiver, person_id=moving.person_id, purpose="care").name == "王秀英"
    transfer_reject(actor=receiver, transfer_id=first.pk, note="不在本辖区居住")
    # The share ended with the decision: the receiving side no longer sees her episode, nor
    # her record, which the request had linked to it (P2), and that is on the trail.
    with pytest.raises(RecordNotFound):
        pregnancy_get(actor=receiver, pregnancy_id=moving.pk, purpose="care")
    with pytest.raises(RecordNotFound):
        person_get(actor=receiver, person_id=moving.person_id, purpose="care")
    assert AuditEvent.objects.filter(
        object_type="people.person", reason="pregnancy transfer rejected: the receiving institution's link ended"
    ).exists()
    with pytest.raises(RecordNotFound):
        transfer_accept(actor=receiver, transfer_id=first.pk)
    second = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=receiver.institution_id).obj
    with pytest.raises(NotAllowed):
        transfer_cancel(actor=receiver, transfer_id=second.pk)
    transfer_cancel(actor=sender, transfer_id=second.pk)
    assert Pregnancy.objects.visible_to(sender).get(pk=moving.pk).owner_institution_id == sender.institution_id
    with pytest.raises(RecordNotFound):
        person_get(actor=receiver, person_id=moving.person_id, purpose="care")


def registered_at(clinician, woman) -> None:
    """She registers at the clinician's institution herself (her ID card shown)."""
    person_register(
        actor=clinician,
        institution=clinician.institution,
        document_type="resident_id",
        document_number=woman.document_number,
        name="王秀英",
        sex=2,
        birth_date=woman.birth_date,
    )


def test_a_transfer_that_does_not_happen_leaves_an_earlier_link_alone(actors, moving):
    """The receiving institution that held her record before the request keeps it after."""
    sender, receiver = actors["clinician.thc1"], actors["clinician.thc2"]
    registered_at(receiver, moving.person)
    waiting = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=receiver.institution_id).obj
    transfer_reject(actor=receiver, transfer_id=waiting.pk, note="不在本辖区居住")
    assert person_get(actor=receiver, person_id=moving.person_id, purpose="care").name == "王秀英"


def test_a_transfer_that_does_not_happen_leaves_a_link_relied_on_meanwhile(actors, moving, today):
    """While the transfer waits, the receiving institution registers her itself, or she is
    referred there: the link is then theirs for that reason, and stays (P2)."""
    sender, receiver = actors["clinician.thc1"], actors["clinician.thc2"]
    waiting = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=receiver.institution_id).obj
    registered_at(receiver, moving.person)
    transfer_reject(actor=receiver, transfer_id=waiting.pk, note="不在本辖区居住")
    assert person_get(actor=receiver, person_id=moving.person_id, purpose="care").name == "王秀英"

    hospital = actors["clinician.mch"]
    waiting = transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=hospital.institution_id).obj
    referral_record(
        actor=sender,
        pregnancy_id=moving.pk,
        to_institution_id=hospital.institution_id,
        referred_on=today,
        reason="delivery",
    )
    transfer_cancel(actor=sender, transfer_id=waiting.pk)
    # The referral still runs: the hospital sees her and her episode, and records her care.
    assert person_get(actor=hospital, person_id=moving.person_id, purpose="care").name == "王秀英"
    visit_record(actor=hospital, pregnancy_id=moving.pk, visit_on=today, hb_g_l=112)


def test_a_transfer_to_the_owner_or_of_a_closed_episode_is_refused(actors, moving, today):
    from mchis.maternal.services import pregnancy_close

    sender = actors["clinician.thc1"]
    with pytest.raises(ValidationError):
        transfer_request(actor=sender, pregnancy_id=moving.pk, to_institution_id=sender.institution_id)
    waiting = transfer_request(
        actor=sender, pregnancy_id=moving.pk, to_institution_id=actors["clinician.mch"].institution_id
    ).obj
    pregnancy_close(actor=sender, pregnancy_id=moving.pk, reason="moved_out", on=today)
    from mchis.maternal.models import Transfer

    assert Transfer.objects.visible_to(sender).get(pk=waiting.pk).state == "cancelled"
    with pytest.raises(RecordNotFound):  # the waiting transfer's link to her record ended with it
        person_get(actor=actors["clinician.mch"], person_id=moving.person_id, purpose="care")
    assert Pregnancy.objects.visible_to(sender).get(pk=moving.pk).state == "moved_out"
    with pytest.raises(ValidationError):
        transfer_request(
            actor=sender, pregnancy_id=moving.pk, to_institution_id=actors["clinician.thc2"].institution_id
        )


def test_only_the_owner_requests_a_transfer(actors, moving):
    with pytest.raises(RecordNotFound):
        transfer_request(
            actor=actors["clinician.other"],
            pregnancy_id=moving.pk,
            to_institution_id=actors["clinician.other"].institution_id,
        )
