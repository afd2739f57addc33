"""Resident identity numbers (居民身份证号, GB 11643-1999).

18 characters: 6-digit address code (GB/T 2260), birth date YYYYMMDD, 3-digit sequence
(odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.orgs.codes import PROVINCE_PREFIXES

# The address code starts with a GB/T 2260 province; 83 is Taiwan residents' residence
# permits, which are numbered as resident ID numbers. Only the province is checked: county
# codes change with every GB/T 2260 revision, and a number keeps the code it was issued with.
_ID_PROVINCES = PROVINCE_PREFIXES | {"83"}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$", re.ASCII)


def id_check_char(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _halfwidth(value: str) -> str:
    """Full-width digits, letters, hyphens and spaces (what a Chinese input method types in
    its full-width mode) as their ASCII forms (NFKC): one number however it was typed."""
    return unicodedata.normalize("NFKC", value or "")


def id_normalise(value: str) -> str:
    """Half-width, upper-case (lower-case x is the same as X), without spaces."""
    return "".join(_halfwidth(value).split()).upper()


def id_problem(value: str, *, today: date | None = None) -> str | None:
    """Why `value` is not a valid resident ID number, or None."""
    number = id_normalise(value)
    if not _SHAPE.match(number):
        return _("a resident ID number is 17 digits followed by a digit or X (GB 11643)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return _("positions 7-14 of a resident ID number must be a real birth date YYYYMMDD (GB 11643)")
    if number[:2] not in _ID_PROVINCES:
        return _("the first two digits of a resident ID number must be a province code (GB 11643, GB/T 2260)")
    # The deployment's date (MCHIS_TIME_ZONE), not the server clock's: from 16:00 UTC it is
    # already tomorrow in China, and a baby born then is not born in the future.
    if born > (today or timezone.localdate()):
        return _("the birth date in a resident ID number cannot be in the future (GB 11643)")
    if id_check_char(number[:17]) != number[17]:
        return _("the check character (position 18) of the resident ID number is wrong (GB 11643, ISO 7064 MOD 11-2)")
    return None


def id_make(*, area_code: str, born: date, sequence: int) -> str:
    """Build a valid number: for the demo generator and tests."""
    first17 = f"{area_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def id_sex(number: str) -> int:
    """GB/T 2261.1 sex code from the sequence: 1 male, 2 female."""
    return 1 if int(number[16]) % 2 else 2


# Spaces and hyphens only between digits: "1-----" is no phone number.
_PHONE = re.compile(r"^\+?\d(?:[\- ]*\d){5,19}$", re.ASCII)
# A mainland mobile number with the country code: 11 digits starting with 1 after +86.
_CN_MOBILE = re.compile(r"^\+861\d{10}$", re.ASCII)


def phone_normalise(value: str) -> str:
    """Digits only (and a leading +): "138-0013 8000", "１３８００１３８０００", "+86 138 0013 8000"
    and "13800138000" are one number. A mainland mobile loses its country code, so a lookup
    finds her however it was typed; other numbers keep theirs (a landline after +86 would need
    its trunk 0 back, which only its area code tells)."""
    value = _halfwidth(value).strip()
    number = ("+" if value.startswith("+") else "") + re.sub(r"[^0-9]", "", value)
    return number[3:] if _CN_MOBILE.match(number) else number


def phone_problem(value: str) -> str | None:
    if not _PHONE.match(_halfwidth(value).strip()):
        return _("a phone number holds 6 to 20 digits only (spaces or hyphens between them and a leading + allowed)")
    return None
