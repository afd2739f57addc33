"""Django's `dumpdata`, for reference data only (mchis/ops/commands.py says why), and audited."""

from django.core.management.commands.dumpdata import Command as DjangoDumpdata

from mchis.audit.models import AuditAction
from mchis.ops.commands import fixture_models, fixtures_moved, fixtures_refuse, fixtures_refused


class Command(DjangoDumpdata):
    help = "Write reference data (the org tree, agreements, risk rule tables) as a fixture."

    def handle(self, *app_labels, **options):
        models = fixture_models(app_labels, options["exclude"])
        refused = fixtures_refused(models)
        if refused:
            raise fixtures_refuse(refused, command="dumpdata")
        super().handle(*app_labels, **options)
        # Once the output is complete: a dump that failed disclosed nothing to record.
        fixtures_moved(command="dumpdata", action=AuditAction.EXPORT, models=models)
