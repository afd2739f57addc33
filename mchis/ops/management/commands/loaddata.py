"""Django's `loaddata`, for reference data only (mchis/ops/commands.py says why), and audited."""

from django.core.management.commands.loaddata import Command as DjangoLoaddata

from mchis.audit.models import AuditAction
from mchis.ops.commands import fixtures_moved, fixtures_refuse, fixtures_refused


class _Refused(Exception):
    def __init__(self, refused: list[str]):
        super().__init__(", ".join(refused))
        self.refused = refused


class Command(DjangoLoaddata):
    help = "Load reference data (the org tree, agreements, risk rule tables) from fixtures."

    def handle(self, *fixture_labels, **options):
        try:
            super().handle(*fixture_labels, **options)
        except _Refused as exc:
            # loaddata's transaction has rolled back everything loaded before the refused
            # object; the refusal is recorded after it, so that its record stays.
            raise fixtures_refuse(exc.refused, command="loaddata") from None

    def save_obj(self, obj):
        refused = fixtures_refused([type(obj.object)])
        if refused:
            raise _Refused(refused)
        return super().save_obj(obj)

    def loaddata(self, fixture_labels):
        super().loaddata(fixture_labels)
        if self.loaded_object_count:
            # Inside loaddata's transaction: the objects and their record commit together.
            fixtures_moved(
                command="loaddata", action=AuditAction.UPDATE, models=self.models, objects=self.loaded_object_count
            )
