"""Masking of identifiers in lists (P20): enough to tell people apart, not to identify them."""

from __future__ import annotations

from mchis.access.policy import Withheld


def mask_name(name) -> str:
    if not name or isinstance(name, Withheld):
        return str(name or "")
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_document(number) -> str:
    """4101**********1234"""
    if not number or isinstance(number, Withheld):
        return str(number or "")
    if len(number) <= 8:
        return number[:1] + "*" * (len(number) - 1)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone) -> str:
    if not phone or isinstance(phone, Withheld):
        return str(phone or "")
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
