"""A deterministic synthetic county (or province) for demonstration, tests and benchmarks.

`demo_plan(size, seed)` is pure: the same size and seed give the same regions, institutions,
people and accounts, byte for byte. `demo_load` writes a plan through the same validation
as every other write (`region_build`, `institution_build`, `user_create`, `role_grant`).
Passwords are the one thing not derived from the seed: a demo database must never share
its passwords with every other copy of the software. Each account's electronic key (a TOTP
secret, P28) is derived from the seed, so that scripts and tests can log in as any role
through the ordinary pages; on its own it opens nothing without the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import string
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction

from mchis.accounts.agreements import agreement_publish_initial
from mchis.accounts.mfa import totp_key_provision
from mchis.accounts.roles import Role
from mchis.accounts.services import role_grant, user_create
from mchis.demo.maternal import PregnancyPlan, load_pregnancies, plan_pregnancies
from mchis.ops.models import Installation
from mchis.orgs.codes import uscc_check_char
from mchis.orgs.models import Institution, InstitutionKind, Region, RegionLevel
from mchis.orgs.services import institution_build, region_build
from mchis.people.identifiers import id_make

DEFAULT_SEED = 20261125

# cities, counties per city, townships per county (min, max), villages per township (min, max)
SIZES: dict[str, tuple[int, int, tuple[int, int], tuple[int, int]]] = {
    "small": (1, 2, (10, 10), (2, 2)),  # two counties: "another county" in tests
    "county": (1, 1, (14, 14), (12, 18)),
    # About 100 counties and 40,000 nodes (regions and institutions): the benchmark scale.
    "province": (10, 10, (16, 24), (15, 21)),
}

PROVINCE_CODE = "410000"
PROVINCE_NAME = "中原省"
DEMO_COUNTY_NAME = "安平县"

_PLACE_CHARS = "安平和兴宁丰泰清河山阳新永长东西南北金石桥林溪湖青白杨柳梅松云龙凤华明德福康乐庆瑞祥城田沟坡岭"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
_GIVEN_FEMALE = "秀英华玉兰桂芳丽敏静燕红霞娟梅琳雪婷慧颖萍莉晶倩雯欣悦佳怡"
_GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭"


@dataclass(frozen=True)
class RegionPlan:
    code: str
    name: str
    level: int
    parent_code: str | None


@dataclass(frozen=True)
class InstitutionPlan:
    key: str
    code: str
    name: str
    kind: str
    region_code: str


@dataclass(frozen=True)
class AccountPlan:
    username: str
    display_name: str
    institution_key: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class PersonPlan:
    """A synthetic resident (for the person registry and the clinical modules)."""

    name: str
    id_number: str
    sex: int
    born: date
    phone: str
    village_code: str
    address: str


@dataclass
class DemoPlan:
    size: str
    seed: int
    regions: list[RegionPlan] = field(default_factory=list)
    institutions: list[InstitutionPlan] = field(default_factory=list)
    accounts: list[AccountPlan] = field(default_factory=list)
    people: list[PersonPlan] = field(default_factory=list)
    # The clinician (username) who registers each person, and the pregnancy episodes.
    registrars: list[str] = field(default_factory=list)
    pregnancies: list[PregnancyPlan] = field(default_factory=list)
    demo_county_code: str = ""


def _org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 characters and its check character."""
    body = "".join(rng.choice(string.digits) for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c = 11 - sum(int(ch) * w for ch, w in zip(body, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(c, str(c))


def _uscc(rng: random.Random, *, area_code: str, government: bool) -> str:
    # 1x: registered by the establishment authority; 11 = government organ, 12 = public institution.
    first17 = ("11" if government else "12") + area_code + _org_code(rng)
    return first17 + uscc_check_char(first17)


def _place_names(rng: random.Random, n: int, suffixes: list[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        stem = rng.choice(_PLACE_CHARS) + rng.choice(_PLACE_CHARS)
        if stem[0] == stem[1] or stem in seen:
            continue
        seen.add(stem)
        names.append(stem + suffixes[len(names) % len(suffixes)])
    return names


def person_name(rng: random.Random, *, female: bool) -> str:
    pool = _GIVEN_FEMALE if female else _GIVEN_MALE
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
    return rng.choice(_SURNAMES) + given


def demo_plan(size: str = "county", seed: int = DEFAULT_SEED, *, people: int | None = None) -> DemoPlan:
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    rng = random.Random(f"{seed}:{size}")
    n_cities, n_counties, townships, villages = SIZES[size]
    plan = DemoPlan(size=size, seed=seed)
    plan.regions.append(RegionPlan("000000", "中华人民共和国", RegionLevel.NATION, None))
    plan.regions.append(RegionPlan(PROVINCE_CODE, PROVINCE_NAME, RegionLevel.PROVINCE, "000000"))
    inst = plan.institutions

    def add_institution(key: str, name: str, kind: str, region_code: str, area: str) -> None:
        government = kind == InstitutionKind.HEALTH_ADMINISTRATION
        inst.append(InstitutionPlan(key, _uscc(rng, area_code=area, government=government), name, kind, region_code))

    add_institution(
        "province.hc",
        f"{PROVINCE_NAME}卫生健康委员会",
        InstitutionKind.HEALTH_ADMINISTRATION,
        PROVINCE_CODE,
        PROVINCE_CODE,
    )
    add_institution(
        "province.mch", f"{PROVINCE_NAME}妇幼保健院", InstitutionKind.MCH_HOSPITAL, PROVINCE_CODE, PROVINCE_CODE
    )

    city_names = _place_names(rng, n_cities, ["市"])
    for ci, city_name in enumerate(city_names, start=1):
        city_code = f"41{ci:02d}00"
        plan.regions.append(RegionPlan(city_code, city_name, RegionLevel.CITY, PROVINCE_CODE))
        add_institution(
            f"city{ci}.hc", f"{city_name}卫生健康委员会", InstitutionKind.HEALTH_ADMINISTRATION, city_code, city_code
        )
        add_institution(f"city{ci}.mch", f"{city_name}妇幼保健院", InstitutionKind.MCH_HOSPITAL, city_code, city_code)
        county_names = _place_names(rng, n_counties, ["县", "县", "区"])
        if ci == 1:
            county_names[0] = DEMO_COUNTY_NAME
        for ki, county_name in enumerate(county_names, start=1):
            county_code = f"41{ci:02d}{ki + 20:02d}"
            if not plan.demo_county_code:
                plan.demo_county_code = county_code
            key = f"c{ci}.{ki}"
            plan.regions.append(RegionPlan(county_code, county_name, RegionLevel.COUNTY, city_code))
            for suffix, name, kind in (
                ("hc", "卫生健康委员会", InstitutionKind.HEALTH_ADMINISTRATION),
                ("mch", "妇幼保健院", InstitutionKind.MCH_HOSPITAL),
                ("hosp", "人民医院", InstitutionKind.GENERAL_HOSPITAL),
                ("tcm", "中医院", InstitutionKind.TCM_HOSPITAL),
            ):
                add_institution(f"{key}.{suffix}", county_name + name, kind, county_code, county_code)
            n_town = rng.randint(*townships)
            # Roughly one in five township-level divisions is an urban sub-district (街道).
            town_names = _place_names(rng, n_town, ["镇", "镇", "乡", "镇", "街道"])
            for ti, town_name in enumerate(town_names, start=1):
                town_code = f"{county_code}{100 + ti:03d}"
                plan.regions.append(RegionPlan(town_code, town_name, RegionLevel.TOWNSHIP, county_code))
                if town_name.endswith("街道"):
                    add_institution(
                        f"{key}.town{ti}",
                        f"{county_name}{town_name}社区卫生服务中心",
                        InstitutionKind.COMMUNITY_HEALTH_CENTRE,
                        town_code,
                        county_code,
                    )
                else:
                    add_institution(
                        f"{key}.town{ti}",
                        f"{county_name}{town_name}卫生院",
                        InstitutionKind.TOWNSHIP_HEALTH_CENTRE,
                        town_code,
                        county_code,
                    )
                suffix = ["社区"] if town_name.endswith("街道") else ["村"]
                for vi, village_name in enumerate(_place_names(rng, rng.randint(*villages), suffix), start=1):
                    plan.regions.append(
                        RegionPlan(f"{town_code}{200 + vi:03d}", village_name, RegionLevel.VILLAGE, town_code)
                    )

    plan.accounts = _accounts(rng, plan)
    plan.people = _people(
        rng, plan, people if people is not None else {"small": 12, "county": 500, "province": 500}[size]
    )
    plan.registrars = [PEOPLE_REGISTRARS[i % len(PEOPLE_REGISTRARS)] for i in range(len(plan.people))]
    plan.pregnancies = plan_pregnancies(rng, plan.registrars, size=size)
    return plan


def _accounts(rng: random.Random, plan: DemoPlan) -> list[AccountPlan]:
    """At least one account for every role of DESIGN.md, in the demo county."""
    county = "c1.1"
    thc = [
        i.key
        for i in plan.institutions
        if i.key.startswith(f"{county}.town") and i.kind == InstitutionKind.TOWNSHIP_HEALTH_CENTRE
    ][:2]
    spec = [
        ("clinician.mch", f"{county}.mch", (Role.CLINICIAN,)),
        ("pmtct.mch", f"{county}.mch", (Role.PMTCT_OFFICER,)),
        ("custodian.mch", f"{county}.mch", (Role.DATA_CUSTODIAN,)),
        ("leader.mch", f"{county}.mch", (Role.LEADER,)),
        ("info.mch", f"{county}.mch", (Role.MCH_INFO_OFFICER,)),
        ("sysadmin", f"{county}.mch", (Role.SYSTEM_ADMIN,)),
        ("secadmin", f"{county}.mch", (Role.SECURITY_ADMIN,)),
        ("auditadmin", f"{county}.mch", (Role.AUDIT_ADMIN,)),
        ("healthadmin.county", f"{county}.hc", (Role.HEALTH_ADMIN,)),
        ("leader.county", f"{county}.hc", (Role.LEADER,)),
        ("inspector.county", f"{county}.hc", (Role.INSPECTOR,)),
        ("clinician.thc1", thc[0], (Role.CLINICIAN,)),
        ("custodian.thc1", thc[0], (Role.DATA_CUSTODIAN,)),
        ("leader.thc1", thc[0], (Role.LEADER,)),
        ("clinician.thc2", thc[1], (Role.CLINICIAN,)),
        ("info.city", "city1.mch", (Role.MCH_INFO_OFFICER,)),
        ("healthadmin.city", "city1.hc", (Role.HEALTH_ADMIN,)),
        ("healthadmin.province", "province.hc", (Role.HEALTH_ADMIN,)),
    ]
    return [
        AccountPlan(username, person_name(rng, female=rng.random() < 0.7), key, roles) for username, key, roles in spec
    ]


def _people(rng: random.Random, plan: DemoPlan, n: int) -> list[PersonPlan]:
    """Women of childbearing age living in the demo county's villages."""
    names = {r.code: r.name for r in plan.regions}
    villages = [
        r.code for r in plan.regions if r.level == RegionLevel.VILLAGE and r.code.startswith(plan.demo_county_code)
    ]
    people: list[PersonPlan] = []
    used: set[str] = set()
    while len(people) < n:
        born = date(1981, 1, 1) + timedelta(days=rng.randrange(0, 365 * 24))
        number = id_make(area_code=plan.demo_county_code, born=born, sequence=rng.randrange(0, 500) * 2)
        if number in used:
            continue
        used.add(number)
        phone = "1" + rng.choice("3456789") + "".join(rng.choice(string.digits) for _ in range(9))
        village = rng.choice(villages)
        address = f"{names[village[:6]]}{names[village[:9]]}{names[village]}{rng.randint(1, 120)}号"
        people.append(PersonPlan(person_name(rng, female=True), number, 2, born, phone, village, address))
    return people


# The demo county's clinicians take turns registering the synthetic women.
PEOPLE_REGISTRARS = ("clinician.thc1", "clinician.thc2", "clinician.mch")


def _register_people(plan: DemoPlan) -> None:
    from mchis.accounts.models import User
    from mchis.people.services import person_register

    clinicians = {u: User.objects.get(username=u) for u in PEOPLE_REGISTRARS}
    for i, pp in enumerate(plan.people):
        clinician = clinicians[plan.registrars[i]]
        person_register(
            actor=clinician,
            institution=clinician.institution,
            document_type="resident_id",
            document_number=pp.id_number,
            name=pp.name,
            sex=pp.sex,
            birth_date=pp.born,
            phone=pp.phone,
            address=pp.address,
        )


def _password() -> str:
    """16 characters from all four classes, from the OS's random source."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(16))
        classes = [
            any(c.islower() for c in pw),
            any(c.isupper() for c in pw),
            any(c.isdigit() for c in pw),
            any(not c.isalnum() for c in pw),
        ]
        if all(classes):
            return pw


def demo_totp_secret(*, seed: int, username: str) -> str:
    """The demo account's TOTP secret: 160 bits (RFC 4226's recommended length), base32,
    the same for the same seed and username."""
    digest = hmac.new(f"mchis demo totp {seed}".encode(), username.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


@transaction.atomic
def demo_load(plan: DemoPlan) -> list[dict]:
    """Write the plan into an empty database; return the accounts with their passwords."""
    if Region.objects.exists():
        raise ValueError("the database already holds regions; the demo loads into an empty database only")
    by_code: dict[str, Region] = {}
    batch: list[Region] = []

    def flush() -> None:
        Region.objects.bulk_create(batch, batch_size=2000)
        batch.clear()

    # Regions arrive parents first; bulk-insert level by level so parents have ids.
    for level in RegionLevel.values:
        for rp in (r for r in plan.regions if r.level == level):
            region = region_build(code=rp.code, name=rp.name, level=rp.level, parent=by_code.get(rp.parent_code))
            by_code[rp.code] = region
            batch.append(region)
        flush()
    institutions = [
        institution_build(code=ip.code, name=ip.name, kind=ip.kind, region=by_code[ip.region_code])
        for ip in plan.institutions
    ]
    Institution.objects.bulk_create(institutions, batch_size=2000)
    by_key = {ip.key: inst for ip, inst in zip(plan.institutions, institutions, strict=True)}

    credentials = []
    for ap in plan.accounts:
        institution = by_key[ap.institution_key]
        password = _password()
        user = user_create(
            username=ap.username, display_name=ap.display_name, institution=institution, password=password
        )
        for role in ap.roles:
            role_grant(user=user, role=role, institution=institution)
        totp_secret = demo_totp_secret(seed=plan.seed, username=ap.username)
        totp_key_provision(user=user, secret=totp_secret, label="演示用验证器")
        credentials.append(
            {
                "username": ap.username,
                "password": password,
                "totp_secret": totp_secret,
                "role": ap.roles[0],
                "roles": list(ap.roles),
                "display_name": ap.display_name,
                "institution_code": institution.code,
                "institution_name": institution.name,
            }
        )
    _register_people(plan)
    # Version 1 of the standard security agreement everywhere, accepted by nobody: the first
    # login of every demo account is held on the agreement page, as in a real rollout (P18).
    agreement_publish_initial(institutions=institutions)
    # Pregnancy episodes in every stage and colour, through the maternal services.
    from mchis.accounts.models import User

    load_pregnancies(plan, {u.username: u for u in User.objects.all()}, by_key)
    Installation.objects.update_or_create(
        pk=1, defaults={"is_demo": True, "demo_size": plan.size, "demo_seed": plan.seed}
    )
    return credentials
