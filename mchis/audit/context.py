"""Where an action comes from: set once per request (or job) so services need not pass it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class AuditContext:
    source_ip: str = ""
    request_id: str = ""
    path: str = ""
    user_agent: str = ""
    # Set when the request's refusal has been audited already, so the middleware does not
    # write a second denial for the same request.
    denial_recorded: bool = False
    # Events written during the request (the API writes one of its own for a call that wrote
    # none: mchis.api.middleware). A caller that rolls back restores both fields.
    events: int = 0


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
        _current.reset(token)


def context_enter(ctx: AuditContext):
    return _current.set(ctx)


def context_exit(token) -> None:
    _current.reset(token)
