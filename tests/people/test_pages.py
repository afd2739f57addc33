"""Person pages: masked lists, full identifiers on the person's own page only (audited), the
same 404 for hidden and missing persons, registration errors in Chinese naming the field."""

import re
import uuid

import pytest

from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_search_by_id_number_lists_the_person_masked(login, persons):
    client = login("clinician.thc1")
    number = persons["P_b"].document_number
    html = client.post("/people/", {"q": number}).content.decode()
    assert "乙*士" in html and number not in html
    assert f"{number[:4]}**********{number[-4:]}" in html
    assert f"/people/{persons['P_b'].pk}/" in html


def test_the_persons_own_page_shows_full_identifiers_and_is_audited(login, persons, actors):
    client = login("clinician.thc1")
    before = AuditEvent.objects.filter(action="read", actor_id=actors["clinician.thc1"].pk).count()
    html = client.get(f"/people/{persons['P_b'].pk}/").content.decode()
    assert "乙女士" in html and persons["P_b"].document_number in html
    events = AuditEvent.objects.filter(action="read", actor_id=actors["clinician.thc1"].pk)
    assert events.count() == before + 1
    assert str(persons["P_b"].pk) in events.latest("id").object_ids


def test_a_hidden_person_and_a_missing_one_give_the_same_page(login, persons):
    client = login("clinician.thc1")
    hidden = client.get(f"/people/{persons['P_a'].pk}/")
    missing = client.get(f"/people/{uuid.uuid4()}/")
    assert hidden.status_code == missing.status_code == 404

    def normalised(response):
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
        return re.sub(r'name="next" value="[^"]+"', "", text)

    assert normalised(hidden) == normalised(missing)


def test_a_leader_sees_withheld_fields_marked(login, persons):
    html = login("leader.thc1").get(f"/people/{persons['P_b'].pk}/").content.decode()
    assert "已屏蔽" in html and "乙女士" not in html


def test_registration_errors_name_the_field_in_chinese_and_save_nothing(login):
    client = login("clinician.thc1")
    response = client.post(
        "/people/register/",
        {
            "document_type": "resident_id",
            "document_number": "410121199502030880",
            "name": "王某",
            "sex": "2",
            "birth_date": "1995-02-03",
            "phone": "138abc",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "身份证号码校验码" in html or "校验码" in html
    assert "电话" in html and "只能" in html


def test_registration_then_redirect_to_the_persons_page(login):
    from datetime import date

    from mchis.people.identifiers import id_make

    number = id_make(area_code="410121", born=date(1996, 6, 6), sequence=20)
    client = login("clinician.thc1")
    response = client.post(
        "/people/register/",
        {
            "document_type": "resident_id",
            "document_number": number,
            "name": "赵敏",
            "sex": "2",
            "birth_date": "1996-06-06",
            "phone": "13700000001",
            "address": "",
        },
    )
    assert response.status_code == 302 and response["Location"].startswith("/people/")
    assert "赵敏" in client.get(response["Location"]).content.decode()


def test_break_glass_through_the_pages_then_review(login, persons):
    clinician = login("clinician.thc1")
    response = clinician.post(
        "/access/break-glass/",
        {
            "document_number": persons["P_c"].document_number,
            "reason": "emergency_delivery",
            "reason_text": "急诊分娩，需要查看既往产检记录",
        },
    )
    assert response.status_code == 302
    assert "丙女士" in clinician.get(response["Location"]).content.decode()
    leader = login("leader.thc1")
    page = leader.get("/access/break-glass/review/").content.decode()
    assert "急诊分娩" in page
    grant_id = re.search(r"/access/break-glass/review/(\d+)/", page).group(1)
    assert leader.post(f"/access/break-glass/review/{grant_id}/", {"outcome": "justified"}).status_code == 302
    assert "急诊分娩" not in leader.get("/access/break-glass/review/").content.decode()


def test_only_clinical_roles_are_offered_registration_and_emergency_access(login, persons):
    clinician = login("clinician.thc1").post("/people/", {"q": persons["P_a"].document_number}).content.decode()
    leader = login("leader.thc1").post("/people/", {"q": persons["P_a"].document_number}).content.decode()
    register, emergency = 'href="/people/register/"', 'action="/access/break-glass/"'
    assert register in clinician and emergency in clinician
    assert register not in leader and emergency not in leader
