"""Django's management commands open no second path to protected data: every command has a
declared reason, and `dumpdata` and `loaddata` move reference data only, audited (P11: no
bulk download outside approved exports; P16: nothing leaves without approval; P10: audited;
P28: key secrets).

Django's own commands read through the base managers and write decrypted values:
`dumpdata --all people` would print every woman's ID number, `dumpdata accounts` every
electronic key's secret."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from mchis.access.managers import ProtectedManager
from mchis.audit.models import AuditEvent
from mchis.crypto.fields import BlindIndexField, EncryptedField
from mchis.ops.commands import FIXTURE_MODELS
from mchis.orgs.models import Institution, Region


def dump(*args) -> str:
    out = StringIO()
    call_command("dumpdata", *args, stdout=out)
    return out.getvalue()


def events(action):
    return AuditEvent.objects.filter(action=action, path__startswith="command:").order_by("id")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--all", "people.person"], "people.person"),
        (["people"], "people.person"),
        (["--all", "maternal"], "maternal.pregnancy"),
        (["accounts"], "accounts.electronickey"),
        (["accounts.user"], "accounts.user"),
        (["sessions"], "sessions.session"),
        (["audit"], "audit.auditevent"),
        ([], "people.person"),
    ],
)
def test_dumpdata_refuses_what_is_not_reference_data_and_records_the_refusal(persons, args, named):
    with pytest.raises(CommandError) as refused:
        dump(*args)
    message = str(refused.value)
    assert named in message and "approved export" in message and "orgs.region" in message
    denial = events("deny").last()
    assert denial.outcome == "denied" and denial.path == "command:dumpdata"
    assert named in json.loads(denial.extra)["models"] and "os_user" in json.loads(denial.extra)


def test_no_identifier_or_key_secret_is_written(persons, capsys):
    # The protected path of the refusal writes nothing at all, not a partial dump.
    for args in (["--all", "people"], ["accounts"]):
        out = StringIO()
        with pytest.raises(CommandError):
            call_command("dumpdata", *args, stdout=out)
        assert out.getvalue() == ""
    assert persons["P_a"].document_number not in capsys.readouterr().out


def test_excluding_the_refused_models_lets_the_rest_through(demo):
    data = json.loads(dump("orgs", "accounts", "-e", "accounts"))
    assert {o["model"] for o in data} == {"orgs.region", "orgs.institution"}


def test_reference_data_is_dumped_and_the_export_recorded(demo):
    data = json.loads(dump("orgs", "maternal.riskruletable"))
    assert sum(o["model"] == "orgs.region" for o in data) == Region.objects.count()
    assert sum(o["model"] == "orgs.institution" for o in data) == Institution.objects.count()
    export = events("export").get()
    extra = json.loads(export.extra)
    assert extra["models"] == ["maternal.riskruletable", "orgs.institution", "orgs.region"] and "os_user" in extra


def test_loaddata_loads_reference_data_and_records_it(demo, tmp_path):
    region = Region.objects.get(level=0)
    fixture = tmp_path / "regions.json"
    fixture.write_text(dump("orgs.region", "--pks", str(region.pk)), encoding="utf-8")
    Region.objects.filter(pk=region.pk).update(name="改过的名字")
    call_command("loaddata", str(fixture), stdout=StringIO())
    region.refresh_from_db()
    assert region.name != "改过的名字"
    loaded = events("update").get()
    assert loaded.path == "command:loaddata" and json.loads(loaded.extra)["objects"] == 1


def test_loaddata_refuses_a_fixture_holding_other_data_and_loads_none_of_it(demo, tmp_path):
    region = Region.objects.get(level=0)
    user = apps.get_model("accounts", "User").objects.order_by("pk").first()
    fixture = tmp_path / "mixed.json"
    fixture.write_text(
        json.dumps(
            [
                {"model": "orgs.region", "pk": region.pk, "fields": {**_region_fields(region), "name": "先载入的"}},
                # A password hash swapped in through a fixture: a way around the account services.
                {"model": "accounts.user", "pk": user.pk, "fields": {"password": "md5$x$y"}},
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match=r"accounts\.user: not reference data"):
        call_command("loaddata", str(fixture), stdout=StringIO())
    region.refresh_from_db()
    user.refresh_from_db()
    assert region.name != "先载入的" and user.password != "md5$x$y"
    denial = events("deny").get()
    assert denial.path == "command:loaddata" and json.loads(denial.extra)["models"] == ["accounts.user"]
    assert not events("update").exists()


def _region_fields(region):
    return {"code": region.code, "name": region.name, "level": region.level, "parent": None, "path": region.path}


def test_the_fixture_models_are_reference_data():
    for label in FIXTURE_MODELS:
        model = apps.get_model(label)
        assert not isinstance(model._default_manager, ProtectedManager), label
        assert not [f for f in model._meta.concrete_fields if isinstance(f, EncryptedField | BlindIndexField)], label
        assert model._meta.app_label not in ("audit", "sessions", "people"), label


def test_every_management_command_has_a_declared_reason():
    """Like the authorization matrix for URLs: a command nobody has looked at (one a new
    dependency brings, say) fails here until it is listed with why it cannot reach protected
    data, accounts or the audit trail behind the services (mchis/ops/commands.py)."""
    from django.core.management import get_commands

    from mchis.ops.commands import COMMANDS

    offered = set(get_commands())
    assert offered - set(COMMANDS) == set(), "commands without a declared reason"
    assert set(COMMANDS) - offered == set(), "declared commands that no longer exist"
    replaced = {name for name, why in COMMANDS.items() if why.startswith("replaced")}
    assert {get_commands()[name] for name in replaced} <= {"mchis.ops", "mchis.accounts", "mchis.audit"}
