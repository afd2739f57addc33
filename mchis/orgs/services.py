"""Writes to the jurisdiction tree. Each public function is one transaction.

Validation errors are `ValidationError`s keyed by field, whose messages state the rule, so
the UI, the API and the command line can show them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from mchis.orgs.codes import region_code_problem, significant_prefix, uscc_problem
from mchis.orgs.models import KIND_LEVELS, Institution, InstitutionKind, Region, RegionLevel, subtree_q


def _parent_problem(level: int, parent: Region | None) -> str | None:
    if level == RegionLevel.NATION:
        return _("the nation has no parent region") if parent is not None else None
    if parent is None or parent.level != level - 1:
        wanted = RegionLevel(level - 1).label
        return _("a %(level)s must be directly under a %(parent)s") % {
            "level": RegionLevel(level).label,
            "parent": wanted,
        }
    return None


def region_build(*, code: str, name: str, level: int, parent: Region | None) -> Region:
    """Validate and return an unsaved region; uniqueness of the code is checked by callers."""
    code = (code or "").strip()
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if level not in RegionLevel.values:
        errors["level"] = [_("level must be one of %(levels)s") % {"levels": ", ".join(map(str, RegionLevel.values))}]
    else:
        if problem := _parent_problem(level, parent):
            errors["parent"] = [problem]
        if problem := region_code_problem(
            code, level, parent.code if parent else None, parent.level if parent else None
        ):
            errors["code"] = [problem]
    if not name:
        errors["name"] = [_("a name is required")]
    if errors:
        raise ValidationError(errors)
    return Region(code=code, name=name, level=level, parent=parent, path=Region.path_for(code, parent))


def _code_taken(model, code: str, exclude_pk=None) -> bool:
    qs = model.objects.filter(code=code)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


@transaction.atomic
def region_create(*, code: str, name: str, level: int, parent: Region | None) -> Region:
    region = region_build(code=code, name=name, level=level, parent=parent)
    if _code_taken(Region, region.code):
        raise ValidationError({"code": [_("division code %(code)s is already in use") % {"code": region.code}]})
    region.save()
    return region


@transaction.atomic
def region_move(*, region: Region, new_parent: Region, new_code: str | None = None) -> Region:
    """Attach `region` (and its subtree) to `new_parent`, re-coding it if the codes require.

    Division codes embed their parent's code, so a county moving to another city normally
    gets a new code; its townships and villages are then re-coded by replacing the old
    prefix with the new one, as GB/T 2260 revisions do. Paths of every region and
    institution in the subtree follow.
    """
    region = Region.objects.select_for_update().get(pk=region.pk)
    new_parent = Region.objects.get(pk=new_parent.pk)
    code = (new_code or region.code).strip()
    if new_parent.path.startswith(region.path):
        raise ValidationError({"parent": [_("a region cannot be moved under itself or its own descendants")]})
    # Validates level, parent and code against the new parent.
    region_build(code=code, name=region.name, level=region.level, parent=new_parent)
    if code != region.code and _code_taken(Region, code, exclude_pk=region.pk):
        raise ValidationError({"code": [_("division code %(code)s is already in use") % {"code": code}]})

    old_path = region.path
    old_prefix = significant_prefix(region.code, region.level)
    new_prefix = significant_prefix(code, region.level)
    nodes = list(Region.objects.subtree(region).order_by("level", "path"))
    by_id = {n.pk: n for n in nodes}
    recoded = {}
    for node in nodes:
        if node.pk == region.pk:
            node.code, node.parent_id = code, new_parent.pk
            node.path = Region.path_for(code, new_parent)
        else:
            if old_prefix != new_prefix:
                node.code = new_prefix + node.code[len(old_prefix) :]
            node.path = by_id[node.parent_id].path + node.code + "/"
        recoded[node.code] = node
    if old_prefix != new_prefix:
        # New codes cannot collide inside the subtree (same level means same length and one
        # shared prefix), only with regions elsewhere.
        new_codes = list(recoded)
        clashes = sorted(
            code
            for i in range(0, len(new_codes), 500)
            for code in Region.objects.filter(code__in=new_codes[i : i + 500])
            .exclude(subtree_q(old_path))
            .values_list("code", flat=True)
        )
        if clashes:
            raise ValidationError(
                {
                    "code": [
                        _("re-coding the subtree would reuse codes already in use: %(codes)s")
                        % {"codes": ", ".join(clashes[:5])}
                    ]
                }
            )
    Region.objects.bulk_update(nodes, ["code", "parent", "path"], batch_size=500)

    institutions = list(Institution.objects.filter(subtree_q(old_path, "region_path")))
    new_paths = {n.pk: n.path for n in nodes}
    for inst in institutions:
        inst.region_path = new_paths[inst.region_id]
    Institution.objects.bulk_update(institutions, ["region_path"], batch_size=500)
    region.refresh_from_db()
    return region


def institution_build(*, code: str, name: str, kind: str, region: Region) -> Institution:
    code = (code or "").strip().upper()
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if problem := uscc_problem(code):
        errors["code"] = [problem]
    if not name:
        errors["name"] = [_("a name is required")]
    if kind not in InstitutionKind.values:
        errors["kind"] = [_("kind must be one of %(kinds)s") % {"kinds": ", ".join(InstitutionKind.values)}]
    elif region is None:
        errors["region"] = [_("an institution must be attached to a region")]
    elif region.level not in KIND_LEVELS[kind]:
        allowed = "、".join(str(RegionLevel(lv).label) for lv in sorted(KIND_LEVELS[kind]))
        errors["region"] = [
            _("a %(kind)s must be attached to a region of level %(allowed)s, not a %(level)s")
            % {"kind": InstitutionKind(kind).label, "allowed": allowed, "level": RegionLevel(region.level).label}
        ]
    if errors:
        raise ValidationError(errors)
    return Institution(code=code, name=name, kind=kind, region=region, region_path=region.path)


@transaction.atomic
def institution_create(*, code: str, name: str, kind: str, region: Region) -> Institution:
    institution = institution_build(code=code, name=name, kind=kind, region=region)
    if _code_taken(Institution, institution.code):
        raise ValidationError({"code": [_("institution code %(code)s is already in use") % {"code": institution.code}]})
    institution.save()
    return institution


@transaction.atomic
def institution_move(*, institution: Institution, region: Region) -> Institution:
    institution_build(code=institution.code, name=institution.name, kind=institution.kind, region=region)
    institution.region = region
    institution.region_path = region.path
    institution.save(update_fields=["region", "region_path"])
    return institution


def regions_bulk_create(regions: Iterable[Region], *, batch_size: int = 2000) -> None:
    """Insert pre-validated regions (from `region_build`) in batches: for importers and the demo."""
    Region.objects.bulk_create(list(regions), batch_size=batch_size)
