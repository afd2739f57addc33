"""Pages of account security: change password, my sessions, lockouts (P7, P26)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mchis.access.errors import RecordNotFound
from mchis.accounts.forms import PasswordChangeForm
from mchis.accounts.lockout import lockout_lift, lockout_may_lift, lockouts_visible
from mchis.accounts.models import Lockout
from mchis.accounts.passwords import gate_password, password_set
from mchis.accounts.sessions import EndReason, session_end, session_refresh, sessions_end, sessions_open
from mchis.audit.services import audit_denied


def _next_url(request) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return None


def password_change(request):
    # Why the user is here when a gate sent them (administrator-set or expired password).
    gate = gate_password(request)
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = password_set(
                user=request.user,
                password=form.cleaned_data["new_password1"],
                by=request.user,
                session_key=request.session.session_key,
            )
        except ValidationError as exc:
            for message in exc.message_dict.get("password", []):
                form.add_error("new_password1", message)
        else:
            session_refresh(request, user)
            messages.success(request, _("Your password was changed. Your other sessions were ended."))
            return redirect(_next_url(request) or "home")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "rules": password_validators_help_texts(), "gate": gate, "next": _next_url(request) or ""},
    )


def sessions(request):
    rows = list(sessions_open(user=request.user))
    current = request.session.session_key
    for row in rows:
        row.is_current = row.session_key == current
    return render(request, "accounts/sessions.html", {"rows": rows})


@require_POST
def session_end_one(request, session_id: int):
    row = next((r for r in sessions_open(user=request.user) if r.pk == session_id), None)
    if row is not None and row.session_key == request.session.session_key:
        messages.info(request, _("To end this session, log out."))
    elif row is None or not session_end(user=request.user, session_id=session_id):
        raise RecordNotFound
    else:
        messages.success(request, _("The session was ended."))
    return redirect("accounts:sessions")


@require_POST
def sessions_end_others(request):
    n = sessions_end(
        user=request.user,
        reason=EndReason.BY_USER,
        keep_session_key=request.session.session_key,
        by=request.user,
    )
    messages.success(request, _("Other sessions ended: %(count)d.") % {"count": n})
    return redirect("accounts:sessions")


def lockouts(request):
    return render(request, "accounts/lockouts.html", {"rows": lockouts_visible(actor=request.user)})


@require_POST
def lockout_lift_one(request, lockout_id: int):
    lockout = Lockout.objects.filter(pk=lockout_id).first()
    if lockout is None or not lockout_may_lift(actor=request.user, lockout=lockout):
        # Outside the administrator's jurisdiction looks the same as no such lockout.
        audit_denied(actor=request.user, object_type="accounts.lockout", object_ids=[str(lockout_id)])
        raise RecordNotFound
    lockout_lift(lockout=lockout, by=request.user)
    messages.success(request, _("The lockout was lifted."))
    return redirect("accounts:lockouts")
