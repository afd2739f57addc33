from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mchis.crypto.keyring import SUITE_NAMES, keys_init, keys_path


class Command(BaseCommand):
    help = "Manage the data keys: `keys init` creates the key file; `keys rotate` re-encrypts under a new key."
    # `keys init` must run before the key-file check can pass.
    requires_system_checks = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="create the key file (mode 0600) if it does not exist")
        init.add_argument("--suite", choices=SUITE_NAMES, default="intl")
        init.add_argument("--path", help="key file (default: MCHIS_KEYS_FILE)")

    def handle(self, *args, action, **options):
        if action == "init":
            path = Path(options["path"] or keys_path())
            if keys_init(path, suite=options["suite"]):
                self.stdout.write(self.style.SUCCESS(f"Created key file {path} (suite {options['suite']}, mode 0600)."))
                self.stdout.write("Back it up separately from the database: without it the data cannot be read.")
            else:
                self.stdout.write(f"Key file {path} already exists; nothing changed.")
            return
        raise CommandError(f"unknown action {action}")
