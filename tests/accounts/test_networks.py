"""Registered networks (P5): an institution that lists ranges admits its users only from them."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from mchis.access.errors import RecordNotFound
from mchis.accounts.models import InstitutionNetwork, User, UserSession
from mchis.accounts.networks import login_allowed, network_add, network_parse, network_remove
from mchis.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(actors):
    return actors


@pytest.fixture
def centre(users):
    return users["clinician.thc1"].institution


def password_login(demo, username: str, ip: str):
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/accounts/login/", {"username": username, "password": demo[username]["password"]})
    return client, response


def test_no_range_listed_means_no_restriction(demo):
    _client, response = password_login(demo, "clinician.thc1", "203.0.113.9")
    assert response.status_code == 302


def test_login_from_outside_the_ranges_is_refused_and_audited(demo, users, centre):
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16", label="卫生院内网")
    _client, response = password_login(demo, "clinician.thc1", "192.168.1.7")
    assert response.status_code == 200
    assert "已登记的网络" in " ".join(response.context["form"].non_field_errors())  # Chinese by default
    assert AuditEvent.objects.filter(
        action="deny", actor=users["clinician.thc1"], reason__contains="registered networks"
    ).exists()


def test_login_from_inside_a_range_is_allowed(demo, users, centre):
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    _client, response = password_login(demo, "clinician.thc1", "10.1.20.30")
    assert response.status_code == 302


def test_users_of_other_institutions_are_not_affected(demo, users, centre):
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    _client, response = password_login(demo, "clinician.mch", "192.168.1.7")
    assert response.status_code == 302


def test_ipv6_ranges_and_ipv4_clients_of_a_dual_stack_listener(users, centre):
    network_add(actor=users["secadmin"], institution=centre, cidr="2001:db8:10::/48")
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    clinician = users["clinician.thc1"]
    assert login_allowed(clinician, "2001:db8:10:5::1")
    assert not login_allowed(clinician, "2001:db8:11::1")
    assert login_allowed(clinician, "::ffff:10.1.2.3")
    assert not login_allowed(clinician, "")  # an unknown address is outside


def test_a_session_used_from_outside_is_ended(login, users, centre):
    client = login("clinician.thc1")  # signed in from 127.0.0.1 before the range was listed
    assert client.get("/").status_code == 200
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/")["Location"].startswith("/accounts/login/")  # signed out, not merely held
    assert not UserSession.objects.filter(user=users["clinician.thc1"], ended_at__isnull=True).exists()


def test_an_api_call_from_outside_is_refused(login, users, centre):
    client = login("clinician.thc1")
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    assert client.get("/api/v1/institutions/").status_code == 403


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("10.1.0.0/33", "not an IPv4 or IPv6"),
        ("not-a-network", "not an IPv4 or IPv6"),
        ("2001:db8::/129", "not an IPv4 or IPv6"),
        ("10.1.2.3/16", "10.1.0.0/16"),  # host bits: the range it probably meant
        ("", "enter an address range"),
    ],
)
def test_invalid_ranges_are_refused_with_a_field_error(users, centre, text, words):
    with pytest.raises(ValidationError) as exc:
        network_add(actor=users["secadmin"], institution=centre, cidr=text)
    assert words in exc.value.message_dict["cidr"][0]
    assert not InstitutionNetwork.objects.exists()


def test_ranges_are_stored_in_canonical_form():
    assert str(network_parse(" 2001:0db8:0010:0000::/48 ")) == "2001:db8:10::/48"
    assert str(network_parse("10.1.2.3")) == "10.1.2.3/32"


def test_a_range_is_listed_once(users, centre):
    network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    with pytest.raises(ValidationError) as exc:
        network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    assert "already listed" in exc.value.message_dict["cidr"][0]


@pytest.mark.parametrize("who", ["custodian.thc1", "leader.thc1", "sysadmin", "clinician.thc1"])
def test_only_a_security_admin_over_it_manages_ranges(users, centre, who):
    with pytest.raises(RecordNotFound):
        network_add(actor=users[who], institution=centre, cidr="10.1.0.0/16")


def test_not_outside_the_security_admins_jurisdiction(users):
    with pytest.raises(RecordNotFound):
        network_add(actor=users["secadmin"], institution=users["clinician.other"].institution, cidr="10.9.0.0/16")


def test_removing_a_range_lifts_the_restriction(demo, users, centre):
    row = network_add(actor=users["secadmin"], institution=centre, cidr="10.1.0.0/16")
    network_remove(actor=users["secadmin"], network_id=row.pk)
    _client, response = password_login(demo, "clinician.thc1", "192.168.1.7")
    assert response.status_code == 302
    assert AuditEvent.objects.filter(object_type="accounts.institutionnetwork", reason__contains="removed").exists()


def test_the_pages_add_and_remove_ranges(login, centre):
    client = login("secadmin")
    listing = client.get("/accounts/networks/")
    assert listing.status_code == 200 and centre.name in listing.content.decode()
    url = f"/accounts/networks/{centre.pk}/"
    bad = client.post(url, {"cidr": "10.1.2.3/16", "label": ""})
    assert bad.status_code == 200 and "10.1.0.0/16" in bad.context["form"].errors["cidr"][0]
    assert client.post(url, {"cidr": "10.1.0.0/16", "label": "内网"}).status_code == 302
    row = InstitutionNetwork.objects.get(institution=centre)
    assert row.cidr == "10.1.0.0/16" and row.added_by == User.objects.get(username="secadmin")
    assert client.post(f"/accounts/networks/range/{row.pk}/remove/").status_code == 302
    assert not InstitutionNetwork.objects.exists()


def test_the_pages_are_the_security_admins(login, users, centre):
    client = login("custodian.thc1")
    assert client.get("/accounts/networks/").status_code == 404
    assert client.post(f"/accounts/networks/{centre.pk}/", {"cidr": "10.1.0.0/16"}).status_code == 404
    assert not InstitutionNetwork.objects.exists()


def test_another_jurisdictions_institution_is_not_found(login, users):
    other = users["clinician.other"].institution
    assert login("secadmin").get(f"/accounts/networks/{other.pk}/").status_code == 404
