"""Worklists of an institution, filterable by township (issue 5, "Worklists"; P11 paged, P20
masked, P10 audited). The demo's own episodes are also in the lists: tests look at their own."""

from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.audit.models import AuditEvent
from mchis.maternal import schedule
from mchis.maternal.selectors import (
    worklist_deliveries_expected,
    worklist_high_risk,
    worklist_high_risk_counts,
    worklist_overdue,
    worklist_postpartum_due,
    worklist_queryset,
    worklist_visits_due,
)
from mchis.maternal.services import delivery_record, pregnancy_close, risk_grade, visit_record
from mchis.orgs.models import Institution

pytestmark = pytest.mark.django_db


def ids(page) -> set:
    return {r.id for r in page.items}


@pytest.fixture
def township_women(actors, register, today):
    """Episodes of the first township centre in known schedule states, and one of the second."""
    thc1 = actors["clinician.thc1"]
    open_anc1 = register(weeks=10).pregnancy
    done_anc1 = register(weeks=10).pregnancy
    visit_record(actor=thc1, pregnancy_id=done_anc1.pk, visit_on=today)
    anc2_opens = register(weeks=16).pregnancy
    missed_anc2 = register(lmp=today - timedelta(weeks=22), registered_on=today - timedelta(weeks=12)).pregnancy
    visit_record(actor=thc1, pregnancy_id=missed_anc2.pk, visit_on=today - timedelta(weeks=12))
    closed = register(weeks=9).pregnancy
    pregnancy_close(actor=thc1, pregnancy_id=closed.pk, reason="miscarriage", on=today)
    elsewhere = register("clinician.thc2", weeks=10).pregnancy
    return {
        "open_anc1": open_anc1,
        "done_anc1": done_anc1,
        "anc2_opens": anc2_opens,
        "missed_anc2": missed_anc2,
        "closed": closed,
        "elsewhere": elsewhere,
    }


def test_visits_due_this_week_and_overdue(actors, township_women, today):
    w = township_women
    thc1 = actors["clinician.thc1"]
    due = ids(worklist_visits_due(actor=thc1, purpose="care", today=today, page_size=100))
    assert {w["open_anc1"].pk, w["anc2_opens"].pk} <= due
    assert not due & {w["done_anc1"].pk, w["missed_anc2"].pk, w["closed"].pk, w["elsewhere"].pk}
    overdue = worklist_overdue(actor=thc1, purpose="care", today=today, page_size=100)
    assert w["missed_anc2"].pk in ids(overdue)
    assert not ids(overdue) & {w["open_anc1"].pk, w["anc2_opens"].pk, w["closed"].pk, w["elsewhere"].pk}
    row = next(r for r in overdue.items if r.id == w["missed_anc2"].pk)
    assert row.overdue and row.next_contact == "anc2" and row.gestational_age.weeks == 22
    assert row.name_masked == "王*英"


def test_a_window_opening_later_this_week_is_due_and_next_week_is_not(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register(weeks=10).pregnancy
    visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today)  # next: anc2 at 16w0d
    anc2_start = p.lmp + timedelta(weeks=16)
    assert p.pk in ids(worklist_visits_due(actor=thc1, purpose="care", today=anc2_start, page_size=100))
    # On the Monday of the week in which the window opens, and not on the Sunday before it.
    monday_of_opening = anc2_start - timedelta(days=anc2_start.weekday())
    assert p.pk in ids(worklist_visits_due(actor=thc1, purpose="care", today=monday_of_opening, page_size=100))
    sunday_before = monday_of_opening - timedelta(days=1)
    assert p.pk not in ids(worklist_visits_due(actor=thc1, purpose="care", today=sunday_before, page_size=100))
    # The day after the window closes she is overdue, not due.
    closed = p.lmp + timedelta(weeks=21)
    assert p.pk not in ids(worklist_visits_due(actor=thc1, purpose="care", today=closed, page_size=100))
    assert p.pk in ids(worklist_overdue(actor=thc1, purpose="care", today=closed, page_size=100))


def test_an_area_role_filters_the_county_by_township(actors, township_women, today):
    w = township_women
    info = actors["info.mch"]
    county = ids(worklist_visits_due(actor=info, purpose="quality_review", today=today, page_size=100))
    assert {w["open_anc1"].pk, w["elsewhere"].pk} <= county
    thc1_town = actors["clinician.thc1"].institution.region.code
    town = ids(
        worklist_visits_due(actor=info, purpose="quality_review", township=thc1_town, today=today, page_size=100)
    )
    assert w["open_anc1"].pk in town and w["elsewhere"].pk not in town
    with pytest.raises(ValidationError) as exc:
        worklist_visits_due(actor=info, purpose="quality_review", township="410121")  # a county, not a township
    assert "township" in exc.value.message_dict


def test_a_township_filter_does_not_widen_a_clinician_s_list(actors, township_women, today):
    thc2_town = actors["clinician.thc2"].institution.region.code
    assert township_women["elsewhere"].pk not in ids(
        worklist_visits_due(actor=actors["clinician.thc1"], purpose="care", township=thc2_town, page_size=100)
    )


def test_another_institution_s_worklist_is_not_found_and_the_attempt_audited(actors, township_women):
    thc1 = actors["clinician.thc1"]
    other = actors["clinician.thc2"].institution
    with pytest.raises(RecordNotFound):
        worklist_visits_due(actor=thc1, purpose="care", institution=other)
    assert AuditEvent.objects.filter(actor=thc1, action="deny", extra__contains='"list":"visits_due"').exists()
    with pytest.raises(RecordNotFound):
        worklist_overdue(actor=actors["sysadmin"], purpose="care")


def test_deliveries_expected_this_month(actors, register, today):
    thc1 = actors["clinician.thc1"]
    first, last = schedule.month_bounds(today)
    this_month = register(lmp=last - timedelta(days=280), registered_on=today).pregnancy
    next_month = register(lmp=last + timedelta(days=1) - timedelta(days=280), registered_on=today).pregnancy
    shown = ids(worklist_deliveries_expected(actor=thc1, purpose="care", today=today, page_size=100))
    assert this_month.pk in shown and next_month.pk not in shown
    page = worklist_deliveries_expected(actor=thc1, purpose="care", today=today, page_size=100)
    edds = [r.edd for r in page.items]
    assert edds == sorted(edds) and all(first <= d <= last for d in edds)


def test_high_risk_women_by_colour_reddest_first(actors, register, today):
    thc1 = actors["clinician.thc1"]
    yellow = register(prior_abortions=3, gravidity=4).pregnancy
    orange = register(conditions=["asthma"]).pregnancy
    red = register(conditions=["placental_abruption"]).pregnancy
    purple = register(conditions=["tuberculosis"]).pregnancy
    for p in (yellow, orange, red, purple):
        risk_grade(actor=thc1, pregnancy_id=p.pk)
    page = worklist_high_risk(actor=thc1, purpose="care", today=today, page_size=100)
    mine = [r for r in page.items if r.id in {yellow.pk, orange.pk, red.pk, purple.pk}]
    assert [r.id for r in mine] == [red.pk, orange.pk, purple.pk]
    assert all(r.report_due_at is not None and r.reported_at is None for r in mine)
    colours = [r.risk_colour for r in page.items]
    rank = {"red": 0, "orange": 1, "yellow": 2, "green": 3}
    assert [rank[c] for c in colours] == sorted(rank[c] for c in colours)
    assert ids(worklist_high_risk(actor=thc1, purpose="care", colour="yellow", page_size=100)) >= {yellow.pk}
    assert purple.pk in ids(worklist_high_risk(actor=thc1, purpose="care", colour="purple", page_size=100))
    with pytest.raises(ValidationError):
        worklist_high_risk(actor=thc1, purpose="care", colour="blue")
    counts = worklist_high_risk_counts(actor=thc1, purpose="care")
    assert counts["red"] >= 1 and counts["orange"] >= 1 and counts["yellow"] >= 1 and counts["purple"] >= 1


def test_postpartum_visits_due(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register(weeks=39).pregnancy
    delivered = today - timedelta(days=2)
    delivery_record(
        actor=thc1,
        pregnancy_id=p.pk,
        delivered_at=timezone.make_aware(datetime.combine(delivered, time(8, 0))),
        place_type="home",
        mode="spontaneous",
        babies=[{"outcome": "live_birth", "sex": 1, "birth_weight_g": 3300}],
    )
    page = worklist_postpartum_due(actor=thc1, purpose="care", today=today, page_size=100)
    row = next(r for r in page.items if r.id == p.pk)
    assert (row.next_contact, row.overdue, row.state) == ("pp_home", False, "delivered")
    assert p.pk in ids(worklist_visits_due(actor=thc1, purpose="care", today=today, page_size=100))
    late = today + timedelta(days=6)
    row = next(
        r for r in worklist_postpartum_due(actor=thc1, purpose="care", today=late, page_size=100).items if r.id == p.pk
    )
    assert row.overdue


def test_lists_are_paged_and_each_page_audited(actors, township_women, today):
    thc1 = actors["clinician.thc1"]
    everything = worklist_visits_due(actor=thc1, purpose="care", today=today, page_size=100)
    assert everything.total == len(everything.items) >= 2
    first = worklist_visits_due(actor=thc1, purpose="care", today=today, page_size=1)
    second = worklist_visits_due(actor=thc1, purpose="care", today=today, page=2, page_size=1)
    assert first.total == everything.total and first.has_next and len(first.items) == 1
    assert first.items[0].id != second.items[0].id
    assert [r.id for r in everything.items[:2]] == [first.items[0].id, second.items[0].id]
    event = AuditEvent.objects.filter(actor=thc1, action="read", object_type="maternal.pregnancy").latest("id")
    assert event.object_id_list == [str(second.items[0].id)] and '"list":"visits_due"' in event.extra
    with pytest.raises(ValidationError):
        worklist_visits_due(actor=thc1, purpose="care", page_size=1000)
    with pytest.raises(ValidationError):
        worklist_visits_due(actor=thc1, purpose="care", page=0)


def plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " ".join(str(row) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return " ".join(row[0] for row in cursor.fetchall())


OWNER_INDEXES = (
    "pregnancy_due_by_institution",
    "pregnancy_due_by_region",
    "pregnancy_edd_by_region",
    "pregnancy_risk_by_region",
    "pregnancy_by_institution",
)


@pytest.mark.parametrize("listing", ["visits_due", "overdue", "postpartum_due", "deliveries_expected", "high_risk"])
def test_worklists_are_driven_by_an_owner_index(actors, township_women, listing, today):
    """Province scale (issue 5 benchmark): every worklist is a range scan on a composite index
    that starts with the owner, never a scan of the table."""
    for username, township in (("clinician.thc1", None), ("info.mch", None), ("info.mch", "x")):
        actor = actors[username]
        town = actors["clinician.thc1"].institution.region.code if township else None
        text = plan(worklist_queryset(actor=actor, listing=listing, township=town, today=today))
        assert any(index in text for index in OWNER_INDEXES), (username, text)
        assert "SCAN maternal_pregnancy" not in text and "Seq Scan" not in text, text


def test_a_county_health_centre_is_its_own_scope(actors):
    """An institution role's lists are its institution's own episodes, by the institution's path."""
    from mchis.maternal.models import Pregnancy

    thc1 = actors["clinician.thc1"]
    scope = Pregnancy.objects.policy().worklist_scope(thc1, thc1.institution)
    assert scope is not None
    assert (
        Pregnancy.objects.policy().worklist_scope(thc1, Institution.objects.exclude(pk=thc1.institution_id)[0]) is None
    )


def test_an_area_role_opens_the_lists_of_an_institution_of_its_region(actors, township_women, today):
    info = actors["info.mch"]
    thc1 = actors["clinician.thc1"].institution
    page = worklist_visits_due(actor=info, purpose="quality_review", institution=thc1, today=today, page_size=100)
    assert township_women["open_anc1"].pk in ids(page) and township_women["elsewhere"].pk not in ids(page)
    other_county = actors["clinician.other"].institution
    with pytest.raises(RecordNotFound):
        worklist_visits_due(actor=info, purpose="quality_review", institution=other_county)
