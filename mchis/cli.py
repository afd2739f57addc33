"""The `mchis` console command: Django's management commands and the project's own."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mchis.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["mchis", *sys.argv[1:]])


if __name__ == "__main__":
    main()
