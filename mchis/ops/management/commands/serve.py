import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

# Written by `mchis demo --credentials-out` in `make run` (Makefile).
CREDENTIALS_FILE = "demo-credentials.json"


def login_instructions(*, addrport: str, credentials: Path) -> str:
    """How to log in, printed on every start (not only the first, when the demo is loaded):
    the demo accounts with their password and second-factor secret, where they are kept, and
    how to get the code the second-factor page asks for (P28)."""
    lines = [f"mchis is starting at http://{addrport}/"]
    if not credentials.exists():
        lines.append(
            "Log in with an account set up by `mchis account create` or by your institution's request; "
            "the first login asks to enrol an electronic key (an authenticator app)."
        )
        return "\n".join(lines)
    accounts = json.loads(credentials.read_text())
    lines.append(f"Demo accounts (synthetic data), also in {credentials} (readable by you only):")
    lines.append(f"  {'username':<22} {'password':<16}  {'TOTP secret':<32}  role")
    for c in accounts:
        lines.append(f"  {c['username']:<22} {c['password']:<16}  {c.get('totp_secret', ''):<32}  {c['role']}")
    first = next((c for c in accounts if c.get("totp_secret")), {"username": "", "totp_secret": "SECRET"})
    secret = first["totp_secret"]
    code_command = f'import pyotp; print(pyotp.TOTP("{secret}").now())'
    lines += [
        "To log in: the password, then the 6-digit code of the account's authenticator app (second factor).",
        "Add the account's TOTP secret to an app such as FreeOTP, or print its current code with this",
        f"command (here for {first['username']}; put the secret of another account in its place):",
        f"  {shlex.quote(sys.executable)} -c {shlex.quote(code_command)}",
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Run the web server and the job worker together (the `make run` demo set-up)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true", help="do not start the huey worker")

    def handle(self, *args, addrport, no_worker, **options):
        self.stdout.write(login_instructions(addrport=addrport, credentials=settings.DATA_DIR / CREDENTIALS_FILE))
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
