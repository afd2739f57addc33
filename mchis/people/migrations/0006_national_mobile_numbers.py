"""Mainland mobile numbers stored with the country code (+86 138…), in their national form.

Before this migration "+86 138 0013 8000" was stored and indexed as +8613800138000, so a
search for 13800138000 (or a registration of the same woman with her number typed without
the country code) did not find her. `phone_normalise` now drops +86 from a mainland mobile
number; each such row is rewritten: the value re-encrypted in its national form, its blind
index recomputed. Other numbers starting with + are left as they are.

Every person's phone is decrypted once to find such rows (the key file is needed, as for
every migration of encrypted data).
"""

from django.db import migrations

BATCH = 1000


def renormalise(apps, schema_editor):
    from mchis.people.identifiers import phone_normalise

    Person = apps.get_model("people", "Person")
    last = None
    while True:
        batch = Person.objects.order_by("pk")
        if last is not None:
            batch = batch.filter(pk__gt=last)
        rows = list(batch.only("pk", "phone", "phone_bidx")[:BATCH])
        if not rows:
            return
        for person in rows:
            phone = person.phone
            if phone and phone.startswith("+") and phone_normalise(phone) != phone:
                person.phone = phone_normalise(phone)
                person.save(update_fields=["phone", "phone_bidx"])
        last = rows[-1].pk


class Migration(migrations.Migration):
    dependencies = [("people", "0005_personlink_for_pending_transfer")]

    operations = [migrations.RunPython(renormalise, migrations.RunPython.noop, elidable=True)]
