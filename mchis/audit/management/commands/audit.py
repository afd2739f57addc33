from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mchis.audit.anchors import anchor_latest, anchor_path
from mchis.audit.context import audit_context
from mchis.audit.models import AuditAction, AuditEvent, AuditOutcome, AuditSeal
from mchis.audit.services import GAP_HORIZON, audit_record, audit_seal
from mchis.audit.verify import audit_verify

# Sealing runs every few seconds; events this old and unsealed mean it has stopped.
SEALING_LATE = timedelta(minutes=10)


def _anchor(text: str) -> tuple[int, str]:
    number, _sep, seal_hash = text.partition(":")
    if not number.isdigit() or len(seal_hash) != 64:
        raise CommandError("--anchor is NUMBER:SEAL_HASH, as printed by `mchis audit seal`")
    return int(number), seal_hash.lower()


class Command(BaseCommand):
    help = (
        "The audit trail: `audit seal` seals every pending event now; "
        "`audit verify` checks every event, seal, link and signature."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        seal = sub.add_parser("seal", help="seal every committed event that no seal covers yet")
        seal.add_argument(
            "--delay", type=float, default=0.0, help="leave events younger than this many seconds for later"
        )
        verify = sub.add_parser("verify", help="recompute every event MAC, Merkle root, seal link and signature")
        verify.add_argument(
            "--anchor",
            help="NUMBER:SEAL_HASH of a seal recorded outside the database "
            "(default: the one in MCHIS_AUDIT_ANCHOR_FILE, written by every sealing run)",
        )
        verify.add_argument("--progress", action="store_true", help="report progress as parts are checked")
        verify.add_argument("--workers", type=int, help="processes to use (default: one per CPU, up to 8)")

    def handle(self, *args, action, **options):
        if action == "seal":
            seals = audit_seal(safety_delay=timedelta(seconds=options["delay"]))
            events = sum(s.count for s in seals)
            self.stdout.write(f"Sealed {events} events in {len(seals)} seals.")
            head = AuditSeal.objects.order_by("-number").first()
            if head is not None:
                # Kept outside the database, this lets `verify --anchor` detect a trail cut short.
                self.stdout.write(f"Head of the chain: {head.number}:{head.seal_hash}")
            return
        if action == "verify":
            if options["anchor"]:
                anchor = _anchor(options["anchor"])
            else:
                try:
                    anchor = anchor_latest()
                except ValueError as exc:
                    raise CommandError(f"{exc}: give the head to check with --anchor") from exc
                if anchor is None:
                    self.stdout.write(
                        f"No chain head recorded outside the database yet ({anchor_path()}): a trail cut "
                        "short at its newest seals would not show."
                    )
            result = audit_verify(
                stream=self.stdout if options["progress"] else None, anchor=anchor, workers=options["workers"]
            )
            with audit_context(path="command:audit verify"):
                audit_record(
                    action=AuditAction.SECURITY,
                    object_type="audit.seal",
                    outcome=AuditOutcome.OK if result.ok else AuditOutcome.FAILED,
                    reason="audit trail verification",
                    extra={"events": result.events, "seals": result.seals, "problems": result.problem_count},
                )
            if anchor is not None:
                self.stdout.write(f"Checked against the chain head kept outside the database: seal {anchor[0]}.")
            self.stdout.write(
                f"Checked {result.events} events ({result.sealed} sealed, {result.unsealed} not sealed yet) "
                f"and {result.seals} seals in {result.seconds:.1f} s ({result.events_per_second:,.0f} events/s)."
            )
            self._warn_if_sealing_stopped(result.unsealed)
            self._warn_if_stranded(result.unsealed_in_gaps)
            if result.ok:
                self.stdout.write(self.style.SUCCESS("The audit trail is intact."))
                return
            for problem in result.problems:
                self.stderr.write(str(problem))
            if result.problem_count > len(result.problems):
                self.stderr.write(f"… {result.problem_count - len(result.problems)} more problems.")
            raise CommandError(f"the audit trail is NOT intact; first problem: {result.first}", returncode=2)
        raise CommandError(f"unknown action {action}")

    def _warn_if_sealing_stopped(self, unsealed: int) -> None:
        """Events are sealed within seconds; older unsealed ones mean the worker is not
        sealing, and until it does, their removal would not show."""
        if not unsealed:
            return
        head = AuditSeal.objects.order_by("-number").values_list("last_id", flat=True).first()
        oldest = AuditEvent.objects.filter(id__gt=head or 0).order_by("id").values_list("at", flat=True).first()
        if oldest is not None and timezone.now() - oldest > SEALING_LATE:
            self.stderr.write(
                self.style.WARNING(
                    f"{unsealed} events are not sealed yet, the oldest from {oldest:%Y-%m-%d %H:%M} UTC: "
                    "is the worker running (`mchis run_huey`)? Run `mchis audit seal` now."
                )
            )

    def _warn_if_stranded(self, in_gaps: list[int]) -> None:
        """A late commit is sealed as late within a day of the seal whose gaps hold its id
        (GAP_HORIZON); one that commits after that no seal will ever cover."""
        horizon = timezone.now() - GAP_HORIZON
        stranded = [
            eid
            for eid in in_gaps
            if AuditSeal.objects.filter(first_id__lte=eid, last_id__gte=eid, sealed_at__lt=horizon).exists()
        ]
        if stranded:
            self.stderr.write(
                self.style.WARNING(
                    f"{len(stranded)} events (first: {stranded[0]}) committed into ranges sealed more than a day "
                    "before, and no seal covers them: their removal would not show. A transaction held open "
                    "that long, or rows written past the application: see docs/operations.md (Audit trail)."
                )
            )
