"""Withheld fields are shown as withheld wherever a person is rendered (P17)."""

import re

import pytest

from mchis.access.masking import mask_document, mask_name, mask_phone
from mchis.access.policy import WITHHELD

pytestmark = pytest.mark.django_db


def search_cells(client, number: str) -> list[str]:
    html = client.post("/people/", {"q": number}).content.decode()
    row = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    return re.findall(r"<td>(.*?)</td>", row, re.S)


@pytest.mark.parametrize("mask", [mask_name, mask_document, mask_phone])
def test_masking_a_withheld_field_says_withheld(mask):
    assert mask(WITHHELD) == "withheld"
    assert mask(None) == "" and mask("") == ""


def test_a_leader_s_search_results_mark_identifiers_withheld(login, persons):
    """A leader (L3) finds a person of her institution: the name, number, phone and birth year
    columns say withheld, none is silently empty."""
    cells = search_cells(login("leader.thc1"), persons["P_b"].document_number)
    assert cells[:4] == ["已屏蔽"] * 4, cells
