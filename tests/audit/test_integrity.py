"""The pure parts: MACs, id ranges, Merkle trees and proofs."""

import hashlib
import hmac

import pytest

from mchis.audit.integrity import (
    clean_text,
    hash_function,
    mac_function,
    mac_many,
    merkle_path,
    merkle_path_check,
    merkle_root,
    ranges_decode,
    ranges_encode,
    ranges_ids,
)


@pytest.mark.parametrize(("suite", "name"), [("intl", "sha256"), ("gm", "sm3")])
@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 100])
def test_the_fast_mac_is_standard_hmac(suite, name, key):
    mac = mac_function(suite, key)
    for message in (b"", b"a", b"x" * 63, b"y" * 64, "审计".encode() * 100):
        assert mac(message) == hmac.new(key, message, name).digest()


@pytest.mark.parametrize("suite", ["intl", "gm"])
@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 100])
def test_many_macs_at_once_are_the_same_macs_in_the_same_order(suite, key):
    # The verifier's batch form must agree with the MAC the write path stores, message by message.
    messages = [b"", b"a", b"x" * 63, b"y" * 64, "审计".encode() * 100, b"a"]
    one = mac_function(suite, key)
    assert mac_many(suite, key)(iter(messages)) == [one(m) for m in messages]
    assert mac_many(suite, key)([]) == []
    with pytest.raises(KeyError):
        mac_many("rot13", key)


def test_hash_functions_follow_the_suite():
    assert hash_function("intl")(b"abc") == hashlib.sha256(b"abc").digest()
    assert len(hash_function("gm")(b"abc")) == 32
    with pytest.raises(KeyError):
        hash_function("rot13")


def test_id_ranges_round_trip():
    ids = [9, 3, 4, 5, 12, 13, 20]
    assert ranges_encode(ids) == "3-5 9 12-13 20"
    assert ranges_decode("3-5 9") == [(3, 5), (9, 9)]
    assert ranges_ids(ranges_encode(ids)) == set(ids)
    assert ranges_encode([]) == "" and ranges_ids("") == set()


def test_clean_text_removes_every_control_character():
    assert clean_text("a\x1fb\x00c\x7fd\te", 100) == "a b c d e"
    assert clean_text(None, 5) == "" and clean_text("abcdef", 3) == "abc"


@pytest.mark.parametrize("size", range(1, 10))
def test_every_leaf_has_a_path_to_the_root(size):
    h = hash_function("intl")
    leaves = [hashlib.sha256(bytes([n])).digest() for n in range(size)]
    root = merkle_root(leaves, h)
    for index, leaf in enumerate(leaves):
        path = merkle_path(leaves, index, h)
        assert merkle_path_check(leaf, path, root, h)
        assert not merkle_path_check(hashlib.sha256(b"other").digest(), path, root, h)


def test_the_root_depends_on_order_and_count():
    h = hash_function("intl")
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    assert merkle_root([a, b, c], h) != merkle_root([b, a, c], h)
    assert merkle_root([a, b], h) != merkle_root([a, b, c], h)
    assert merkle_root([], h) != merkle_root([a], h)
