"""The API objects (districts, sections, users) a seed puts in a sandbox's store."""

from __future__ import annotations

from typing import Any

from lmsctl.lms import LmsType
from lmsctl.sandbox.seed import Seed
from lmsctl.sandbox.store import District, Store, UserRecord


def load_seed_into(store: Store, seed: Seed, created: str) -> None:
    """Replace the store's roster with the seed's (``created``: the objects' timestamps)."""
    districts: list[District] = []
    tokens: list[tuple[str, str]] = []
    sections: list[tuple[str, str, dict[str, Any]]] = []
    users: dict[str, UserRecord] = {}
    enrollments: list[tuple[str, str, str]] = []
    for d in seed.districts:
        districts.append(_district(d, created))
        tokens.extend((t, d["id"]) for t in d["tokens"])
        default_school = d["schools"][0]["id"] if d.get("schools") else d["id"]
        for s in d.get("sections", []):
            school = s.get("school", default_school)
            sections.append((s["id"], d["id"], _section_object(s, d["id"], school, created)))
            for role, people in (("teacher", "teachers"), ("student", "students")):
                for p in s.get(people, []):
                    enrollments.append((s["id"], role, p["id"]))
                    record = users.get(p["id"])
                    if record is None:
                        record = UserRecord(
                            p["id"],
                            d["id"],
                            role,
                            bool(p.get("launched", True)),
                            _user_object(p, role, d["id"], school, created),
                        )
                        users[p["id"]] = record
                    roles = record.data["roles"][role]
                    if school not in roles["schools"]:
                        roles["schools"].append(school)
    store.load(districts, tokens, sections, list(users.values()), enrollments, source=seed.source)


def _district(d: dict[str, Any], created: str) -> District:
    lms_type = d.get("lms_type", LmsType.CANVAS.value)
    lms_state = d.get("lms_state", "success")
    district_obj = {
        "id": d["id"],
        "name": d["name"],
        "sis_type": "sftp",
        "state": "success",
        "last_sync": created,
        "launch_date": created[:10],
        "portal_url": f"https://clever.com/in/{d['id']}",
        "login_methods": ["Clever Badges"],
        "lms_type": lms_type,
        "lms_state": lms_state,
        "mdr_number": None,
        "nces_id": None,
        "error": "",
    }
    return District(d["id"], lms_type, lms_state, district_obj)


def _section_object(s: dict[str, Any], district: str, school: str, created: str) -> dict[str, Any]:
    teacher_ids = [t["id"] for t in s.get("teachers", [])]
    return {
        "id": s["id"],
        "district": district,
        "school": school,
        "course": s.get("course"),
        "term_id": s.get("term_id"),
        "name": s["name"],
        "sis_id": s.get("sis_id", s["id"]),
        "section_number": s.get("section_number", s.get("period")),
        "period": s.get("period"),
        "subject": s.get("subject", ""),
        "grade": s.get("grade"),
        "teacher": teacher_ids[0] if teacher_ids else None,
        "teachers": teacher_ids,
        "students": sorted(p["id"] for p in s.get("students", [])),
        "lms_status": {"synced_in_lms": True},
        "ext": {},
        "created": created,
        "last_modified": created,
    }


def _user_object(
    p: dict[str, Any], role: str, district: str, school: str, created: str
) -> dict[str, Any]:
    name = {"first": None, "middle": None, "last": None} | dict(p.get("name", {}))
    role_obj: dict[str, Any] = {
        "sis_id": p.get("sis_id", p["id"]),
        "school": school,
        "schools": [school],
        "legacy_id": p["id"],
        "credentials": {"district_username": (p.get("email") or p["id"]).split("@")[0]},
    }
    if role == "student":
        role_obj |= {
            "student_number": p.get("student_number"),
            "state_id": p.get("state_id"),
            "grade": p.get("grade"),
            "enrollments": [{"school": school, "start_date": created}],
        }
    else:
        role_obj |= {
            "district": district,
            "teacher_number": p.get("teacher_number"),
            "state_id": None,
            "title": None,
        }
    return {
        "id": p["id"],
        "district": district,
        "email": p.get("email"),
        "name": name,
        "created": created,
        "last_modified": created,
        "lms_status": {"synced_in_lms": True},
        "roles": {role: role_obj},
    }
