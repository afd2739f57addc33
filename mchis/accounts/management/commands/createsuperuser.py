"""Django's `createsuperuser`, replaced: mchis has no superuser (every right comes from a role
at an institution, P17, P19), and an account made behind the services would skip the audit,
the password rules and the roles' separation of duties."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = "Not used in mchis: see `mchis account create`."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")
        parser.add_argument("--noinput", "--no-input", action="store_true")
        parser.add_argument("--username")
        parser.add_argument("--email")

    def handle(self, *args, **options):
        raise CommandError(
            _(
                "mchis has no superuser: rights come from roles at an institution. Create the first accounts "
                "(security administrator, MCH information officers, data custodians) with "
                "`mchis account create` (docs/deployment.md)."
            )
        )
