"""Fewer indexes for a registration to write (a Person row and a PersonLink row each).

Primary keys included, people_person goes from 9 indexes to 4 and people_personlink from 8
to 4 on PostgreSQL; on SQLite (no "_like" indexes, and the link's integer primary key is the
rowid, no index) from 6 to 4 and from 6 to 3:

* Blind indexes (`document_number_bidx`, `phone_bidx`): the field's own index and, on
  PostgreSQL, its `varchar_pattern_ops` "_like" twin become one plain index declared in Meta
  (BlindIndexField no longer sets db_index; the check mchis.E206 requires the Meta index).
* Path columns (`county_path`, `institution_region_path`): no "_like" index (PathField is
  COLLATE "C"; check mchis.E301). `county_path` keeps no index of its own: the unique
  constraint (county, number index), no longer partial (NULLs are distinct in a unique index
  on SQLite and PostgreSQL alike), starts with it.
* Foreign keys: `PersonLink.person` and `.institution` are served by `person_link_unique` and
  `person_link_by_institution`; `Person.registered_by` and `PersonLink.created_by` are never
  searched (institutions and accounts are deactivated, never deleted).

Django's own operations: on PostgreSQL each AlterField drops the indexes of the column (and
of a foreign key re-adds its constraint, checking the rows once); SQLite rebuilds the table.
No people table has triggers.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import mchis.crypto.fields
import mchis.orgs.models


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0001_initial"),
        ("people", "0002_person_number_once_per_county"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # --- Person ------------------------------------------------------------------------
        migrations.AlterField(
            model_name="person",
            name="document_number_bidx",
            field=mchis.crypto.fields.BlindIndexField(
                normalizer="mchis.people.identifiers.id_normalise", source="document_number"
            ),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["document_number_bidx"], name="person_by_number"),
        ),
        migrations.AlterField(
            model_name="person",
            name="phone_bidx",
            field=mchis.crypto.fields.BlindIndexField(
                normalizer="mchis.people.identifiers.phone_normalise", source="phone"
            ),
        ),
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["phone_bidx"], name="person_by_phone"),
        ),
        migrations.RemoveConstraint(
            model_name="person",
            name="person_number_once_per_county",
        ),
        migrations.AddConstraint(
            model_name="person",
            constraint=models.UniqueConstraint(
                fields=("county_path", "document_number_bidx"), name="person_number_once_per_county"
            ),
        ),
        migrations.AlterField(
            model_name="person",
            name="county_path",
            field=mchis.orgs.models.PathField(editable=False, max_length=255, verbose_name="county"),
        ),
        migrations.AlterField(
            model_name="person",
            name="registered_by",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orgs.institution",
                verbose_name="registered by",
            ),
        ),
        # --- PersonLink --------------------------------------------------------------------
        migrations.AlterField(
            model_name="personlink",
            name="person",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="links",
                to="people.person",
            ),
        ),
        migrations.AlterField(
            model_name="personlink",
            name="institution",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="orgs.institution"
            ),
        ),
        migrations.AlterField(
            model_name="personlink",
            name="created_by",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="personlink",
            name="institution_region_path",
            field=mchis.orgs.models.PathField(editable=False, max_length=255),
        ),
        migrations.AddIndex(
            model_name="personlink",
            index=models.Index(fields=["institution_region_path"], name="person_link_by_region"),
        ),
    ]
