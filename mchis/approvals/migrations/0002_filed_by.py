import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def filed_by_requester(apps, schema_editor):
    # Before this field the requester was the only record of who filed a request (one
    # handed over already names the successor: the best that can be known).
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    ApprovalRequest.objects.filter(filed_by__isnull=True).update(filed_by=F("requester"))


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="filed_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="filed by",
            ),
        ),
        migrations.RunPython(filed_by_requester, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="approvalrequest",
            name="filed_by",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="filed by",
            ),
        ),
    ]
