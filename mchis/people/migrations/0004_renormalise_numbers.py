"""Document and phone numbers stored in full-width forms, in their ASCII forms (NFKC).

Before this migration a number typed in a Chinese input method's full-width mode (１３８…)
passed validation as it was, and its blind index was computed from it; numbers are now
normalised to ASCII before validation and indexing, so such a row would no longer be found by
its number, nor stop a second registration of it. Each such row is rewritten: the value
re-encrypted in its ASCII form, its blind index recomputed. A phone whose digits are of
another script (not ASCII even after NFKC) is left as it is: nothing here can say what it
was meant to be.

Every person's number and phone are decrypted once to find such rows (the key file is
needed, as for every migration of encrypted data).
"""

import unicodedata

from django.db import migrations

BATCH = 1000


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def renormalise(apps, schema_editor):
    from mchis.people.identifiers import id_normalise, phone_normalise, phone_problem

    Person = apps.get_model("people", "Person")
    last = None
    while True:
        batch = Person.objects.order_by("pk")
        if last is not None:
            batch = batch.filter(pk__gt=last)
        rows = list(batch.only("pk", "document_number", "document_number_bidx", "phone", "phone_bidx")[:BATCH])
        if not rows:
            return
        for person in rows:
            fields = []
            number = person.document_number
            if number and _ascii(number) != number:
                person.document_number = id_normalise(number)
                fields += ["document_number", "document_number_bidx"]
            phone = person.phone
            if phone and _ascii(phone) != phone and phone_problem(phone) is None:
                person.phone = phone_normalise(phone)
                fields += ["phone", "phone_bidx"]
            if fields:
                person.save(update_fields=fields)
        last = rows[-1].pk


class Migration(migrations.Migration):
    dependencies = [("people", "0003_registration_indexes")]

    operations = [migrations.RunPython(renormalise, migrations.RunPython.noop, elidable=True)]
