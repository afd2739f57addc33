"""Security agreements (P18): nothing is reachable until the current version is accepted."""

import pytest
from django.core.exceptions import ValidationError

from mchis.access.errors import RecordNotFound
from mchis.accounts.agreements import (
    agreement_accept,
    agreement_current,
    agreement_pending,
    agreement_publish,
)
from mchis.accounts.models import AgreementAcceptance, SecurityAgreement, User
from mchis.accounts.services import user_create
from mchis.audit.models import AuditEvent
from tests.conftest import agreement_accept_through_page

pytestmark = pytest.mark.django_db

TEXT = "乙方严格遵守本单位妇幼卫生信息保密制度，不泄露、不外借、不转移任何数据信息。"


@pytest.fixture
def users(demo):
    return {u.username: u for u in User.objects.select_related("institution")}


def test_the_demo_publishes_version_1_for_every_institution_accepted_by_nobody(users):
    from mchis.orgs.models import Institution

    assert SecurityAgreement.objects.count() == Institution.objects.count()
    assert set(SecurityAgreement.objects.values_list("version", flat=True)) == {1}
    assert not AgreementAcceptance.objects.exists()
    agreement = agreement_current(institution=users["clinician.thc1"].institution)
    assert "安全保密协议" in agreement.title and "电子钥匙" in agreement.text


def test_no_page_is_reachable_until_the_agreement_is_accepted(login):
    client = login("clinician.thc1", accept_agreement=False)
    for url in ["/", "/orgs/mine/", "/people/", "/people/register/", "/accounts/notices/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/accounts/agreement/", url
    page = client.get("/accounts/agreement/")
    assert page.status_code == 200 and page.context["pending"]
    assert "安全保密协议" in page.content.decode()


def test_no_api_data_until_the_agreement_is_accepted(login):
    client = login("info.mch", accept_agreement=False)
    response = client.get("/api/v1/institutions/")
    assert response.status_code == 403
    assert response.json()["gate"] == "accounts:agreement"


def test_accepting_records_time_and_address_and_opens_the_system(login, users):
    client = login("clinician.thc1", accept_agreement=False)
    agreement_accept_through_page(client)
    assert client.get("/").status_code == 200
    acceptance = AgreementAcceptance.objects.get(user=users["clinician.thc1"])
    assert acceptance.ip == "127.0.0.1" and acceptance.accepted_at is not None
    assert AuditEvent.objects.filter(
        actor=users["clinician.thc1"], reason__contains="accepted", object_ids=str(acceptance.agreement_id)
    ).exists()


def test_the_box_must_be_ticked(login, users):
    client = login("clinician.thc1", accept_agreement=False)
    agreement = agreement_current(institution=users["clinician.thc1"].institution)
    response = client.post("/accounts/agreement/", {"agreement": agreement.pk})
    assert response.status_code == 200 and response.context["form"].errors["accept"]
    assert not AgreementAcceptance.objects.exists()


def test_a_new_version_requires_acceptance_again(login, users):
    client = login("clinician.thc1")
    assert client.get("/").status_code == 200
    agreement_publish(
        actor=users["custodian.thc1"], institution=users["clinician.thc1"].institution, title="协议第二版", text=TEXT
    )
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/agreement/"
    agreement_accept_through_page(client)
    assert client.get("/").status_code == 200
    assert AgreementAcceptance.objects.filter(user=users["clinician.thc1"]).count() == 2


def test_an_older_version_cannot_be_accepted_once_a_newer_one_is_published(users):
    clinician = users["clinician.thc1"]
    old = agreement_current(institution=clinician.institution)
    agreement_publish(actor=users["leader.thc1"], institution=clinician.institution, title="第二版", text=TEXT)
    with pytest.raises(ValidationError) as exc:
        agreement_accept(user=clinician, agreement_id=old.pk, ip="127.0.0.1")
    assert "agreement" in exc.value.message_dict
    assert agreement_pending(user=clinician).version == 2


def test_an_agreement_of_another_institution_cannot_be_accepted(users):
    other = agreement_current(institution=users["clinician.mch"].institution)
    with pytest.raises(ValidationError):
        agreement_accept(user=users["clinician.thc1"], agreement_id=other.pk, ip=None)


def test_a_user_without_an_institution_passes(demo):
    loner = user_create(username="loner", display_name="无机构", institution=None, password="Xy7!solo-pass")
    assert agreement_pending(user=loner) is None


def test_versions_count_up(users):
    institution = users["clinician.thc1"].institution
    second = agreement_publish(actor=users["custodian.thc1"], institution=institution, title="二", text=TEXT)
    third = agreement_publish(actor=users["secadmin"], institution=institution, title="三", text=TEXT)
    assert (second.version, third.version) == (2, 3)
    assert AuditEvent.objects.filter(object_type="accounts.securityagreement", reason__contains="version 3").exists()


@pytest.mark.parametrize("username", ["custodian.thc1", "leader.thc1", "secadmin"])
def test_custodian_leader_and_security_admin_over_it_publish(users, username):
    institution = users["clinician.thc1"].institution
    assert agreement_publish(actor=users[username], institution=institution, title="二", text=TEXT).version == 2


@pytest.mark.parametrize(
    ("username", "whose"),
    [
        ("clinician.thc1", "clinician.thc1"),  # not a custodian or leader
        ("custodian.thc1", "clinician.mch"),  # custodian of another institution
        ("leader.mch", "clinician.thc1"),  # leader of another institution
        ("healthadmin.county", "clinician.thc1"),  # the authority is not the signing party
        ("sysadmin", "clinician.thc1"),  # P19: not the system administrator's business
    ],
)
def test_nobody_else_publishes(users, username, whose):
    with pytest.raises(RecordNotFound):
        agreement_publish(actor=users[username], institution=users[whose].institution, title="二", text=TEXT)
    assert SecurityAgreement.objects.filter(version=2).count() == 0


def test_a_security_admin_publishes_only_inside_their_jurisdiction(actors):
    other_county_centre = actors["clinician.other"].institution
    with pytest.raises(RecordNotFound):
        agreement_publish(actor=actors["secadmin"], institution=other_county_centre, title="二", text=TEXT)


def test_title_and_text_are_required_with_field_errors(users):
    with pytest.raises(ValidationError) as exc:
        agreement_publish(
            actor=users["custodian.thc1"], institution=users["custodian.thc1"].institution, title=" ", text="短"
        )
    assert set(exc.value.message_dict) == {"title", "text"}


def test_publishing_through_the_page(login, users):
    client = login("custodian.thc1")
    institution = users["custodian.thc1"].institution
    listing = client.get("/accounts/agreements/")
    assert listing.status_code == 200 and institution.name in listing.content.decode()
    (row,) = listing.context["page"].object_list
    # Three accounts at the centre; the custodian accepted on logging in.
    assert (row.current_version, row.accepted_count, row.user_count) == (1, 1, 3)
    url = f"/accounts/agreements/{institution.pk}/"
    form = client.get(url)
    assert form.status_code == 200 and form.context["form"].initial["text"].startswith("甲方")
    response = client.post(url, {"title": "第二版", "text": TEXT})
    assert response.status_code == 302
    assert agreement_current(institution=institution).version == 2
    # The publisher is a user of the institution too: held until they accept it.
    assert client.get("/")["Location"] == "/accounts/agreement/"


def test_the_publish_page_of_another_institution_is_not_found(login, users):
    client = login("custodian.thc1")
    other = users["clinician.mch"].institution
    assert client.get(f"/accounts/agreements/{other.pk}/").status_code == 404
    assert client.post(f"/accounts/agreements/{other.pk}/", {"title": "x", "text": TEXT}).status_code == 404
    assert agreement_current(institution=other).version == 1


def test_clinicians_have_no_publishing_pages(login):
    assert login("clinician.thc1").get("/accounts/agreements/").status_code == 404
