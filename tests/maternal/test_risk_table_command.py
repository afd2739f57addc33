"""`mchis risk-table`: a deployment keeps its own version of the grading rules as data, never
by editing code or a table in place (DOMAIN "Pregnancy risk grading": editable by a
deployment; installation audited, P10)."""

import json

import pytest
from django.core.management import CommandError, call_command

from mchis.audit.models import AuditEvent
from mchis.maternal.models import RiskRuleTable
from mchis.maternal.risk import active_table

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("risk-table", *args, stdout=out)
    return out.getvalue()


def table_events():
    return AuditEvent.objects.filter(object_type="maternal.riskruletable")


def test_a_deployment_exports_edits_installs_and_activates_its_own_version(tmp_path):
    original, original_rules = active_table()
    exported = json.loads(run("export"))
    assert exported["version"] == original.version and len(exported["rules"]) == len(original_rules)
    # The county lowers the age threshold of one rule: a new version, the 2017 one untouched.
    rule = next(r for r in exported["rules"] if r["predicate"] == {"fact": "age", "op": ">=", "value": 35})
    rule["predicate"]["value"] = 34
    path = tmp_path / "county.json"
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")

    assert "active" in run("install", str(path), "--version", "2026-county", "--name", "本县修订")
    table, rules = active_table()
    assert table.version == "2026-county" and len(rules) == len(original_rules)
    assert next(r for r in rules if r.code == rule["code"]).predicate["value"] == 34
    original.refresh_from_db()
    assert not original.is_active and original.rules.count() == len(original_rules)
    event = table_events().get(action="create")
    assert event.object_ids == str(table.pk) and '"os_user"' in event.extra and "2026-county" in event.reason
    assert event.path == "command:risk-table install"

    listing = run("list")
    assert "* 2026-county" in listing and f"  {original.version}" in listing
    run("activate", original.version)
    assert active_table()[0] == original
    assert table_events().filter(action="update").count() == 1


def test_a_bad_table_is_refused_naming_the_rule_and_nothing_changes(tmp_path):
    before, events = RiskRuleTable.objects.count(), table_events().count()
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps([{"code": "X1", "colour": "blue", "label_zh": "某", "label_en": "x", "predicate": {"fact": "age"}}]),
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as exc:
        run("install", str(path), "--version", "bad", "--name", "坏表")
    assert "rules[0]" in str(exc.value) and "colour" in str(exc.value)
    (tmp_path / "empty.json").write_text("[]", encoding="utf-8")
    with pytest.raises(CommandError, match="rules"):
        run("install", str(tmp_path / "empty.json"), "--version", "empty", "--name", "空表")
    with pytest.raises(CommandError, match="version"):
        run("install", str(path), "--version", active_table()[0].version, "--name", "重复")
    with pytest.raises(CommandError):
        run("activate", "no-such-version")
    assert RiskRuleTable.objects.count() == before and table_events().count() == events
