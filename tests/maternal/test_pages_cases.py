"""Pages of high-risk case management (专案管理), referrals and transfer cancellation: each
renders, changes the data on a valid POST, shows the service's rule beside the field and
changes nothing on an invalid one, and answers 404 to users it is not for."""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from mchis.maternal.models import HighRiskCase, Pregnancy, Referral, Transfer
from mchis.maternal.services import referral_record, risk_grade, transfer_request
from tests.maternal.conftest import field_errors, light, same_not_found

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(actors, register):
    """An orange woman (asthma) at township centre 1, graded: her high-risk case is open."""
    p = register("clinician.thc1", name="孙美玲", conditions=["asthma"]).pregnancy
    result = risk_grade(actor=actors["clinician.thc1"], pregnancy_id=p.pk)
    assert result.case_opened
    return result.high_risk_case


def url(case, action):
    return f"/maternal/{case.pregnancy_id}/cases/{case.pk}/{action}/"


# --- reporting -------------------------------------------------------------------------------------


def test_the_pregnancy_page_shows_the_deadline_and_the_actions_to_its_clinician(login, case):
    html = light(login("clinician.thc1").get(f"/maternal/{case.pregnancy_id}/"))
    assert timezone.localtime(case.report_due_at).strftime("%Y-%m-%d %H:%M") in html
    assert url(case, "report") in html and url(case, "close") in html
    assert "text-bg-danger" not in html  # not overdue yet


def test_readers_see_the_case_but_no_action(login, case):
    """P17/P15: a leader (L3 reader) sees the case row, not the buttons that would 404 for her."""
    html = light(login("leader.thc1").get(f"/maternal/{case.pregnancy_id}/"))
    assert "high-risk-case" in html
    assert url(case, "report") not in html and url(case, "close") not in html
    assert f"/maternal/{case.pregnancy_id}/edit/" not in html


def test_an_overdue_case_is_marked_until_it_is_reported_late(login, case):
    HighRiskCase.unscoped.filter(pk=case.pk).update(report_due_at=timezone.now() - timedelta(hours=1))
    client = login("clinician.thc1")
    html = light(client.get(f"/maternal/{case.pregnancy_id}/"))
    assert "table-danger" in html and "text-bg-danger" in html
    assert "text-bg-danger" in light(client.get(url(case, "report")))
    assert "text-bg-danger" in light(client.get("/maternal/?list=high_risk"))
    # Reported now: after the deadline, so it is shown as late and no longer as overdue.
    assert client.post(url(case, "report"), {}).status_code == 302
    html = light(client.get(f"/maternal/{case.pregnancy_id}/"))
    assert "text-bg-danger" not in html and "text-bg-warning" in html
    assert "text-bg-danger" not in light(client.get("/maternal/?list=high_risk"))


def test_reporting_records_the_county_mch_institution_and_bumps_the_version(login, case):
    before = Pregnancy.unscoped.get(pk=case.pregnancy_id).version
    light(login("clinician.thc1").get(url(case, "report")))
    response = login("clinician.thc1").post(url(case, "report"), {})
    assert response.status_code == 302 and response["Location"] == f"/maternal/{case.pregnancy_id}/"
    case.refresh_from_db()
    assert case.reported_at is not None and case.reported_to.kind == "mch_hospital"
    assert Pregnancy.unscoped.get(pk=case.pregnancy_id).version == before + 1
    html = light(login("clinician.thc1").get(response["Location"]))
    assert case.reported_to.name in html and url(case, "report") not in html


def test_a_report_time_in_the_future_is_refused_beside_its_field(login, case):
    client = login("clinician.thc1")
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    html = light(client.post(url(case, "report"), {"reported_at": later}))
    assert any("now" in e or "现在" in e for e in field_errors(html)), field_errors(html)
    case.refresh_from_db()
    assert case.reported_at is None


def test_a_case_is_reported_once(login, case):
    client = login("clinician.thc1")
    assert client.post(url(case, "report"), {}).status_code == 302
    html = light(client.post(url(case, "report"), {}))
    assert field_errors(html)


@pytest.mark.parametrize("username", ["clinician.thc2", "clinician.mch"])
def test_case_pages_are_not_found_outside_the_owner(login, case, username):
    """P15: the case belongs to the owning institution's episode; P10: others get 404."""
    client = login(username)
    for action in ("report", "close"):
        assert client.get(url(case, action)).status_code == 404
        assert client.post(url(case, action), {"reason": "risk_resolved"}).status_code == 404
    case.refresh_from_db()
    assert case.reported_at is None and case.closed_at is None


def test_readers_cannot_post_to_the_case_pages(login, case):
    """P17: reading the case is not managing it; the matrix admits writers only (404)."""
    for username in ("leader.thc1", "info.mch"):
        assert login(username).post(url(case, "report"), {}).status_code == 404
    case.refresh_from_db()
    assert case.reported_at is None


def test_a_case_id_of_another_pregnancy_or_none_is_not_found(login, register, case):
    other = register("clinician.thc1").pregnancy
    client = login("clinician.thc1")
    assert client.get(f"/maternal/{other.pk}/cases/{case.pk}/report/").status_code == 404
    assert client.post(f"/maternal/{other.pk}/cases/{case.pk}/report/", {}).status_code == 404
    assert client.get(f"/maternal/{case.pregnancy_id}/cases/{uuid.uuid4()}/report/").status_code == 404
    case.refresh_from_db()
    assert case.reported_at is None


# --- closing -------------------------------------------------------------------------------------


def test_closing_for_another_reason_needs_a_note_then_closes(login, case):
    client = login("clinician.thc1")
    light(client.get(url(case, "close")))
    html = light(client.post(url(case, "close"), {"reason": "other"}))
    assert field_errors(html)
    case.refresh_from_db()
    assert case.closed_at is None
    response = client.post(url(case, "close"), {"reason": "risk_resolved", "note": "哮喘控制良好"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.closed_at is not None and case.close_reason == "risk_resolved"
    html = light(client.get(response["Location"]))
    assert url(case, "close") not in html and url(case, "report") not in html


def test_the_episode_closed_reason_is_not_offered(login, case):
    html = light(login("clinician.thc1").get(url(case, "close")))
    assert 'value="episode_closed"' not in html and 'value="risk_resolved"' in html


# --- referrals -------------------------------------------------------------------------------------


def test_a_referral_is_recorded_to_the_county_mch_hospital(login, actors, case, today):
    client = login("clinician.thc1")
    mch = actors["clinician.mch"].institution
    html = light(client.get(f"/maternal/{case.pregnancy_id}/referral/"))
    assert f'value="{mch.pk}"' in html
    response = client.post(
        f"/maternal/{case.pregnancy_id}/referral/",
        {"to_institution_id": str(mch.pk), "referred_on": today.isoformat(), "reason": "high_risk"},
    )
    assert response.status_code == 302
    referral = Referral.unscoped.get(pregnancy_id=case.pregnancy_id)
    assert referral.to_institution_id == mch.pk and referral.high_risk_case_id == case.pk
    # The receiving institution now shares the episode (and may record care in it).
    assert login("clinician.mch").get(f"/maternal/{case.pregnancy_id}/").status_code == 200


def test_an_invalid_referral_is_refused_beside_its_fields_and_nothing_is_saved(login, actors, case, today):
    client = login("clinician.thc1")
    mch = actors["clinician.mch"].institution
    html = light(
        client.post(
            f"/maternal/{case.pregnancy_id}/referral/",
            {
                "to_institution_id": str(mch.pk),
                "referred_on": (today + timedelta(days=2)).isoformat(),
                "reason": "other",
            },
        )
    )
    errors = field_errors(html)
    assert len(errors) == 2, errors  # the date in the future, the reason "other" without details
    assert not Referral.unscoped.filter(pregnancy_id=case.pregnancy_id).exists()


def test_the_referral_outcome_is_recorded_by_the_receiving_side(login, actors, case, today):
    """P15: the institution she was referred to takes part in her care and records the outcome."""
    mch = actors["clinician.mch"].institution
    referral = referral_record(
        actor=actors["clinician.thc1"],
        pregnancy_id=case.pregnancy_id,
        to_institution_id=mch.pk,
        referred_on=today,
        reason="high_risk",
    ).obj
    outcome_url = f"/maternal/{case.pregnancy_id}/referrals/{referral.pk}/outcome/"
    assert outcome_url in light(login("clinician.thc1").get(f"/maternal/{case.pregnancy_id}/"))
    client = login("clinician.mch")
    assert mch.name in light(client.get(outcome_url))
    html = light(
        client.post(outcome_url, {"outcome": "admitted", "outcome_on": (today - timedelta(days=1)).isoformat()})
    )
    assert field_errors(html)  # before the referral
    referral.refresh_from_db()
    assert referral.outcome == ""
    response = client.post(outcome_url, {"outcome": "admitted", "outcome_on": today.isoformat()})
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.outcome == "admitted" and referral.outcome_on == today
    assert outcome_url not in light(client.get(f"/maternal/{case.pregnancy_id}/"))


def test_referral_pages_are_not_found_for_another_township(login, actors, case, today):
    referral = referral_record(
        actor=actors["clinician.thc1"],
        pregnancy_id=case.pregnancy_id,
        to_institution_id=actors["clinician.mch"].institution.pk,
        referred_on=today,
        reason="delivery",
    ).obj
    client = login("clinician.thc2")
    assert client.get(f"/maternal/{case.pregnancy_id}/referral/").status_code == 404
    outcome_url = f"/maternal/{case.pregnancy_id}/referrals/{referral.pk}/outcome/"
    assert client.post(outcome_url, {"outcome": "arrived", "outcome_on": today.isoformat()}).status_code == 404
    referral.refresh_from_db()
    assert referral.outcome == ""


# --- transfer cancel --------------------------------------------------------------------------------


@pytest.fixture
def transfer(actors, register):
    p = register("clinician.thc1", name="周雅琴").pregnancy
    return transfer_request(
        actor=actors["clinician.thc1"], pregnancy_id=p.pk, to_institution_id=actors["clinician.thc2"].institution.pk
    ).obj


def test_the_requesting_institution_cancels_its_pending_transfer(login, transfer):
    client = login("clinician.thc1")
    cancel = f"/maternal/{transfer.pregnancy_id}/transfers/{transfer.pk}/cancel/"
    html = light(client.get(f"/maternal/{transfer.pregnancy_id}/"))
    assert f'action="{cancel}"' in html
    light(client.get(cancel))  # the confirmation page changes nothing
    transfer.refresh_from_db()
    assert transfer.state == "pending"
    response = client.post(cancel, {"note": "她决定不搬了"})
    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.state == "cancelled"
    assert f'action="{cancel}"' not in light(client.get(response["Location"]))
    # The receiving institution no longer sees her.
    assert login("clinician.thc2").get(f"/maternal/{transfer.pregnancy_id}/").status_code == 404


def test_the_receiving_institution_cannot_cancel_and_sees_no_button(login, transfer):
    """P15: cancelling is the owner's act; the receiving side (which may look) gets 404."""
    client = login("clinician.thc2")
    cancel = f"/maternal/{transfer.pregnancy_id}/transfers/{transfer.pk}/cancel/"
    html = light(client.get(f"/maternal/{transfer.pregnancy_id}/"))
    assert cancel not in html
    assert client.post(cancel, {}).status_code == 404
    transfer.refresh_from_db()
    assert transfer.state == "pending"


def test_the_receiving_institution_looks_but_its_recording_forms_are_not_found(login, transfer):
    """P15: before it accepts, the receiving institution may look at the episode, not record
    in it: the recording forms answer as for an absent episode, on the first GET already."""
    client = login("clinician.thc2")
    base = f"/maternal/{transfer.pregnancy_id}"
    html = light(client.get(f"{base}/"))
    assert f'href="{base}/visit/"' not in html
    absent = client.get(f"/maternal/{uuid.uuid4()}/visit/")
    for page in ("visit", "grading", "postpartum", "transfer"):
        assert same_not_found(client.get(f"{base}/{page}/"), absent), page
    # The owner's clinicians still open them.
    owner = login("clinician.thc1")
    for page in ("visit", "grading", "transfer"):
        assert owner.get(f"{base}/{page}/").status_code == 200, page


def test_a_transfer_that_is_no_longer_waiting_cannot_be_cancelled(login, transfer):
    Transfer.unscoped.filter(pk=transfer.pk).update(state="rejected")
    client = login("clinician.thc1")
    html = light(client.post(f"/maternal/{transfer.pregnancy_id}/transfers/{transfer.pk}/cancel/", {}))
    assert field_errors(html)
    transfer.refresh_from_db()
    assert transfer.state == "rejected"


def test_the_new_pages_post_with_a_csrf_token(login, case):
    client = login("clinician.thc1")
    client.handler.enforce_csrf_checks = True
    html = light(client.get(url(case, "close")))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(url(case, "close"), {"reason": "risk_resolved"}).status_code == 403
    case.refresh_from_db()
    assert case.closed_at is None
    assert client.post(url(case, "close"), {"reason": "risk_resolved", "csrfmiddlewaretoken": token}).status_code == 302
