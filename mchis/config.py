"""Deployment configuration read from the environment.

Every setting a deployment may change is an environment variable listed in the README;
this module is the only place that reads them, so the names stay in one list.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer; got {raw!r}") from exc


def env_float(name: str, default: float, *, low: float, high: float) -> float:
    """A number from `low` (excluded) to `high` (included), e.g. a duration in hours."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low < value <= high:  # NaN fails too
        raise ConfigError(f"{name} must be a number greater than {low:g} and at most {high:g}; got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def data_dir() -> Path:
    """The directory for local state (SQLite database, secret key, job store, key file)."""
    path = Path(env_str("MCHIS_DATA_DIR", str(BASE_DIR / "var"))).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key(directory: Path) -> str:
    """`MCHIS_SECRET_KEY`, or a key generated once into the data dir (mode 0600).

    Generating it on first run means no deployment ever runs on a key copied from the
    repository or a tutorial; keeping it in the data dir keeps sessions valid across restarts.
    """
    given = os.environ.get("MCHIS_SECRET_KEY", "").strip()
    if given:
        if len(given) < 32:
            raise ConfigError("MCHIS_SECRET_KEY must be at least 32 characters long")
        return given
    path = directory / "secret_key"
    if not path.exists():
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
    return path.read_text().strip()
