from django.http import Http404
from django.utils.translation import gettext_lazy as _


class RecordNotFound(Http404):
    """Raised both when a record does not exist and when the actor may not see it.

    One exception, rendered as the same 404 by pages and API alike, so the answer never tells
    whether a record the actor may not see exists (DESIGN "The one path", step 5).
    """

    def __init__(self):
        super().__init__(_("Not found."))


class NotAllowed(Exception):
    """The actor may not perform this write (the target itself is visible to them)."""


class StaleVersion(Exception):
    """A change was based on a version of the record that is no longer current.

    Raised by services that take `expected_version` (optimistic concurrency: the API's
    If-Match), after comparing it with the row locked inside the write's transaction, so
    that of two changes based on the same version exactly one succeeds. Nothing was changed.
    """

    def __init__(self, *, current: int):
        super().__init__(f"stale version (current: {current})")
        self.current = current
