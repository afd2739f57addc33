"""Confirming, raising and recording risk gradings; high-risk case management (DOMAIN "Pregnancy
risk grading": 专案管理, report deadline configurable, default 3 days)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.audit.models import AuditEvent
from mchis.maternal.models import HighRiskCase, RiskGrading
from mchis.maternal.services import (
    high_risk_case_close,
    high_risk_case_report,
    referral_outcome_record,
    referral_record,
    risk_grade,
    visit_record,
)

pytestmark = pytest.mark.django_db


def grading_count(actor, p):
    return RiskGrading.objects.visible_to(actor).filter(pregnancy_id=p.pk).count()


def test_the_proposal_is_confirmed_and_recorded_with_its_rules_and_table(actors, register, today):
    clinician = actors["clinician.thc1"]
    reg = register()
    visit = visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=100).visit
    result = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_id=visit.pk)
    g = result.grading
    assert (g.proposed_colour, g.colour, g.purple, g.table_version) == ("yellow", "yellow", False, "2017")
    assert g.rules_fired == ["Y2.6b"] and g.visit_id == visit.pk and g.assessed_on == today
    assert not g.raised and g.reason is None
    p = result.grading.pregnancy
    p.refresh_from_db()
    assert (p.risk_colour, p.risk_purple, p.risk_graded_on) == ("yellow", False, today)
    assert result.high_risk_case is None and not result.case_opened


def test_the_clinician_may_raise_with_a_reason(actors, register):
    clinician = actors["clinician.thc1"]
    reg = register()
    with pytest.raises(ValidationError) as exc:
        risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, colour="orange")
    assert "reason" in exc.value.message_dict
    assert grading_count(clinician, reg.pregnancy) == 0
    g = risk_grade(
        actor=clinician, pregnancy_id=reg.pregnancy.pk, colour="orange", reason="家族史：母亲产后大出血"
    ).grading
    assert (g.proposed_colour, g.colour, g.raised) == ("green", "orange", True)
    assert g.reason == "家族史：母亲产后大出血"


def test_the_colour_may_not_be_lowered_below_the_proposal(actors, register, today):
    clinician = actors["clinician.thc1"]
    reg = register(conditions=["asthma"])
    with pytest.raises(ValidationError) as exc:
        risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, colour="yellow", reason="她说没事")
    assert "may not be lower" in exc.value.message_dict["colour"][0]
    assert grading_count(clinician, reg.pregnancy) == 0


def test_purple_may_be_added_with_a_reason_but_not_dropped(actors, register):
    clinician = actors["clinician.thc1"]
    reg = register(conditions=["tuberculosis"])
    with pytest.raises(ValidationError) as exc:
        risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, purple=False)
    assert "purple" in exc.value.message_dict
    other = register()
    with pytest.raises(ValidationError) as exc:
        risk_grade(actor=clinician, pregnancy_id=other.pregnancy.pk, purple=True)
    assert "reason" in exc.value.message_dict
    g = risk_grade(actor=clinician, pregnancy_id=other.pregnancy.pk, purple=True, reason="外院结核确诊").grading
    assert g.purple and not g.proposed_purple and g.raised


@pytest.mark.parametrize(("colour", "opens"), [("green", False), ("yellow", False), ("orange", True), ("red", True)])
def test_orange_and_red_open_a_high_risk_case_with_a_deadline(actors, register, colour, opens):
    clinician = actors["clinician.thc1"]
    reg = register()
    before = timezone.now()
    result = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, colour=colour, reason="临床判断")
    assert result.case_opened == opens
    if opens:
        case = result.high_risk_case
        assert case.colour == colour and case.is_open
        assert before + timedelta(days=3) <= case.report_due_at <= timezone.now() + timedelta(days=3)


def test_purple_alone_opens_a_case(actors, register):
    result = risk_grade(actor=actors["clinician.thc1"], pregnancy_id=register(conditions=["tuberculosis"]).pregnancy.pk)
    assert result.case_opened and result.high_risk_case.purple and result.high_risk_case.colour == "green"


def test_the_report_deadline_is_configurable(actors, register, settings):
    settings.MCHIS_HIGH_RISK_REPORT_DAYS = 1
    result = risk_grade(actor=actors["clinician.thc1"], pregnancy_id=register(conditions=["asthma"]).pregnancy.pk)
    case = result.high_risk_case
    assert timedelta(hours=23) < case.report_due_at - case.opened_at <= timedelta(days=1)


def test_one_case_per_episode_keeps_the_highest_colour(actors, register, today):
    clinician = actors["clinician.thc1"]
    reg = register(conditions=["asthma"])
    first = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk)
    visit = visit_record(
        actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today, conditions=["placental_abruption"]
    ).visit
    second = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_id=visit.pk)
    assert not second.case_opened and second.high_risk_case.pk == first.high_risk_case.pk
    assert second.high_risk_case.colour == "red"
    # Back to orange at a later visit (the abruption is no longer recorded): the case remembers red.
    later = visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today).visit
    third = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk)
    assert third.grading.visit_id is None and later.conditions == []
    assert third.grading.colour == "orange" and third.high_risk_case.colour == "red"
    assert HighRiskCase.objects.visible_to(clinician).filter(pregnancy_id=reg.pregnancy.pk).count() == 1


def test_report_and_close_a_case(actors, register):
    clinician = actors["clinician.thc1"]
    case = risk_grade(actor=clinician, pregnancy_id=register(conditions=["asthma"]).pregnancy.pk).high_risk_case
    change = high_risk_case_report(actor=clinician, case_id=case.pk)
    case = change.obj
    assert case.reported_at is not None and case.reported_by == clinician
    assert case.reported_to.kind == "mch_hospital" and case.reported_to.region_path == "/000000/410000/410100/410121/"
    with pytest.raises(ValidationError):
        high_risk_case_report(actor=clinician, case_id=case.pk)
    with pytest.raises(ValidationError) as exc:
        high_risk_case_close(actor=clinician, case_id=case.pk, reason="other")
    assert "note" in exc.value.message_dict
    closed = high_risk_case_close(actor=clinician, case_id=case.pk, reason="risk_resolved").obj
    assert not closed.is_open and closed.close_reason == "risk_resolved"
    # A new orange grading opens a new case.
    again = risk_grade(actor=clinician, pregnancy_id=case.pregnancy_id)
    assert again.case_opened and again.high_risk_case.pk != case.pk


def test_a_referral_shares_the_episode_with_the_receiving_institution(actors, register, today):
    from mchis.maternal.selectors import pregnancy_get

    clinician, county = actors["clinician.thc1"], actors["clinician.mch"]
    reg = register(conditions=["asthma"])
    case = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk).high_risk_case
    with pytest.raises(RecordNotFound):  # not hers yet
        pregnancy_get(actor=county, pregnancy_id=reg.pregnancy.pk, purpose="care")
    referral = referral_record(
        actor=clinician,
        pregnancy_id=reg.pregnancy.pk,
        to_institution_id=county.institution_id,
        referred_on=today,
        reason="high_risk",
        reason_text="哮喘控制不佳",
    ).obj
    assert referral.high_risk_case_id == case.pk and referral.from_institution_id == clinician.institution_id
    # The county MCH hospital now sees her episode and her identity, and may record care.
    view = pregnancy_get(actor=county, pregnancy_id=reg.pregnancy.pk, purpose="care")
    assert view.referrals[0].reason_text == "哮喘控制不佳"
    visit_record(actor=county, pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=120)
    outcome = referral_outcome_record(actor=county, referral_id=referral.pk, outcome="admitted", outcome_on=today)
    assert outcome.obj.outcome == "admitted"
    with pytest.raises(ValidationError):
        referral_outcome_record(actor=county, referral_id=referral.pk, outcome="returned", outcome_on=today)


def test_a_referral_to_oneself_or_a_health_commission_is_refused(actors, register, today):
    from mchis.orgs.models import Institution

    clinician = actors["clinician.thc1"]
    reg = register()
    commission = Institution.objects.filter(kind="health_administration").first()
    for target in (clinician.institution_id, commission.pk):
        with pytest.raises(ValidationError) as exc:
            referral_record(
                actor=clinician,
                pregnancy_id=reg.pregnancy.pk,
                to_institution_id=target,
                referred_on=today,
                reason="delivery",
            )
        assert "to_institution_id" in exc.value.message_dict


def test_every_grading_is_one_audit_event_on_the_episode(actors, register):
    clinician = actors["clinician.thc1"]
    reg = register(conditions=["asthma"])
    before = AuditEvent.objects.count()
    result = risk_grade(actor=clinician, pregnancy_id=reg.pregnancy.pk)
    events = list(AuditEvent.objects.filter(id__gt=0).order_by("-id")[: AuditEvent.objects.count() - before])
    assert len(events) == 1
    (event,) = events
    assert event.action == "update" and event.object_id_list == [str(reg.pregnancy.pk)]
    assert {"risk_grading", "risk_colour", "high_risk_case.opened"} <= set(event.field_name_list)
    assert str(result.grading.pk) in event.extra and "orange" not in event.extra


def test_a_grading_entered_for_an_earlier_day_does_not_replace_the_current_one(actors, register, today):
    from datetime import timedelta

    from mchis.maternal.models import Pregnancy

    clinician = actors["clinician.thc1"]
    p = register(conditions=["asthma"]).pregnancy
    risk_grade(actor=clinician, pregnancy_id=p.pk)
    earlier = risk_grade(
        actor=clinician, pregnancy_id=p.pk, assessed_on=today - timedelta(days=3), colour="red", reason="补录"
    )
    assert earlier.grading.colour == "red"
    current = Pregnancy.objects.visible_to(clinician).get(pk=p.pk)
    assert (current.risk_colour, current.risk_graded_on) == ("orange", today)
