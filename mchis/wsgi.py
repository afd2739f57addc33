import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mchis.settings")
application = get_wsgi_application()

# Refuse to serve without data keys instead of failing on the first protected request.
from mchis.crypto.keyring import keyring  # noqa: E402

keyring()
