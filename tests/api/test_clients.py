"""Machine clients of the API: credentials bound to an institution and a clinical role,
expiring, revocable at once, locked after repeated failures, every call audited
(issue 5 item 8; P7, P10, P15, P19)."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from mchis.accounts.lockout import subject_ip
from mchis.accounts.models import AgreementAcceptance, Lockout, RoleAssignment, User
from mchis.accounts.review import access_review
from mchis.api.credentials import secret_matches, token_parse
from mchis.api.models import ApiClient
from mchis.api.services import apiclient_authenticate, apiclient_create, apiclient_revoke
from mchis.audit.models import AuditEvent
from mchis.orgs.models import Institution, InstitutionKind
from tests.api.conftest import Bearer

pytestmark = pytest.mark.django_db


# --- creation -------------------------------------------------------------------------------


def test_a_client_is_an_account_without_password_holding_one_role_until_it_expires(actors):
    centre = actors["clinician.thc1"].institution
    made = apiclient_create(institution=centre, role="clinician", name="HIS of the centre", expires_days=30)
    client = made.client
    assert made.authorization.startswith(f"Bearer mchis_{client.pk}.")
    user = client.user
    assert user.is_active and not user.has_usable_password() and user.institution == centre
    assert user.display_name == "HIS of the centre"
    (assignment,) = user.role_assignments.all()
    assert (assignment.role, assignment.institution, assignment.expires_at) == ("clinician", centre, client.expires_at)
    assert timedelta(days=29) < client.expires_at - timezone.now() <= timedelta(days=30)
    assert client.state() == "active"


def test_the_secret_is_stored_only_as_a_hash_bound_to_the_client(actors):
    made = apiclient_create(institution=actors["clinician.thc1"].institution, role="clinician")
    client_id, secret = token_parse(made.authorization.removeprefix("Bearer "))
    stored = ApiClient.objects.get(pk=client_id).secret_hash
    assert secret not in stored and len(secret) >= 43
    assert secret_matches(stored=stored, client_id=client_id, secret=secret)
    other = apiclient_create(institution=actors["clinician.thc1"].institution, role="clinician").client
    # A digest copied to another client's row does not match there.
    assert not secret_matches(stored=stored, client_id=other.pk, secret=secret)


def test_creation_is_audited(actors):
    client = apiclient_create(institution=actors["clinician.thc1"].institution, role="clinician").client
    event = AuditEvent.objects.get(object_type="api.apiclient", object_ids=str(client.pk))
    assert event.action == "security" and event.reason == "API client created"
    assert event.institution_id == client.institution_id


@pytest.mark.parametrize("role", ["system_admin", "security_admin", "audit_admin", "leader", "data_custodian"])
def test_a_client_holds_no_technical_or_deciding_role_P19(actors, role):
    with pytest.raises(ValidationError) as exc:
        apiclient_create(institution=actors["clinician.thc1"].institution, role=role)
    assert "role" in exc.value.message_dict
    assert not ApiClient.objects.exists()


def test_the_role_rules_of_people_apply_to_clients(actors):
    commission = Institution.objects.filter(kind=InstitutionKind.HEALTH_ADMINISTRATION).first()
    with pytest.raises(ValidationError) as exc:
        apiclient_create(institution=commission, role="clinician")
    assert "cannot be held at" in exc.value.message_dict["role"][0]


def test_a_credential_lasts_at_most_the_configured_days(actors, settings):
    settings.MCHIS_API_CLIENT_MAX_DAYS = 90
    centre = actors["clinician.thc1"].institution
    with pytest.raises(ValidationError) as exc:
        apiclient_create(institution=centre, role="clinician", expires_days=91)
    assert "expires_days" in exc.value.message_dict
    client = apiclient_create(institution=centre, role="clinician").client
    assert timedelta(days=89) < client.expires_at - timezone.now() <= timedelta(days=90)


# --- the credential on requests -------------------------------------------------------------


def test_a_call_without_credentials_is_asked_for_a_bearer_credential(db):
    response = Client().get("/api/v1/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="mchis"'


def test_a_client_calls_the_api_with_its_credential(thc1_system):
    response = thc1_system.get("/api/v1/institutions/")
    assert response.status_code == 200
    client = ApiClient.objects.get(pk=thc1_system.client_id)
    assert [i["code"] for i in response.json()["results"]] == [client.institution.code]
    assert client.last_used_at is not None


def test_a_machine_client_is_not_held_by_the_login_gates(thc1_system, login):
    # The demo requires a second factor of every account and has a security agreement
    # published everywhere: a person without them is held (403); the client is not.
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    assert not user.keys.exists() and not AgreementAcceptance.objects.filter(user=user).exists()
    assert thc1_system.get("/api/v1/institutions/").status_code == 200


def test_a_machine_account_cannot_log_in(thc1_system):
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    browser = Client()
    for password in ("", "x"):
        response = browser.post("/accounts/login/", {"username": user.username, "password": password})
        assert response.status_code == 200 and "_auth_user_id" not in browser.session


def test_wrong_secret_and_unknown_client_get_the_same_answer(thc1_system):
    client_id, _secret = token_parse(thc1_system.authorization.removeprefix("Bearer "))
    wrong = Bearer(f"Bearer mchis_{client_id}.{'A' * 43}", client_id=str(client_id), ip="10.30.0.1")
    unknown = Bearer(f"Bearer mchis_{'0' * 8}-0000-4000-8000-{'0' * 12}.{'A' * 43}", client_id="", ip="10.30.0.2")
    a, b = wrong.get("/api/v1/"), unknown.get("/api/v1/")
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_a_malformed_credential_is_refused(db):
    response = Bearer("Bearer not-a-credential", client_id="").get("/api/v1/")
    assert response.status_code == 401


def test_five_wrong_secrets_lock_the_client_and_then_the_right_one_is_refused_P7(thc1_system, settings):
    client_id, _secret = token_parse(thc1_system.authorization.removeprefix("Bearer "))
    # Each attempt from another address, so the lock is the client's, not an address's.
    for n in range(5):
        wrong = Bearer(f"Bearer mchis_{client_id}.{'B' * 43}", client_id=str(client_id), ip=f"10.40.0.{n + 1}")
        assert wrong.get("/api/v1/").status_code == 401
    assert Lockout.objects.filter(subject=f"client:{client_id}").exists()
    refused = thc1_system.get("/api/v1/")
    assert refused.status_code == 401
    assert "15" in refused.json()["detail"]
    assert AuditEvent.objects.filter(action="login_failed", reason="API credential refused: locked out").exists()


def test_five_failures_from_one_address_lock_the_address(thc1_system):
    for _ in range(5):
        Bearer("Bearer mchis_garbage", client_id="", ip="10.50.0.9").get("/api/v1/")
    assert Lockout.objects.filter(subject=subject_ip("10.50.0.9")).exists()
    # The right credential from that address is refused during the lock, too.
    locked = Bearer(thc1_system.authorization, client_id=thc1_system.client_id, ip="10.50.0.9")
    assert locked.get("/api/v1/").status_code == 401
    assert thc1_system.get("/api/v1/").status_code == 200


def test_a_success_forgets_the_clients_failures(thc1_system):
    client_id, _secret = token_parse(thc1_system.authorization.removeprefix("Bearer "))
    for n in range(4):
        Bearer(f"Bearer mchis_{client_id}.{'C' * 43}", client_id="", ip=f"10.60.0.{n}").get("/api/v1/")
    assert thc1_system.get("/api/v1/").status_code == 200
    for n in range(4):
        Bearer(f"Bearer mchis_{client_id}.{'C' * 43}", client_id="", ip=f"10.61.0.{n}").get("/api/v1/")
    assert not Lockout.objects.filter(subject=f"client:{client_id}").exists()


def test_the_check_is_one_statement_and_loads_what_the_orm_would(actors, django_assert_num_queries):
    """The credential check runs on every call: one hand-written statement gives the client,
    its account, institution and current roles, exactly as the ORM loads them (an expired
    role assignment is not among them), and the lockout and failure questions (P7)."""
    centre = actors["clinician.thc1"].institution
    made = apiclient_create(institution=centre, role="clinician")
    user = made.client.user
    RoleAssignment.objects.create(
        user=user, role="pmtct_officer", institution=centre, expires_at=timezone.now() - timedelta(days=1)
    )
    ApiClient.objects.filter(pk=made.client.pk).update(last_used_at=timezone.now())  # no UPDATE this call
    token = made.authorization.removeprefix("Bearer ")
    with django_assert_num_queries(1):
        client = apiclient_authenticate(token=token, source_ip="10.70.0.1")
    stored = ApiClient.objects.select_related("user", "institution").get(pk=made.client.pk)
    for name in ("id", "name", "role", "secret_hash", "created_at", "expires_at", "revoked_at", "last_used_at"):
        assert getattr(client, name) == getattr(stored, name), name
    assert client.user == stored.user and client.user.username == stored.user.username
    assert client.user.is_active and client.institution.region_path == stored.institution.region_path
    fresh = User.objects.get(pk=user.pk)

    def seen(assignments):
        return [(a.pk, a.role, a.institution_id, a.institution.region_path, a.expires_at) for a in assignments]

    assert seen(client.user.active_roles()) == seen(fresh.active_roles())
    assert [a.role for a in client.user.active_roles()] == ["clinician"]


def test_on_postgresql_the_check_is_planned_once_per_connection(actors):
    """MCHIS_DB_PREPARED_STATEMENTS: the statement every API call runs is prepared on the
    connection after a few runs, so PostgreSQL does not plan its joins again each time."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    made = apiclient_create(institution=actors["clinician.thc1"].institution, role="clinician")
    token = made.authorization.removeprefix("Bearer ")
    for _ in range(6):
        apiclient_authenticate(token=token, source_ip="10.72.0.1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("api_apiclient" in sql and "accounts_lockout" in sql for sql in prepared)


def test_an_unknown_client_is_still_checked_for_the_address_lock(thc1_system):
    for _attempt in range(5):
        Bearer(f"Bearer mchis_{uuid.uuid4()}.{'D' * 43}", client_id="", ip="10.71.0.1").get("/api/v1/")
    assert Lockout.objects.filter(subject=subject_ip("10.71.0.1")).exists()
    locked = Bearer(thc1_system.authorization, client_id=thc1_system.client_id, ip="10.71.0.1")
    answer = locked.get("/api/v1/")
    assert answer.status_code == 401 and "15" in answer.json()["detail"]  # "try again in 15 minutes"


def test_revocation_takes_effect_at_the_next_request(thc1_system):
    assert thc1_system.get("/api/v1/").status_code == 200
    client, changed = apiclient_revoke(client_id=thc1_system.client_id)
    assert changed and client.state() == "revoked"
    response = thc1_system.get("/api/v1/")
    assert response.status_code == 401 and "吊销" in response.json()["detail"]  # Chinese by default
    assert not User.objects.get(pk=client.user_id).is_active
    assert AuditEvent.objects.filter(object_type="api.apiclient", reason="API client revoked").count() == 1
    # Revoking again changes nothing.
    assert apiclient_revoke(client_id=thc1_system.client_id)[1] is False


def test_an_expired_credential_is_refused(thc1_system):
    ApiClient.objects.filter(pk=thc1_system.client_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = thc1_system.get("/api/v1/")
    assert response.status_code == 401 and "过期" in response.json()["detail"]  # Chinese by default


def test_a_refused_bearer_credential_does_not_fall_back_to_the_session(login, thc1_system):
    browser = login("clinician.thc1")
    assert browser.get("/api/v1/").status_code == 200
    response = browser.get("/api/v1/", headers={"Authorization": "Bearer mchis_wrong"})
    assert response.status_code == 401


def test_every_call_is_audited_with_the_clients_account_P10(thc1_system):
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    before = AuditEvent.objects.filter(actor_id=user.pk).count()
    thc1_system.get("/api/v1/regions/", parent="410000")
    event = AuditEvent.objects.filter(actor_id=user.pk).order_by("-id").first()
    assert AuditEvent.objects.filter(actor_id=user.pk).count() == before + 1
    assert event.action == "read" and event.path == "/api/v1/regions/"
    assert json.loads(event.extra)["client"] == thc1_system.client_id


def test_a_call_whose_selector_recorded_its_read_gets_no_second_event_P10(thc1_system, persons):
    # The read is collected during the call and written when it ends: it still counts as the
    # call's event, so the API's own call event is not added beside it.
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    before = AuditEvent.objects.filter(actor_id=user.pk).count()
    person = persons["P_b"]
    response = thc1_system.get(f"/api/v1/persons/{person.pk}/")
    assert response.status_code == 200
    (event,) = AuditEvent.objects.filter(actor_id=user.pk).order_by("id")[before:]
    assert event.action == "read" and event.object_refs == [("people.person", str(person.pk))]
    assert "client" not in event.extra


def test_machine_accounts_are_not_access_review_findings(thc1_system):
    user = ApiClient.objects.get(pk=thc1_system.client_id).user
    assert user.pk not in {f.user_id for f in access_review()}


# --- the console command ----------------------------------------------------------------------


def test_the_json_authorization_value_works_as_the_header_of_a_real_request(actors):
    code = actors["clinician.thc1"].institution.code
    out = StringIO()
    call_command("apiclient", "create", "--institution", code, "--role", "clinician", "--json", stdout=out)
    made = json.loads(out.getvalue())
    assert set(made) >= {"client_id", "authorization", "expires_at", "institution", "role"}
    response = Client().get("/api/v1/institutions/", headers={"Authorization": made["authorization"]})
    assert response.status_code == 200
    assert [i["code"] for i in response.json()["results"]] == [code]


def test_the_command_prints_the_credential_once_and_how_to_send_it(actors):
    out = StringIO()
    code = actors["clinician.thc1"].institution.code
    call_command("apiclient", "create", "--institution", code, "--role", "clinician", "--name", "HIS", stdout=out)
    text = out.getvalue()
    assert "Authorization: Bearer mchis_" in text and "mchis apiclient revoke" in text
    listing = StringIO()
    call_command("apiclient", "list", "--json", stdout=listing)
    (row,) = json.loads(listing.getvalue())
    assert row["name"] == "HIS" and row["state"] == "active" and "authorization" not in row
    event = AuditEvent.objects.get(reason="API client created")
    assert event.path == "command:apiclient create"


def test_the_command_revokes(actors):
    code = actors["clinician.thc1"].institution.code
    out = StringIO()
    call_command("apiclient", "create", "--institution", code, "--role", "clinician", "--json", stdout=out)
    made = json.loads(out.getvalue())
    call_command("apiclient", "revoke", made["client_id"], stdout=StringIO())
    response = Client().get("/api/v1/", headers={"Authorization": made["authorization"]})
    assert response.status_code == 401
    with pytest.raises(CommandError):
        call_command("apiclient", "revoke", "no-such-client", stdout=StringIO())


def test_the_command_refuses_an_unknown_institution_and_a_technical_role(actors):
    with pytest.raises(CommandError):
        call_command("apiclient", "create", "--institution", "nope", "--role", "clinician", stdout=StringIO())
    with pytest.raises(CommandError):
        code = actors["clinician.thc1"].institution.code
        call_command("apiclient", "create", "--institution", code, "--role", "system_admin", stdout=StringIO())
