from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.levels import WRITER_ROLES
from mchis.access.purposes import purpose_for
from mchis.people.forms import BreakGlassForm, PersonRegisterForm, PersonSearchForm, apply_errors
from mchis.people.identifiers import id_normalise
from mchis.people.selectors import person_find_by_document, person_find_by_phone, person_get
from mchis.people.services import person_register


def search(request):
    # POST, not GET: identifiers must not end up in URLs, server logs or browser history (P20).
    form = PersonSearchForm(request.POST or None)
    results = None
    break_glass_form = None
    if request.method == "POST" and form.is_valid():
        q = form.cleaned_data["q"].strip()
        # 15 or 18 characters with at most a trailing X: an ID number; otherwise a phone.
        if len(id_normalise(q)) in (15, 18) and id_normalise(q)[:-1].isdigit():
            found = person_find_by_document(actor=request.user, document_number=q, purpose=purpose_for(request.user))
            results = [found] if found else []
            if not found:
                break_glass_form = BreakGlassForm(initial={"document_number": q})
        else:
            results = person_find_by_phone(actor=request.user, phone=q, purpose=purpose_for(request.user))
    can_register = bool(WRITER_ROLES & request.user.role_names())
    return render(
        request,
        "people/search.html",
        {"form": form, "results": results, "break_glass_form": break_glass_form, "can_register": can_register},
    )


def detail(request, person_id):
    person = person_get(actor=request.user, person_id=person_id, purpose=purpose_for(request.user))
    return render(request, "people/detail.html", {"person": person})


def register(request):
    institution = request.user.institution
    form = PersonRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person, created = person_register(actor=request.user, institution=institution, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        except NotAllowed:
            raise RecordNotFound from None
        else:
            messages.info(
                request,
                _("Registered.") if created else _("Already registered in this county: the existing record is shown."),
            )
            return redirect("people:detail", person_id=person.pk)
    return render(request, "people/register.html", {"form": form, "institution": institution})
