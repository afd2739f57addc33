"""`mchis access-review [--region CODE] [--json]`: the access review (P4) on the command line.

The same findings as the security administrator's page, for one region (and everything
under it) or the whole installation, as text for a person or JSON for a script. Listing
findings is not a failure: the exit code is 0 whatever is found.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.review import access_review, access_review_record, dormant_days, findings_by_kind
from mchis.audit.context import audit_context


class Command(BaseCommand):
    help = (
        "Access review (P4): dormant and expired accounts, accounts without an electronic key, "
        "roles unusual for the institution, and users who have not accepted the current security agreement."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", metavar="CODE", help="only accounts of institutions in this region (and below)")
        parser.add_argument("--json", action="store_true", help="print machine-readable JSON")

    def handle(self, *args, **options):
        region = options["region"]
        today = timezone.localdate()
        try:
            findings = access_review(region=region, today=today)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        with audit_context(path="command:access-review"):
            access_review_record(actor=None, findings=findings, region=region or "")
        groups = findings_by_kind(findings)
        if options["json"]:
            self.stdout.write(_dump(today=today, region=region, groups=groups, findings=findings))
            return
        self.stdout.write(
            _("Access review of %(date)s, %(where)s: %(n)d findings.")
            % {
                "date": today.isoformat(),
                "where": _("region %(code)s") % {"code": region} if region else _("all institutions"),
                "n": len(findings),
            }
        )
        for _kind, label, items in groups:
            self.stdout.write("")
            self.stdout.write(f"{label} ({len(items)})")
            for f in items:
                self.stdout.write(f"  {f.username}\t{f.display_name}\t{f.institution}\t{f.detail}")


def _dump(*, today, region, groups, findings) -> str:
    return json.dumps(
        {
            "date": today.isoformat(),
            "region": region,
            "dormant_days": dormant_days(),
            "counts": {kind: len(items) for kind, _label, items in groups},
            "findings": [f.as_dict() for f in findings],
        },
        ensure_ascii=False,
        indent=2,
    )
