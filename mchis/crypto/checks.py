from django.core.checks import Error, register

from mchis.crypto.keyring import KeysMissing, keyring


@register("mchis")
def key_file_present(app_configs, **kwargs):
    """Refuse to start (runserver, serve, migrate, …) without data keys."""
    try:
        keyring()
    except KeysMissing as exc:
        return [Error(str(exc), hint="run `mchis keys init`; `make run` does it on a new machine", id="mchis.E100")]
    return []
