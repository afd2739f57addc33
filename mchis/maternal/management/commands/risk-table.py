"""`mchis risk-table list|export|install|activate`: the pregnancy risk grading rules as data.

    mchis risk-table list
    mchis risk-table export [VERSION] > table.json      # the active table when no version
    mchis risk-table install table.json --version V --name N [--effective-from YYYY-MM-DD]
                             [--source TEXT] [--no-activate]
    mchis risk-table activate VERSION

The 2017 tables are installed by a migration; a deployment's own version (or a later national
one) is installed from a JSON file: a list of rules, or an object with a "rules" list, each
rule {"code", "colour", "section", "label_zh", "label_en", "predicate"}, the form `export`
writes. Versions are never edited in place (gradings name the version that made them).
Installation and activation are audited with the operating-system account that ran them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.audit.context import audit_context
from mchis.maternal.models import RiskRuleTable
from mchis.maternal.risk import risk_table_activate, risk_table_install, risk_table_rules
from mchis.ops.commands import command_error, operator


class Command(BaseCommand):
    help = "The pregnancy risk grading rule tables: list, export, install a new version, activate one."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="installed versions, the active one marked")
        export = sub.add_parser("export", help="print a table's rules as JSON (the active table by default)")
        export.add_argument("version", nargs="?", help="the version to export")
        install = sub.add_parser("install", help="install a new version from a JSON file")
        install.add_argument("file", type=Path, help="JSON: a list of rules, or an object with a 'rules' list")
        install.add_argument("--version", dest="table_version", required=True, help="a new, unused version name")
        install.add_argument("--name", required=True, help="what the table is")
        install.add_argument(
            "--effective-from", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
        )
        install.add_argument("--source", default="", help="where the rules come from")
        install.add_argument(
            "--no-activate", dest="activate", action="store_false", help="install without making it the active table"
        )
        activate = sub.add_parser("activate", help="make an installed version the active table")
        activate.add_argument("version")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _list(self, **_options):
        for t in RiskRuleTable.objects.order_by("effective_from", "version"):
            mark = "*" if t.is_active else " "
            self.stdout.write(f"{mark} {t.version}\t{t.effective_from}\t{t.rules.count()}\t{t.name}")

    def _export(self, *, version, **_options):
        table = (
            RiskRuleTable.objects.filter(version=version).first()
            if version
            else RiskRuleTable.objects.filter(is_active=True).first()
        )
        if table is None:
            raise CommandError(_("no installed table has this version"))
        out = {
            "version": table.version,
            "name": table.name,
            "effective_from": table.effective_from.isoformat(),
            "source": table.source,
            "rules": risk_table_rules(table),
        }
        self.stdout.write(json.dumps(out, ensure_ascii=False, indent=2))

    def _install(self, *, file: Path, table_version, name, effective_from, source, activate, **_options):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        rules = data.get("rules") if isinstance(data, dict) else data
        if not isinstance(rules, list):
            raise CommandError(_("the file holds no list of rules"))
        try:
            with audit_context(path="command:risk-table install"):
                table = risk_table_install(
                    version=table_version,
                    name=name,
                    effective_from=effective_from or timezone.localdate(),
                    rules=rules,
                    source=source,
                    activate=activate,
                    extra=operator(),
                )
        except ValidationError as exc:
            raise command_error(exc) from None
        state = _("active") if table.is_active else _("installed, not active")
        self.stdout.write(f"{table.version}: {table.rules.count()} rules, {state}")

    def _activate(self, *, version, **_options):
        try:
            with audit_context(path="command:risk-table activate"):
                table = risk_table_activate(version=version, extra=operator())
        except ValidationError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"{table.version}: {_('active')}")
