"""The sandbox web app: Clever's LMS Connect v3.1 and Data API (rostering) on starlette.

Request pipeline for /v3.0 and /v3.1 (the ``_Gateway`` middleware): injected faults (latency,
dropped connection, 5xx without processing), then bearer-token auth (401/403), then the fixed
one-minute rate limit (429), then the endpoint; the rate-limit headers go on every answer, and a
drop-after fault discards the answer of a processed request and drops the connection. The
test-only control endpoints under /_sandbox/ need no token and never get faults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import math
import random
import re
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmsctl.lms import profile
from lmsctl.sandbox import gojson
from lmsctl.sandbox.config import FaultConfig, SandboxConfig
from lmsctl.sandbox.seed import Seed, load_seed
from lmsctl.sandbox.store import District, Store, UserRecord
from lmsctl.sandbox.validation import (
    ASSIGNMENT_FIELDS,
    SUBMISSION_FIELDS,
    BodyError,
    decode_body,
    is_object_id,
    is_uuid,
    missing_required,
    parse_go_datetime,
)
from lmsctl.timeutil import format_api_datetime, utcnow

CURSOR_TTL_SECONDS = 2 * 60 * 60
SUBMISSIONS_MAX_LIMIT = 100
DATA_API_MAX_LIMIT = 10000
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: the Data API's ``count`` query enum on list endpoints (clever-data-api-v3.1.swagger.yml)
COUNT_VALUES = ("", "true", "false", "undefined")

Handler = Callable[[Request], Awaitable[Response]]


class ConnectionDropped(Exception):
    """Raised by the app to drop the client's connection (a fault); never reaches a client."""


def message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": text}, status_code=status, headers=headers)


def _strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip()


# -- the sandbox ------------------------------------------------------------------------------


class Sandbox:
    """Everything one sandbox app holds: store, clock, faults, rate-limit counters."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        secret = self.store.get_meta("cursor_secret")
        if secret is None:
            secret = secrets.token_hex(16)
            self.store.set_meta("cursor_secret", secret)
        self._cursor_secret = secret.encode()
        seed = config.random_seed if config.random_seed is not None else None
        self._ids = random.Random(seed) if seed is not None else None
        self._rate_lock = threading.Lock()
        self._rate: dict[str, tuple[int, int]] = {}
        self._faults_text: str | None = None
        self.faults = config.faults
        self.dice = random.Random(config.random_seed)
        if not self.store.is_seeded():
            self.reseed()
        elif config.faults != FaultConfig():
            self.set_faults(config.faults)  # faults given at start win over stored ones
        else:
            self.refresh_faults()

    # clock ------------------------------------------------------------------------------------

    def clock_offset(self) -> float:
        """Seconds the sandbox clock is ahead of real time (kept in the db, shared)."""
        return float(self.store.get_meta("clock_offset") or 0.0)

    def now(self) -> dt.datetime:
        """The sandbox clock: the machine's time moved by the seed's clock start and by
        PUT /_sandbox/clock."""
        return utcnow() + dt.timedelta(seconds=self.clock_offset())

    def now_text(self) -> str:
        return format_api_datetime(self.now())

    def set_clock_offset(self, seconds: float) -> None:
        self.store.set_meta("clock_offset", repr(seconds))

    # seed -------------------------------------------------------------------------------------

    def reseed(self) -> None:
        """Back to the seed: roster, no coursework, the seed's clock start, the start faults."""
        seed = load_seed(self.config.seed_file)
        start = self.config.seeded_clock
        real = utcnow()
        _load_seed_into(self.store, seed, format_api_datetime(start or real))
        if start is not None:
            self.set_clock_offset((start - real).total_seconds())
        self.set_faults(self.config.faults)

    # faults and rate limit --------------------------------------------------------------------

    def set_faults(self, faults: FaultConfig) -> None:
        """Use these faults, and keep them in the db so every sandbox on it sees them."""
        text = json.dumps(faults.to_dict(), sort_keys=True)
        self.store.set_meta("faults", text)
        self._use_faults(faults, text)

    def _use_faults(self, faults: FaultConfig, text: str) -> None:
        seed = faults.random_seed if faults.random_seed is not None else self.config.random_seed
        self.faults = faults
        self.dice = random.Random(seed)
        self._faults_text = text

    def refresh_faults(self) -> FaultConfig:
        """The faults in force (another sandbox on the same db may have changed them)."""
        text = self.store.get_meta("faults")
        if text is not None and text != self._faults_text:
            with contextlib.suppress(ValueError):  # unreadable settings keep the current ones
                self._use_faults(FaultConfig.from_dict(json.loads(text)), text)
        return self.faults

    @property
    def rate_limit(self) -> int:
        if self.faults.rate_limit is not None:
            return self.faults.rate_limit
        return self.config.rate_limit

    def take_rate(self, token: str, *, count: bool) -> tuple[bool, dict[str, str]]:
        """Count one request of ``token`` in this minute's window; (allowed, headers)."""
        limit = self.rate_limit
        now = self.now().timestamp()  # the sandbox clock, so tests can move the window
        window = math.floor(now / 60)
        reset = (window + 1) * 60
        with self._rate_lock:
            seen_window, used = self._rate.get(token, (window, 0))
            if seen_window != window:
                used = 0
            if count:
                used += 1
                self._rate[token] = (window, used)
        allowed = limit <= 0 or used <= limit
        headers = {
            "X-RateLimit-Limit": str(max(limit, 0)),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        return allowed, headers

    def reset_rate(self) -> None:
        with self._rate_lock:
            self._rate.clear()

    # ids and cursors --------------------------------------------------------------------------

    def new_uuid(self) -> str:
        if self._ids is not None:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        return str(uuid.uuid4())

    def make_cursor(self, assignment_id: str, after_user: str, started: float, limit: int) -> str:
        payload = json.dumps({"a": assignment_id, "u": after_user, "t": started, "l": limit})
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        sig = hmac.new(self._cursor_secret, body.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{body}.{sig}"

    def read_cursor(self, cursor: str, assignment_id: str) -> dict[str, Any]:
        """Decode a cursor; ValueError('invalid') or ValueError('expired')."""
        body, _, sig = cursor.partition(".")
        # bytes, not str: compare_digest refuses non-ASCII str (a hostile cursor is just invalid)
        raw_body = body.encode("utf-8", "replace")
        good = hmac.new(self._cursor_secret, raw_body, hashlib.sha256).hexdigest()[:16]
        if not sig or not hmac.compare_digest(sig.encode("utf-8", "replace"), good.encode()):
            raise ValueError("invalid")
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError):
            raise ValueError("invalid") from None
        if (
            not isinstance(data, dict)
            or data.get("a") != assignment_id
            or not isinstance(data.get("t"), int | float)
        ):
            raise ValueError("invalid")
        if self.now().timestamp() - float(data["t"]) > CURSOR_TTL_SECONDS:
            raise ValueError("expired")
        return data


def _load_seed_into(store: Store, seed: Seed, created: str) -> None:
    districts: list[District] = []
    tokens: list[tuple[str, str]] = []
    sections: list[tuple[str, str, dict[str, Any]]] = []
    users: dict[str, UserRecord] = {}
    enrollments: list[tuple[str, str, str]] = []
    for d in seed.districts:
        lms_type = d.get("lms_type", "canvas")
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
        districts.append(District(d["id"], lms_type, lms_state, district_obj))
        tokens.extend((t, d["id"]) for t in d["tokens"])
        default_school = d["schools"][0]["id"] if d.get("schools") else d["id"]
        for s in d.get("sections", []):
            school = s.get("school", default_school)
            teacher_ids = [t["id"] for t in s.get("teachers", [])]
            student_ids = sorted(p["id"] for p in s.get("students", []))
            sections.append(
                (
                    s["id"],
                    d["id"],
                    {
                        "id": s["id"],
                        "district": d["id"],
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
                        "students": student_ids,
                        "lms_status": {"synced_in_lms": True},
                        "ext": {},
                        "created": created,
                        "last_modified": created,
                    },
                )
            )
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


# -- gateway: faults, auth, rate limit ----------------------------------------------------------


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = bytes(value).decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


async def _drop(send: Send, receive: Receive | None = None) -> None:
    """Drop the connection: start an answer that never completes, then fail.

    Over a socket the server closes the connection mid-answer (the client sees a protocol
    error); in-process, sandbox_transport turns the exception into httpx.RemoteProtocolError.
    Given ``receive``, the request body is read first, so that closing the socket never looks
    like a reset (unread data makes the kernel answer with RST).
    """
    while receive is not None:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            break
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"64")],
    }
    await send(start)
    raise ConnectionDropped("the sandbox dropped this connection (fault injection)")


class _Gateway:
    """Faults, auth and rate limit in front of the API routes (pure ASGI middleware)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/v3.0/", "/v3.1/")):
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        faults = sandbox.refresh_faults()
        method = scope["method"]
        # the limiter sits in front: a request counts the moment it arrives, and a refusal goes
        # back at once (no injected latency: that is the backend's)
        token = _bearer(scope)
        district = sandbox.store.district_for_token(token) if token else None
        allowed, headers = sandbox.take_rate(token or "", count=bool(token))
        if district is not None and not allowed:
            status = faults.limit_status
            text = "Too Many Requests" if status == 429 else "Service Unavailable"
            await message(status, text, headers)(scope, receive, send)
            return
        after: str | None = None  # what happens to the answer of a processed request
        if faults.active and faults.applies_to(method):
            latency = faults.latency_for(method)
            if latency is not None:
                await asyncio.sleep(sandbox.dice.uniform(*latency))
            drop_before = sandbox.dice.random() < faults.drop_before_rate
            fail = sandbox.dice.random() < faults.fail_rate
            if sandbox.dice.random() < faults.drop_after_rate:
                after = "drop"
            elif sandbox.dice.random() < faults.fail_after_rate:
                after = "fail"
            elif sandbox.dice.random() < faults.garble_after_rate:
                after = "garble"
            if drop_before:
                await _drop(send, receive)
            if fail:
                await _fault_answer(faults.fail_status)(scope, receive, send)
                return
        if not token:
            _, headers = sandbox.take_rate("", count=False)
            await message(401, "No authorization provided", headers)(scope, receive, send)
            return
        if district is None:
            await message(403, "Could not authorize token", headers)(scope, receive, send)
            return
        media = _media_type(scope)
        if method in ("POST", "PATCH", "PUT") and media and not _is_json(media):
            # go-openapi's consumer check: only application/json bodies are read
            text = f'unsupported media type "{media}", only [application/json] are allowed'
            await message(415, text, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["district"] = district
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"date", _http_date(sandbox.now()).encode()))

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg = dict(msg)
                msg["headers"] = [*msg.get("headers", []), *raw_headers]
            await send(msg)

        if after is None:
            await self.app(scope, receive, send_with_headers)
            return

        async def discard(msg: Message) -> None:
            return None

        await self.app(scope, receive, discard)
        if after == "drop":
            await _drop(send)
        elif after == "fail":
            await _fault_answer(faults.fail_status, headers)(scope, receive, send)
        else:
            page = "<html><body><h1>Request received</h1><p>Please wait.</p></body></html>"
            answer = Response(page, status_code=200, media_type="text/html", headers=headers)
            await answer(scope, receive, send)


def _media_type(scope: Scope) -> str:
    """The request's Content-Type without parameters, lower case ('' when none was sent)."""
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return bytes(value).decode("latin-1").split(";")[0].strip().lower()
    return ""


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _fault_answer(status: int, headers: dict[str, str] | None = None) -> Response:
    """A 5xx as a proxy or an overloaded backend answers it (never the limiter's signature)."""
    texts = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    text = texts.get(status, "Gateway Timeout" if status == 504 else "Server Error")
    kept = {k: v for k, v in (headers or {}).items() if k != "Retry-After"}
    return message(status, text, kept)


def _http_date(now: dt.datetime) -> str:
    """An HTTP Date header value (RFC 9110 IMF-fixdate) for the sandbox clock's time."""
    return email.utils.format_datetime(now.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


# -- endpoints ----------------------------------------------------------------------------------


class _Api:
    """The endpoint handlers; each answers exactly as Clever documents."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.store = sandbox.store

    # helpers ----------------------------------------------------------------------------------

    @staticmethod
    def district(request: Request) -> District:
        district: District = request.scope["state"]["district"]
        return district

    @staticmethod
    def version(request: Request) -> str:
        return str(request.url.path.split("/")[1])

    async def body(self, request: Request) -> Any:
        raw = await request.body()
        text = raw.decode("utf-8", errors="replace")
        if not text.strip() or text.strip() == "null":
            raise BodyError("request body is required, but was empty")
        try:
            return gojson.parse(text)
        except gojson.GoJsonError as exc:
            raise BodyError(str(exc)) from None

    def section(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        """The path's section if it belongs to the token's district, else a 404 answer."""
        section_id = request.path_params["section_id"]
        found = self.store.get_section(section_id) if is_object_id(section_id) else None
        if found is None or found[0] != self.district(request).id:
            return message(404, "Section not found")
        return found

    def assignment(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        """(section, assignment) of the path, or the 404 / 400 INVALID_ID answer."""
        found = self.section(request)
        if isinstance(found, Response):
            return found
        assignment_id = request.path_params["assignment_id"]
        if not is_uuid(assignment_id):
            return message(400, "INVALID_ID")
        stored = self.store.get_assignment(assignment_id.lower())
        if stored is None or stored[0] != found[1]["id"]:
            return message(404, "Assignment does not exist")
        return found[1], stored[1]

    def lms_name(self, request: Request) -> str:
        return profile(self.district(request).lms_type).name

    def new_submission(
        self, assignment_id: str, user_id: str, lms_type: str, now: str
    ) -> dict[str, Any]:
        return {
            "id": self.sb.new_uuid() if profile(lms_type).submission_ids else "",
            "assignment_id": assignment_id,
            "user_id": user_id,
            "state": "created",
            "grade": None,
            "grade_comment": None,
            "grader_id": None,
            "override_due_date": None,
            "created": now,
            "last_modified": now,
        }

    # districts --------------------------------------------------------------------------------

    def _district_obj(self, request: Request, district: District) -> dict[str, Any]:
        data = dict(district.data)
        if self.version(request) == "v3.0":
            data.pop("lms_type", None)
            data.pop("lms_state", None)
        return data

    async def districts(self, request: Request) -> Response:
        count = request.query_params.get("count")
        if count is not None and count not in COUNT_VALUES:
            # the Data API spec's enum, in go-openapi's wording
            return message(400, "count in query should be one of [ true false undefined]")
        district = self.district(request)
        v = self.version(request)
        return JSONResponse(
            {
                "data": [{"data": self._district_obj(request, district)}],
                "links": [{"rel": "self", "uri": f"/{v}/districts"}],
            }
        )

    async def district_by_id(self, request: Request) -> Response:
        district = self.district(request)
        if request.path_params["district_id"] != district.id:
            return message(404, "Resource not found")
        v = self.version(request)
        return JSONResponse(
            {
                "data": self._district_obj(request, district),
                "links": [{"rel": "self", "uri": f"/{v}/districts/{district.id}"}],
            }
        )

    # rostering --------------------------------------------------------------------------------

    async def section_by_id(self, request: Request) -> Response:
        found = self.section(request)
        if isinstance(found, Response):
            return message(404, "Resource not found")
        data = dict(found[1])
        if self.version(request) == "v3.0":
            data.pop("lms_status", None)
        v = self.version(request)
        return JSONResponse(
            {"data": data, "links": [{"rel": "self", "uri": f"/{v}/sections/{data['id']}"}]}
        )

    async def section_users(self, request: Request) -> Response:
        found = self.section(request)
        if isinstance(found, Response):
            return message(404, "Resource not found")
        q = request.query_params
        role = q.get("role") or None
        if role is not None and role not in ("student", "teacher"):
            return message(400, "role in query should be one of [student teacher]")
        limit_text = q.get("limit")
        limit = _data_api_limit(limit_text)
        if isinstance(limit, Response):
            return limit
        after = q.get("starting_after") or None
        before = q.get("ending_before") or None
        section_id = found[1]["id"]

        def page_of(after: str | None, before: str | None, limit: int) -> list[dict[str, Any]]:
            return self.store.section_users(
                section_id, role, starting_after=after, ending_before=before, limit=limit
            )

        page = page_of(after, before, limit)
        v = self.version(request)
        fixed = [f"role={role}"] if role else []
        if limit_text is not None:
            fixed.append(f"limit={limit}")
        links = _range_links(
            f"/{v}/sections/{section_id}/users", fixed, after, before, page, page_of
        )
        strip = self.version(request) == "v3.0"
        items = [{"data": _v30_user(u) if strip else u} for u in page]
        return JSONResponse({"data": items, "links": links})

    async def district_listing(self, request: Request) -> Response:
        """GET /sections and GET /users?role=: the token's district, Data API range paging."""
        table = "sections" if request.url.path.endswith("/sections") else "users"
        q = request.query_params
        role = q.get("role") or None
        roles = ("contact", "district_admin", "staff", "student", "teacher")
        if table == "users" and role is not None and role not in roles:
            return message(400, f"role in query should be one of [{' '.join(roles)}]")
        limit_text = q.get("limit")
        limit = _data_api_limit(limit_text)
        if isinstance(limit, Response):
            return limit
        after = q.get("starting_after") or None
        before = q.get("ending_before") or None
        district = self.district(request).id

        def page(after: str | None, before: str | None, limit: int) -> list[dict[str, Any]]:
            return self.store.district_page(
                table, district, role=role, starting_after=after, ending_before=before, limit=limit
            )

        items = page(after, before, limit)
        v = self.version(request)
        fixed = [f"role={role}"] if role and table == "users" else []
        if limit_text is not None:
            fixed.append(f"limit={limit}")
        links = _range_links(f"/{v}/{table}", fixed, after, before, items, page)
        if v == "v3.0":
            items = [{k: x for k, x in i.items() if k != "lms_status"} for i in items]
        return JSONResponse({"data": [{"data": i} for i in items], "links": links})

    async def user_by_id(self, request: Request) -> Response:
        user = self.store.get_user(request.path_params["user_id"])
        if user is None or user.district_id != self.district(request).id:
            return message(404, "Resource not found")
        v = self.version(request)
        data = _v30_user(user.data) if v == "v3.0" else user.data
        return JSONResponse(
            {"data": data, "links": [{"rel": "self", "uri": f"/{v}/users/{user.id}"}]}
        )

    # assignments ------------------------------------------------------------------------------

    async def create_assignment(self, request: Request) -> Response:
        found = self.section(request)
        if isinstance(found, Response):
            return found
        section = found[1]
        lms_type = self.district(request).lms_type
        try:
            fields = decode_body(await self.body(request), ASSIGNMENT_FIELDS, "AssignmentRequest")
            missing = missing_required(fields, ("title", "description", "due_date"))
            if missing:
                raise BodyError(f"missing required field(s): {', '.join(missing)}")
            self._check_due_date(fields)
            self._check_lms_rules(fields, lms_type)
            assignees = self._assignees(fields, section, request, mode=None)
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now_text()
        data: dict[str, Any] = {
            "id": self.sb.new_uuid(),
            "title": "",
            "description": "",
            "description_plaintext": None,
            "state": "open",
            "assignee_mode": "all",
            "due_date": None,
            "display_date": None,
            "start_date": None,
            "end_date": None,
            "grading_type": "points",
            "points_possible": None,
            "term_id": None,
            "category_id": None,
            "created": now,
            "last_modified": now,
        }
        self._apply_fields(data, fields, lms_type)
        if data["display_date"] is None:
            data["display_date"] = now
            if profile(lms_type).start_date_is_display_date:
                data["start_date"] = now
        data["assignee_mode"], ids = assignees
        if data["assignee_mode"] == "individuals":
            data["assignee_ids"] = ids
        submissions = {uid: self.new_submission(data["id"], uid, lms_type, now) for uid in ids}
        self.store.insert_assignment(section["id"], data, submissions)
        return JSONResponse({"data": _out_assignment(data)})

    async def assignment_resource(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        if request.method == "GET":
            return JSONResponse({"data": _out_assignment(data)})
        if request.method == "DELETE":
            self.store.delete_assignment(data["id"])
            return JSONResponse({})
        lms_type = self.district(request).lms_type
        try:
            fields = decode_body(await self.body(request), ASSIGNMENT_FIELDS, "AssignmentRequest")
            for name in ("title", "description"):
                if fields.get(name, "") is None:
                    del fields[name]
            self._check_due_date(fields)
            self._check_lms_rules(fields, lms_type)
            mode_changes = "assignee_mode" in fields or "assignee_ids" in fields
            assignees = (
                self._assignees(fields, section, request, mode=data["assignee_mode"], current=data)
                if mode_changes
                else None
            )
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now_text()
        self._apply_fields(data, fields, lms_type)
        add: dict[str, dict[str, Any]] = {}
        remove: list[str] = []
        if assignees is not None:
            mode, ids = assignees
            old = set(self._current_assignees(data, section))
            data["assignee_mode"] = mode
            if mode == "individuals":
                data["assignee_ids"] = ids
            else:
                data.pop("assignee_ids", None)
            new = set(ids)
            add = {
                uid: self.new_submission(data["id"], uid, lms_type, now)
                for uid in sorted(new - old)
            }
            remove = sorted(old - new)
        data["last_modified"] = now
        self.store.update_assignment(data, add=add, remove=remove)
        return JSONResponse({"data": _out_assignment(data)})

    def _current_assignees(self, data: dict[str, Any], section: dict[str, Any]) -> list[str]:
        if data.get("assignee_mode") == "individuals":
            return list(data.get("assignee_ids", []))
        return self.store.section_member_ids(section["id"], "student")

    def _assignees(
        self,
        fields: dict[str, Any],
        section: dict[str, Any],
        request: Request,
        *,
        mode: str | None,
        current: dict[str, Any] | None = None,
    ) -> tuple[str, list[str]]:
        """(mode, the student ids it assigns) for a create or a PATCH that touches assignees."""
        mode = fields.get("assignee_mode", mode)
        students = self.store.section_member_ids(section["id"], "student")
        if mode is None:
            raise BodyError(f"no valid users found in {self.lms_name(request)}")
        if mode == "all":
            if not students:
                raise BodyError(f"no valid users found in {self.lms_name(request)}")
            return "all", students
        requested = fields.get("assignee_ids")
        if requested is None and current is not None:
            requested = current.get("assignee_ids")
        if not requested:
            raise BodyError("MISSING_REQUIRED_FIELD")
        enrolled = set(students)
        ids = [uid for uid in dict.fromkeys(requested) if uid in enrolled]  # order kept
        if not ids:
            raise BodyError(f"no valid users found in {self.lms_name(request)}")
        return "individuals", ids

    def _check_due_date(self, fields: dict[str, Any]) -> None:
        due = fields.get("due_date")
        if due is not None and due <= self.sb.now():
            raise BodyError("due_date must be in the future")

    @staticmethod
    def _check_lms_rules(fields: dict[str, Any], lms_type: str) -> None:
        lms = profile(lms_type)
        refused = lms.refused_submission_types
        kinds = [k for k in fields.get("submission_types") or [] if k in refused]
        kinds += [
            a.get("type")
            for a in fields.get("attachments") or []
            if a.get("type") in lms.refused_attachment_types
        ]
        if kinds:
            # (the LMS's own words, for attachments too)
            raise BodyError(f"{lms.name} does not support submission type of {kinds[0]}")

    @staticmethod
    def _check_submission_rules(fields: dict[str, Any], lms_type: str) -> None:
        """Google Classroom: only the student turns work in or reclaims it, and a submission is
        never put back to created; a teacher (the app) can only return it."""
        state = fields.get("state")
        lms = profile(lms_type)
        if lms.student_only_states and state is not None and state != "returned":
            raise BodyError(f"{lms.name} does not allow a teacher to set submission state {state}")

    @staticmethod
    def _apply_fields(data: dict[str, Any], fields: dict[str, Any], lms_type: str) -> None:
        lms = profile(lms_type)
        for name, value in fields.items():
            if name in ("assignee_mode", "assignee_ids"):
                continue
            if name in lms.ignored_fields:
                continue  # the LMS ignores it (the stored value does not change)
            if isinstance(value, dt.datetime):
                value = format_api_datetime(value)
            if name in lms.zero_reads_unset and value == 0:
                value = None  # e.g. Google Classroom: maxPoints 0 means ungraded, reads as unset
            data[name] = value
        if "description" in fields and "description_plaintext" not in fields:
            data["description_plaintext"] = _strip_html(data.get("description") or "")
        if lms.start_date_is_display_date:
            data["start_date"] = data.get("display_date")

    # submissions ------------------------------------------------------------------------------

    async def submissions(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        q = request.query_params
        limit_text = q.get("limit")
        limit = _query_limit(
            limit_text, default=SUBMISSIONS_MAX_LIMIT, maximum=SUBMISSIONS_MAX_LIMIT, too_large=400
        )
        if isinstance(limit, Response):
            return limit
        after: str | None = None
        started = self.sb.now().timestamp()
        cursor = q.get("cursor")
        if cursor is not None:
            try:
                state = self.sb.read_cursor(cursor, data["id"])
            except ValueError as exc:
                if str(exc) == "expired":
                    return message(400, "cursor expired: restart the listing without a cursor")
                return message(400, "invalid cursor")
            after, started = str(state["u"]), float(state["t"])
            if limit_text is None:
                limit = int(state.get("l", limit))
        page, more = self.store.submission_page(data["id"], after, limit)
        result: dict[str, Any] = {"data": [_out_submission(s) for s in page]}
        if more and page:
            token = self.sb.make_cursor(data["id"], page[-1]["user_id"], started, limit)
            uri = (
                f"/v3.1/sections/{section['id']}/assignments/{data['id']}/submissions"
                f"?cursor={token}&limit={limit}"
            )
            result["links"] = [{"rel": "next", "uri": uri}]
        return JSONResponse(result)

    async def submission_resource(self, request: Request) -> Response:
        found = self.assignment(request)
        if isinstance(found, Response):
            return found
        section, data = found
        user_id = request.path_params["user_id"]
        sub = self.store.get_submission(data["id"], user_id)
        if sub is None:
            return message(404, "User not found")
        if request.method == "GET":
            return JSONResponse({"data": _out_submission(sub)})
        lms_type = self.district(request).lms_type
        try:
            fields = decode_body(await self.body(request), SUBMISSION_FIELDS, "SubmissionRequest")
            grader = fields.get("grader_id")
            if grader is not None and grader not in self.store.section_member_ids(
                section["id"], "teacher"
            ):
                raise BodyError(
                    f"NOT_FOUND: Person with id clever:{grader} not found for this integration."
                )
            self._check_lms_rules({"attachments": fields.get("attachments")}, lms_type)
            self._check_submission_rules(fields, lms_type)
        except BodyError as exc:
            return message(400, str(exc))
        lms = profile(lms_type)
        if lms.grade_needs_student_launch:
            user = self.store.get_user(user_id)
            if user is not None and not user.launched:
                return message(500, "Error updating submission")
        for name, places in lms.decimals.items():
            if fields.get(name) is not None:
                # e.g. Google Classroom keeps grades to 2 decimals (its rounding mode is not
                # documented)
                unit = Decimal(1).scaleb(-places)
                fields[name] = float(Decimal(repr(fields[name])).quantize(unit, ROUND_HALF_EVEN))
        for name, value in fields.items():
            sub[name] = format_api_datetime(value) if isinstance(value, dt.datetime) else value
        sub["last_modified"] = self.sb.now_text()
        self.store.put_submission(data["id"], user_id, sub)
        return JSONResponse({"data": _out_submission(sub)})


def _data_api_limit(limit_text: str | None) -> int | Response:
    """A Data API listing's ?limit= (100 if absent), or Clever's 400/413 answer to a bad one."""
    return _query_limit(limit_text, default=100, maximum=DATA_API_MAX_LIMIT, too_large=413)


def _query_limit(
    limit_text: str | None, *, default: int, maximum: int, too_large: int
) -> int | Response:
    """A listing's ?limit= (``default`` if absent), or the 400 (``too_large`` above
    ``maximum``) that Clever answers to a bad one."""
    if limit_text is None:
        return default
    try:
        limit = int(limit_text)
    except ValueError:
        return message(400, f'limit in query must be of type integer: "{limit_text}"')
    if limit < 1:
        return message(400, "limit in query should be greater than or equal to 1")
    if limit > maximum:
        return message(too_large, f"limit in query should be less than or equal to {maximum}")
    return limit


PageOf = Callable[[str | None, str | None, int], list[dict[str, Any]]]


def _range_links(
    base: str,
    fixed: list[str],
    after: str | None,
    before: str | None,
    items: list[dict[str, Any]],
    page_of: PageOf,
) -> list[dict[str, str]]:
    """The self/next/prev links of a Data API range-paged listing.

    ``fixed`` are the query parameters every link repeats; ``page_of(after, before, limit)``
    reads another page, used here to ask whether one more item lies on either side.
    """

    def uri(extra: list[str]) -> str:
        params = fixed + extra
        return base + ("?" + "&".join(params) if params else "")

    self_extra = [f"starting_after={after}"] if after else []
    self_extra += [f"ending_before={before}"] if before else []
    links = [{"rel": "self", "uri": uri(self_extra)}]
    if items:
        first, last = items[0]["id"], items[-1]["id"]
        if page_of(last, before if after else None, 1):
            links.append({"rel": "next", "uri": uri([f"starting_after={last}"])})
        if page_of(None, first, 1):
            links.append({"rel": "prev", "uri": uri([f"ending_before={first}"])})
    return links


def _v30_user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k != "lms_status"}


def _out_assignment(data: dict[str, Any]) -> dict[str, Any]:
    """The stored assignment as the API shows it (x-omitempty fields left out when empty)."""
    out = dict(data)
    for name in ("assignee_ids", "attachments", "grading_scale", "submission_types"):
        if not out.get(name):
            out.pop(name, None)
    if not out.get("max_attempts"):
        out.pop("max_attempts", None)
    return out


def _out_submission(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for name in ("attachments", "flags"):
        if not out.get(name):
            out.pop(name, None)
    if not out.get("extra_attempts"):
        out.pop("extra_attempts", None)
    if not out.get("grade_points"):
        out.pop("grade_points", None)  # x-omitempty float: a grade of 0 is left out too
    return out


# -- control endpoints (/_sandbox/, not part of Clever's API) ------------------------------------


class _Control:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def _json(self, request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BodyError(f"body is not JSON: {exc}") from None

    async def reset(self, request: Request) -> Response:
        self.sb.reseed()
        self.sb.reset_rate()
        return JSONResponse({"reset": True, "now": self.sb.now_text()})

    async def list_assignments(self, request: Request) -> Response:
        section_id = request.path_params["section_id"]
        if self.sb.store.get_section(section_id) is None:
            return message(404, "Section not found")
        items = [_out_assignment(a) for a in self.sb.store.section_assignments(section_id)]
        return JSONResponse({"data": items})

    async def faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.sb.set_faults(FaultConfig.from_dict(await self._json(request)))
            except (ValueError, TypeError) as exc:
                return message(400, str(exc))
        return JSONResponse({"data": self.sb.refresh_faults().to_dict()})

    async def clock(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await self._json(request)
                if not isinstance(body, dict):
                    raise BodyError("clock body must be a JSON object")
                real = utcnow()
                if body.get("now") is not None:
                    target = parse_go_datetime(str(body["now"]))
                    self.sb.set_clock_offset((target - real).total_seconds())
                elif body.get("advance_seconds") is not None:
                    step = float(body["advance_seconds"])
                    self.sb.set_clock_offset(self.sb.clock_offset() + step)
                elif body.get("reset"):
                    self.sb.set_clock_offset(0.0)
                else:
                    raise BodyError('give "now", "advance_seconds" or "reset": true')
            except (BodyError, ValueError, TypeError) as exc:
                return message(400, str(exc))
        return JSONResponse({"now": self.sb.now_text(), "offset_seconds": self.sb.clock_offset()})

    async def turn_in(self, request: Request) -> Response:
        p = request.path_params
        stored = self.sb.store.get_assignment(p["assignment_id"].lower())
        if stored is None or stored[0] != p["section_id"]:
            return message(404, "Assignment does not exist")
        sub = self.sb.store.get_submission(stored[1]["id"], p["user_id"])
        if sub is None:
            return message(404, "User not found")
        try:
            body = await self._json(request)
        except BodyError as exc:
            return message(400, str(exc))
        now = self.sb.now()
        due_text = sub.get("override_due_date") or stored[1].get("due_date")
        if due_text and now > dt.datetime.fromisoformat(due_text.replace("Z", "+00:00")):
            flags = list(sub.get("flags") or [])
            if "late" not in flags:
                sub["flags"] = [*flags, "late"]
        if isinstance(body, dict) and isinstance(body.get("attachments"), list):
            sub["attachments"] = body["attachments"]
        sub["state"] = "submitted"
        sub["last_modified"] = format_api_datetime(now)
        self.sb.store.put_submission(stored[1]["id"], p["user_id"], sub)
        return JSONResponse({"data": _out_submission(sub)})


# -- assembly -----------------------------------------------------------------------------------


def _resource(path: str, handlers: dict[str, Handler]) -> Route:
    """A route that answers 405 with an Allow header for the methods it does not support."""
    allow = ", ".join(handlers)

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return JSONResponse({"message": ""}, status_code=405, headers={"Allow": allow})
        return await handler(request)

    return Route(path, endpoint, methods=ALL_METHODS)


async def _not_found(request: Request) -> Response:
    return message(404, "Not Found")


def create_app(config: SandboxConfig) -> Starlette:
    """The sandbox as an ASGI app; opens (and seeds, if new) its database right away."""
    sandbox = Sandbox(config)
    api = _Api(sandbox)
    control = _Control(sandbox)
    sec = "/sections/{section_id}"
    asg = sec + "/assignments/{assignment_id}"
    routes: list[Route] = []
    for v in ("/v3.0", "/v3.1"):
        routes += [
            _resource(v + "/districts", {"GET": api.districts}),
            _resource(v + "/districts/{district_id}", {"GET": api.district_by_id}),
            _resource(v + "/sections", {"GET": api.district_listing}),
            _resource(v + "/users", {"GET": api.district_listing}),
            _resource(v + sec, {"GET": api.section_by_id}),
            _resource(v + sec + "/users", {"GET": api.section_users}),
            _resource(v + "/users/{user_id}", {"GET": api.user_by_id}),
        ]
    v31 = "/v3.1"
    routes += [
        _resource(v31 + sec + "/assignments", {"POST": api.create_assignment}),
        _resource(
            v31 + asg,
            {
                "GET": api.assignment_resource,
                "PATCH": api.assignment_resource,
                "DELETE": api.assignment_resource,
            },
        ),
        _resource(v31 + asg + "/submissions", {"GET": api.submissions}),
        _resource(
            v31 + asg + "/submissions/{user_id}",
            {"GET": api.submission_resource, "PATCH": api.submission_resource},
        ),
        _resource("/_sandbox/reset", {"POST": control.reset}),
        _resource("/_sandbox/faults", {"GET": control.faults, "PUT": control.faults}),
        _resource("/_sandbox/clock", {"GET": control.clock, "PUT": control.clock}),
        _resource("/_sandbox" + sec + "/assignments", {"GET": control.list_assignments}),
        _resource("/_sandbox" + asg + "/submissions/{user_id}/turn-in", {"POST": control.turn_in}),
        Route("/{path:path}", _not_found, methods=ALL_METHODS),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Gateway, sandbox=sandbox)])
    app.state.sandbox = sandbox
    return app


def sandbox_of(app: Starlette) -> Sandbox:
    """The Sandbox behind an app made by create_app (tests and the CLI use it)."""
    sandbox: Sandbox = app.state.sandbox
    return sandbox


__all__ = ["ConnectionDropped", "Sandbox", "create_app", "sandbox_of"]
