"""`mchis account`: the first accounts of an installation (P19 separation of duties, P26
initial passwords, P28 keys at first sign-in, P29 everything else requested and approved, P10
audited), and Django's `createsuperuser`/`changepassword`, which would write accounts behind
the services, refused."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone, translation

from mchis.accounts.models import User
from mchis.audit.models import AuditEvent
from mchis.orgs.models import Institution, InstitutionKind, RegionLevel

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("account", *args, stdout=out)
    return out.getvalue()


def initial_password(output: str) -> str:
    # The last word of the last line, after the colon of whichever language is active.
    return re.search(r"[:：]\s*(\S+)\s*$", output.strip().splitlines()[-1]).group(1)


@pytest.fixture
def authority(demo):
    """The county's health commission, where its security administrator sits."""
    return (
        Institution.objects.filter(kind=InstitutionKind.HEALTH_ADMINISTRATION, region__level=RegionLevel.COUNTY)
        .order_by("code")
        .first()
    )


def test_the_first_security_administrator_is_set_up_and_must_change_the_password_then_enrol_a_key(authority):
    out = run("create", "sec.first", "--name", "王安全", "--institution", authority.code, "--role", "security_admin")
    password = initial_password(out)
    assert len(password) == 16
    user = User.objects.get(username="sec.first")
    assert user.display_name == "王安全" and user.institution == authority and user.role_names() == {"security_admin"}
    assert user.must_change_password and user.password_changed_at is None and not user.is_superuser
    longest = timezone.localdate() + timedelta(days=3 * 366)
    assert user.expires_on == longest and timezone.localtime(user.role_assignments.get().expires_at).date() == longest
    # Audited as made by the system, named by the command and the operating-system account.
    events = AuditEvent.objects.filter(path="command:account create").order_by("id")
    assert [e.reason for e in events] == ["account created", f"role security_admin granted to user {user.pk}"]
    assert all(e.actor_id is None and "os_user" in json.loads(e.extra) for e in events)

    # The first sign-in: the password works, and the gates ask for a new one before anything else.
    client = Client()
    response = client.post("/accounts/login/", {"username": "sec.first", "password": password})
    assert response.status_code == 302
    assert client.get("/").url == "/accounts/password/"


@pytest.mark.parametrize(
    ("args", "field", "rule"),
    [
        (["--role", "clinician"], "roles", "approved (P29)"),
        (["--role", "leader"], "roles", "approved (P29)"),
        (["--role", "security_admin", "--role", "audit_admin"], "role", "P19"),
        (["--role", "security_admin", "--expires-on", "2020-01-01"], "expires_on", "after today"),
        (["--role", "no_such_role"], "role", "unknown role"),
    ],
)
def test_a_refused_account_names_the_field_and_rule_and_nothing_is_written(authority, args, field, rule):
    before = (User.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError) as refused:
        run("create", "someone.new", "--name", "某人", "--institution", authority.code, *args)
    assert f"{field}:" in str(refused.value) and rule in str(refused.value)
    assert (User.objects.count(), AuditEvent.objects.count()) == before


def test_an_unknown_institution_or_a_taken_username_is_refused(authority):
    with pytest.raises(CommandError, match="no institution has the code NOPE"):
        run("create", "someone.new", "--name", "某人", "--institution", "NOPE", "--role", "data_custodian")
    taken = User.objects.order_by("pk").first().username
    with pytest.raises(CommandError, match=f"{re.escape(taken)} is already in use"):
        run("create", taken, "--name", "某人", "--institution", authority.code, "--role", "data_custodian")
    # In another case too: lockouts count per name in lower case, and people read names so.
    with pytest.raises(CommandError, match=f"{re.escape(taken.upper())} is already in use"):
        run("create", taken.upper(), "--name", "某人", "--institution", authority.code, "--role", "data_custodian")


def test_set_password_gives_a_new_initial_password_and_ends_the_sessions(login, demo):
    client = login("clinician.thc1")
    assert client.get("/maternal/").status_code == 200
    out = run("set-password", "clinician.thc1")
    password = initial_password(out)
    user = User.objects.get(username="clinician.thc1")
    assert user.check_password(password) and not user.check_password(demo["clinician.thc1"]["password"])
    assert user.must_change_password
    # The session signed in before has ended.
    assert client.get("/maternal/").status_code == 302
    event = AuditEvent.objects.get(path="command:account set-password", reason="password set by an administrator")
    assert event.object_ids == str(user.pk) and "os_user" in json.loads(event.extra)
    # (The pages above left their language, Chinese, active in this thread.)
    with translation.override("en"), pytest.raises(CommandError, match="no account has the username nobody"):
        run("set-password", "nobody")


@pytest.mark.parametrize("command", [["createsuperuser", "--noinput", "--username", "root"], ["changepassword", "x"]])
def test_djangos_own_account_commands_are_refused(db, command):
    with pytest.raises(CommandError, match="mchis account"):
        call_command(*command)
    assert not User.objects.filter(username="root").exists()
