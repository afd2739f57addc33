"""Django's `changepassword`, replaced: it would set a password without the history and
must-change rules (P26), without ending the account's sessions, and without an audit event."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = "Not used in mchis: see `mchis account set-password`."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")

    def handle(self, *args, **options):
        raise CommandError(
            _(
                "Use `mchis account set-password USERNAME`: it gives a new initial password that the holder "
                "changes at the next sign-in, ends the account's sessions and is audited."
            )
        )
