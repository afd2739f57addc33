"""`/api/v1/persons/` and the API conventions it follows: idempotent creation, ETag and
If-Match, validation errors naming field and rule in the client's language, not found = not
allowed (issue 5 item 8; P10, P11, P15, P17, P20)."""

import json
import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone, translation

from mchis.api.idempotency import idempotency_prune
from mchis.api.models import ApiClient, IdempotencyRecord
from mchis.audit.models import AuditEvent
from mchis.people.identifiers import id_make
from mchis.people.selectors import person_find_by_document

pytestmark = pytest.mark.django_db

PERSONS = "/api/v1/persons/"


def new_woman(actors, seq=7, **changes):
    area = actors["clinician.thc1"].institution.region_path.split("/")[4][:6]
    born = date(1990, 3, seq)
    body = {
        "document_type": "resident_id",
        "document_number": id_make(area_code=area, born=born, sequence=seq * 2),
        "name": "丁女士",
        "sex": 2,
        "birth_date": born.isoformat(),
        "phone": "13700001111",
        "address": "某村2号",
    }
    return body | changes


def wrong_check_character(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


# --- registration and idempotency -------------------------------------------------------------


def test_registering_answers_201_with_the_person_etag_and_location(thc1_system, actors):
    response = thc1_system.post(PERSONS, new_woman(actors))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "丁女士" and body["version"] == 1 and body["withheld"] == []
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"{PERSONS}{body['id']}/"
    assert "Idempotent-Replayed" not in response


def test_a_woman_registered_in_the_county_is_found_and_answered_200(thc1_system, make_client, actors, persons):
    # P_a is registered at the county MCH hospital; the township centre registers her again.
    p_a = person_find_by_document(
        actor=actors["clinician.mch"], document_number=persons["P_a"].document_number, purpose="care"
    )
    body = {
        "document_type": "resident_id",
        "document_number": p_a.document_number,
        "name": p_a.name,
        "sex": 2,
        "birth_date": p_a.birth_date.isoformat(),
    }
    response = thc1_system.post(PERSONS, body)
    assert response.status_code == 200
    assert response.json()["id"] == str(persons["P_a"].pk)


def test_a_retry_with_the_same_key_replays_the_answer_and_creates_nothing(thc1_system, actors):
    body = new_woman(actors)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = thc1_system.post(PERSONS, body, headers=key)
    creates = AuditEvent.objects.filter(action="create", object_type="people.person").count()
    again = thc1_system.post(PERSONS, body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["ETag"] == first["ETag"] and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="create", object_type="people.person").count() == creates
    # The replay is audited as a read of the person it shows again (P10).
    replay = AuditEvent.objects.filter(reason="idempotent replay").get()
    assert replay.object_ids == first.json()["id"]


def test_a_retry_re_serialised_in_another_key_order_is_the_same_request(thc1_system, actors):
    body = new_woman(actors)
    key = {"Idempotency-Key": "visit-2024-0001"}
    first = thc1_system.post(PERSONS, body, headers=key)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = thc1_system.post(PERSONS, headers=key, raw=reordered)
    assert again.status_code == 201 and again.content == first.content


def test_the_same_key_with_another_request_is_refused_422_naming_the_header(thc1_system, actors):
    key = {"Idempotency-Key": "k-1"}
    assert thc1_system.post(PERSONS, new_woman(actors, seq=7), headers=key).status_code == 201
    other = new_woman(actors, seq=8)
    response = thc1_system.post(PERSONS, other, headers=key)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["Idempotency-Key"]
    actor = ApiClient.objects.get(pk=thc1_system.client_id).user
    assert person_find_by_document(actor=actor, document_number=other["document_number"], purpose="care") is None


def test_keys_belong_to_their_client(make_client, actors):
    one, two = make_client("clinician.thc1"), make_client("clinician.thc1")
    key = {"Idempotency-Key": "shared-key"}
    assert one.post(PERSONS, new_woman(actors, seq=7), headers=key).status_code == 201
    response = two.post(PERSONS, new_woman(actors, seq=8), headers=key)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "汉字"])
def test_a_malformed_key_is_refused_400(thc1_system, actors, key):
    response = thc1_system.post(PERSONS, new_woman(actors), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["Idempotency-Key"]


def test_a_refused_request_is_not_remembered_so_the_key_can_be_used_after_a_fix(thc1_system, actors):
    key = {"Idempotency-Key": "fix-me"}
    body = new_woman(actors)
    wrong = body | {"document_number": wrong_check_character(body["document_number"])}
    bad = thc1_system.post(PERSONS, wrong, headers=key)
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert thc1_system.post(PERSONS, body, headers=key).status_code == 201


def test_a_refused_idempotent_call_is_still_audited_P10(thc1_system, actors):
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    body = new_woman(actors)
    thc1_system.post(
        PERSONS,
        body | {"document_number": wrong_check_character(body["document_number"])},
        headers={"Idempotency-Key": "audit-me"},
    )
    event = AuditEvent.objects.filter(actor_id=user.pk).order_by("-id").first()
    assert (event.action, event.outcome, event.path) == ("create", "failed", PERSONS)


def test_stored_answers_are_encrypted_and_pruned_after_a_day(thc1_system, actors):
    thc1_system.post(PERSONS, new_woman(actors), headers={"Idempotency-Key": "prune-me"})
    record = IdempotencyRecord.objects.get()
    raw = IdempotencyRecord.objects.filter(pk=record.pk).values_list("response", flat=True)[0]
    assert "丁女士" not in repr(raw)
    assert idempotency_prune() == 0
    assert idempotency_prune(now=timezone.now() + timedelta(hours=24, seconds=1)) == 1


def test_an_expired_key_may_be_used_again(thc1_system, actors):
    key = {"Idempotency-Key": "old"}
    thc1_system.post(PERSONS, new_woman(actors, seq=7), headers=key)
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = thc1_system.post(PERSONS, new_woman(actors, seq=8), headers=key)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


# --- ETag and If-Match --------------------------------------------------------------------------


@pytest.fixture
def woman(thc1_system, actors):
    return thc1_system.post(PERSONS, new_woman(actors)).json()


def test_a_single_person_carries_her_version_as_etag(thc1_system, woman):
    response = thc1_system.get(f"{PERSONS}{woman['id']}/")
    assert response.status_code == 200 and response["ETag"] == '"1"'


def test_an_update_without_if_match_is_refused_428(thc1_system, woman):
    response = thc1_system.patch(f"{PERSONS}{woman['id']}/", {"phone": "13800002222"})
    assert response.status_code == 428
    assert list(response.json()["errors"]) == ["If-Match"]
    assert thc1_system.get(f"{PERSONS}{woman['id']}/").json()["phone"] == "13700001111"


def test_an_update_with_the_current_etag_changes_and_answers_the_new_one(thc1_system, woman):
    url = f"{PERSONS}{woman['id']}/"
    response = thc1_system.patch(url, {"phone": "13800002222"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "13800002222" and response["ETag"] == '"2"'


def test_a_stale_if_match_is_refused_412_and_nothing_changes(thc1_system, woman):
    url = f"{PERSONS}{woman['id']}/"
    assert thc1_system.patch(url, {"phone": "13800002222"}, headers={"If-Match": '"1"'}).status_code == 200
    stale = thc1_system.patch(url, {"address": "别的地方"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert list(stale.json()["errors"]) == ["If-Match"] and stale["ETag"] == '"2"'
    now = thc1_system.get(url).json()
    assert now["address"] == "某村2号" and now["version"] == 2


@pytest.mark.parametrize(("value", "code"), [("*", 428), ('W/"1"', 412), ("one", 400), ('"1", "2"', 400)])
def test_if_match_must_name_one_strong_etag(thc1_system, woman, value, code):
    response = thc1_system.patch(f"{PERSONS}{woman['id']}/", {"phone": "13800002222"}, headers={"If-Match": value})
    assert response.status_code == code


def test_a_validation_error_of_an_update_names_the_field(thc1_system, woman):
    response = thc1_system.patch(f"{PERSONS}{woman['id']}/", {"phone": "abc"}, headers={"If-Match": '"1"'})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["phone"]


# --- validation errors in the client's language ---------------------------------------------------


def test_a_wrong_check_character_is_named_with_its_rule_in_chinese_by_default(thc1_system, actors):
    body = new_woman(actors)
    body["document_number"] = wrong_check_character(body["document_number"])
    response = thc1_system.post(PERSONS, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["document_number"]
    english = "the check character (position 18) of the resident ID number is wrong (GB 11643, ISO 7064 MOD 11-2)"
    with translation.override("zh-hans"):
        chinese = translation.gettext(english)
    assert chinese != english and errors["document_number"] == [chinese]
    assert "document_number" in response.json()["detail"]


def test_errors_are_in_english_when_the_client_asks(thc1_system, actors):
    body = new_woman(actors)
    body["document_number"] = wrong_check_character(body["document_number"])
    response = thc1_system.post(PERSONS, body, headers={"Accept-Language": "en"})
    assert response.json()["errors"]["document_number"] == [
        "the check character (position 18) of the resident ID number is wrong (GB 11643, ISO 7064 MOD 11-2)"
    ]


def test_missing_and_mistyped_fields_are_each_named(thc1_system, actors):
    body = new_woman(actors)
    del body["name"]
    body["birth_date"] = "1990-13-45"
    response = thc1_system.post(PERSONS, body, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"name", "birth_date"}
    assert errors["name"] == ["This field is required."]


def test_a_body_that_is_not_json_is_answered_in_the_same_shape(thc1_system):
    response = thc1_system.post(PERSONS, raw="{not json")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"} and list(response.json()["errors"]) == ["non_field_errors"]
    # In the client's language, Chinese by default, with where it went wrong.
    assert response.json()["detail"] == "请求体不是有效的 JSON（第 1 行第 2 列附近）。"
    english = thc1_system.post(PERSONS, raw="{not json", headers={"Accept-Language": "en"})
    assert english.json()["detail"] == "The body is not valid JSON (near line 1, column 2)."


# --- reach: not found = not allowed (P15) -----------------------------------------------------------


def test_a_machine_client_sees_only_its_institutions_persons(thc1_system, persons):
    assert thc1_system.get(f"{PERSONS}{persons['P_b'].pk}/").status_code == 200
    assert thc1_system.get(f"{PERSONS}{persons['P_a'].pk}/").status_code == 404
    assert thc1_system.get(PERSONS, phone=persons["P_a"].phone).json() == {"count": 0, "results": []}


def test_absent_and_out_of_reach_persons_get_the_same_404(thc1_system, persons):
    hidden = thc1_system.get(f"{PERSONS}{persons['P_a'].pk}/")
    absent = thc1_system.get(f"{PERSONS}{uuid.uuid4()}/")
    malformed = thc1_system.get(f"{PERSONS}not-an-id/")
    assert hidden.status_code == absent.status_code == malformed.status_code == 404
    assert hidden.content == absent.content == malformed.content


def test_updating_out_of_reach_is_the_same_404(thc1_system, persons):
    url = f"{PERSONS}{persons['P_a'].pk}/"
    response = thc1_system.patch(url, {"phone": "13800002222"}, headers={"If-Match": '"1"'})
    assert response.status_code == 404
    assert response.content == thc1_system.get(f"{PERSONS}{uuid.uuid4()}/").content


def test_a_role_that_may_read_but_not_register_gets_the_not_found_answer(login, actors):
    # A leader reads case data (L3) but registers nobody: the write is refused as not found.
    leader = login("leader.thc1")
    response = leader.post(PERSONS, json.dumps(new_woman(actors)), content_type="application/json")
    assert response.status_code == 404
    assert response.json() == leader.get(f"{PERSONS}{uuid.uuid4()}/").json()


def test_withheld_fields_are_null_and_named_P17(login, persons):
    response = login("leader.thc1").get(f"{PERSONS}{persons['P_b'].pk}/")
    body = response.json()
    assert set(body["withheld"]) == {"document_number", "name", "birth_date", "phone", "address"}
    assert body["name"] is None and body["sex"] == 2


def test_a_role_without_case_data_is_refused_and_audited(login):
    response = login("sysadmin").get(PERSONS, {"phone": "13900000001"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="deny", path=PERSONS).exists()


# --- lookups, no listing (P11) ---------------------------------------------------------------------


def test_there_is_no_listing_of_the_registry_P11(thc1_system, persons):
    response = thc1_system.get(PERSONS)
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]
    both = thc1_system.get(PERSONS, phone="13900000002", document_number="x")
    assert both.status_code == 400


def test_lookup_by_document_number_and_by_phone(thc1_system, persons):
    p_b = persons["P_b"]
    by_document = thc1_system.get(PERSONS, document_number=p_b.document_number.lower()).json()
    assert by_document["count"] == 1 and by_document["results"][0]["id"] == str(p_b.pk)
    by_phone = thc1_system.get(PERSONS, phone=p_b.phone).json()
    assert [r["id"] for r in by_phone["results"]] == [str(p_b.pk)]


def test_lookup_by_post_keeps_identifiers_out_of_the_url_P20(thc1_system, persons):
    p_b = persons["P_b"]
    response = thc1_system.post(f"{PERSONS}search/", {"document_number": p_b.document_number})
    assert response.status_code == 200 and response.json()["results"][0]["id"] == str(p_b.pk)
    event = AuditEvent.objects.filter(action="read", object_type="people.person").order_by("-id").first()
    assert event.object_ids == str(p_b.pk) and event.path == f"{PERSONS}search/"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, {"phone": "13800002222"}),
        ({"If-Match": 'W/"1"'}, {"phone": "13800002222"}),
        ({"If-Match": '"1"'}, {"phone": "abc"}),
    ],
    ids=["no If-Match", "weak If-Match", "bad phone"],
)
def test_an_update_out_of_reach_is_the_404_before_any_header_or_body_error(thc1_system, persons, headers, body):
    """P10: nothing about the request is judged on a person the caller may not change, and the
    refusal names her on the trail (as the service's own refusal would)."""
    from mchis.audit.models import AuditEvent

    absent = thc1_system.get(f"{PERSONS}{uuid.uuid4()}/")
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    response = thc1_system.patch(f"{PERSONS}{persons['P_a'].pk}/", body, headers=headers)
    assert (response.status_code, response.content) == (404, absent.content)
    denials = AuditEvent.objects.filter(id__gt=last, action="deny")
    assert [(e.object_type, e.object_ids) for e in denials] == [("people.person", str(persons["P_a"].pk))]
    # A malformed id names nothing on the trail, and is the same 404.
    malformed = thc1_system.patch(f"{PERSONS}not-an-id/", body, headers=headers)
    assert (malformed.status_code, malformed.content) == (404, absent.content)
