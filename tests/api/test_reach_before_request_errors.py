"""The maternal API's order of checks, and its answers after a write (P10, P15).

* An episode the caller may not change, whether absent, another institution's or only
  looked at, is answered 404 before anything about the request's headers or body (a missing
  or weak If-Match, an impossible value), and the refusal is on the trail naming it.
* A write that takes the episode out of the writer's reach (a referral hospital recording a
  maternal death, which ends the referral) is answered with what it wrote, not a 404 after
  the commit, and is done under Idempotency-Key like any other.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from mchis.audit.models import AuditEvent
from mchis.maternal.models import Delivery
from tests.api.test_maternal_api import PREGNANCIES, visit, woman

pytestmark = pytest.mark.django_db


@pytest.fixture
def episode(thc1_system, actors):
    response = thc1_system.post(PREGNANCIES, woman(actors))
    assert response.status_code == 201, response.content
    return response.json()


def _events_after(last):
    return list(AuditEvent.objects.filter(id__gt=last or 0).order_by("id"))


def _last_event():
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()


REQUESTS = {
    "patch without If-Match": lambda c, pid: c.patch(f"{PREGNANCIES}{pid}/", {"gravidity": 2}),
    "patch with a weak ETag": lambda c, pid: c.patch(
        f"{PREGNANCIES}{pid}/", {"gravidity": 2}, headers={"If-Match": 'W/"1"'}
    ),
    "patch with a malformed If-Match": lambda c, pid: c.patch(
        f"{PREGNANCIES}{pid}/", {"gravidity": 2}, headers={"If-Match": "one"}
    ),
    "patch with a mistyped body": lambda c, pid: c.patch(
        f"{PREGNANCIES}{pid}/", {"gravidity": "x"}, headers={"If-Match": '"1"'}
    ),
    "visit with an impossible value": lambda c, pid: c.post(f"{PREGNANCIES}{pid}/visits/", visit(systolic_bp=999)),
    "visit with an unknown field": lambda c, pid: c.post(f"{PREGNANCIES}{pid}/visits/", visit(weight=60)),
    "visit with a weak If-Match": lambda c, pid: c.post(
        f"{PREGNANCIES}{pid}/visits/", visit(), headers={"If-Match": 'W/"1"'}
    ),
    "visit with an impossible value under Idempotency-Key": lambda c, pid: c.post(
        f"{PREGNANCIES}{pid}/visits/", visit(systolic_bp=999), headers={"Idempotency-Key": f"k-{pid}"}
    ),
    "grading with an unknown colour": lambda c, pid: c.post(f"{PREGNANCIES}{pid}/risk-gradings/", {"colour": "blue"}),
    "delivery without babies": lambda c, pid: c.post(
        f"{PREGNANCIES}{pid}/delivery/",
        {"delivered_at": timezone.now().isoformat(), "place_type": "home", "mode": "spontaneous", "babies": []},
    ),
    "postpartum visit of no kind": lambda c, pid: c.post(
        f"{PREGNANCIES}{pid}/postpartum-visits/", {"visit_on": timezone.localdate().isoformat(), "kind": "x"}
    ),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_header_and_body_errors_on_an_episode_out_of_reach_are_the_404_of_an_absent_one(make_client, episode, name):
    other = make_client("clinician.other")
    request = REQUESTS[name]
    absent = other.get(f"{PREGNANCIES}{uuid.uuid4()}/")
    last = _last_event()
    response = request(other, episode["id"])
    assert (response.status_code, response.content) == (404, absent.content), name
    assert "ETag" not in response
    denials = [e for e in _events_after(last) if e.action == "deny"]
    assert [(e.object_type, e.object_ids) for e in denials] == [("maternal.pregnancy", episode["id"])]
    # An absent id gets the same answer.
    unknown = request(other, uuid.uuid4())
    assert (unknown.status_code, unknown.content) == (404, absent.content), name


def test_a_reader_who_may_not_write_gets_the_404_before_any_header_error(make_client, thc1_system, episode):
    """An institution asked to accept a transfer may look at the episode, not change it."""
    from mchis.api.models import ApiClient
    from mchis.maternal.services import transfer_request

    owner = ApiClient.objects.get(pk=thc1_system.client_id).user
    receiving = make_client("clinician.thc2")
    thc2 = ApiClient.objects.get(pk=receiving.client_id).user
    transfer_request(actor=owner, pregnancy_id=episode["id"], to_institution_id=thc2.institution_id)
    assert receiving.get(f"{PREGNANCIES}{episode['id']}/").status_code == 200
    absent = receiving.get(f"{PREGNANCIES}{uuid.uuid4()}/")
    for name in ("patch without If-Match", "visit with an impossible value"):
        response = REQUESTS[name](receiving, episode["id"])
        assert (response.status_code, response.content) == (404, absent.content), name


def test_the_writer_still_gets_the_header_and_body_errors(thc1_system, episode):
    assert REQUESTS["patch without If-Match"](thc1_system, episode["id"]).status_code == 428
    assert REQUESTS["patch with a weak ETag"](thc1_system, episode["id"]).status_code == 412
    refused = REQUESTS["visit with an impossible value"](thc1_system, episode["id"])
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["systolic_bp"]


# --- a write that ends the writer's reach ------------------------------------------------------------


@pytest.fixture
def referred_at_term(thc1_system, actors):
    """An episode of the township centre at 38 weeks, referred to the county MCH hospital."""
    from mchis.maternal.services import referral_record

    today = timezone.localdate()
    made = thc1_system.post(
        PREGNANCIES,
        woman(actors, seq=14)
        | {
            "lmp": (today - timedelta(weeks=38)).isoformat(),
            "registered_on": (today - timedelta(weeks=20)).isoformat(),
        },
    )
    assert made.status_code == 201, made.content
    pid = made.json()["id"]
    referral_record(
        actor=actors["clinician.thc1"],
        pregnancy_id=pid,
        to_institution_id=actors["clinician.mch"].institution_id,
        referred_on=today,
        reason="delivery",
    )
    return pid


@pytest.mark.parametrize("key", [None, "death-1"])
def test_a_referral_hospital_recording_a_maternal_death_gets_what_it_recorded(
    make_client, actors, referred_at_term, key
):
    """The death closes the episode and ends the referral: the hospital no longer reaches it,
    but the answer to its write is the record it wrote (201), not a 404 after the commit (a
    client would record it again) nor a rollback under Idempotency-Key (never recordable)."""
    hospital = make_client("clinician.mch")
    body = {
        "delivered_at": timezone.localtime().isoformat(),
        "place_type": "institution",
        "institution_id": actors["clinician.mch"].institution_id,
        "mode": "caesarean",
        "maternal_outcome": "died",
        "babies": [{"outcome": "live_birth", "sex": 2, "birth_weight_g": 3000}],
    }
    url = f"{PREGNANCIES}{referred_at_term}/delivery/"
    response = hospital.post(url, body, headers={"Idempotency-Key": key} if key else None)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["maternal_outcome"] == "died" and data["babies"][0]["child_id"]
    assert response["ETag"] == f'"{data["pregnancy_version"]}"'
    assert Delivery.unscoped.filter(pregnancy_id=referred_at_term).count() == 1
    # The episode is out of its reach now, as it should be.
    assert hospital.get(f"{PREGNANCIES}{referred_at_term}/").status_code == 404
