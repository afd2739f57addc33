"""The jurisdiction tree: administrative regions and the institutions attached to them.

Each region stores a materialised path of its ancestors' codes ("/000000/410000/410100/");
"everything under this county" is then one range scan on an indexed column, on SQLite and
PostgreSQL alike (see `subtree_q`). Institutions carry a copy of their region's path so
jurisdiction filters on institutions (and, later, on the records they own) need no join
through the tree.
"""

from __future__ import annotations

from django.core import checks
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

PATH_SEP = "/"


class PathField(models.CharField):
    """A materialised path compared byte by byte.

    Range scans on the path must follow code-point order. PostgreSQL's default collation
    (e.g. en_US.UTF-8) ignores "/" when sorting, so the column is declared COLLATE "C"
    there; SQLite compares bytes (BINARY) already. Declared here rather than with
    `db_collation` so the same migration suits both databases.

    A plain btree index on the column then serves prefix ranges (`subtree_q`) on both. It is
    declared in the model's `Meta.indexes` (or `Meta.constraints` for a unique one), never
    with `db_index` or `unique` on the field (system check mchis.E301): for a CharField
    those make Django's PostgreSQL schema editor add a second, `varchar_pattern_ops` ("_like")
    index, redundant on a "C" column and paid for by every INSERT.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.db_index or self.unique:
            errors.append(
                checks.Error(
                    "a PathField is not indexed through db_index or unique: on PostgreSQL they add a "
                    'varchar_pattern_ops (LIKE) index besides the plain one, which the "C" collation makes redundant',
                    hint=f"declare models.Index(fields=[{self.name!r}], name=…) in the model's Meta.indexes, "
                    "or a models.UniqueConstraint in Meta.constraints",
                    obj=self,
                    id="mchis.E301",
                )
            )
        return errors


def subtree_q(path: str, field: str = "path") -> Q:
    """Rows whose `field` starts with `path` (which ends with "/"), as an indexable range.

    "/" is followed by "0" in code-point order and paths hold only digits and "/", so
    [path, path[:-1] + "0") is exactly the set of paths starting with `path`.
    """
    return Q(**{f"{field}__gte": path, f"{field}__lt": path[:-1] + "0"})


class RegionLevel(models.IntegerChoices):
    NATION = 0, _("nation")
    PROVINCE = 1, _("province")
    CITY = 2, _("city")
    COUNTY = 3, _("county")
    TOWNSHIP = 4, _("township")
    VILLAGE = 5, _("village")


class RegionQuerySet(models.QuerySet):
    def subtree(self, region: Region, *, include_self: bool = True) -> RegionQuerySet:
        qs = self.filter(subtree_q(region.path))
        return qs if include_self else qs.exclude(pk=region.pk)


class Region(models.Model):
    code = models.CharField(_("division code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent region"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = PathField(_("path"), max_length=255)

    objects = RegionQuerySet.as_manager()

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=0, level__lte=5), name="region_level_range"),
            # Also the index of subtree ranges (PathField: a constraint, not unique=True).
            models.UniqueConstraint(fields=["path"], name="region_path_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @staticmethod
    def path_for(code: str, parent: Region | None) -> str:
        return (parent.path if parent else PATH_SEP) + code + PATH_SEP

    def ancestor_codes(self) -> list[str]:
        return [c for c in self.path.split(PATH_SEP) if c]

    def ancestors(self, *, include_self: bool = False) -> list[Region]:
        """Root first; one query."""
        codes = self.ancestor_codes()
        if not include_self:
            codes = codes[:-1]
        found = {r.code: r for r in Region.objects.filter(code__in=codes)}
        return [found[c] for c in codes if c in found]


class InstitutionKind(models.TextChoices):
    MCH_HOSPITAL = "mch_hospital", _("maternal and child health hospital")
    GENERAL_HOSPITAL = "general_hospital", _("general hospital")
    TCM_HOSPITAL = "tcm_hospital", _("traditional Chinese medicine hospital")
    TOWNSHIP_HEALTH_CENTRE = "township_health_centre", _("township health centre")
    COMMUNITY_HEALTH_CENTRE = "community_health_centre", _("community health service centre")
    HEALTH_ADMINISTRATION = "health_administration", _("health commission")


# Which region levels each kind of institution may be attached to.
KIND_LEVELS: dict[str, frozenset[int]] = {
    InstitutionKind.MCH_HOSPITAL: frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY}),
    InstitutionKind.GENERAL_HOSPITAL: frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY}),
    InstitutionKind.TCM_HOSPITAL: frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY}),
    InstitutionKind.TOWNSHIP_HEALTH_CENTRE: frozenset({RegionLevel.TOWNSHIP}),
    InstitutionKind.COMMUNITY_HEALTH_CENTRE: frozenset({RegionLevel.TOWNSHIP}),
    InstitutionKind.HEALTH_ADMINISTRATION: frozenset(
        {RegionLevel.NATION, RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY}
    ),
}


class InstitutionQuerySet(models.QuerySet):
    def in_region(self, region: Region) -> InstitutionQuerySet:
        return self.filter(subtree_q(region.path, "region_path"))


class Institution(models.Model):
    code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=InstitutionKind.choices)
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="institutions")
    # Copy of region.path, kept in step by the services (see region_move).
    region_path = PathField(_("region path"), max_length=255, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    objects = InstitutionQuerySet.as_manager()

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["region_path", "name"]
        indexes = [models.Index(fields=["region_path"], name="institution_by_region_path")]

    def __str__(self) -> str:
        return self.name


def county_path_of(path: str) -> str:
    """The path of the county a path lies in (or the path itself above county level).

    "/000000/410000/410100/410122/410122101/" → "/000000/410000/410100/410122/".
    """
    parts = path.strip(PATH_SEP).split(PATH_SEP)
    return PATH_SEP + PATH_SEP.join(parts[: RegionLevel.COUNTY + 1]) + PATH_SEP
