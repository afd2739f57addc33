import json
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and the job worker together (the `make run` demo set-up)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true", help="do not start the huey worker")

    def handle(self, *args, addrport, no_worker, **options):
        self._print_login(addrport)
        worker = None
        if not no_worker:
            worker = subprocess.Popen([sys.executable, "-m", "mchis", "run_huey", "--workers", "1"])
        try:
            call_command("runserver", addrport, use_reloader=False, use_threading=True)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGINT)
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()

    def _print_login(self, addrport):
        self.stdout.write(self.style.SUCCESS(f"mchis is starting at http://{addrport}/"))
        creds = settings.DATA_DIR / "demo-credentials.json"
        if creds.exists():
            accounts = json.loads(creds.read_text())
            self.stdout.write(f"Demo accounts (synthetic data; passwords in {creds}):")
            for c in accounts:
                self.stdout.write(f"  {c['username']:<22} {c['password']}  {c['role']}")
        else:
            self.stdout.write(
                "Log in with an account created by `mchis createsuperuser` or your security administrator."
            )
