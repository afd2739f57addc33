"""Who saw this person's records (P10): the auditor looks her up by the document number of a
complaint, and sees every event of her registry record, her pregnancy episodes and their
records, in the audit trail's jurisdiction. Ids only cross over from the clinical side; the
lookup is itself audited with its reason, never the number (P19)."""

import json
from datetime import date

import pytest
from django.utils import timezone

from mchis.accounts.models import User
from mchis.audit.models import AuditEvent, AuditObjectRef
from mchis.audit.services import audit_record
from mchis.maternal.selectors import pregnancy_records_for_audit
from mchis.maternal.services import pregnancy_register, visit_record
from mchis.people.identifiers import id_make
from mchis.people.selectors import person_ids_for_audit

pytestmark = pytest.mark.django_db

# Her number ends in a check character X: the auditor types it as it is on a complaint form.
HER_BIRTH = date(1990, 1, 3)


def her_number() -> str:
    for seq in range(0, 999, 2):
        number = id_make(area_code="410121", born=HER_BIRTH, sequence=seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no number with check character X")


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.all()}


@pytest.fixture
def her(users):
    """A woman registered for pregnancy care at township centre 1, with one visit recorded."""
    clinician = users["clinician.thc1"]
    reg = pregnancy_register(
        actor=clinician,
        institution=clinician.institution,
        document_type="resident_id",
        document_number=her_number(),
        name="李秀兰",
        birth_date=HER_BIRTH,
        phone="13800138001",
        address="安平县某镇某村3号",
        lmp=timezone.localdate() - timezone.timedelta(weeks=12),
        gravidity=1,
        parity=0,
    )
    visit = visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=timezone.localdate(), hb_g_l=118)
    return reg.pregnancy, visit


@pytest.fixture
def auditor(login):
    return login("auditadmin")


def look_up(auditor, number: str, reason: str = "投诉 2026-031"):
    return auditor.post("/audit/person/", {"document_number": number, "reason": reason})


def test_the_auditor_finds_her_by_number_and_sees_who_read_and_changed_her_records(auditor, login, her):
    pregnancy, _visit = her
    # Her own page read by her clinician: one event naming the episode and her person record.
    login("clinician.thc1").get(f"/maternal/{pregnancy.pk}/")
    # An event naming someone else: not hers.
    audit_record(action="read", actor=None, object_type="people.person", object_ids=["someone-else"])

    # Typed in lower case and with a full-width digit, as on a handwritten complaint form.
    typed = her_number().lower().replace("1", "１", 1)
    response = look_up(auditor, typed)
    assert response.status_code == 302
    assert response["Location"] == f"/audit/person/?person={pregnancy.person_id}"

    listing = auditor.get(response["Location"])
    assert listing.status_code == 200
    shown = listing.context["listing"].events
    kinds = {kind for e in shown for kind in e.object_kinds}
    # Her registration (person + episode written together), the visit written on the episode,
    # and the page read naming both.
    assert {"people.person", "maternal.pregnancy"} <= kinds
    assert any(e.action == "read" and e.actor_username == "clinician.thc1" for e in shown)
    assert any(e.action == "update" and e.object_type == "maternal.pregnancy" for e in shown)
    assert all("someone-else" not in e.object_ids for e in shown)
    html = listing.content.decode()
    # Metadata only: her name and number appear nowhere on the auditor's page.
    assert "李秀兰" not in html and her_number() not in html
    # The records it covered are summarised, and paging/filters keep her.
    assert f'name="person" value="{pregnancy.person_id}"' in html


def test_every_record_of_her_episodes_is_covered(users, her):
    pregnancy, _visit = her
    records = pregnancy_records_for_audit(actor=users["auditadmin"], person_ids=[str(pregnancy.person_id)])
    assert records["maternal.pregnancy"] == [str(pregnancy.pk)]
    assert len(records["maternal.antenatalvisit"]) == 1
    assert records["maternal.delivery"] == []


def test_the_lookup_is_audited_with_its_reason_and_never_the_number(auditor, her):
    pregnancy, _visit = her
    look_up(auditor, her_number(), reason="投诉 2026-031")
    lookup = AuditEvent.objects.get(reason="投诉 2026-031")
    assert lookup.actor_username == "auditadmin" and lookup.action == "read"
    assert lookup.purpose == "audit review"
    refs = set(AuditObjectRef.objects.filter(event_id=lookup.id).values_list("object_type", "object_id"))
    assert refs == {("people.person", str(pregnancy.person_id))}
    digits = her_number()[:17]
    for event in AuditEvent.objects.all():
        text = " ".join(str(v) for v in (event.object_ids, event.extra, event.reason, event.path, event.field_names))
        assert digits not in text, event.id


def test_a_number_nobody_holds_is_said_so_and_the_lookup_is_still_recorded(auditor, her):
    response = look_up(auditor, id_make(area_code="410121", born=date(1991, 5, 6), sequence=2), reason="来电核查")
    assert response.status_code == 200
    assert "该证件号码没有登记" in response.context["lookup"].errors["document_number"][0]
    event = AuditEvent.objects.get(reason="来电核查")
    assert event.object_ids == "" and json.loads(event.extra)["matches"] == 0


def test_a_lookup_needs_a_reason_and_a_number(auditor, her):
    before = AuditEvent.objects.filter(actor_username="auditadmin", purpose="audit review").count()
    response = auditor.post("/audit/person/", {"document_number": her_number(), "reason": ""})
    assert response.status_code == 200 and "reason" in response.context["lookup"].errors
    response = auditor.post("/audit/person/", {"document_number": "", "reason": "投诉 2026-031"})
    assert "document_number" in response.context["lookup"].errors
    assert AuditEvent.objects.filter(actor_username="auditadmin", purpose="audit review").count() == before


def test_the_page_asks_for_a_number_first(auditor):
    response = auditor.get("/audit/person/")
    assert response.status_code == 200 and response.context["listing"] is None
    assert 'method="post"' in response.content.decode()


def test_a_malformed_person_id_is_not_found(auditor):
    assert auditor.get("/audit/person/", {"person": "not-an-id"}).status_code == 404


def test_events_outside_the_auditor_s_jurisdiction_are_not_shown(auditor, users, actors, her):
    pregnancy, _visit = her
    # A clinician of the neighbouring county named her record (a refused attempt): an event
    # of that county, outside the county auditor's trail.
    audit_record(
        action="deny",
        actor=actors["clinician.other"],
        object_type="people.person",
        object_ids=[str(pregnancy.person_id)],
    )
    shown = auditor.get("/audit/person/", {"person": str(pregnancy.person_id)}).context["listing"].events
    assert shown and all(e.actor_username != "clinician.other" for e in shown)


@pytest.mark.parametrize("username", ["clinician.thc1", "info.mch", "secadmin", "sysadmin"])
def test_nobody_but_an_audit_administrator_gathers_her_record_ids(users, her, username):
    pregnancy, _visit = her
    actor = users[username]
    assert person_ids_for_audit(actor=actor, document_number=her_number(), reason="x") == []
    assert pregnancy_records_for_audit(actor=actor, person_ids=[str(pregnancy.person_id)]) == {"maternal.pregnancy": []}


@pytest.mark.parametrize("username", ["clinician.thc1", "info.mch", "secadmin"])
def test_others_cannot_post_a_lookup(login, her, username):
    response = login(username).post("/audit/person/", {"document_number": her_number(), "reason": "好奇看看"})
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(reason="好奇看看").exclude(action="deny").exists()
