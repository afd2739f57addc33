"""`make run` on a fresh Debian machine: what the Makefile installs and runs before the app.

These run make itself. Debian's package manager cannot run inside a test (root, network), so
the one that installs runs with a stand-in `apt-get` first on PATH that records its arguments.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
MO = "mchis/locale/zh_Hans/LC_MESSAGES/django.mo"

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run([MAKE, "-C", str(ROOT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_translations_are_compiled_after_msgfmt_is_made_available():
    # A dry run of what a fresh checkout does for the .mo file (-B: as if nothing were built).
    plan = make("-n", "-B", MO).stdout
    assert "apt-get install -y -q gettext" in plan
    assert plan.index("command -v msgfmt") < plan.index("compilemessages")


@pytest.fixture
def bare_path(tmp_path):
    """A PATH without msgfmt, holding a recording apt-get (and sudo, for a non-root run)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt-get.log"
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in ("apt-get", "sudo"):
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "id").symlink_to(shutil.which("id"))
    return bin_dir, log


def test_gettext_is_installed_with_apt_when_msgfmt_is_missing(bare_path):
    bin_dir, log = bare_path
    result = make("gettext", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "Installing Debian's gettext" in result.stdout
    assert log.read_text().splitlines() == ["install -y -q gettext"]


def test_nothing_is_installed_when_msgfmt_is_there(bare_path):
    bin_dir, log = bare_path
    (bin_dir / "msgfmt").write_text("#!/bin/sh\n")
    (bin_dir / "msgfmt").chmod(0o755)
    result = make("gettext", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "Installing" not in result.stdout
    assert not log.exists()


def test_pip_and_setuptools_are_pinned_in_the_new_venv():
    plan = make("-n", "-B", ".venv/bin/python").stdout
    pip_line = next(line for line in plan.splitlines() if "pip install" in line)
    assert "pip==" in pip_line and "setuptools==" in pip_line and "--upgrade" not in pip_line
