"""The synthetic demo county: deterministic, valid, every role present."""

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from mchis.accounts.models import RoleAssignment, User
from mchis.accounts.roles import Role
from mchis.demo.generator import DEMO_COUNTY_NAME, demo_plan
from mchis.ops.models import Installation
from mchis.orgs.codes import uscc_problem
from mchis.orgs.models import Institution, InstitutionKind, Region, RegionLevel
from mchis.people.identifiers import id_problem


def digest(plan) -> str:
    payload = json.dumps(
        [plan.regions, plan.institutions, plan.accounts, plan.people],
        default=lambda o: o.__dict__ if hasattr(o, "__dict__") else str(o),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def test_same_seed_gives_the_same_county():
    assert digest(demo_plan("county", 7)) == digest(demo_plan("county", 7))


def test_another_seed_gives_another_county():
    assert digest(demo_plan("county", 7)) != digest(demo_plan("county", 8))


def test_the_demo_county_has_ten_or_more_townships_and_every_kind_of_institution():
    plan = demo_plan("county")
    county = next(r for r in plan.regions if r.name == DEMO_COUNTY_NAME)
    townships = [r for r in plan.regions if r.level == RegionLevel.TOWNSHIP and r.parent_code == county.code]
    assert len(townships) >= 10
    kinds = {i.kind for i in plan.institutions if i.region_code.startswith(county.code)}
    assert kinds == set(InstitutionKind.values)


def test_id_numbers_have_valid_check_characters_and_are_unique():
    people = demo_plan("county").people
    assert len(people) == 500
    assert all(id_problem(p.id_number) is None for p in people)
    assert len({p.id_number for p in people}) == len(people)
    assert all(p.sex == 2 and int(p.id_number[16]) % 2 == 0 for p in people)


def test_institution_codes_are_valid():
    assert all(uscc_problem(i.code) is None for i in demo_plan("county").institutions)


def test_province_size_is_about_a_hundred_counties_and_forty_thousand_nodes():
    plan = demo_plan("province")
    counties = [r for r in plan.regions if r.level == RegionLevel.COUNTY]
    assert len(counties) == 100
    assert 38_000 <= len(plan.regions) + len(plan.institutions) <= 42_000


@pytest.mark.django_db
def test_loading_writes_the_plan_and_an_account_for_every_role(demo):
    plan = demo_plan("small")
    assert sorted(Region.objects.values_list("code", flat=True)) == sorted(r.code for r in plan.regions)
    assert sorted(Institution.objects.values_list("code", flat=True)) == sorted(i.code for i in plan.institutions)
    assert set(RoleAssignment.objects.values_list("role", flat=True)) == set(Role.values)
    assert Installation.current().is_demo
    # The synthetic women are in the registry, registered (and audited) by the demo clinicians.
    from mchis.audit.models import AuditEvent
    from mchis.people.models import PersonLink

    women = PersonLink.objects.filter(person__document_type="resident_id").values("person").distinct()
    assert women.count() == len(plan.people)
    # Their babies born in the demo's deliveries are children of the registry too (issue 5).
    newborns = sum(1 for p in plan.pregnancies if p.scenario in ("delivered", "closed"))
    assert PersonLink.objects.values("person").distinct().count() == len(plan.people) + newborns
    created = AuditEvent.objects.filter(action="create", object_type="people.person").count()
    assert created == len(plan.people) + newborns
    # Passwords come from the OS's random source, not the seed, and work.
    assert all(User.objects.get(username=u).check_password(c["password"]) for u, c in demo.items())


@pytest.mark.django_db
def test_township_accounts_work_at_township_health_centres(demo):
    for username in ("clinician.thc1", "custodian.thc1", "clinician.thc2"):
        assert User.objects.get(username=username).institution.kind == InstitutionKind.TOWNSHIP_HEALTH_CENTRE


@pytest.mark.django_db
def test_demo_command_writes_credentials_owner_readable_only(tmp_path, fast_passwords):
    out = tmp_path / "creds.json"
    # The audit chain head of a database deleted since: the new database's trail starts afresh.
    stale = Path(settings.MCHIS_AUDIT_ANCHOR_FILE)
    stale.write_text(f"7:{'ab' * 32} 2026-01-01T00:00:00+00:00\n")
    call_command("demo", "--size", "small", "--credentials-out", str(out), stdout=open(os.devnull, "w"))
    assert not stale.exists() and len(list(stale.parent.glob(f"{stale.name}.before-*"))) == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    accounts = json.loads(out.read_text())
    assert {"username", "password", "role", "institution_code"} <= set(accounts[0])
    assert {a["role"] for a in accounts} == set(Role.values)
    codes = set(Institution.objects.values_list("code", flat=True))
    assert all(a["institution_code"] in codes for a in accounts)


@pytest.mark.django_db
def test_demo_command_refuses_a_database_with_data_unless_asked_to_skip(demo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("demo", "--size", "small", stdout=open(os.devnull, "w"))
    before = Region.objects.count()
    call_command("demo", "--size", "small", "--if-empty", stdout=open(os.devnull, "w"))
    assert Region.objects.count() == before


@pytest.mark.django_db
def test_the_demo_has_pregnancies_in_every_stage_and_colour(demo):
    """Issue 5: the demo's women are in care at every stage, through the maternal services."""
    from mchis.demo.maternal import SCENARIOS
    from mchis.maternal.models import HighRiskCase, Pregnancy, Transfer

    plan = demo_plan("small")
    assert {p.scenario for p in plan.pregnancies} == set(SCENARIOS)
    assert plan.pregnancies == demo_plan("small").pregnancies  # deterministic
    states = set(Pregnancy.unscoped.values_list("state", flat=True))
    assert states == {"active", "delivered", "closed", "ended"}
    colours = set(Pregnancy.unscoped.values_list("risk_colour", flat=True))
    assert {"green", "yellow", "orange", "red"} <= colours
    assert Pregnancy.unscoped.filter(risk_purple=True).exists()
    assert HighRiskCase.unscoped.filter(reported_at__isnull=False).exists()
    assert Transfer.unscoped.filter(state="pending").exists()
    assert Pregnancy.unscoped.count() == len(plan.pregnancies)
