"""Errors of the maternal services beyond Django's ValidationError and mchis.access.errors."""

from __future__ import annotations


class VersionConflict(Exception):
    """The episode changed since the caller read it: `expected_version` is not the current one.

    Nothing was changed. The REST API answers 412 Precondition Failed (the ETag in `If-Match`
    is stale); a page asks the user to reload.
    """

    def __init__(self, *, current: int, expected: int):
        super().__init__(f"the pregnancy is at version {current}, not {expected}")
        self.current = current
        self.expected = expected
