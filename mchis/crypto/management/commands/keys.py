from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mchis.crypto.keyring import SUITE_NAMES, DecryptionFailed, KeysMissing, keys_init, keys_path


class Command(BaseCommand):
    help = "Manage the data keys: `keys init` creates the key file; `keys rotate` re-encrypts under a new key."
    # `keys init` must run before the key-file check can pass.
    requires_system_checks = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="create the key file (mode 0600) if it does not exist")
        init.add_argument("--suite", choices=SUITE_NAMES, default="intl")
        init.add_argument("--path", help="key file (default: MCHIS_KEYS_FILE)")
        rotate = sub.add_parser(
            "rotate",
            help="add a new active key and re-encrypt every value under it (resumes an unfinished rotation)",
        )
        rotate.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
        rotate.add_argument("--suite", choices=SUITE_NAMES, help="suite of the new key (default: the current key's)")

    def handle(self, *args, action, **options):
        if action == "init":
            path = Path(options["path"] or keys_path())
            if keys_init(path, suite=options["suite"]):
                self.stdout.write(self.style.SUCCESS(f"Created key file {path} (suite {options['suite']}, mode 0600)."))
                self.stdout.write("Back it up separately from the database: without it the data cannot be read.")
            else:
                self.stdout.write(f"Key file {path} already exists; nothing changed.")
            return
        if action == "rotate":
            self._rotate(batch_size=options["batch_size"], suite=options["suite"], verbosity=options["verbosity"])
            return
        raise CommandError(f"unknown action {action}")

    def _rotate(self, *, batch_size: int, suite: str | None, verbosity: int) -> None:
        from mchis.crypto.keyring import keyring
        from mchis.crypto.rotation import RotationError, RotationProgress, keys_rotate

        def report(p: RotationProgress) -> None:
            if verbosity >= 1:
                end = " done" if p.finished else ""
                self.stdout.write(f"{p.label}: {p.done:,}/{p.total:,} rows, {p.rows_per_second:,.0f} rows/s{end}")

        try:
            ring = keyring()
            if ring.rotating_from:
                self.stdout.write(f"Resuming the unfinished rotation {ring.rotating_from} → {ring.active.kid}.")
            else:
                self.stdout.write(f"Adding a new active key to replace {ring.active.kid}; re-encrypting every value.")
            result = keys_rotate(batch_size=batch_size, suite=suite, progress=report)
        except (KeysMissing, RotationError) as exc:
            raise CommandError(str(exc)) from exc
        except DecryptionFailed as exc:
            raise CommandError(
                f"{exc}. The rotation is unfinished: repair or clear that value, then run `keys rotate` again "
                "to continue where it stopped."
            ) from exc
        # A security action of the operator at the console: on the audit trail like any other.
        from mchis.audit.services import audit_record

        audit_record(
            action="security",
            reason=f"data key rotation {result.old_kid} -> {result.new_kid}: {result.rewritten} values rewritten",
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Rotated {result.old_kid} → {result.new_kid}: {result.rows:,} rows checked, "
                f"{result.rewritten:,} rewritten in {result.seconds:.1f} s. Key {result.old_kid} is retired "
                "but kept in the key file: backups taken before need it."
            )
        )
