"""The maternal care pages (issue 5, items 1–7 of the UI): who reaches them, registration found
by ID number first, visits refused or accepted with a warning, worklists paged, filtered by
township and masked, and every page light (< 200 KB)."""

import re
from datetime import date, timedelta

import pytest

from mchis.audit.models import AuditEvent, AuditObjectRef
from mchis.audit.verify import audit_verify
from mchis.maternal.models import AntenatalVisit, Pregnancy
from mchis.maternal.services import risk_grade, transfer_request, visit_record
from tests.access.test_matrix import ROUTES

pytestmark = pytest.mark.django_db

MAX_PAGE = 200_000


def light(response) -> str:
    assert response.status_code == 200
    assert len(response.content) < MAX_PAGE, len(response.content)
    return response.content.decode()


@pytest.fixture
def episode(actors, register, today):
    reg = register("clinician.thc1", name="王秀英")
    visit_record(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=120)
    return reg.pregnancy


def test_the_worklist_is_in_the_navigation_of_clinicians_and_area_roles_only(login):
    assert "/maternal/" in login("clinician.thc1").get("/").content.decode()
    assert "/maternal/" in login("info.mch").get("/").content.decode()
    assert "/maternal/" not in login("sysadmin").get("/").content.decode()


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("clinician.thc1", 200),
        ("info.mch", 200),
        ("leader.thc1", 200),
        ("clinician.thc2", 404),
        ("clinician.mch", 404),
        ("healthadmin.county", 404),
    ],
)
def test_the_pregnancy_page_renders_for_its_reach_and_is_not_found_for_others(login, episode, username, status):
    response = login(username).get(f"/maternal/{episode.pk}/")
    assert response.status_code == status
    if status == 200:
        html = light(response)
        # Her own page: the full identity, for roles cleared for L4 (a leader's L3 sees it withheld).
        assert ("王秀英" in html) == (username != "leader.thc1")
        assert "withheld-note" in html or username != "leader.thc1"
        assert "孕早期" in html or "1st antenatal check" in html or "第1次产前检查" in html


@pytest.mark.parametrize("path", ["visit/", "grading/", "delivery/", "postpartum/", "transfer/"])
def test_forms_render_for_the_owner_s_clinician_and_are_not_found_elsewhere(login, episode, path):
    light(login("clinician.thc1").get(f"/maternal/{episode.pk}/{path}"))
    assert login("clinician.thc2").get(f"/maternal/{episode.pk}/{path}").status_code == 404


def test_technical_roles_and_readers_cannot_reach_the_forms(login, episode):
    assert login("sysadmin").get(f"/maternal/{episode.pk}/").status_code in (403, 404)
    assert login("info.mch").get(f"/maternal/{episode.pk}/visit/").status_code in (403, 404)
    assert login("info.mch").get("/maternal/register/").status_code in (403, 404)


def test_registration_finds_by_id_number_then_registers(login, number, today):
    client = login("clinician.thc1")
    light(client.get("/maternal/register/"))
    doc = number(date(1996, 2, 3))
    html = light(
        client.post("/maternal/register/", {"step": "find", "document_type": "resident_id", "document_number": doc})
    )
    assert 'name="lmp"' in html and 'name="name"' in html  # not found: identity asked
    response = client.post(
        "/maternal/register/",
        {
            "step": "register",
            "document_type": "resident_id",
            "document_number": doc,
            "name": "李春梅",
            "birth_date": "1996-02-03",
            "phone": "13900001234",
            "lmp": (today - timedelta(weeks=9)).isoformat(),
            "gravidity": "1",
            "parity": "0",
        },
    )
    assert response.status_code == 302
    p = Pregnancy.unscoped.get(pk=response["Location"].rstrip("/").split("/")[-1])
    assert p.edd == today - timedelta(weeks=9) + timedelta(days=280)
    # Found, not duplicated: the second time she is found in the registry, and her open
    # episode refuses a second one (an error next to the form, nothing saved).
    html = light(
        client.post("/maternal/register/", {"step": "find", "document_type": "resident_id", "document_number": doc})
    )
    assert 'name="person_id"' in html and "李*梅" in html and 'name="name"' not in html
    person_id = re.search(r'name="person_id" value="([0-9a-f-]+)"', html).group(1)
    assert str(p.person_id) == person_id
    count = Pregnancy.unscoped.count()
    html = light(
        client.post(
            "/maternal/register/",
            {
                "step": "register",
                "person_id": person_id,
                "document_type": "resident_id",
                "document_number": doc,
                "lmp": (today - timedelta(weeks=9)).isoformat(),
                "gravidity": "1",
                "parity": "0",
            },
        )
    )
    assert "alert-danger" in html and Pregnancy.unscoped.count() == count


def test_registration_errors_name_the_field_in_chinese_and_nothing_is_saved(login, number, today):
    client = login("clinician.thc1")
    before = Pregnancy.unscoped.count()
    html = light(
        client.post(
            "/maternal/register/",
            {
                "step": "register",
                "document_type": "resident_id",
                "document_number": number(date(2019, 1, 1)),
                "name": "小女孩",
                "birth_date": "2019-01-01",
                "lmp": (today - timedelta(weeks=9)).isoformat(),
                "gravidity": "1",
                "parity": "0",
            },
        )
    )
    assert "出生日期：" in html  # the field's Chinese label beside its message
    assert Pregnancy.unscoped.count() == before


def test_an_impossible_visit_is_refused_and_an_unusual_one_saved_with_a_warning(login, episode, today):
    client = login("clinician.thc1")
    visits = AntenatalVisit.unscoped.filter(pregnancy_id=episode.pk).count()
    html = light(client.post(f"/maternal/{episode.pk}/visit/", {"visit_on": today.isoformat(), "systolic_bp": "300"}))
    assert "260" in html and 'class="field-error"' in html and "收缩压" in html
    assert AntenatalVisit.unscoped.filter(pregnancy_id=episode.pk).count() == visits
    response = client.post(
        f"/maternal/{episode.pk}/visit/", {"visit_on": today.isoformat(), "systolic_bp": "165", "diastolic_bp": "95"}
    )
    assert response.status_code == 302
    assert AntenatalVisit.unscoped.filter(pregnancy_id=episode.pk).count() == visits + 1
    page = light(client.get(response["Location"]))
    assert "异常偏高" in page and "165" in page  # the warning, in Chinese, after saving
    assert "收缩压（mmHg）" in page or "systolic blood pressure (mmHg)" in page  # the warned field


def test_grading_shows_the_proposal_and_records_it(login, actors, register):
    p = register("clinician.thc1", conditions=["asthma"]).pregnancy
    client = login("clinician.thc1")
    html = light(client.get(f"/maternal/{p.pk}/grading/"))
    assert "risk-orange" in html and "2017" in html
    response = client.post(f"/maternal/{p.pk}/grading/", {"colour": "orange"})
    assert response.status_code == 302
    html = light(client.get(response["Location"]))
    assert "risk-orange" in html


def test_raising_a_grading_without_a_reason_is_refused(login, register):
    p = register("clinician.thc1").pregnancy
    html = light(login("clinician.thc1").post(f"/maternal/{p.pk}/grading/", {"colour": "red"}))
    assert 'class="field-error"' in html


def test_a_delivery_creates_the_child(login, register, today):
    p = register("clinician.thc1", weeks=39).pregnancy
    client = login("clinician.thc1")
    response = client.post(
        f"/maternal/{p.pk}/delivery/",
        {
            "delivered_at": f"{(today - timedelta(days=1)).isoformat()}T08:30",
            "place_type": "institution",
            "mode": "spontaneous",
            "maternal_outcome": "well",
            "blood_loss_ml": "200",
            "baby-TOTAL_FORMS": "1",
            "baby-INITIAL_FORMS": "0",
            "baby-0-outcome": "live_birth",
            "baby-0-sex": "2",
            "baby-0-birth_weight_g": "3200",
            "baby-0-length_cm": "50",
            "baby-0-apgar_1": "9",
            "baby-0-apgar_5": "10",
        },
    )
    assert response.status_code == 302, re.findall(
        r"(?:field-error|alert-danger)[^<]*<?[^<]*", response.content.decode()
    )
    html = light(client.get(response["Location"]))
    assert "3200" in html


def test_worklist_is_paged_masked_and_filtered_by_township(login, actors, register, today):
    # Registered at 10 weeks without a visit: the first contact's window is open, so due.
    register("clinician.thc1", name="王秀英")
    register("clinician.thc2", name="赵丽华")
    client = login("info.mch")
    html = light(client.get("/maternal/?list=due"))
    assert "王*英" in html and "王秀英" not in html
    thc1_town = actors["clinician.thc1"].institution.region.code
    thc2_town = actors["clinician.thc2"].institution.region.code
    html = light(client.get(f"/maternal/?list=due&township={thc1_town}"))
    assert "王*英" in html and "赵*华" not in html
    html = light(client.get(f"/maternal/?list=due&township={thc2_town}"))
    assert "赵*华" in html and "王*英" not in html
    assert client.get("/maternal/?list=due&township=999999999").status_code == 404


def test_every_worklist_tab_renders_for_a_clinician_with_masked_identifiers(login, actors, episode):
    client = login("clinician.thc1")
    for tab in ("due", "overdue", "high_risk", "deliveries", "postpartum"):
        html = light(client.get(f"/maternal/?list={tab}"))
        assert "王秀英" not in html
    assert episode.person.document_number not in light(client.get("/maternal/?list=due"))


def test_a_transfer_is_accepted_from_the_incoming_list(login, actors, episode):
    to = actors["clinician.thc2"].institution
    change = transfer_request(actor=actors["clinician.thc1"], pregnancy_id=episode.pk, to_institution_id=to.pk)
    client = login("clinician.thc2")
    html = light(client.get("/maternal/transfers/"))
    assert "王*英" in html and "王秀英" not in html
    response = client.post(f"/maternal/transfers/{change.obj.pk}/decide/", {"decision": "accept"})
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.owner_institution_id == to.pk
    assert client.get(f"/maternal/{episode.pk}/").status_code == 200


def test_date_inputs_carry_iso_dates_in_the_chinese_page(login, episode, today):
    html = light(login("clinician.thc1").get(f"/maternal/{episode.pk}/visit/"))
    assert f'value="{today.isoformat()}"' in html


def test_worklists_are_paged(login, register):
    for _ in range(21):
        register("clinician.thc1")
    client = login("clinician.thc1")
    first = light(client.get("/maternal/?list=due"))
    rows = re.compile(r'href="/maternal/[0-9a-f-]{36}/"')
    assert len(rows.findall(first)) == 20 and "page=2" in first
    second = light(client.get("/maternal/?list=due&page=2"))
    assert second.count("王*英") >= 1 and "page=1" in second


def test_a_transfer_is_requested_on_the_pregnancy_s_form(login, actors, episode):
    to = actors["clinician.thc2"].institution
    client = login("clinician.thc1")
    response = client.post(
        f"/maternal/{episode.pk}/transfer/", {"to_institution_id": str(to.pk), "reason_text": "搬家"}
    )
    assert response.status_code == 302
    html = light(client.get(response["Location"]))
    assert to.name in html
    assert "王*英" in light(login("clinician.thc2").get("/maternal/transfers/"))


def test_the_high_risk_worklist_filters_by_colour(login, actors, register):
    from mchis.maternal.services import risk_grade

    p = register("clinician.thc1", name="孙美玲", conditions=["asthma"]).pregnancy
    risk_grade(actor=actors["clinician.thc1"], pregnancy_id=p.pk)
    client = login("clinician.thc1")
    assert "孙*玲" in light(client.get("/maternal/?list=high_risk"))
    assert "孙*玲" in light(client.get("/maternal/?list=high_risk&colour=orange"))
    assert "孙*玲" not in light(client.get("/maternal/?list=high_risk&colour=red"))


def test_her_own_page_is_an_audited_read_of_her_identity(login, episode):
    """P10: the full identity is shown on her page only, and that read is in the trail: one
    event for the page, naming the episode and the woman, found by "who saw her record"."""
    client = login("clinician.thc1")
    before = AuditEvent.objects.filter(action="read").count()
    light(client.get(f"/maternal/{episode.pk}/"))
    (event,) = AuditEvent.objects.filter(action="read").order_by("id")[before:]
    assert event.object_type == "" and event.object_kinds == ["maternal.pregnancy", "people.person"]
    assert ("people.person", str(episode.person_id)) in event.object_refs
    assert ("maternal.pregnancy", str(episode.pk)) in event.object_refs
    assert "people.person:name" in event.field_name_list
    assert event.actor.username == "clinician.thc1" and event.path == f"/maternal/{episode.pk}/"
    seen = AuditObjectRef.objects.filter(object_type="people.person", object_id=str(episode.person_id))
    assert event.pk in seen.values_list("event_id", flat=True)
    assert audit_verify().ok


@pytest.mark.parametrize(
    ("username", "purpose"),
    [("clinician.thc1", "care"), ("info.mch", "quality_review"), ("leader.thc1", "supervision")],
)
def test_the_page_s_read_is_recorded_for_the_reader_s_purpose(login, episode, username, purpose):
    # P5: the county information officer opening the same page reviews it; she does not care
    # for the woman, and the trail says so.
    before = AuditEvent.objects.filter(action="read").count()
    assert login(username).get(f"/maternal/{episode.pk}/").status_code == 200
    (event,) = AuditEvent.objects.filter(action="read").order_by("id")[before:]
    assert event.actor.username == username and event.purpose == purpose


def test_purple_shows_beside_the_colour(login, actors, episode):
    risk_grade(
        actor=actors["clinician.thc1"], pregnancy_id=episode.pk, colour="orange", purple=True, reason="转诊单：梅毒阳性"
    )
    html = light(login("clinician.thc1").get(f"/maternal/{episode.pk}/"))
    assert re.search(r'<span class="risk risk-orange">[^<]+</span> <span class="risk risk-purple">', html)


def test_nothing_here_downloads_data(login, episode):
    """Export goes through the approval workflow (P21, a later issue): no maternal page or API
    route offers a file, and the lists answer as pages."""
    words = ("export", "download", "csv", "xls")
    assert not [r for r, _name in ROUTES if ("maternal" in r or "pregnanc" in r) and any(w in r for w in words)]
    client = login("clinician.thc1")
    for path in ["/maternal/", "/maternal/?list=overdue", f"/maternal/{episode.pk}/"]:
        response = client.get(path)
        assert response.status_code == 200 and "Content-Disposition" not in response
        assert response["Content-Type"].startswith("text/html")
