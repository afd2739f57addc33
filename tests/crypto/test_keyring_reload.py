"""A running process picks up the key `keys rotate` adds (DESIGN "Keys and secrets")."""

import logging

from mchis.crypto import keyring as keyring_module
from mchis.crypto.keyring import keyring, keys_begin_rotation


def test_a_changed_key_file_is_reloaded_after_the_reload_interval(keyfile, monkeypatch):
    assert keyring().active.kid == "k1"
    keys_begin_rotation(keyfile.path)
    monkeypatch.setattr(keyring_module, "RELOAD_SECONDS", 3600)
    assert keyring().active.kid == "k1"  # not looked at again yet
    monkeypatch.setattr(keyring_module, "RELOAD_SECONDS", 0)
    ring = keyring()
    assert (ring.active.kid, ring.rotating_from) == ("k2", "k1")
    assert keyring() is ring  # unchanged file: the same ring


def test_a_changed_key_file_that_does_not_load_leaves_the_loaded_keys_in_use(keyfile, monkeypatch, caplog):
    ring = keyring()
    monkeypatch.setattr(keyring_module, "RELOAD_SECONDS", 0)
    keyfile.path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="mchis.crypto.keyring"):
        assert keyring() is ring
    assert "did not load" in caplog.text
    keyfile.path.unlink()
    assert keyring() is ring
