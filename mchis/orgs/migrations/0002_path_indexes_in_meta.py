"""Path columns keep their plain index and lose the "_like" one (PostgreSQL).

`unique=True` and `db_index=True` on a CharField make Django's PostgreSQL schema editor add a
`varchar_pattern_ops` index beside the plain one, for LIKE. PathField is COLLATE "C" there,
so the plain index already serves the prefix ranges (`subtree_q`): the indexes are now
declared in Meta, which gets the plain one only (the PathField check, mchis.E301, keeps it so).
On PostgreSQL: orgs_region 6 → 5 indexes, orgs_institution 6 → 5. SQLite had no "_like"
indexes; it rebuilds both tables and ends with the same indexes under the new names.
"""

from django.db import migrations, models

import mchis.orgs.models


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0001_initial"),
    ]

    operations = [
        # Region.path: unique=True (constraint orgs_region_path_key and its "_like" index) becomes
        # a unique constraint of Meta.
        migrations.AlterField(
            model_name="region",
            name="path",
            field=mchis.orgs.models.PathField(max_length=255, verbose_name="path"),
        ),
        migrations.AddConstraint(
            model_name="region",
            constraint=models.UniqueConstraint(fields=("path",), name="region_path_unique"),
        ),
        # Institution.region_path: db_index=True (and its "_like" index) becomes an index of Meta.
        migrations.AlterField(
            model_name="institution",
            name="region_path",
            field=mchis.orgs.models.PathField(editable=False, max_length=255, verbose_name="region path"),
        ),
        migrations.AddIndex(
            model_name="institution",
            index=models.Index(fields=["region_path"], name="institution_by_region_path"),
        ),
    ]
