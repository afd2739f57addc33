"""`/api/v1/pregnancies/` and its sub-resources (issue 5 item 8): idempotent registration and
recording, validation errors naming field and rule, warnings in the body, ETag/If-Match on the
episode, not found = not allowed, PMTCT results withheld below L5 (P10, P15, P17, P20)."""

import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone

from mchis.maternal.models import Pregnancy
from mchis.people.identifiers import id_make

pytestmark = pytest.mark.django_db

PREGNANCIES = "/api/v1/pregnancies/"


def woman(actors, *, seq=11, weeks=10, username="clinician.thc1", **changes):
    area = actors[username].institution.region_path.split("/")[4][:6]
    born = date(1994, 6, seq)
    body = {
        "document_type": "resident_id",
        "document_number": id_make(area_code=area, born=born, sequence=seq * 2),
        "name": "李秀兰",
        "birth_date": born.isoformat(),
        "phone": "13900001111",
        "address": "某村5号",
        "lmp": (timezone.localdate() - timedelta(weeks=weeks)).isoformat(),
        "gravidity": 1,
        "parity": 0,
    }
    return body | changes


@pytest.fixture
def episode(thc1_system, actors):
    response = thc1_system.post(PREGNANCIES, woman(actors))
    assert response.status_code == 201, response.content
    return response.json()


def visit(**changes):
    return {
        "visit_on": timezone.localdate().isoformat(),
        "systolic_bp": 118,
        "diastolic_bp": 76,
        "hb_g_l": 120,
    } | changes


# --- registration -------------------------------------------------------------------------------


def test_registration_answers_201_with_etag_location_and_warnings(thc1_system, actors):
    response = thc1_system.post(PREGNANCIES, woman(actors))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and response["ETag"] == '"1"'
    assert response["Location"] == f"{PREGNANCIES}{body['id']}/"
    assert body["state"] == "active" and body["person_created"] is True and body["warnings"] == []
    assert body["edd"] == (date.fromisoformat(woman(actors)["lmp"]) + timedelta(days=280)).isoformat()


def test_registration_is_idempotent_a_replay_returns_the_same_body_and_one_pregnancy(thc1_system, actors):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = thc1_system.post(PREGNANCIES, woman(actors), headers=key)
    again = thc1_system.post(PREGNANCIES, woman(actors), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Pregnancy.unscoped.filter(pk=first.json()["id"]).count() == 1
    assert Pregnancy.unscoped.filter(person_id=first.json()["person_id"]).count() == 1


def test_a_replay_is_refused_once_the_episode_is_out_of_reach(thc1_system, actors):
    """The stored answer holds her identity: after the episode moved to another institution,
    a retry gets the 404 of any record out of reach, not the stored body (P2)."""
    from mchis.maternal.services import transfer_accept, transfer_request

    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = thc1_system.post(PREGNANCIES, woman(actors), headers=key)
    assert first.status_code == 201
    moved = transfer_request(
        actor=actors["clinician.thc1"],
        pregnancy_id=first.json()["id"],
        to_institution_id=actors["clinician.thc2"].institution_id,
    ).obj
    transfer_accept(actor=actors["clinician.thc2"], transfer_id=moved.pk)
    again = thc1_system.post(PREGNANCIES, woman(actors), headers=key)
    absent = thc1_system.get(f"{PREGNANCIES}{uuid.uuid4()}/")
    assert (again.status_code, again.content) == (404, absent.content)
    assert "Idempotent-Replayed" not in again


def test_registration_refusal_names_each_field_in_chinese_by_default(thc1_system, actors):
    response = thc1_system.post(PREGNANCIES, woman(actors, gravidity="two", lmp="not-a-date"))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"gravidity", "lmp"} <= set(errors)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["detail"] + "".join(errors["gravidity"]))


def test_list_is_paged_for_the_institution_with_masked_identifiers(thc1_system, actors, episode):
    response = thc1_system.get(PREGNANCIES, page_size=5)
    assert response.status_code == 200
    body = response.json()
    assert body["page"] == 1 and body["page_size"] == 5 and body["count"] >= 1
    row = next(r for r in body["results"] if r["id"] == episode["id"])
    assert row["name_masked"] == "李*兰"
    assert "*" in row["document_masked"] and row["document_masked"] != woman(actors)["document_number"]
    assert thc1_system.get(PREGNANCIES, page_size=500).status_code == 400


# --- the episode: ETag and If-Match -------------------------------------------------------------


def test_get_carries_the_version_as_etag(thc1_system, episode):
    response = thc1_system.get(f"{PREGNANCIES}{episode['id']}/")
    assert response.status_code == 200 and response["ETag"] == '"1"'
    assert response.json()["id"] == episode["id"]


def test_patch_without_if_match_is_428(thc1_system, episode):
    response = thc1_system.patch(f"{PREGNANCIES}{episode['id']}/", {"gravidity": 2})
    assert response.status_code == 428
    assert list(response.json()["errors"]) == ["If-Match"]


def test_patch_with_the_current_etag_changes_and_a_stale_one_is_412_and_changes_nothing(thc1_system, episode):
    url = f"{PREGNANCIES}{episode['id']}/"
    ok = thc1_system.patch(url, {"gravidity": 2}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200, ok.content
    assert ok["ETag"] == '"2"' and ok.json()["gravidity"] == 2
    stale = thc1_system.patch(url, {"gravidity": 3}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale["ETag"] == '"2"'
    assert Pregnancy.unscoped.get(pk=episode["id"]).gravidity == 2


# --- visits ---------------------------------------------------------------------------------------


def test_a_visit_is_recorded_idempotently_and_moves_the_version(thc1_system, episode):
    url = f"{PREGNANCIES}{episode['id']}/visits/"
    key = {"Idempotency-Key": "anc-0001"}
    first = thc1_system.post(url, visit(), headers=key)
    assert first.status_code == 201, first.content
    again = thc1_system.post(url, visit(), headers=key)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    body = first.json()
    assert body["pregnancy_version"] == 2 and first["ETag"] == '"2"'
    assert body["systolic_bp"] == 118 and body["contact"] == "anc1" and body["warnings"] == []
    listed = thc1_system.get(url)
    assert listed.status_code == 200 and listed["ETag"] == '"2"'
    assert [v["id"] for v in listed.json()["results"]] == [body["id"]]


def test_an_impossible_systolic_is_400_naming_the_field_and_nothing_is_saved(thc1_system, episode):
    url = f"{PREGNANCIES}{episode['id']}/visits/"
    response = thc1_system.post(url, visit(systolic_bp=300))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["systolic_bp"] and "300" in errors["systolic_bp"][0]
    english = thc1_system.post(url, visit(systolic_bp=300), headers={"Accept-Language": "en"})
    assert "systolic" in english.json()["errors"]["systolic_bp"][0]
    assert thc1_system.get(url).json()["count"] == 0


def test_a_field_the_api_does_not_take_is_400_naming_it_and_nothing_is_saved(thc1_system, episode):
    """A misspelt field is not dropped silently (the client would believe it recorded)."""
    url = f"{PREGNANCIES}{episode['id']}/visits/"
    response = thc1_system.post(url, visit(systolicBp=118, notes="头痛"))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"systolicBp", "notes"} and "字段" in errors["notes"][0]
    assert thc1_system.get(url).json()["count"] == 0
    # Inside a list of objects too, beside the body's other errors.
    delivery = {"mode": "spontaneous", "babies": [{"outcome": "live_birth", "sex": 2, "weight": 3200}]}
    response = thc1_system.post(f"{PREGNANCIES}{episode['id']}/delivery/", delivery)
    assert response.status_code == 400
    assert {"babies.0.weight", "delivered_at", "place_type"} <= set(response.json()["errors"])


def test_unusual_values_are_accepted_with_warnings_in_the_body(thc1_system, episode):
    response = thc1_system.post(f"{PREGNANCIES}{episode['id']}/visits/", visit(systolic_bp=165, hb_g_l=65))
    assert response.status_code == 201, response.content
    body = response.json()
    assert {w["field"] for w in body["warnings"]} >= {"systolic_bp", "hb_g_l"}
    assert all(w["message"] for w in body["warnings"])
    assert set(body["unusual"]) >= {"systolic_bp", "hb_g_l"}


def test_visit_if_match_is_optional_but_checked_when_sent(thc1_system, episode):
    url = f"{PREGNANCIES}{episode['id']}/visits/"
    stale = thc1_system.post(url, visit(), headers={"If-Match": '"7"'})
    assert stale.status_code == 412 and stale["ETag"] == '"1"'
    assert thc1_system.post(url, visit(), headers={"If-Match": '"1"'}).status_code == 201


# --- risk grading, delivery, postpartum -----------------------------------------------------------


def test_grading_confirms_the_proposal_and_a_raise_opens_a_case(thc1_system, episode):
    url = f"{PREGNANCIES}{episode['id']}/risk-gradings/"
    confirmed = thc1_system.post(url, {})
    assert confirmed.status_code == 201, confirmed.content
    assert confirmed.json()["colour"] == "green" and confirmed.json()["case_opened"] is False
    raised = thc1_system.post(url, {"colour": "orange", "reason": "既往子痫前期"})
    assert raised.status_code == 201, raised.content
    assert raised.json()["case_opened"] is True and raised.json()["high_risk_case_id"]
    no_reason = thc1_system.post(url, {"colour": "red"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    assert [g["colour"] for g in thc1_system.get(url).json()["results"]] == ["green", "orange"]


def test_delivery_creates_children_and_postpartum_care_closes_the_episode(thc1_system, actors):
    today = timezone.localdate()
    registered = {
        "lmp": (today - timedelta(days=310)).isoformat(),
        "registered_on": (today - timedelta(days=200)).isoformat(),
    }
    made = thc1_system.post(PREGNANCIES, woman(actors, seq=12) | registered)
    assert made.status_code == 201, made.content
    pid = made.json()["id"]
    delivery_url = f"{PREGNANCIES}{pid}/delivery/"
    assert thc1_system.get(delivery_url).status_code == 404
    delivered_at = timezone.localtime(timezone.now() - timedelta(days=44))
    body = {
        "delivered_at": delivered_at.isoformat(),
        "place_type": "institution",
        "institution_id": actors["clinician.thc1"].institution_id,
        "mode": "spontaneous",
        "blood_loss_ml": 200,
        "babies": [
            {"outcome": "live_birth", "sex": 2, "birth_weight_g": 3200, "length_cm": 50, "apgar_1": 9, "apgar_5": 10},
            {"outcome": "stillbirth", "sex": 1, "birth_weight_g": 2100},
        ],
        "discharged_on": (delivered_at.date() + timedelta(days=2)).isoformat(),
    }
    response = thc1_system.post(delivery_url, body, headers={"Idempotency-Key": "delivery-1"})
    assert response.status_code == 201, response.content
    babies = response.json()["babies"]
    assert babies[0]["child_id"] and babies[1]["child_id"] is None
    assert thc1_system.get(f"/api/v1/persons/{babies[0]['child_id']}/").status_code == 200
    assert thc1_system.get(delivery_url).json()["id"] == response.json()["id"]
    pp_url = f"{PREGNANCIES}{pid}/postpartum-visits/"
    home = thc1_system.post(
        pp_url, {"visit_on": (delivered_at.date() + timedelta(days=5)).isoformat(), "kind": "home_visit"}
    )
    assert home.status_code == 201, home.content
    assert home.json()["closed"] is False
    check_on = (delivered_at.date() + timedelta(days=42)).isoformat()
    check = thc1_system.post(pp_url, {"visit_on": check_on, "kind": "check_42", "finding": "normal"})
    assert check.status_code == 201, check.content
    assert check.json()["closed"] is True
    assert thc1_system.get(pp_url).json()["count"] == 2
    assert thc1_system.get(f"{PREGNANCIES}{pid}/").json()["state"] == "closed"


# --- reach and clearance --------------------------------------------------------------------------


def test_another_institutions_machine_client_gets_the_same_404_as_for_an_absent_episode(make_client, episode):
    other = make_client("clinician.other")
    absent = other.get(f"{PREGNANCIES}{uuid.uuid4()}/")
    assert absent.status_code == 404
    for path in ("", "visits/", "risk-gradings/", "delivery/", "postpartum-visits/"):
        response = other.get(f"{PREGNANCIES}{episode['id']}/{path}")
        assert response.status_code == 404 and response.content == absent.content, path
    written = other.post(f"{PREGNANCIES}{episode['id']}/visits/", visit())
    assert written.status_code == 404 and written.content == absent.content
    assert other.get(PREGNANCIES).json()["count"] == 0


def test_a_refused_idempotent_write_keeps_its_refusal_on_the_trail(make_client, episode):
    """The refusal is written inside the idempotent call's transaction, which rolls back; it is
    written again once the call is over, naming the episode asked for (P10)."""
    from mchis.audit.models import AuditEvent

    other = make_client("clinician.other")
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    written = other.post(f"{PREGNANCIES}{episode['id']}/visits/", visit(), headers={"Idempotency-Key": "refused-1"})
    assert written.status_code == 404
    events = list(AuditEvent.objects.filter(id__gt=last).order_by("id"))
    assert [(e.action, e.object_type, e.object_ids) for e in events] == [("deny", "maternal.pregnancy", episode["id"])]


def test_pmtct_results_are_withheld_from_a_clinician_without_l5(thc1_system, episode):
    body = thc1_system.get(f"{PREGNANCIES}{episode['id']}/").json()
    assert {"hiv_result", "syphilis_result", "hbsag_result"} <= set(body["withheld"])
    assert body["hiv_result"] is None


def test_a_pmtct_officer_client_sees_the_results(make_client, actors):
    from mchis.maternal.services import infection_results_record

    officer_client = make_client("pmtct.mch", role="pmtct_officer")
    made = officer_client.post(PREGNANCIES, woman(actors, seq=13, username="pmtct.mch"))
    assert made.status_code == 201, made.content
    officer = actors["pmtct.mch"]
    infection_results_record(actor=officer, pregnancy_id=made.json()["id"], hiv="negative")
    body = officer_client.get(f"{PREGNANCIES}{made.json()['id']}/").json()
    assert body["hiv_result"] == "negative" and "hiv_result" not in body["withheld"]


def test_the_schema_documents_the_maternal_resources(thc1_system):
    import yaml

    schema = yaml.safe_load(thc1_system.get("/api/v1/schema/").content)
    paths = schema["paths"]
    for sub in ("visits", "risk-gradings", "delivery", "postpartum-visits"):
        post = paths[f"/api/v1/pregnancies/{{id}}/{sub}/"]["post"]
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert {"Idempotency-Key", "If-Match"} <= headers
    assert {"412", "428"} <= set(paths["/api/v1/pregnancies/{id}/"]["patch"]["responses"])
    assert "Idempotency-Key" in {p["name"] for p in paths["/api/v1/pregnancies/"]["post"]["parameters"]}
