"""Reading an episode: one audited event per call, listing what was shown (P10, P17)."""

import pytest

from mchis.audit.models import AuditEvent
from mchis.maternal.selectors import (
    delivery_get,
    pregnancy_get,
    risk_grading_list,
    risk_proposal_get,
    visit_list,
)
from mchis.maternal.services import risk_grade, visit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register(conditions=["asthma"]).pregnancy
    visit = visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today, hb_g_l=100, note="无不适").visit
    risk_grade(actor=thc1, pregnancy_id=p.pk, visit_id=visit.pk)
    return p


def reads(actor):
    return AuditEvent.objects.filter(actor=actor, action="read").order_by("id")


def test_the_episode_with_everything_recorded_in_it(actors, graded, today):
    thc1 = actors["clinician.thc1"]
    before = reads(thc1).count()
    view = pregnancy_get(actor=thc1, pregnancy_id=graded.pk, purpose="care", today=today)
    assert reads(thc1).count() == before + 1
    event = reads(thc1).last()
    assert event.object_id_list == [str(graded.pk)] and event.purpose == "care"
    assert {"visits", "risk_gradings", "high_risk_cases", "edd"} <= set(event.field_name_list)
    assert view.version == 3 and view.gestational_age.weeks == 10
    assert view.visits[0].contact == "anc1" and view.visits[0].note == "无不适"
    fired = {f["code"]: f for f in view.gradings[0].extra["fired"]}
    assert set(fired) == {"O2.2a", "Y2.6b"} and fired["O2.2a"]["label"] == "Asthma"
    assert view.high_risk_case.colour == "orange"
    assert [c.window.code for c in view.schedule][:2] == ["anc1", "anc2"] and view.schedule[0].status == "done"
    assert view.delivery is None and view.postpartum_visits == []


def test_the_sub_resources_of_the_api(actors, graded):
    thc1 = actors["clinician.thc1"]
    visits = visit_list(actor=thc1, pregnancy_id=graded.pk, purpose="care")
    assert len(visits) == 1 and visits[0].hb_g_l == 100
    gradings = risk_grading_list(actor=thc1, pregnancy_id=graded.pk, purpose="care")
    assert gradings[0].colour == "orange" and gradings[0].extra["fired"]
    assert delivery_get(actor=thc1, pregnancy_id=graded.pk, purpose="care") is None
    proposal = risk_proposal_get(actor=thc1, pregnancy_id=graded.pk, purpose="care")
    assert proposal.colour == "orange"
    assert all(e.object_id_list == [str(graded.pk)] for e in reads(thc1).order_by("-id")[:4])


def test_labels_follow_the_language(actors, graded):
    from django.utils import translation

    with translation.override("zh-hans"):
        view = pregnancy_get(actor=actors["clinician.thc1"], pregnancy_id=graded.pk, purpose="care")
    fired = {f["code"]: f["label"] for f in view.gradings[0].extra["fired"]}
    assert fired["O2.2a"] == "哮喘"
