"""Where an action comes from: set once per request (or job) so services need not pass it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class AuditContext:
    source_ip: str = ""
    request_id: str = ""
    path: str = ""
    user_agent: str = ""
    # Set when the request's refusal has been audited already, so the middleware does not
    # write a second denial for the same request.
    denial_recorded: bool = False
    # Events written during the request (the API writes one of its own for a call that
    # recorded none: mchis.api.middleware). A caller that rolls back restores what `mark`
    # returned.
    events: int = 0
    # The reads of a web request, collected to be written as one event when the response is
    # ready (`audit.services.reads_flush`, from AuditContextMiddleware); None where reads are
    # written at once (jobs, commands, and once the request's event is written).
    reads: list | None = None
    # Refusals written inside a transaction: (event id, MAC, arguments). The refused action's
    # transaction often rolls back and takes its refusal with it; `audit.services.
    # denials_settle` writes those again once the request (or job) is over.
    denials_open: list = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        """Whether the request has written an event or collected a read to write."""
        return bool(self.events or self.reads)

    def mark(self) -> tuple[int, bool, int | None]:
        return self.events, self.denial_recorded, None if self.reads is None else len(self.reads)

    def restore(self, mark: tuple[int, bool, int | None]) -> None:
        """After a rollback: forget the events and reads recorded since `mark`."""
        self.events, self.denial_recorded, reads = mark
        if reads is not None and self.reads is not None:
            del self.reads[reads:]


_current: ContextVar[AuditContext | None] = ContextVar("mchis_audit_context", default=None)


def context_current() -> AuditContext | None:
    return _current.get()


@contextlib.contextmanager
def audit_context(
    *, path: str, source_ip: str = "", request_id: str = "", user_agent: str = ""
) -> Iterator[AuditContext]:
    """Context for work outside a web request (jobs, commands): e.g. path="job:backup"."""
    ctx = AuditContext(source_ip=source_ip, request_id=request_id or uuid.uuid4().hex, path=path, user_agent=user_agent)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        try:
            if ctx.denials_open:
                from mchis.audit.services import denials_settle

                denials_settle(ctx)
        finally:
            _current.reset(token)


def context_enter(ctx: AuditContext):
    return _current.set(ctx)


def context_exit(token) -> None:
    _current.reset(token)
