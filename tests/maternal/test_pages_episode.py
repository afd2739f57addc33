"""Pages that change the episode itself (corrections with the version read, closing, discharge,
PMTCT results at L5), grading against one visit, and the delivery of any number of babies."""

import re
import uuid
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from mchis.maternal.models import AntenatalVisit, Delivery, DeliveryBaby, Pregnancy, RiskGrading
from mchis.maternal.services import delivery_record, pregnancy_update, visit_record
from mchis.people.models import Person
from tests.maternal.conftest import field_errors, light, same_not_found

pytestmark = pytest.mark.django_db

STALE = "已被他人修改"  # the Chinese page's "changed by someone else … reload"
FORM = '<form method="post" class="narrow-form"'


def version_of(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


@pytest.fixture
def episode(register):
    return register("clinician.thc1", name="王秀英", weeks=12).pregnancy


# --- corrections --------------------------------------------------------------------------------------


def edit_data(p, **changes) -> dict:
    data = {"lmp": p.lmp.isoformat(), "gravidity": "1", "parity": "0", "version": str(p.version)}
    data.update(changes)
    return data


def test_the_edit_form_opens_with_the_record_and_its_version(login, episode):
    html = light(login("clinician.thc1").get(f"/maternal/{episode.pk}/edit/"))
    assert version_of(html) == str(episode.version)
    assert f'value="{episode.lmp.isoformat()}"' in html and 'type="hidden" name="version"' in html


def test_a_correction_is_saved_and_bumps_the_version(login, episode):
    response = login("clinician.thc1").post(
        f"/maternal/{episode.pk}/edit/", edit_data(episode, gravidity="3", parity="1", height_cm="158")
    )
    assert response.status_code == 302 and response["Location"] == f"/maternal/{episode.pk}/"
    after = Pregnancy.unscoped.get(pk=episode.pk)
    assert (after.gravidity, after.parity, str(after.height_cm)) == (3, 1, "158.0")
    assert after.version == episode.version + 1


def test_an_impossible_history_is_refused_beside_its_field_and_nothing_changes(login, episode):
    html = light(
        login("clinician.thc1").post(f"/maternal/{episode.pk}/edit/", edit_data(episode, gravidity="2", parity="2"))
    )
    assert re.search(r'class="field-error" role="alert">[^<]*(parity|产次)', html), field_errors(html)
    after = Pregnancy.unscoped.get(pk=episode.pk)
    assert (after.gravidity, after.parity, after.version) == (1, 0, episode.version)


def test_a_stale_version_asks_for_a_reload_and_changes_nothing(login, actors, episode):
    """P10: nobody overwrites a change they did not see; the second writer is told to reload."""
    client = login("clinician.thc1")
    opened = version_of(light(client.get(f"/maternal/{episode.pk}/edit/")))
    # Meanwhile a colleague corrects the height.
    pregnancy_update(actor=actors["clinician.thc1"], pregnancy_id=episode.pk, height_cm=160)
    html = light(client.post(f"/maternal/{episode.pk}/edit/", edit_data(episode, gravidity="4", parity="2")))
    assert STALE in html and "alert-danger" in html
    after = Pregnancy.unscoped.get(pk=episode.pk)
    assert (after.gravidity, after.parity, after.version) == (1, 0, int(opened) + 1)
    assert str(after.height_cm) == "160.0"  # the colleague's change stands


def test_a_correction_without_a_version_is_refused(login, episode):
    data = edit_data(episode, gravidity="3", parity="1")
    del data["version"]
    html = light(login("clinician.thc1").post(f"/maternal/{episode.pk}/edit/", data))
    assert field_errors(html)
    assert Pregnancy.unscoped.get(pk=episode.pk).gravidity == 1


@pytest.mark.parametrize("path", ["edit/", "close/"])
@pytest.mark.parametrize("username", ["clinician.thc2", "clinician.mch", "leader.thc1", "info.mch"])
def test_episode_pages_are_not_found_beyond_the_owner_s_writers(login, episode, path, username):
    """P15 (the owner's record), P17 (readers read): the same 404 as a pregnancy that does not exist."""
    client = login(username)
    assert client.get(f"/maternal/{episode.pk}/{path}").status_code == 404
    refused = client.post(f"/maternal/{episode.pk}/{path}", edit_data(episode, gravidity="3", parity="1"))
    missing = client.post(f"/maternal/{uuid.uuid4()}/{path}", edit_data(episode, gravidity="3", parity="1"))
    assert same_not_found(refused, missing)
    after = Pregnancy.unscoped.get(pk=episode.pk)
    assert (after.gravidity, after.state, after.version) == (1, "active", episode.version)


# --- closing ------------------------------------------------------------------------------------------


def test_closing_an_episode_for_a_miscarriage(login, episode, today):
    client = login("clinician.thc1")
    html = light(client.get(f"/maternal/{episode.pk}/close/"))
    response = client.post(
        f"/maternal/{episode.pk}/close/",
        {"reason": "miscarriage", "on": today.isoformat(), "version": version_of(html)},
    )
    assert response.status_code == 302
    after = Pregnancy.unscoped.get(pk=episode.pk)
    assert (after.state, after.end_reason, after.ended_on) == ("ended", "miscarriage", today)
    html = light(client.get(response["Location"]))
    assert f"/maternal/{episode.pk}/close/" not in html and f"/maternal/{episode.pk}/visit/" not in html


def test_a_closing_date_in_the_future_is_refused_beside_its_field(login, episode, today):
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{episode.pk}/close/",
            {"reason": "moved_out", "on": (today + timedelta(days=1)).isoformat(), "version": str(episode.version)},
        )
    )
    assert re.search(r'class="field-error" role="alert">', html)
    assert Pregnancy.unscoped.get(pk=episode.pk).state == "active"


def test_closing_with_a_stale_version_changes_nothing(login, actors, episode, today):
    visit_record(actor=actors["clinician.thc1"], pregnancy_id=episode.pk, visit_on=today, hb_g_l=118)
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{episode.pk}/close/",
            {"reason": "moved_out", "on": today.isoformat(), "version": str(episode.version)},
        )
    )
    assert STALE in html
    assert Pregnancy.unscoped.get(pk=episode.pk).state == "active"


# --- PMTCT results (L5) -----------------------------------------------------------------------------


@pytest.fixture
def county_episode(register):
    """Managed by the county MCH hospital, whose PMTCT officer is cleared for L5."""
    return register("clinician.mch", name="李春梅").pregnancy


def pmtct_cell(html: str) -> str:
    return re.search(r'<td colspan="3" id="pmtct">(.*?)</td>', html, re.S).group(1)


def test_the_pmtct_officer_records_the_results_and_sees_them(login, county_episode):
    """P14: PMTCT screening is recorded in the one system, on the woman's episode; P17: the
    PMTCT officer (L5) enters and reads HIV, syphilis and hepatitis B results."""
    client = login("pmtct.mch")
    page = light(client.get(f"/maternal/{county_episode.pk}/"))
    assert f"/maternal/{county_episode.pk}/infections/" in page
    html = light(client.get(f"/maternal/{county_episode.pk}/infections/"))
    response = client.post(
        f"/maternal/{county_episode.pk}/infections/",
        {"hiv": "negative", "syphilis": "positive", "hbsag": "negative", "version": version_of(html)},
    )
    assert response.status_code == 302
    after = Pregnancy.unscoped.get(pk=county_episode.pk)
    assert (after.hiv_result, after.syphilis_result, after.hbsag_result) == ("negative", "positive", "negative")
    assert "阳性" in pmtct_cell(light(client.get(response["Location"])))


def test_below_l5_the_results_are_withheld_and_the_page_does_not_exist(login, actors, county_episode):
    """P17: a clinician (L4) of the same institution sees a withheld marker, no link, no value,
    and the page answers exactly as for a pregnancy that does not exist (P10)."""
    from mchis.maternal.services import infection_results_record

    infection_results_record(actor=actors["pmtct.mch"], pregnancy_id=county_episode.pk, hiv="positive")
    client = login("clinician.mch")
    page = light(client.get(f"/maternal/{county_episode.pk}/"))
    cell = pmtct_cell(page)
    assert "withheld-note" in cell and "阳性" not in cell and "阴性" not in cell
    assert f"/maternal/{county_episode.pk}/infections/" not in page
    data = {"hiv": "negative", "version": "2"}
    refused = client.post(f"/maternal/{county_episode.pk}/infections/", data)
    missing = client.post(f"/maternal/{uuid.uuid4()}/infections/", data)
    assert same_not_found(refused, missing)
    assert client.get(f"/maternal/{county_episode.pk}/infections/").status_code == 404
    assert Pregnancy.unscoped.get(pk=county_episode.pk).hiv_result == "positive"


def test_the_pmtct_officer_of_another_county_institution_does_not_reach_a_township_s_woman(login, episode):
    """P15: L5 clearance does not widen the reach: the township's episode is not found."""
    client = login("pmtct.mch")
    assert client.get(f"/maternal/{episode.pk}/infections/").status_code == 404
    assert client.post(f"/maternal/{episode.pk}/infections/", {"hiv": "positive", "version": "1"}).status_code == 404
    assert Pregnancy.unscoped.get(pk=episode.pk).hiv_result is None


def test_a_pmtct_officer_who_may_only_look_gets_no_results_page(login, actors, episode):
    """P15: asked to accept a transfer, the county MCH hospital may look at the episode before
    deciding, not record in it: its PMTCT officer reads the results (L5) but has no entry page."""
    from mchis.maternal.services import transfer_request

    transfer_request(
        actor=actors["clinician.thc1"], pregnancy_id=episode.pk, to_institution_id=actors["pmtct.mch"].institution_id
    )
    client = login("pmtct.mch")
    page = light(client.get(f"/maternal/{episode.pk}/"))
    assert "withheld-note" not in pmtct_cell(page) and f"/maternal/{episode.pk}/infections/" not in page
    assert client.get(f"/maternal/{episode.pk}/infections/").status_code == 404
    assert client.post(f"/maternal/{episode.pk}/infections/", {"hiv": "positive", "version": "2"}).status_code == 404
    assert Pregnancy.unscoped.get(pk=episode.pk).hiv_result is None


def test_no_result_given_is_refused_and_a_stale_version_changes_nothing(login, actors, county_episode):
    client = login("pmtct.mch")
    html = light(client.post(f"/maternal/{county_episode.pk}/infections/", {"version": str(county_episode.version)}))
    assert field_errors(html)
    visit_record(actor=actors["clinician.mch"], pregnancy_id=county_episode.pk, visit_on=timezone.localdate())
    html = light(
        client.post(
            f"/maternal/{county_episode.pk}/infections/", {"hiv": "positive", "version": str(county_episode.version)}
        )
    )
    assert STALE in html
    assert Pregnancy.unscoped.get(pk=county_episode.pk).hiv_result is None


# --- grading from a visit -----------------------------------------------------------------------------


@pytest.fixture
def two_visits(actors, register, today):
    """Severe anaemia at an earlier visit (Hb 55, orange), normal Hb at the latest one."""
    p = register("clinician.thc1", weeks=24).pregnancy
    clinician = actors["clinician.thc1"]
    early = visit_record(actor=clinician, pregnancy_id=p.pk, visit_on=today - timedelta(days=21), hb_g_l=55).visit
    visit_record(actor=clinician, pregnancy_id=p.pk, visit_on=today, hb_g_l=122)
    return p, early


def test_grading_from_a_visit_proposes_and_records_for_that_visit(login, two_visits):
    p, early = two_visits
    client = login("clinician.thc1")
    page = light(client.get(f"/maternal/{p.pk}/"))
    link = f"/maternal/{p.pk}/grading/?visit={early.pk}"
    assert link in page
    assert "risk-orange" not in light(client.get(f"/maternal/{p.pk}/grading/")).split(FORM)[0]
    html = light(client.get(link))
    assert "risk-orange" in html.split(FORM)[0] and early.visit_on.isoformat() in html
    assert f'name="visit_id" value="{early.pk}"' in html
    response = client.post(link, {"colour": "orange", "visit_id": str(early.pk)})
    assert response.status_code == 302
    grading = RiskGrading.unscoped.get(pregnancy_id=p.pk)
    assert (grading.visit_id, grading.assessed_on, grading.proposed_colour) == (early.pk, early.visit_on, "orange")


def test_grading_from_a_visit_below_its_proposal_is_refused(login, two_visits):
    p, early = two_visits
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{p.pk}/grading/?visit={early.pk}", {"colour": "green", "visit_id": str(early.pk)}
        )
    )
    assert field_errors(html)
    assert not RiskGrading.unscoped.filter(pregnancy_id=p.pk).exists()


def test_a_visit_of_another_episode_or_none_is_not_found(login, register, two_visits):
    p, early = two_visits
    other = register("clinician.thc1").pregnancy
    client = login("clinician.thc1")
    assert client.get(f"/maternal/{other.pk}/grading/?visit={early.pk}").status_code == 404
    assert client.get(f"/maternal/{p.pk}/grading/?visit={uuid.uuid4()}").status_code == 404
    assert client.post(f"/maternal/{p.pk}/grading/", {"colour": "red", "visit_id": "x"}).status_code == 404
    assert not RiskGrading.unscoped.filter(pregnancy_id=p.pk).exists()


# --- delivery with any number of babies, discharge ----------------------------------------------------


def baby(i: int, **values) -> dict:
    defaults = {"outcome": "live_birth", "sex": "2", "birth_weight_g": "2300", "length_cm": "45"}
    defaults.update(values)
    return {f"baby-{i}-{k}": v for k, v in defaults.items()}


def delivery_data(today, *babies: dict, total: int | None = None, **extra) -> dict:
    data = {
        "delivered_at": f"{(today - timedelta(days=1)).isoformat()}T08:30",
        "place_type": "institution",
        "mode": "caesarean",
        "maternal_outcome": "well",
        "blood_loss_ml": "400",
        "baby-TOTAL_FORMS": str(total if total is not None else len(babies)),
        "baby-INITIAL_FORMS": "0",
    }
    for b in babies:
        data.update(b)
    data.update(extra)
    return data


@pytest.fixture
def term(register):
    return register("clinician.thc1", name="王秀英", weeks=36).pregnancy


def test_triplets_are_three_children_in_the_registry(login, term, today):
    client = login("clinician.thc1")
    html = light(client.get(f"/maternal/{term.pk}/delivery/?babies=3"))
    assert 'name="baby-TOTAL_FORMS" value="3"' in html and 'name="baby-2-outcome"' in html
    persons = Person.unscoped.count()
    response = client.post(
        f"/maternal/{term.pk}/delivery/",
        delivery_data(today, baby(0, sex="1"), baby(1), baby(2, sex="1", birth_weight_g="1900")),
    )
    assert response.status_code == 302, field_errors(response.content.decode())
    delivery = Delivery.unscoped.get(pregnancy_id=term.pk)
    babies = list(DeliveryBaby.unscoped.filter(delivery=delivery).order_by("order"))
    assert [(b.order, b.sex, b.birth_weight_g) for b in babies] == [(1, 1, 2300), (2, 2, 2300), (3, 1, 1900)]
    assert all(b.child_id for b in babies) and Person.unscoped.count() == persons + 3
    children = Person.unscoped.filter(pk__in=[b.child_id for b in babies])
    assert sorted(c.name for c in children) == ["王秀英之三子", "王秀英之次女", "王秀英之长子"]
    assert {c.birth_date for c in children} == {today - timedelta(days=1)}


def test_adding_a_baby_keeps_what_was_typed_and_saves_nothing(login, term, today):
    client = login("clinician.thc1")
    html = light(
        client.post(
            f"/maternal/{term.pk}/delivery/",
            delivery_data(today, baby(0, birth_weight_g="2450"), babies_resize="add"),
        )
    )
    assert 'name="baby-TOTAL_FORMS" value="2"' in html and 'name="baby-1-outcome"' in html
    assert 'value="2450"' in html and 'value="caesarean" selected' in html
    assert not field_errors(html)
    html = light(
        client.post(f"/maternal/{term.pk}/delivery/", delivery_data(today, baby(0), baby(1), babies_resize="remove"))
    )
    assert 'name="baby-TOTAL_FORMS" value="1"' in html and 'name="baby-1-outcome"' not in html
    assert not Delivery.unscoped.filter(pregnancy_id=term.pk).exists()


def test_the_forms_open_with_the_fetuses_counted_at_the_last_visit(login, actors, term, today):
    visit_record(actor=actors["clinician.thc1"], pregnancy_id=term.pk, visit_on=today, fetuses=2)
    html = light(login("clinician.thc1").get(f"/maternal/{term.pk}/delivery/"))
    assert 'name="baby-TOTAL_FORMS" value="2"' in html


def test_a_refused_third_baby_is_shown_on_its_form_and_nothing_is_saved(login, term, today):
    persons = Person.unscoped.count()
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{term.pk}/delivery/",
            delivery_data(today, baby(0), baby(1), baby(2, birth_weight_g="")),
        )
    )
    # The live-born baby's weight is required: the message sits in the third baby's fieldset.
    fieldsets = html.split("<fieldset")
    assert len(fieldsets) == 4 and "field-error" in fieldsets[3] and "field-error" not in fieldsets[1]
    assert not Delivery.unscoped.filter(pregnancy_id=term.pk).exists() and Person.unscoped.count() == persons


def test_more_babies_than_the_service_accepts_are_refused(login, term, today):
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{term.pk}/delivery/", delivery_data(today, *(baby(i) for i in range(7)))
        )
    )
    assert "alert-danger" in html
    assert not Delivery.unscoped.filter(pregnancy_id=term.pk).exists()


def test_the_delivery_page_is_not_found_for_readers_and_other_townships(login, term, today):
    for username in ("clinician.thc2", "leader.thc1"):
        client = login(username)
        assert client.get(f"/maternal/{term.pk}/delivery/").status_code == 404
        assert client.post(f"/maternal/{term.pk}/delivery/", delivery_data(today, baby(0))).status_code == 404
    assert not Delivery.unscoped.filter(pregnancy_id=term.pk).exists()


@pytest.fixture
def delivered(actors, term, today):
    clinician = actors["clinician.thc1"]
    at = min(timezone.make_aware(datetime.combine(today - timedelta(days=2), time(10))), timezone.now())
    delivery_record(
        actor=clinician,
        pregnancy_id=term.pk,
        delivered_at=at,
        place_type="institution",
        institution_id=clinician.institution_id,
        mode="spontaneous",
        babies=[{"outcome": "live_birth", "sex": 2, "birth_weight_g": 3100}],
    )
    return Pregnancy.unscoped.get(pk=term.pk)


def test_the_discharge_is_recorded_when_the_delivery_left_it_empty(login, delivered, today):
    client = login("clinician.thc1")
    assert f"/maternal/{delivered.pk}/discharge/" in light(client.get(f"/maternal/{delivered.pk}/"))
    html = light(client.get(f"/maternal/{delivered.pk}/discharge/"))
    bad = client.post(
        f"/maternal/{delivered.pk}/discharge/",
        {"discharged_on": (today - timedelta(days=5)).isoformat(), "version": version_of(html)},
    )
    assert field_errors(light(bad))  # before the delivery
    assert Delivery.unscoped.get(pregnancy_id=delivered.pk).discharged_on is None
    response = client.post(
        f"/maternal/{delivered.pk}/discharge/", {"discharged_on": today.isoformat(), "version": version_of(html)}
    )
    assert response.status_code == 302
    assert Delivery.unscoped.get(pregnancy_id=delivered.pk).discharged_on == today
    assert Pregnancy.unscoped.get(pk=delivered.pk).next_contact_due == today + timedelta(days=7)
    assert f"/maternal/{delivered.pk}/discharge/" not in light(client.get(response["Location"]))


def test_a_stale_discharge_changes_nothing(login, delivered, today):
    html = light(
        login("clinician.thc1").post(
            f"/maternal/{delivered.pk}/discharge/",
            {"discharged_on": today.isoformat(), "version": str(delivered.version - 1)},
        )
    )
    assert STALE in html
    assert Delivery.unscoped.get(pregnancy_id=delivered.pk).discharged_on is None


def test_the_discharge_page_is_not_found_for_another_township(login, delivered, today):
    client = login("clinician.thc2")
    data = {"discharged_on": today.isoformat(), "version": str(delivered.version)}
    assert same_not_found(
        client.post(f"/maternal/{delivered.pk}/discharge/", data),
        client.post(f"/maternal/{uuid.uuid4()}/discharge/", data),
    )
    assert Delivery.unscoped.get(pregnancy_id=delivered.pk).discharged_on is None


@pytest.mark.parametrize("path", ["edit/", "close/", "referral/", "delivery/", "grading/"])
def test_the_form_pages_do_not_repeat_her_identifiers(login, episode, path):
    """P20: full identifiers only where the task needs them (her own page, audited there)."""
    person = Person.unscoped.get(pk=episode.person_id)
    html = light(login("clinician.thc1").get(f"/maternal/{episode.pk}/{path}"))
    assert person.name not in html and person.document_number not in html and person.phone not in html


def test_the_pregnancy_page_stays_light_with_everything_on_it(login, actors, two_visits):
    """Old PCs: the fullest page is still well under 200 KB."""
    p, _early = two_visits
    from mchis.maternal.services import risk_grade

    risk_grade(actor=actors["clinician.thc1"], pregnancy_id=p.pk, colour="red", reason="心脏病")
    assert AntenatalVisit.unscoped.filter(pregnancy_id=p.pk).count() == 2
    html = light(login("clinician.thc1").get(f"/maternal/{p.pk}/"))
    assert "high-risk-case" in html and "style=" not in html and "<script>" not in html


def form_values(html: str) -> dict:
    """What a browser would send back for the form as rendered (inputs and selected options)."""
    data: dict = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and "csrf" not in name.group(1):
            data[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        data[name] = re.findall(r'<option value="([^"]*)"[^>]*selected', body)
    return data


def test_saving_the_form_unchanged_changes_nothing(login, episode):
    client = login("clinician.thc1")
    data = form_values(light(client.get(f"/maternal/{episode.pk}/edit/")))
    response = client.post(f"/maternal/{episode.pk}/edit/", data, follow=True)
    assert "没有修改" in response.content.decode()  # "Nothing was changed."
    assert Pregnancy.unscoped.get(pk=episode.pk).version == episode.version
