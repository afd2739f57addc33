"""In-app notices: the only channel to a user inside an air-gapped deployment.

A notice carries no clinical data; it names what happened and links to the page that shows
it under that page's own access rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

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


def notice_list(*, user: User) -> QuerySet[Notice]:
    """The user's own notices: unread first, newest first within each."""
    return Notice.objects.filter(recipient=user).order_by(F("read_at").asc(nulls_first=True), "-created_at", "-pk")


def notice_unread_count(*, user: User) -> int:
    return Notice.objects.filter(recipient=user, read_at__isnull=True).count()


def notice_mark_read(*, user: User, notice_id: int | None = None) -> int:
    """Mark one of the user's notices (or all, when `notice_id` is None) read; returns how many.

    Not audited: a notice is the user's own mailbox, it holds no clinical data, and what it
    announced was audited when it happened.
    """
    qs = Notice.objects.filter(recipient=user, read_at__isnull=True)
    if notice_id is not None:
        qs = qs.filter(pk=notice_id)
    return qs.update(read_at=timezone.now())
