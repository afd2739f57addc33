"""The key ring: data keys kept outside the database (DESIGN "Keys and secrets", P2).

The key file (JSON, mode 0600, at `MCHIS_KEYS_FILE`, by default in the data dir) holds:

    {"version": 1,
     "active": "k1",                       # key id used for new encryptions
     "keys": {"k1": {"suite": "intl", "secret": "<base64 32 bytes>", "created": "…"}},
     "rotating_from": null,                # key id being replaced while `keys rotate` runs
     "audit": {"mac": "<base64 32 bytes>", "signing": "<base64 Ed25519 private key>"}}

Each data key belongs to one suite: `intl` (AES-256-GCM, HMAC-SHA256) or `gm` (SM4-GCM,
HMAC-SM3). Ciphertexts and blind indexes carry their suite and key id, so values written under
any key of the ring decrypt, and a deployment changes suite by rotating to a key of the other.
Sub-keys for encryption and blind indexes are derived from the key's secret with HKDF.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

logger = logging.getLogger(__name__)

SUITE_NAMES = ("intl", "gm")
NONCE_BYTES = 12
TAG_BYTES = 16


class KeysMissing(RuntimeError):
    """No usable key file: the system refuses to run rather than store data unencrypted."""


class DecryptionFailed(ValueError):
    """A value did not decrypt under any key of the ring (wrong key, wrong row, or tampered)."""


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Suite(abc.ABC):
    name: str
    hash_algorithm: hashes.HashAlgorithm
    enc_key_bytes: int

    def derive(self, secret: bytes, info: bytes, length: int) -> bytes:
        return HKDF(algorithm=self.hash_algorithm, length=length, salt=None, info=info).derive(secret)

    def mac(self, key: bytes, data: bytes) -> bytes:
        h = hmac.HMAC(key, self.hash_algorithm)
        h.update(data)
        return h.finalize()

    @abc.abstractmethod
    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...

    @abc.abstractmethod
    def open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes: ...


class IntlSuite(Suite):
    """AES-256-GCM and HMAC-SHA256."""

    name = "intl"
    hash_algorithm = hashes.SHA256()
    enc_key_bytes = 32

    def seal(self, key, nonce, plaintext, aad):
        return AESGCM(key).encrypt(nonce, plaintext, aad)

    def open(self, key, nonce, ciphertext, aad):
        return AESGCM(key).decrypt(nonce, ciphertext, aad)


class GmSuite(Suite):
    """SM4-GCM and HMAC-SM3 (GB/T 32907, GB/T 32905; the national algorithms of GB/T 39786)."""

    name = "gm"
    hash_algorithm = hashes.SM3()
    enc_key_bytes = 16

    def seal(self, key, nonce, plaintext, aad):
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        return enc.update(plaintext) + enc.finalize() + enc.tag

    def open(self, key, nonce, ciphertext, aad):
        body, tag = ciphertext[:-TAG_BYTES], ciphertext[-TAG_BYTES:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(body) + dec.finalize()


SUITES: dict[str, Suite] = {"intl": IntlSuite(), "gm": GmSuite()}


@dataclass(frozen=True)
class DataKey:
    kid: str
    suite: Suite
    enc_key: bytes
    index_secret: bytes

    def index_key(self, purpose: str) -> bytes:
        """A separate blind-index key per purpose (e.g. "people.Person.id_number")."""
        return self.suite.derive(self.index_secret, b"mchis blind index " + purpose.encode(), 32)


class KeyRing:
    def __init__(self, data: dict, path: Path | None = None):
        self.path = path
        self.data = data
        self.keys: dict[str, DataKey] = {}
        for kid, spec in data["keys"].items():
            suite = SUITES[spec["suite"]]
            secret = b64d(spec["secret"])
            self.keys[kid] = DataKey(
                kid=kid,
                suite=suite,
                enc_key=suite.derive(secret, b"mchis field encryption", suite.enc_key_bytes),
                index_secret=suite.derive(secret, b"mchis blind index", 32),
            )
        self.active = self.keys[data["active"]]
        self.rotating_from: str | None = data.get("rotating_from")
        audit = data["audit"]
        self.audit_mac_key = b64d(audit["mac"])
        self.audit_signing_key = Ed25519PrivateKey.from_private_bytes(b64d(audit["signing"]))
        self._index_cache: dict[tuple[str, str], bytes] = {}

    # --- encryption ---------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, aad: bytes) -> str:
        """`suite:kid:base64(nonce || ciphertext || tag)` under the active key."""
        key = self.active
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = key.suite.seal(key.enc_key, nonce, plaintext, aad)
        return f"{key.suite.name}:{key.kid}:{b64e(nonce + body)}"

    def decrypt(self, token: str, aad: bytes) -> bytes:
        try:
            suite_name, kid, body = token.split(":", 2)
            key = self.keys[kid]
            if key.suite.name != suite_name:
                raise DecryptionFailed("suite tag does not match the key's suite")
            raw = b64d(body)
            return key.suite.open(key.enc_key, raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except (InvalidTag, KeyError, ValueError) as exc:
            raise DecryptionFailed(str(exc) or type(exc).__name__) from exc

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.split(":", 2)[1]

    # --- blind indexes ------------------------------------------------------------------
    def blind_index(self, value: str, *, purpose: str, kid: str | None = None) -> str:
        """`kid:base64(HMAC(index key for purpose, value))`; exact match only."""
        key = self.keys[kid] if kid else self.active
        cache_key = (key.kid, purpose)
        mac_key = self._index_cache.get(cache_key)
        if mac_key is None:
            mac_key = self._index_cache[cache_key] = key.index_key(purpose)
        return f"{key.kid}:{b64e(key.suite.mac(mac_key, value.encode()))}"

    def blind_indexes(self, value: str, *, purpose: str) -> list[str]:
        """The index of `value` under every key that may still be in use (for lookups)."""
        kids = [self.active.kid] + ([self.rotating_from] if self.rotating_from else [])
        return [self.blind_index(value, purpose=purpose, kid=k) for k in kids]

    # --- audit --------------------------------------------------------------------------
    @property
    def audit_verify_key(self) -> Ed25519PublicKey:
        return self.audit_signing_key.public_key()

    def audit_verify_key_bytes(self) -> bytes:
        return self.audit_verify_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- the key file -------------------------------------------------------------------------
# A running process looks at the key file again at most this often and reloads it when it
# changed, so servers start encrypting under the key `keys rotate` adds (the rotation waits
# this long, plus a margin, before its final sweep for values written under the old key).
RELOAD_SECONDS = 2.0

_lock = threading.Lock()
_cached: KeyRing | None = None
_stamp: tuple | None = None
_checked_at = 0.0


def keys_path() -> Path:
    from django.conf import settings

    return Path(settings.MCHIS_KEYS_FILE)


def _file_stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def keyring() -> KeyRing:
    """The process's key ring. Raises KeysMissing when there is no key file.

    Loaded once, then reloaded when the key file changes (checked every RELOAD_SECONDS). If a
    changed file cannot be loaded, or has gone, the ring already loaded stays in use.
    """
    global _cached, _stamp, _checked_at
    ring = _cached
    if ring is not None and time.monotonic() - _checked_at < RELOAD_SECONDS:
        return ring
    with _lock:
        if _cached is None:
            path = keys_path()
            stamp = _file_stamp(path)
            _cached = keyring_load(path)
            _stamp, _checked_at = stamp, time.monotonic()
        elif time.monotonic() - _checked_at >= RELOAD_SECONDS:
            path = keys_path()
            stamp = _file_stamp(path)
            if stamp is not None and stamp != _stamp:
                try:
                    _cached = keyring_load(path)
                    _stamp = stamp
                except KeysMissing as exc:
                    logger.warning("key file changed but did not load; keeping the loaded keys: %s", exc)
            _checked_at = time.monotonic()
        return _cached


def keyring_reset() -> None:
    """Forget the loaded ring (after `keys rotate` changes the file, and in tests)."""
    global _cached, _stamp
    with _lock:
        _cached = None
        _stamp = None


def keyring_load(path: Path) -> KeyRing:
    if not path.exists():
        raise KeysMissing(
            f"no key file at {path}: run `mchis keys init` (or set MCHIS_KEYS_FILE); "
            "mchis does not run without its data keys"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeysMissing(f"key file {path} is readable by others (mode {mode:o}); make it 0600")
    try:
        return KeyRing(json.loads(path.read_text()), path)
    except (ValueError, KeyError) as exc:
        raise KeysMissing(f"key file {path} is not a valid mchis key file: {exc}") from exc


def _new_key(suite: str) -> dict:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(SUITE_NAMES)}")
    return {"suite": suite, "secret": b64e(secrets.token_bytes(32)), "created": datetime.now(UTC).isoformat()}


def keys_write(path: Path, data: dict, *, exclusive: bool = False) -> None:
    """Write the key file with mode 0600 (atomically: a crash leaves the old file intact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    else:
        # A name of its own (mode 0600), beside the file it replaces: never one another writer
        # could be filling at the same moment.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(tmp, path)
    except BaseException:
        # Never leave a copy of the secrets behind (nor, for a new file, a half-written one).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path if exclusive else tmp)
        raise


def keys_init(path: Path, *, suite: str = "intl") -> bool:
    """Create a key file if none exists. Returns False (and changes nothing) if one does."""
    if path.exists():
        return False
    signing = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    data = {
        "version": 1,
        "active": "k1",
        "keys": {"k1": _new_key(suite)},
        "rotating_from": None,
        "audit": {"mac": b64e(secrets.token_bytes(32)), "signing": b64e(signing)},
    }
    try:
        keys_write(path, data, exclusive=True)
    except FileExistsError:
        return False
    return True


def keys_begin_rotation(path: Path, *, suite: str | None = None) -> tuple[str, str]:
    """Add a new active key and remember the one it replaces. Idempotent while a rotation runs.

    Returns (old kid, new kid).
    """
    data = json.loads(path.read_text())
    if data.get("rotating_from"):
        return data["rotating_from"], data["active"]
    old = data["active"]
    n = 1 + max(int(k[1:]) for k in data["keys"])
    new = f"k{n}"
    data["keys"][new] = _new_key(suite or data["keys"][old]["suite"])
    data["active"] = new
    data["rotating_from"] = old
    keys_write(path, data)
    return old, new


def keys_finish_rotation(path: Path) -> None:
    """Mark the rotation complete. The old key is kept (backups made before still need it)."""
    data = json.loads(path.read_text())
    old = data.get("rotating_from")
    if old:
        data["keys"][old]["retired"] = datetime.now(UTC).isoformat()
        data["rotating_from"] = None
        keys_write(path, data)
