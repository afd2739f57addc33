"""Every page a role reaches by following links opens for it (P17: the navigation offers
what the matrix allows, nothing else) and is light enough for a township centre's old PC
(under 200 KB): each demo account, signed in, follows the links of its pages."""

import re
from collections import deque

import pytest

pytestmark = pytest.mark.django_db

LINK = re.compile(r'href="(/[^"#]*)"')
PAGES_PER_ACCOUNT = 80  # breadth first: every menu and first-level page, and records from lists
MAX_PAGE_BYTES = 200_000


def test_every_linked_page_opens_for_the_role_that_sees_the_link(login, demo):
    problems = []
    for username in sorted(demo):
        client = login(username)
        seen: set[str] = set()
        queue = deque(["/"])
        while queue and len(seen) < PAGES_PER_ACCOUNT:
            url = queue.popleft()
            if url in seen or url.startswith("/static/") or "logout" in url:
                continue
            seen.add(url)
            response = client.get(url)
            if response.status_code not in (200, 302) or len(response.content) > MAX_PAGE_BYTES:
                problems.append((username, url, response.status_code, len(response.content)))
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                queue.extend(h.replace("&amp;", "&") for h in LINK.findall(response.content.decode()))
        assert len(seen) > 5, f"{username} reached almost nothing: {seen}"
    assert not problems, problems
