"""In-app notices: the only channel to a user inside an air-gapped deployment.

A notice carries no clinical data; it names what happened and links to the page that shows
it under that page's own access rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from mchis.accounts.models import Notice, User


def notice_send(*, recipients: Iterable[User], kind: str, title: str, body: str = "", url: str = "") -> int:
    """Writes one notice per distinct recipient in the caller's transaction; returns how many."""
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(Notice(recipient=user, kind=kind, title=title[:200], body=body, url=url[:200]))
    with transaction.atomic():
        Notice.objects.bulk_create(rows)
    return len(rows)
