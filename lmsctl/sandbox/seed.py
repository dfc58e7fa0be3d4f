"""Sandbox seeds: load and check a seed YAML file, or generate a large synthetic one.

A seed lists districts (with their LMS type and state, and the bearer tokens that act for them),
their schools, and their sections with teachers and students. The format is documented in
docs/sandbox.md and checked against schemas/sandbox-seed.schema.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lmsctl.errors import ConfigError
from lmsctl.lms import LMS_TYPES, LmsType

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "sandbox-seed.schema.json"


@dataclass(frozen=True)
class Seed:
    """A checked seed document (plain data, as in the YAML) and where it came from."""

    source: str
    data: dict[str, Any]

    @property
    def districts(self) -> list[dict[str, Any]]:
        districts: list[dict[str, Any]] = self.data["districts"]
        return districts


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _loader() -> type[yaml.SafeLoader]:
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


def load_seed(path: Path) -> Seed:
    """Read and check a seed file. ConfigError says what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sandbox seed {path}: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise ConfigError(f"sandbox seed {path} is not valid YAML: {exc}") from exc
    return check_seed(data, str(path))


def check_seed(data: Any, source: str = "<seed>") -> Seed:
    """Check seed data against the schema and for duplicate ids and tokens."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(
            f"sandbox seed {source}: at {where}: {first.message}{more}",
            hint="see docs/sandbox.md for the seed format",
        )
    tokens: dict[str, str] = {}
    districts: set[str] = set()
    sections: set[str] = set()
    roles: dict[str, str] = {}
    for district in data["districts"]:
        if district["id"] in districts:
            raise ConfigError(f"sandbox seed {source}: district {district['id']} appears twice")
        districts.add(district["id"])
        for token in district["tokens"]:
            if tokens.setdefault(token, district["id"]) != district["id"]:
                raise ConfigError(f"sandbox seed {source}: a token is given to two districts")
        for section in district.get("sections", []):
            if section["id"] in sections:
                raise ConfigError(f"sandbox seed {source}: section {section['id']} appears twice")
            sections.add(section["id"])
            for role, people in (("teacher", "teachers"), ("student", "students")):
                for person in section.get(people, []):
                    if roles.setdefault(person["id"], role) != role:
                        raise ConfigError(
                            f"sandbox seed {source}: user {person['id']} is both a teacher "
                            "and a student"
                        )
    return Seed(source=source, data=data)


# -- generation -------------------------------------------------------------------------------

_FIRST = [
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Mateo",
    "Sofia",
    "Lucas",
    "Mia",
    "Amir",
    "Zoe",
    "Ethan",
    "Chloe",
    "Caleb",
    "Yara",
    "Elijah",
    "Priya",
    "Kai",
    "Nora",
    "Diego",
    "Hana",
    "Omar",
    "Lena",
    "Jonah",
    "Aisha",
    "Felix",
    "Ines",
    "Ravi",
    "Maya",
    "Tomas",
]
_LAST = [
    "Chen",
    "Clark",
    "Patel",
    "Hernandez",
    "Young",
    "Okafor",
    "Reyes",
    "Lindqvist",
    "Mensah",
    "Nguyen",
    "Garcia",
    "Kim",
    "Silva",
    "Novak",
    "Haddad",
    "Brooks",
    "Tanaka",
    "Moreau",
    "Rossi",
    "Adeyemi",
    "Khan",
    "Larsen",
    "Costa",
    "Ward",
    "Ibrahim",
    "Park",
]
_SUBJECTS = ("math", "science", "english/language arts", "social studies", "language")


def _oid(district: int, kind: int, n: int) -> str:
    """A deterministic 24-hex ObjectID: 6a5e, district, kind, counter."""
    return f"6a5e{district:06x}{kind:02x}{n:012x}"


def generate_seed(
    *,
    districts: int = 1,
    sections: int = 4,
    students: int = 25,
    lms_type: str = LmsType.CANVAS.value,
) -> dict[str, Any]:
    """A synthetic seed: ``districts`` x ``sections`` sections of ``students`` students each.

    Deterministic (same arguments, same seed). District 1's token is DEMO_TOKEN, district N's
    (N > 1) is DEMO_TOKEN_N. Every student is in exactly one section and has launched the app.
    """
    if districts < 1 or sections < 0 or students < 0:
        raise ValueError("districts must be >= 1, sections and students >= 0")
    if lms_type not in LMS_TYPES:
        raise ValueError(f"lms_type must be one of {', '.join(LMS_TYPES)}")
    result: list[dict[str, Any]] = []
    for d in range(1, districts + 1):
        school = _oid(d, 0xC0, 1)
        district: dict[str, Any] = {
            "id": _oid(d, 0x01, 1),
            "name": f"Generated District {d}",
            "lms_type": lms_type,
            "lms_state": "success",
            "tokens": ["DEMO_TOKEN" if d == 1 else f"DEMO_TOKEN_{d}"],
            "schools": [{"id": school, "name": f"Generated High School {d}"}],
            "sections": [],
        }
        n = 0
        for s in range(1, sections + 1):
            t_first, t_last = _FIRST[(s * 7) % len(_FIRST)], _LAST[(s * 3) % len(_LAST)]
            section: dict[str, Any] = {
                "id": _oid(d, 0xA0, s),
                "name": f"Course {s} - {t_last} - Period {(s - 1) % 8 + 1}",
                "school": school,
                "sis_id": f"SEC-{d}-{s}",
                "subject": _SUBJECTS[s % len(_SUBJECTS)],
                "period": str((s - 1) % 8 + 1),
                "teachers": [
                    {
                        "id": _oid(d, 0xD0, s),
                        "email": f"{t_first}.{t_last}{s}@d{d}.example".lower(),
                        "sis_id": f"T{d}-{s}",
                        "name": {"first": t_first, "last": t_last},
                    }
                ],
                "students": [],
            }
            for _ in range(students):
                n += 1
                first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 7 + d) % len(_LAST)]
                section["students"].append(
                    {
                        "id": _oid(d, 0xB0, n),
                        "sis_id": str(1000 + n),
                        "email": f"{first}.{last}{n}@students.d{d}.example".lower(),
                        "student_number": f"S{d}{n:06d}",
                        "state_id": f"{d}{n:09d}",
                        "name": {"first": first, "last": last},
                        "launched": True,
                    }
                )
            district["sections"].append(section)
        result.append(district)
    return {"districts": result}


def dump_seed(data: dict[str, Any]) -> str:
    """Seed data as YAML text (fast C dumper when available)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    header = "# An lmsctl sandbox seed (format: docs/sandbox.md).\n"
    return header + yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)
