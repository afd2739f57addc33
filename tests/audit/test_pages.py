"""The auditor's pages (P19): audit administrators only, metadata only, and audited themselves."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from mchis.accounts.models import User
from mchis.audit.models import AuditAction, AuditEvent
from mchis.audit.services import audit_record
from mchis.orgs.models import Institution

pytestmark = pytest.mark.django_db


def rows(response) -> list[AuditEvent]:
    assert response.status_code == 200
    return response.context["listing"].events


@pytest.fixture
def auditor(login):
    return login("auditadmin")


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.all()}


@pytest.mark.parametrize("username", ["clinician.thc1", "info.mch", "sysadmin", "secadmin"])
@pytest.mark.parametrize("url", ["/audit/", "/audit/person/", "/audit/object/", "/audit/seen-by/", "/audit/denials/"])
def test_only_audit_administrators_reach_the_pages(login, username, url):
    assert login(username).get(url).status_code == 404


def test_the_navigation_offers_the_audit_trail_to_auditors_only(login):
    assert 'href="/audit/"' in login("auditadmin").get("/").content.decode()
    assert 'href="/audit/"' not in login("secadmin").get("/").content.decode()


def test_who_saw_a_record_and_when(auditor, users, read_event):
    read_event("P-1", "P-2", actor=users["clinician.thc1"])
    read_event("P-2", actor=users["clinician.mch"])
    read_event("P-3", actor=users["clinician.thc2"])
    response = auditor.get("/audit/object/", {"object_type": "people.Person", "object_id": "P-2"})
    assert [e.actor_username for e in rows(response)] == ["clinician.mch", "clinician.thc1"]
    html = response.content.decode()
    assert "clinician.thc1" in html and "clinician.thc2" not in html


def test_the_record_page_asks_for_a_record_first(auditor):
    response = auditor.get("/audit/object/")
    assert response.status_code == 200 and response.context["listing"] is None


def test_what_a_user_saw(auditor, users, read_event):
    clinician = users["clinician.thc1"]
    read_event("P-1", actor=clinician)
    audit_record(action="update", actor=clinician, object_type="people.person", object_ids=["P-1"], fields=["phone"])
    audit_record(action="export", actor=clinician, object_type="people.person", object_ids=["P-1", "P-9"])
    read_event("P-5", actor=users["clinician.mch"])
    seen = rows(auditor.get("/audit/seen-by/", {"actor": "clinician.thc1"}))
    assert [e.action for e in seen] == [AuditAction.EXPORT, AuditAction.READ]


def test_all_denials(auditor, login):
    login("clinician.thc1").get("/orgs/institutions/")
    denials = rows(auditor.get("/audit/denials/"))
    assert [(e.actor_username, e.path) for e in denials] == [("clinician.thc1", "/orgs/institutions/")]


def test_the_general_list_filters_by_action_actor_institution_object_and_time(auditor, users, read_event):
    thc1, mch = users["clinician.thc1"], users["clinician.mch"]
    read_event("P-1", actor=thc1)
    audit_record(action="update", actor=mch, object_type="people.person", object_ids=["P-1"], fields=["phone"])
    assert {e.action for e in rows(auditor.get("/audit/", {"action": "update"}))} == {"update"}
    by_actor = rows(auditor.get("/audit/", {"actor": "clinician.thc1"}))
    assert {e.actor_username for e in by_actor} == {"clinician.thc1"}
    by_institution = rows(auditor.get("/audit/", {"institution": mch.institution_id}))
    assert by_institution and {e.institution_id for e in by_institution} == {mch.institution_id}
    by_object = rows(auditor.get("/audit/", {"object_type": "people.person", "object_id": "P-1"}))
    assert len(by_object) == 2
    today = timezone.localdate()
    assert (
        # (The demo's pregnancy episodes add updates of maternal.pregnancy by the same clinician.)
        len(
            rows(
                auditor.get(
                    "/audit/",
                    {
                        "start": today,
                        "end": today,
                        "actor": "clinician.mch",
                        "action": "update",
                        "object_type": "people.person",
                    },
                )
            )
        )
        == 1
    )
    tomorrow = today + timedelta(days=1)
    assert rows(auditor.get("/audit/", {"start": tomorrow})) == []
    response = auditor.get("/audit/", {"start": tomorrow, "end": today})
    assert response.context["listing"] is None and "end" in response.context["form"].errors


def test_lists_are_paged_by_fifty(auditor, users, read_event):
    for n in range(120):
        read_event(f"P-{n}", actor=users["clinician.thc1"])
    first = auditor.get("/audit/", {"action": "read", "actor": "clinician.thc1"})
    page = first.context["listing"]
    assert len(page.events) == 50 and page.newer is None and page.older is not None
    html = first.content.decode()
    assert f"before={page.older}" in html and "actor=clinician.thc1" in html
    second = auditor.get("/audit/", {"action": "read", "actor": "clinician.thc1", "before": page.older})
    third = auditor.get(
        "/audit/", {"action": "read", "actor": "clinician.thc1", "before": second.context["listing"].older}
    )
    assert len(rows(second)) == 50 and len(rows(third)) == 20 and third.context["listing"].older is None
    back = auditor.get(
        "/audit/", {"action": "read", "actor": "clinician.thc1", "after": third.context["listing"].newer}
    )
    assert [e.id for e in rows(back)] == [e.id for e in rows(second)]
    shown = [e.id for e in page.events + rows(second) + rows(third)]
    assert shown == sorted(shown, reverse=True) and len(set(shown)) == 120


def test_reading_the_trail_is_audited(auditor, users, read_event):
    seen = read_event("P-7", actor=users["clinician.thc1"])
    response = auditor.get("/audit/object/", {"object_type": "people.person", "object_id": "P-7"})
    shown = [e.id for e in rows(response)]
    record = AuditEvent.objects.filter(object_type="audit.event").latest("id")
    assert record.action == AuditAction.READ and record.actor_username == "auditadmin"
    assert record.object_id_list == [str(i) for i in shown] == [str(seen.id)]
    assert '"object_id":"P-7"' in record.extra
    auditor.get(f"/audit/events/{seen.id}/")
    assert AuditEvent.objects.filter(object_type="audit.event").latest("id").object_id_list == [str(seen.id)]


def test_the_event_page_shows_metadata_and_seal(auditor, users, read_event):
    from .conftest import seal_now

    event = read_event("P-7", actor=users["clinician.thc1"])
    html = auditor.get(f"/audit/events/{event.id}/").content.decode()
    assert event.mac in html and "P-7" in html and "clinician.thc1" in html
    seal_now()
    html = auditor.get(f"/audit/events/{event.id}/").content.decode()
    seal = re.search(r"<code>([0-9a-f]{64})</code>", html.split(event.mac, 1)[1])
    assert seal is not None


def test_an_auditor_sees_the_events_of_their_jurisdiction_only(auditor, users):
    county = users["auditadmin"].jurisdiction()
    outside = Institution.objects.exclude(pk__in=Institution.objects.in_region(county)).first()
    inside = users["clinician.thc1"]
    far = audit_record(action="read", institution=outside, object_type="people.person", object_ids=["P-far"])
    near = audit_record(action="read", actor=inside, object_type="people.person", object_ids=["P-near"])
    listed = {e.id for e in rows(auditor.get("/audit/", {"action": "read"}))}
    assert near.id in listed and far.id not in listed
    assert auditor.get(f"/audit/events/{far.id}/").status_code == 404


def test_an_event_of_several_kinds_is_found_and_shown_under_each_kind(auditor, users):
    """One request's reads of an episode and a woman: one event, found by either kind and
    each id linking to "who saw this record" for its own kind."""
    from mchis.audit.context import audit_context
    from mchis.audit.services import reads_collect, reads_flush

    thc1 = users["clinician.thc1"]
    with audit_context(path="/maternal/E-1/") as ctx:
        reads_collect(ctx)
        audit_record(action="read", actor=thc1, object_type="maternal.pregnancy", object_ids=["E-1"])
        audit_record(action="read", actor=thc1, object_type="people.person", object_ids=["W-1"])
        (event,) = reads_flush(ctx)
    for kind in ("maternal.pregnancy", "people.person"):
        assert event.id in [e.id for e in rows(auditor.get("/audit/", {"object_type": kind}))]
    assert event.id not in [e.id for e in rows(auditor.get("/audit/", {"object_type": "accounts.user"}))]
    by_person = rows(auditor.get("/audit/object/", {"object_type": "people.person", "object_id": "W-1"}))
    assert [e.id for e in by_person] == [event.id]
    html = auditor.get(f"/audit/events/{event.id}/").content.decode()
    assert "?object_type=maternal.pregnancy&amp;object_id=E-1" in html
    assert "?object_type=people.person&amp;object_id=W-1" in html
    assert "<code>people.person:W-1</code>" in html


def test_purposes_and_kinds_of_record_are_named_in_the_auditor_s_language(auditor, users, read_event):
    """Events keep codes (the MAC covers them, filters match them); the page names them."""
    read_event("P-1", actor=users["clinician.thc1"], purpose="care")
    html = auditor.get("/audit/").content.decode()
    assert "诊疗保健" in html and ">人员<" in html
    assert 'title="people.person"' in html  # the code an object filter takes, on hover
    assert "审计核查" in auditor.get("/audit/").content.decode()  # the first page view's own read
