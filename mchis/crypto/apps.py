from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "mchis.crypto"
    label = "crypto"

    def ready(self):
        from mchis.crypto import checks  # noqa: F401  (registers the key-file check)
