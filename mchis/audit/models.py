"""The audit trail's tables: events, their object index, and seals. All three are append-only.

Design notes (the module docstring of `mchis.audit.services` explains sealing):

* Events hold metadata only: who, when, from where, what kind of action on which object ids
  and which field NAMES. Never a clinical value.
* Lists (object ids, field names, gap ranges) are stored as space-separated text: the stored
  text is exactly what the event's MAC covers, so the verifier hashes columns as they come
  from the database without parsing JSON (whose text form PostgreSQL's jsonb normalises).
* `actor` and `institution` are references without database constraints: the trail must
  neither block nor cascade from changes elsewhere, and it keeps a copy of the username.
  `AuditObjectRef.event` has none either (see there).
* A migration that changes a field of an audit table makes SQLite rebuild the table, which
  drops its triggers: such a migration puts them back (audit 0004), and
  tests/audit/test_append_only.py checks every table has them after all migrations.
* `AuditObjectRef` repeats each (object type, object id) of an event as its own row so that
  "who saw this record" is one index range scan on SQLite and PostgreSQL alike; the
  verifier checks that these rows agree with the ids the event's MAC covers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mchis.audit.integrity import ref_pairs


class AuditAction(models.TextChoices):
    READ = "read", _("read")
    CREATE = "create", _("create")
    UPDATE = "update", _("update")
    DELETE = "delete", _("delete")
    DENY = "deny", _("denied")
    LOGIN = "login", _("login")
    LOGIN_FAILED = "login_failed", _("login failed")
    LOGOUT = "logout", _("logout")
    SECURITY = "security", _("security action")
    BREAK_GLASS = "break_glass", _("break-glass access")
    EXPORT = "export", _("export")
    APPROVAL = "approval", _("approval decision")


# Actions that disclose data to the actor ("what did this user see").
DISCLOSING_ACTIONS = (AuditAction.READ, AuditAction.EXPORT, AuditAction.BREAK_GLASS)


class AuditOutcome(models.TextChoices):
    OK = "ok", _("succeeded")
    DENIED = "denied", _("denied")
    FAILED = "failed", _("failed")


class AppendOnly(models.Model):
    """Refuses updates and deletes in Python; database triggers refuse them in SQL as well."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("the audit trail is append-only: rows are never changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("the audit trail is append-only: rows are never deleted")


class AuditEvent(AppendOnly):
    # Drawn from the table's own sequence by audit_record before the INSERT: the MAC covers it.
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("time"))
    suite = models.CharField(max_length=8)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_username = models.CharField(_("username"), max_length=150, blank=True)
    institution = models.ForeignKey(
        "orgs.Institution",
        verbose_name=_("institution"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=20, choices=AuditAction.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.OK)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_ids = models.TextField(_("object ids"), blank=True)
    field_names = models.TextField(_("fields"), blank=True)
    purpose = models.CharField(_("purpose of use"), max_length=100, blank=True)
    reason = models.CharField(_("reason"), max_length=1000, blank=True)
    source_ip = models.CharField(_("source IP"), max_length=45, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    path = models.CharField(_("request path"), max_length=300, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=200, blank=True)
    extra = models.TextField(blank=True)
    mac = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["at"], name="audit_event_at"),
            models.Index(fields=["actor", "id"], name="audit_event_actor"),
            models.Index(fields=["institution", "id"], name="audit_event_institution"),
            models.Index(fields=["action", "id"], name="audit_event_action"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.actor_username or '-'}"

    @property
    def object_id_list(self) -> list[str]:
        return self.object_ids.split()

    @property
    def field_name_list(self) -> list[str]:
        return self.field_names.split()

    @property
    def object_refs(self) -> list[tuple[str, str]]:
        """(type, id) of each object: an event of several kinds names the type of each id."""
        return ref_pairs(self.object_type, self.object_id_list)

    @property
    def object_kinds(self) -> list[str]:
        return list(dict.fromkeys(t for t, _ in self.object_refs)) or ([self.object_type] if self.object_type else [])


class AuditObjectRef(AppendOnly):
    """One row per object id of an event: the index behind "who saw this record"."""

    # No database constraint: the event and its rows are written by one statement and never
    # changed or deleted (triggers), and `audit verify` checks the rows against the ids each
    # event's MAC covers, naming any row whose event does not exist. A constraint would cost
    # every event a deferred check at commit (on PostgreSQL a trigger run and a row lock on the
    # event). Its index is `audit_ref_event` below.
    event = models.ForeignKey(
        AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="refs"
    )
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["object_type", "object_id", "event"], name="audit_ref_object"),
            models.Index(fields=["event", "id"], name="audit_ref_event"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} (event {self.event_id})"


class AuditSeal(AppendOnly):
    """A signed Merkle root over a set of events, chained to the previous seal.

    Covers the events with first_id <= id <= last_id except the ids listed in `gaps`, plus
    the earlier ids listed in `late` (events that committed after their range was sealed).
    """

    # The primary key is the position in the chain: two sealers racing cannot fork it.
    number = models.BigIntegerField(primary_key=True)
    sealed_at = models.DateTimeField(_("sealed at"))
    suite = models.CharField(max_length=8)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField(db_index=True)
    gaps = models.TextField(blank=True)
    late = models.TextField(blank=True)
    count = models.BigIntegerField()
    merkle_root = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    seal_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")
        # The sealer looks for open gaps among the seals of the last day. (An index in Meta,
        # not db_index: changing a field makes SQLite rebuild the table without its triggers.)
        indexes = [models.Index(fields=["sealed_at"], name="audit_seal_time")]

    def __str__(self) -> str:
        return f"seal {self.number}"
