"""Pages of the second factor (P28, P29): enrolment, verification, my keys, the key register.

The WebAuthn ceremonies are four small JSON endpoints used by `mchis/static/mchis/webauthn.js`;
their challenge lives in the session, is used once and expires.
"""

from __future__ import annotations

import json
import time

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse, QueryDict
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from mchis.accounts import mfa
from mchis.accounts.models import KeyKind, KeyState
from mchis.people.forms import apply_errors


class LabelForm(forms.Form):
    label = forms.CharField(
        label=gettext_lazy("Name of the key"),
        max_length=80,
        required=False,
        help_text=gettext_lazy("For example: phone, or the number on the security key."),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class VerifyForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app, or a recovery code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


class LostForm(forms.Form):
    confirm = forms.BooleanField(label=gettext_lazy("I confirm this key is lost"))


class ReturnForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


class RevokeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200)


class RecordLostForm(forms.Form):
    confirm = forms.BooleanField(label=gettext_lazy("The holder reported this key lost"))
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


class IssueForm(forms.Form):
    """A physical key handed to a person (P28); the holder is named by username."""

    username = forms.CharField(label=gettext_lazy("Holder (username)"), max_length=150)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=mfa.ISSUE_KINDS)
    serial = forms.CharField(label=gettext_lazy("Serial number"), max_length=64)
    label = forms.CharField(
        label=gettext_lazy("Name of the key"),
        max_length=80,
        required=False,
        help_text=gettext_lazy("Optional; by default the kind and the serial number."),
    )


# --- helpers ---------------------------------------------------------------------------


def _rp_id(request) -> str:
    # The relying party is the host the browser sees, without the port (WebAuthn §5.1.3).
    return split_domain_port(request.get_host())[0]


def _origin(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _challenge_keep(request, *, purpose: str, challenge: bytes) -> None:
    request.session[mfa.SESSION_CHALLENGE] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": int(time.time()),
    }


def _challenge_take(request, *, purpose: str) -> bytes | None:
    """The challenge of the ceremony under way, once: a response can never be replayed."""
    kept = request.session.pop(mfa.SESSION_CHALLENGE, None)
    if not isinstance(kept, dict) or kept.get("purpose") != purpose:
        return None
    if time.time() - kept.get("at", 0) > mfa.CHALLENGE_SECONDS:
        return None
    return base64url_to_bytes(kept["challenge"])


def _json_body(request) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(message)}, status=status)


def _first_error(exc: ValidationError) -> str:
    return next(m for messages_ in exc.message_dict.values() for m in messages_)


def _after_activation(request, *, key) -> None:
    """Enrolling verifies a session that was not verified yet."""
    if not mfa.session_verified(request):
        mfa.session_verified_mark(request, verified=mfa.Verified(mark=str(key.pk), method=key.kind))


def _codes_page(request, codes: list[str]):
    # Rendered in the answer itself, never kept in the session: the codes exist in plain
    # text only in this one response (sent with no-store), whatever gate comes next.
    return render(request, "accounts/mfa_recovery_codes.html", {"codes": codes})


# --- enrolment -------------------------------------------------------------------------


@require_GET
def enrol(request):
    return render(
        request,
        "accounts/mfa_enrol.html",
        {
            "form": LabelForm(),
            "held": mfa.gate_enrol(request) is not None,
            "required": mfa.mfa_required(user=request.user),
            "issued_totp": list(mfa.keys_issued_waiting(user=request.user, kind=KeyKind.TOTP)),
            "issued_webauthn": list(mfa.keys_issued_waiting(user=request.user, kind=KeyKind.WEBAUTHN)),
        },
    )


@require_POST
def totp_start(request):
    form = LabelForm(request.POST)
    label = form.cleaned_data["label"] if form.is_valid() else ""
    try:
        key = mfa.totp_key_start(user=request.user, label=label, issued_id=request.POST.get("issued") or None)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("accounts:mfa_enrol")
    return redirect("accounts:mfa_totp_confirm", key_id=key.pk)


@require_http_methods(["GET", "POST"])
def totp_confirm(request, key_id):
    key = mfa.key_pending_totp(user=request.user, key_id=key_id)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, codes = mfa.totp_key_activate(user=request.user, key_id=key.pk, code=form.cleaned_data["code"])
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            _after_activation(request, key=key)
            if codes:
                return _codes_page(request, codes)
            messages.success(request, _("The electronic key is now in use."))
            return redirect("accounts:mfa_keys")
    uri, qr = mfa.totp_provisioning(key=key)
    return render(
        request,
        "accounts/mfa_totp_confirm.html",
        {"key": key, "form": form, "secret": mfa.totp_secret_format(key.secret), "uri": uri, "qr": qr},
    )


@require_POST
def webauthn_register_options(request):
    options, challenge = mfa.webauthn_registration_options(user=request.user, rp_id=_rp_id(request))
    _challenge_keep(request, purpose="register", challenge=challenge)
    return HttpResponse(options, content_type="application/json")


@require_POST
def webauthn_register(request):
    body = _json_body(request)
    challenge = _challenge_take(request, purpose="register")
    if body is None or challenge is None:
        return _json_error(_("The request expired or was not understood. Please try again."))
    try:
        key, codes = mfa.webauthn_key_register(
            user=request.user,
            label=str(body.get("label") or ""),
            credential=body.get("credential"),
            challenge=challenge,
            rp_id=_rp_id(request),
            origin=_origin(request),
            issued_id=str(body.get("issued") or "") or None,
        )
    except ValidationError as exc:
        return _json_error(_first_error(exc))
    _after_activation(request, key=key)
    if codes:
        # The page shows the codes itself (webauthn.js), then leads on.
        return JsonResponse({"codes": codes, "redirect": reverse("home")})
    messages.success(request, _("The electronic key is now in use."))
    return JsonResponse({"redirect": reverse("accounts:mfa_keys")})


# --- verification ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def verify(request):
    if mfa.gate_verify(request) is None:
        return redirect("home")
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = mfa.second_factor_verify(user=request.user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            mfa.session_verified_mark(request, verified=verified)
            if verified.codes_left is not None:
                messages.warning(
                    request,
                    _("You used a recovery code; %(n)s are left. Make new ones on the page of your keys.")
                    % {"n": verified.codes_left},
                )
            return redirect("home")
    has_security_key = mfa.keys_active(user=request.user, kind=KeyKind.WEBAUTHN).exists()
    return render(request, "accounts/mfa_verify.html", {"form": form, "has_security_key": has_security_key})


@require_POST
def webauthn_auth_options(request):
    try:
        options, challenge = mfa.webauthn_authentication_options(user=request.user, rp_id=_rp_id(request))
    except ValidationError as exc:
        return _json_error(_first_error(exc))
    _challenge_keep(request, purpose="authenticate", challenge=challenge)
    return HttpResponse(options, content_type="application/json")


@require_POST
def webauthn_auth(request):
    body = _json_body(request)
    challenge = _challenge_take(request, purpose="authenticate")
    if body is None or challenge is None:
        return _json_error(_("The request expired or was not understood. Please try again."))
    try:
        verified = mfa.webauthn_verify(
            user=request.user,
            credential=body.get("credential"),
            challenge=challenge,
            rp_id=_rp_id(request),
            origin=_origin(request),
        )
    except ValidationError as exc:
        return _json_error(_first_error(exc))
    mfa.session_verified_mark(request, verified=verified)
    return JsonResponse({"redirect": reverse("home")})


# --- my keys and recovery codes ------------------------------------------------------------


@require_GET
def keys(request):
    return render(
        request,
        "accounts/mfa_keys.html",
        {
            "keys": mfa.keys_of_user(user=request.user),
            "codes_left": mfa.recovery_codes_unused(user=request.user),
            "has_active": mfa.keys_active(user=request.user).exists(),
            "lost_form": LostForm(),
            "live_states": mfa.LIVE_STATES,
        },
    )


@require_POST
def key_lost(request, key_id):
    form = LostForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the box to confirm that the key is lost."))
        return redirect("accounts:mfa_keys")
    mfa.key_report_lost(user=request.user, key_id=key_id, keep_session_key=request.session.session_key)
    messages.warning(
        request,
        _(
            "The key is revoked and your other sessions are ended. Your institution's custodian and the "
            "security administrator have been told."
        ),
    )
    return redirect("accounts:mfa_keys")


@require_POST
def recovery_codes(request):
    try:
        codes = mfa.recovery_codes_generate(user=request.user)
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("accounts:mfa_keys")
    return _codes_page(request, codes)


# --- the key register (custodians, security administrators) ---------------------------------


def _register_page(request, *, issue_form: IssueForm | None = None):
    state = request.GET.get("state", "")
    query = request.GET.get("q", "")
    page = mfa.key_register_page(actor=request.user, state=state, query=query, page=request.GET.get("page"))
    return render(
        request,
        "accounts/mfa_register.html",
        {
            "page": page,
            "state": state,
            "q": query,
            "states": KeyState.choices,
            "live_states": mfa.LIVE_STATES,
            "issue_form": issue_form or IssueForm(),
            "issue_open": issue_form is not None,
        },
    )


@require_GET
def register(request):
    return _register_page(request)


@require_POST
def register_issue(request):
    """Issue a physical key to a person (P28). The holder is looked up only among the people
    of the actor's part of the register: a username outside it reads as unknown."""
    form = IssueForm(request.POST)
    if form.is_valid():
        holder = mfa.key_issue_holders(actor=request.user).filter(username=form.cleaned_data["username"]).first()
        if holder is None:
            form.add_error(
                "username", _("No active account with this username in the part of the key register you keep.")
            )
        else:
            try:
                key = mfa.key_issue(
                    actor=request.user,
                    holder=holder,
                    kind=form.cleaned_data["kind"],
                    serial=form.cleaned_data["serial"],
                    label=form.cleaned_data["label"],
                )
            except ValidationError as exc:
                apply_errors(form, {("username" if k == "holder" else k): v for k, v in exc.message_dict.items()})
            else:
                messages.success(
                    request,
                    _("Key %(serial)s is issued to %(name)s. It works once they enrol it.")
                    % {"serial": key.serial, "name": holder.display_name or holder.username},
                )
                return redirect("accounts:mfa_register")
    return _register_page(request, issue_form=form)


def _register_back(request):
    # Back to the same filtered page: only a query string of the register itself, re-encoded,
    # so the form field can never become an open redirect.
    back = QueryDict(request.POST.get("back", "").removeprefix("?")).urlencode()
    return redirect(reverse("accounts:mfa_register") + (f"?{back}" if back else ""))


def _errors_to_messages(request, exc: ValidationError) -> None:
    for errors in exc.message_dict.values():
        for error in errors:
            messages.error(request, error)


@require_POST
def register_returned(request, key_id):
    form = ReturnForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        mfa.key_return(actor=request.user, key_id=key_id, note=note)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    else:
        messages.info(request, _("The key is recorded as returned."))
    return _register_back(request)


@require_POST
def register_lost(request, key_id):
    form = RecordLostForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the box to confirm that the holder reported the key lost."))
        return _register_back(request)
    try:
        mfa.key_record_lost(actor=request.user, key_id=key_id, note=form.cleaned_data["note"])
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    else:
        messages.warning(
            request,
            _(
                "The key is recorded lost and revoked, and the holder's sessions are ended. The institution's "
                "custodians and the security administrators have been told."
            ),
        )
    return _register_back(request)


@require_POST
def register_revoke(request, key_id):
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        mfa.key_revoke(actor=request.user, key_id=key_id, reason=reason)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    else:
        messages.info(request, _("The key is revoked."))
    return _register_back(request)
