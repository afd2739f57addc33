"""The machine-client credential: its format, how the secret is made and how it is stored.

A client sends, on every request::

    Authorization: Bearer mchis_<client id>.<secret>

* `<client id>`: the client's UUID in its canonical form (36 characters, with hyphens), as
  `mchis apiclient list` shows it;
* `<secret>`: 43 characters of unpadded base64url (32 random bytes from the OS).

The `mchis_` prefix makes a leaked credential recognisable to secret scanners and in logs.
The secret is shown once, at creation, and stored only as a digest. It carries 256 bits of
randomness, so an unsalted, fast hash is as safe as a password hash is for passwords: nothing
can be guessed from the digest, and checking costs microseconds on every request. No server
key is mixed in, on purpose: the data keys rotate (`mchis keys rotate`) and a credential
must survive that. The digest is bound to the client id (a digest copied to another row does
not match) and uses the hash of the deployment's suite (SHA-256, or SM3 under `gm`), recorded
with it. It is compared in constant time.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid

from mchis.audit.integrity import hash_function
from mchis.crypto.keyring import keyring

PREFIX = "mchis_"
SCHEME = "Bearer"
SECRET_BYTES = 32
_TOKEN = re.compile(r"mchis_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})")


def secret_new() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def token_make(*, client_id: uuid.UUID, secret: str) -> str:
    return f"{PREFIX}{client_id}.{secret}"


def authorization_value(*, client_id: uuid.UUID, secret: str) -> str:
    """The exact value of the `Authorization` header a client sends."""
    return f"{SCHEME} {token_make(client_id=client_id, secret=secret)}"


def token_parse(token: str) -> tuple[uuid.UUID, str] | None:
    """(client id, secret), or None when the text is not a credential of this system."""
    match = _TOKEN.fullmatch((token or "").strip())
    if match is None:
        return None
    return uuid.UUID(match.group(1)), match.group(2)


def _digest(*, suite: str, client_id: uuid.UUID, secret: str) -> str:
    message = b"mchis api client secret\x00" + str(client_id).encode() + b"\x00" + secret.encode()
    return hash_function(suite)(message).hex()


def secret_hash(*, client_id: uuid.UUID, secret: str) -> str:
    suite = keyring().active.suite.name
    return f"{suite}:{_digest(suite=suite, client_id=client_id, secret=secret)}"


def secret_matches(*, stored: str, client_id: uuid.UUID, secret: str) -> bool:
    suite, _sep, digest = (stored or "").partition(":")
    try:
        candidate = _digest(suite=suite, client_id=client_id, secret=secret)
    except KeyError:
        return False
    return hmac.compare_digest(candidate, digest)


# Compared against when the client id names no client, so that an unknown id and a wrong
# secret take the same time.
_DUMMY = f"intl:{'0' * 64}"


def secret_check_dummy(*, client_id: uuid.UUID, secret: str) -> bool:
    secret_matches(stored=_DUMMY, client_id=client_id, secret=secret)
    return False
