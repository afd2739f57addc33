"""Who sees and changes pregnancy episodes (P15 institutions own their records, P17 graded
management, P10 every read and refusal audited, P5 break-glass)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.levels import Level
from mchis.access.policy import WITHHELD
from mchis.access.purposes import purpose_for
from mchis.audit.models import AuditEvent
from mchis.maternal.models import Pregnancy
from mchis.maternal.selectors import pregnancy_get, pregnancy_list, risk_proposal_get
from mchis.maternal.services import infection_results_record, risk_grade, visit_record

pytestmark = pytest.mark.django_db

# Who reaches an episode owned by the first township centre of the demo county, and at which level.
EXPECTED = {
    "clinician.thc1": Level.L4,
    "custodian.thc1": Level.L4,
    "leader.thc1": Level.L3,
    "info.mch": Level.L4,  # area role: the county
    "inspector.county": Level.L3,
    "info.city": Level.L4,
    "clinician.thc2": None,  # another township of the same county
    "clinician.mch": None,  # the county hospital: not hers unless referred
    "pmtct.mch": None,
    "leader.mch": None,
    "clinician.other": None,  # another county
    "healthadmin.county": None,  # L2: no case data
    "sysadmin": None,
    "secadmin": None,
    "auditadmin": None,
}


@pytest.fixture
def episode(actors, register, today):
    reg = register("clinician.thc1")
    visit_record(
        actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=120, note="丈夫在外地打工"
    )
    return reg.pregnancy


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_who_sees_the_episode(actors, episode, username):
    actor = actors[username]
    level = EXPECTED[username]
    visible = Pregnancy.objects.visible_to(actor).filter(pk=episode.pk).exists()
    assert visible == (level is not None)
    if level is None:
        with pytest.raises(RecordNotFound):
            pregnancy_get(actor=actor, pregnancy_id=episode.pk, purpose=purpose_for(actor))
        assert AuditEvent.objects.filter(actor=actor, action="deny", object_ids=str(episode.pk)).exists()
        return
    view = pregnancy_get(actor=actor, pregnancy_id=episode.pk, purpose=purpose_for(actor))
    assert view.values["risk_colour"] == "" and view.visits[0].hb_g_l == 120
    # The note is L4 (free text), the PMTCT results L5: withheld below, never dropped.
    assert (view.visits[0].note is WITHHELD) == (level < Level.L4)
    assert view.hiv_result is WITHHELD and "hiv_result" in view.withheld
    event = AuditEvent.objects.filter(actor=actor, action="read", object_type="maternal.pregnancy").latest("id")
    assert event.object_id_list == [str(episode.pk)] and "hiv_result" not in event.field_name_list


def test_a_township_clinician_cannot_see_or_change_another_township_s_women(actors, episode, today):
    other = actors["clinician.thc2"]
    assert episode.pk not in {r.id for r in pregnancy_list(actor=other, purpose="care", page_size=100).items}
    with pytest.raises(RecordNotFound):
        visit_record(actor=other, pregnancy_id=episode.pk, visit_on=today)
    with pytest.raises(RecordNotFound):
        risk_grade(actor=other, pregnancy_id=episode.pk)
    denials = AuditEvent.objects.filter(actor=other, action="deny", object_type="maternal.pregnancy")
    assert denials.count() == 2
    episode.refresh_from_db()
    assert episode.version == 2  # unchanged by the refused writes


def test_readers_without_a_clinical_role_cannot_write(actors, episode, today):
    for username in ("info.mch", "leader.thc1", "custodian.thc1"):
        with pytest.raises(NotAllowed):
            visit_record(actor=actors[username], pregnancy_id=episode.pk, visit_on=today)
    assert AuditEvent.objects.filter(action="deny", object_type="maternal.pregnancy", reason="not allowed").count() == 3


def test_break_glass_opens_the_episode_for_a_few_hours(actors, episode, register, today):
    from mchis.access.services import break_glass_open

    other = actors["clinician.thc2"]
    break_glass_open(
        actor=other,
        document_number=episode.person.document_number,
        reason="emergency_delivery",
        reason_text="急诊分娩，孕妇在本院就诊",
    )
    other = type(other).objects.get(pk=other.pk)  # a new request: reaches are recomputed
    # The page asks for care; the episode is seen through the grant: an emergency read (P5).
    view = pregnancy_get(actor=other, pregnancy_id=episode.pk, purpose="care")
    assert view.visits[0].note == "丈夫在外地打工"
    read = AuditEvent.objects.filter(actor=other, action="read").latest("id")
    assert read.object_ids == str(episode.pk) and read.purpose == "emergency"
    visit_record(actor=other, pregnancy_id=episode.pk, visit_on=today, systolic_bp=150, diastolic_bp=100)
    # Its own clinician's read of the same episode stays one for care.
    pregnancy_get(actor=actors["clinician.thc1"], pregnancy_id=episode.pk, purpose="care")
    assert AuditEvent.objects.filter(action="read").latest("id").purpose == "care"
    # In a list beside her centre's own episodes, that row alone is read for the emergency.
    register("clinician.thc2", born=date(1996, 5, 6))
    listed = pregnancy_list(actor=other, purpose="care")
    assert episode.pk in {r.id for r in listed.items} and len(listed.items) > 1
    reads = AuditEvent.objects.filter(actor=other, action="read", object_type="maternal.pregnancy").order_by("-id")
    emergency, care = (reads.get(purpose=p, extra__contains='"list"') for p in ("emergency", "care"))
    assert emergency.object_ids == str(episode.pk) and str(episode.pk) not in care.object_ids


# --- PMTCT results: L5 ------------------------------------------------------------------------


@pytest.fixture
def purple_episode(actors, register, today):
    reg = register("clinician.mch")
    infection_results_record(
        actor=actors["pmtct.mch"], pregnancy_id=reg.pregnancy.pk, hiv="negative", syphilis="positive", hbsag="negative"
    )
    return reg.pregnancy


def test_pmtct_results_are_withheld_below_l5(actors, purple_episode):
    clinician, officer = actors["clinician.mch"], actors["pmtct.mch"]
    assert pregnancy_get(actor=clinician, pregnancy_id=purple_episode.pk, purpose="care").syphilis_result is WITHHELD
    assert pregnancy_get(actor=officer, pregnancy_id=purple_episode.pk, purpose="care").syphilis_result == "positive"
    # Encrypted at rest like identifiers.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT syphilis_result FROM maternal_pregnancy WHERE syphilis_result IS NOT NULL")
        rows = cursor.fetchall()
    assert rows and all("positive" not in str(row) and "negative" not in str(row) for row in rows)


def test_only_l5_writers_record_pmtct_results(actors, purple_episode):
    with pytest.raises(NotAllowed):
        infection_results_record(actor=actors["clinician.mch"], pregnancy_id=purple_episode.pk, hiv="positive")
    event = AuditEvent.objects.filter(action="update", object_type="maternal.pregnancy").latest("id")
    assert "syphilis_result" in event.field_name_list and "positive" not in event.extra + event.reason


def test_pmtct_results_enter_only_the_proposals_of_l5_users(actors, purple_episode):
    clinician, officer = actors["clinician.mch"], actors["pmtct.mch"]
    theirs = risk_proposal_get(actor=officer, pregnancy_id=purple_episode.pk, purpose="care")
    assert theirs.purple and "P1.2" in {r.code for r in theirs.fired} and theirs.infections_used
    mine = risk_proposal_get(actor=clinician, pregnancy_id=purple_episode.pk, purpose="care")
    assert not mine.purple and mine.fired == [] and mine.infections_withheld
    assert "syphilis" not in mine.facts


def test_the_confidential_rules_of_a_grading_stay_l5_and_purple_is_carried(actors, purple_episode):
    clinician, officer = actors["clinician.mch"], actors["pmtct.mch"]
    graded = risk_grade(actor=officer, pregnancy_id=purple_episode.pk).grading
    assert graded.purple and graded.rules_fired == [] and graded.rules_fired_confidential == ["P1.2"]
    shown = pregnancy_get(actor=clinician, pregnancy_id=purple_episode.pk, purpose="care").gradings[0]
    assert shown.rules_fired_confidential is WITHHELD and shown.purple
    assert shown.extra["fired"] == []
    officer_view = pregnancy_get(actor=officer, pregnancy_id=purple_episode.pk, purpose="care").gradings[0]
    assert [f["code"] for f in officer_view.extra["fired"]] == ["P1.2"]
    # The clinician re-grades without the results: purple is carried, and cannot be dropped.
    again = risk_grade(actor=clinician, pregnancy_id=purple_episode.pk)
    assert again.grading.purple and again.grading.purple_carried and not again.grading.infections_used
    with pytest.raises(ValidationError) as exc:
        risk_grade(actor=clinician, pregnancy_id=purple_episode.pk, purple=False)
    assert "purple" in exc.value.message_dict


def test_lists_mask_identifiers_and_audit_both_records(actors, episode):
    actor = actors["clinician.thc1"]
    page = pregnancy_list(actor=actor, purpose="care")
    row = next(r for r in page.items if r.id == episode.pk)
    assert row.name_masked == "王*英" and "*" in row.document_masked and len(row.document_masked) == 18
    reads = AuditEvent.objects.filter(actor=actor, action="read").order_by("-id")[:2]
    assert {e.object_type for e in reads} == {"maternal.pregnancy", "people.person"}
    person_event = next(e for e in reads if e.object_type == "people.person")
    assert str(episode.person_id) in person_event.object_id_list and '"masked":true' in person_event.extra


def test_the_leader_sees_masks_withheld(actors, episode):
    page = pregnancy_list(actor=actors["leader.thc1"], purpose="supervision")
    row = next(r for r in page.items if r.id == episode.pk)
    assert row.name_masked is WITHHELD and row.risk_colour == ""


def test_area_roles_see_the_county_but_not_another(actors, register, today):
    mine = register("clinician.thc2").pregnancy
    theirs = register("clinician.other").pregnancy
    info = actors["info.mch"]
    ids = {r.id for r in pregnancy_list(actor=info, purpose="quality_review", page_size=100).items}
    assert mine.pk in ids and theirs.pk not in ids
    ids = {r.id for r in pregnancy_list(actor=actors["info.city"], purpose="quality_review", page_size=100).items}
    assert {mine.pk, theirs.pk} <= ids


def test_a_visit_outside_reach_and_a_stale_visit_id_look_the_same(actors, episode, register, today):
    import uuid

    stranger = actors["clinician.other"]
    with pytest.raises(RecordNotFound):
        pregnancy_get(actor=stranger, pregnancy_id=episode.pk, purpose="care")
    with pytest.raises(RecordNotFound):
        pregnancy_get(actor=stranger, pregnancy_id=uuid.uuid4(), purpose="care")
    with pytest.raises(RecordNotFound):
        pregnancy_get(actor=stranger, pregnancy_id="not-an-id", purpose="care")


def test_an_expired_role_reaches_no_episode(actors, episode):
    from django.utils import timezone

    actor = actors["clinician.thc1"]
    actor.role_assignments.update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = type(actor).objects.get(pk=actor.pk)
    assert not Pregnancy.objects.visible_to(fresh).filter(pk=episode.pk).exists()


def test_the_write_path_locks_exactly_the_episodes_the_policy_shows(actors, episode, register):
    """Every service starts from the episode locked through the policy's compiled query
    (`visible_lookup(..., for_update=True)` on the primary key): it must answer as the ORM
    query it was compiled from, for every actor, twice (compiled, then reused) (P15)."""
    from django.db import connection, transaction

    other = register("clinician.thc2").pregnancy
    for actor in actors.values():
        for p in (episode, other):
            expected = list(Pregnancy.objects.visible_to(actor).filter(pk=p.pk))
            for _ in range(2):
                with transaction.atomic():
                    got = Pregnancy.objects.visible_lookup(actor, field="pk", values=[str(p.pk)], for_update=True)
                assert [x.pk for x in got] == [x.pk for x in expected], actor.username
                if got:
                    assert (got[0].edd, got[0].version, got[0].person_id) == (
                        expected[0].edd,
                        expected[0].version,
                        expected[0].person_id,
                    )
    with pytest.raises(ValidationError):
        Pregnancy.objects.visible_lookup(actors["clinician.thc1"], field="pk", values=["not-an-id"])
    if connection.vendor == "postgresql":
        cache = Pregnancy.objects._lookup_cache()
        statements = [cache[key] for key in cache if key[-1] and cache[key][0]]  # key[-1]: for_update
        # Locked, and read straight into instances (the select list is the model's columns).
        assert statements and all("FOR UPDATE" in sql and extras is not None for sql, _p, _s, extras in statements)
