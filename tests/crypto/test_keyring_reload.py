"""A running process picks up the key `keys rotate` adds (DESIGN "Keys and secrets")."""

import logging

import pytest

from mchis.crypto import keyring as keyring_module
from mchis.crypto.keyring import keyring, keys_begin_rotation, keys_write


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


def test_a_key_file_write_that_fails_leaves_the_file_as_it_was_and_no_copy_of_the_secrets(keyfile):
    before = keyfile.path.read_bytes()
    data = keyfile.data()
    data["keys"]["k1"]["note"] = object()  # cannot be written: json.dump fails half-way
    with pytest.raises(TypeError):
        keys_write(keyfile.path, data)
    assert keyfile.path.read_bytes() == before
    assert sorted(p.name for p in keyfile.path.parent.iterdir()) == ["keys.json"]
