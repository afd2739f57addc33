"""Fixtures of the maternal tests: women registered for pregnancy care at known institutions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mchis.people.identifiers import id_make


@pytest.fixture
def today():
    from django.utils import timezone

    return timezone.localdate()


@pytest.fixture
def number():
    """A fresh resident ID number of a woman of the given birth date in the demo county."""
    used = set()

    def make(born: date = date(1995, 3, 4), area: str = "410121") -> str:
        for seq in range(0, 999, 2):
            n = id_make(area_code=area, born=born, sequence=seq)
            if n not in used:
                used.add(n)
                return n
        raise AssertionError("no sequence left")

    return make


@pytest.fixture
def register(actors, number, today):
    """Register a pregnancy through the service, with sensible defaults."""
    from mchis.maternal.services import pregnancy_register

    def _register(username="clinician.thc1", *, born=date(1995, 3, 4), weeks=10, **overrides):
        actor = actors[username]
        area = actor.institution.region_path.split("/")[4][:6]
        values = {
            "document_type": "resident_id",
            "document_number": number(born, area),
            "name": "王秀英",
            "birth_date": born,
            "phone": "13800138000",
            "address": "安平县某镇某村3号",
            "lmp": today - timedelta(weeks=weeks),
            "gravidity": 1,
            "parity": 0,
        }
        values.update(overrides)
        return pregnancy_register(actor=actor, institution=actor.institution, **values)

    return _register


MAX_PAGE = 200_000  # old PCs: every page under 200 KB


def light(response) -> str:
    """The page's HTML, after checking it rendered and is small."""
    assert response.status_code == 200, response.status_code
    assert len(response.content) < MAX_PAGE, len(response.content)
    return response.content.decode()


def field_errors(html: str) -> list[str]:
    """The messages shown beside fields (and above the form), as the user reads them."""
    import re

    return re.findall(r'class="(?:field-error|alert alert-danger)" role="alert">([^<]*)<', html)


def same_not_found(a, b) -> bool:
    """Two 404 answers that differ only in the per-render CSRF token and the echoed path."""
    import re

    def normalised(response):
        text = response.content.decode()
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
        return re.sub(r'name="next" value="[^"]+"', "", text)

    return a.status_code == b.status_code == 404 and normalised(a) == normalised(b)
