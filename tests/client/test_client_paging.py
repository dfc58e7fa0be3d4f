"""Paging: both Clever styles, every item once, next links only to the API's own host."""

from __future__ import annotations

import json
import math
import random
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lmsctl.client.listing import (
    PLAN_SUBMISSION_KEYS,
    SubmissionListing,
    compact_submission,
    read_plan_page,
)
from lmsctl.client.rosterpage import read_roster_page
from lmsctl.errors import ApiBadRequestError, TransportError
from lmsctl.roster import compact_user
from tests.support.client import ASSIGNMENT, SECTION, Script, make_client, message, ok, run

SUBS = f"/v3.1/sections/{SECTION}/assignments/{ASSIGNMENT}/submissions"


def lms_pages(n_items: int, page: int, *, expire_once_at: int | None = None) -> Script:
    """An LMS Connect submissions listing with opaque cursors (items not wrapped)."""
    expired = [expire_once_at]

    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(urlsplit(str(request.url)).query)
        start = int(q["cursor"][0].removeprefix("c")) if "cursor" in q else 0
        if expired[0] is not None and start == expired[0]:
            expired[0] = None
            return message(400, "cursor expired: restart the listing without a cursor")
        items = [
            {"user_id": f"u{i:03d}", "grade": i} for i in range(start, min(start + page, n_items))
        ]
        links = []
        if start + page < n_items:
            links.append({"rel": "next", "uri": f"{SUBS}?cursor=c{start + page}&limit={page}"})
        return httpx.Response(200, json={"data": items, "links": links})

    return Script(then=handler)


def test_submissions_follow_relative_next_links_against_the_origin() -> None:
    script = lms_pages(25, 10)

    async def go() -> None:
        async with make_client(script, base_url="https://api.example.test/v3.1/") as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT, limit=10)
            assert [s["user_id"] for s in subs] == [f"u{i:03d}" for i in range(25)]
            assert client.stats.by_endpoint["GET submissions"] == 3

    run(go())
    urls = [str(r.url) for r in script.requests]
    assert urls == [
        f"https://api.example.test{SUBS}?limit=10",
        f"https://api.example.test{SUBS}?cursor=c10&limit=10",
        f"https://api.example.test{SUBS}?cursor=c20&limit=10",
    ]


def test_an_expired_cursor_restarts_the_listing_without_duplicates() -> None:
    script = lms_pages(25, 10, expire_once_at=20)

    async def go() -> None:
        async with make_client(script) as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT, limit=10)
            assert sorted(s["user_id"] for s in subs) == [f"u{i:03d}" for i in range(25)]

    run(go())
    assert script.count == 3 + 3  # two pages, the expired one, then the whole listing again


def test_a_cursor_that_keeps_expiring_is_reported_after_two_restarts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "cursor=" in str(request.url):
            return message(400, "cursor expired: restart the listing without a cursor")
        links = [{"rel": "next", "uri": f"{SUBS}?cursor=abc"}]
        return httpx.Response(200, json={"data": [{"user_id": "u1"}], "links": links})

    script = Script(then=handler)

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(ApiBadRequestError, match="cursor expired"):
                await client.list_submissions(SECTION, ASSIGNMENT)

    run(go())
    assert script.count == 6


def test_a_first_page_400_is_not_retried_as_an_expired_cursor() -> None:
    script = Script(then=message(400, "limit must be between 1 and 100 (cursor ignored)"))

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(ApiBadRequestError):
                await client.list_submissions(SECTION, ASSIGNMENT, limit=1000)

    run(go())
    assert script.count == 1


def test_section_users_follow_data_api_links_and_are_unwrapped() -> None:
    users = [{"id": f"5f1a{i:020x}", "roles": {"student": {}}} for i in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(urlsplit(str(request.url)).query)
        assert q["role"] == ["student"]
        after = q.get("starting_after", [""])[0]
        rest = [u for u in users if str(u["id"]) > after][:3]
        links = [{"rel": "self", "uri": str(request.url.raw_path.decode())}]
        if rest and rest[-1] is not users[-1]:
            links.append(
                {
                    "rel": "next",
                    "uri": f"/v3.0/sections/{SECTION}/users?role=student&limit=3"
                    f"&starting_after={rest[-1]['id']}",
                }
            )
        return httpx.Response(
            200,
            json={
                "data": [{"data": u, "uri": f"/v3.0/users/{u['id']}"} for u in rest],
                "links": links,
            },
        )

    script = Script(then=handler)

    async def go() -> None:
        async with make_client(script) as client:
            got = await client.list_section_users(SECTION, limit=3)
            assert got == users
            assert client.stats.by_endpoint["GET section users"] == 3

    run(go())
    assert script.requests[1].url.path == f"/v3.0/sections/{SECTION}/users"


def test_pages_that_repeat_items_yield_each_item_once() -> None:
    script = Script(
        ok(
            [{"user_id": "a"}, {"user_id": "b"}], links=[{"rel": "next", "uri": f"{SUBS}?cursor=1"}]
        ),
        ok([{"user_id": "b"}, {"user_id": "c"}], links=[]),
    )

    async def go() -> None:
        async with make_client(script) as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT)
            assert [s["user_id"] for s in subs] == ["a", "b", "c"]

    run(go())


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.test/v3.1/next?cursor=1",
        "http://api.example.test/v3.1/x",
        "https://api.example.test:8443/v3.1/x",
        "//evil.test/v3.1/x",
    ],
)
def test_a_next_link_to_another_server_is_refused(link: str) -> None:
    script = Script(ok([{"user_id": "a"}], links=[{"rel": "next", "uri": link}]))

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(TransportError, match="another server"):
                await client.list_submissions(SECTION, ASSIGNMENT)

    run(go())
    assert script.count == 1


def test_an_absolute_next_link_to_the_same_server_is_followed() -> None:
    script = Script(
        ok(
            [{"user_id": "a"}],
            links=[{"rel": "next", "uri": f"https://api.example.test{SUBS}?cursor=x"}],
        ),
        ok([{"user_id": "b"}], links=[]),
    )

    async def go() -> None:
        async with make_client(script) as client:
            assert len(await client.list_submissions(SECTION, ASSIGNMENT)) == 2

    run(go())


def test_a_next_link_going_round_in_a_circle_is_an_error_not_a_hang() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok([{"user_id": "a"}], links=[{"rel": "next", "uri": f"{SUBS}?cursor=same"}])

    async def go() -> None:
        async with make_client(Script(then=handler)) as client:
            with pytest.raises(TransportError, match="circle"):
                await client.list_submissions(SECTION, ASSIGNMENT)

    run(go())


def test_get_my_district_unwraps_the_first_district() -> None:
    district = {"id": "d1", "name": "Maplewood"}
    script = Script(
        ok([{"data": district, "uri": "/v3.0/districts/d1"}], links=[]), ok([], links=[])
    )

    async def go() -> None:
        async with make_client(script) as client:
            assert await client.get_my_district() == district
            with pytest.raises(TransportError, match="no district"):
                await client.get_my_district()

    run(go())
    assert script.requests[0].url.path == "/v3.1/districts"


def test_versioned_next_links_keep_the_prefix_of_an_api_mounted_below_one() -> None:
    script = Script(
        ok([{"user_id": "a"}], links=[{"rel": "next", "uri": f"{SUBS}?cursor=x"}]),
        ok([{"user_id": "b"}], links=[]),
    )

    async def go() -> None:
        async with make_client(script, base_url="https://proxy.test/clever/v3.1") as client:
            assert len(await client.list_submissions(SECTION, ASSIGNMENT)) == 2

    run(go())
    assert [r.url.path for r in script.requests] == [f"/clever{SUBS}"] * 2


def test_a_relative_next_link_with_a_url_in_its_query_is_still_relative() -> None:
    script = Script(
        ok([{"user_id": "a"}], links=[{"rel": "next", "uri": f"{SUBS}?cursor=https://x.test/"}]),
        ok([{"user_id": "b"}], links=[]),
    )

    async def go() -> None:
        async with make_client(script) as client:
            assert len(await client.list_submissions(SECTION, ASSIGNMENT)) == 2

    run(go())
    assert {r.url.host for r in script.requests} == {"api.example.test"}


def test_a_listing_for_some_students_holds_only_theirs_and_the_first_of_each() -> None:
    script = Script(
        ok(
            [{"user_id": "a", "grade": 1}, {"user_id": "x", "grade": 2}],
            links=[{"rel": "next", "uri": f"{SUBS}?cursor=1"}],
        ),
        ok([{"user_id": "a", "grade": 3}, {"user_id": "c", "grade": 4}], links=[]),
    )

    async def go() -> None:
        async with make_client(script) as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT, only=frozenset({"a", "c"}))
            assert subs == [{"user_id": "a", "grade": 1}, {"user_id": "c", "grade": 4}]

    run(go())
    assert script.count == 2  # (every page is still read)


def test_a_listing_for_some_students_restarts_whole_after_an_expired_cursor() -> None:
    script = lms_pages(25, 10, expire_once_at=20)
    wanted = frozenset({"u003", "u015", "u024", "nobody"})

    async def go() -> None:
        async with make_client(script) as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT, limit=10, only=wanted)
            assert [(s["user_id"], s["grade"]) for s in subs] == [
                ("u003", 3),
                ("u015", 15),
                ("u024", 24),
            ]

    run(go())
    assert script.count == 6  # 3 pages, the cursor refused, then all 3 again


def _all_then_filtered(
    pages: list[list[object]], only: frozenset[str]
) -> tuple[list[object], list[object]]:
    """The rule before the listing kept only some students: every submission, one per key (the
    first), then those whose user id as text is in ``only`` (of two with one text, the later)."""
    seen: dict[str, object] = {}
    for items in pages:
        for sub in items:
            if isinstance(sub, dict):
                seen.setdefault(str(sub.get("user_id") or sub.get("id") or len(seen)), sub)
    kept: dict[str, object] = {}
    for sub in seen.values():
        assert isinstance(sub, dict)
        if str(sub.get("user_id")) in only:
            kept[str(sub.get("user_id"))] = sub
    return list(seen.values()), list(kept.values())


def test_odd_items_in_a_listing_for_some_students_keep_what_the_filter_kept() -> None:
    rng = random.Random(12)
    ids = ["a", "b", "c", "3", "None", ""]
    odd_and_kept = 0
    for _ in range(500):
        pages: list[list[object]] = []
        for _ in range(rng.randint(1, 4)):
            page: list[object] = []
            for n in range(rng.randint(0, 5)):
                pick = rng.random()
                if pick < 0.7:
                    page.append({"user_id": rng.choice(ids[:3]), "n": n})
                elif pick < 0.8:
                    page.append({"id": rng.choice(ids), "n": n})  # no user id: keyed by id
                elif pick < 0.9:
                    page.append({"user_id": rng.choice([None, 3, "", 0]), "n": n})
                else:
                    page.append(rng.choice(["text", 7, None, ["a"]]))  # not an object
            pages.append(page)
        only = frozenset(rng.sample(ids, rng.randint(0, len(ids))))
        every, wanted = _all_then_filtered(pages, only)
        listing, whole = SubmissionListing(only), SubmissionListing()
        for page in pages:
            listing.add(page)
            whole.add(page)
        # (of each, what a plan keeps: compact_submission)
        assert listing.result() == [compact_submission(s) for s in wanted], (pages, only)
        assert whole.result() == every, pages
        odd = any(not isinstance(s, dict) or not s.get("user_id") for p in pages for s in p)
        odd_and_kept += odd and bool(wanted)
    assert odd_and_kept > 50  # (the odd items' rule was tried, and kept some)


def _plan_fields(sub: object) -> object:
    """What a plan keeps of a submission (its user id and grade fields)."""
    if not isinstance(sub, dict):
        return sub
    return {k: v for k, v in sub.items() if k in PLAN_SUBMISSION_KEYS}


def test_a_plan_listing_decoded_typed_keeps_what_the_whole_decoding_kept() -> None:
    # A plan's pages are decoded with just the fields it reads; pages of other shapes (items
    # that are not objects, values msgspec refuses) fall back to the standard decoding. Either
    # way the listing keeps, of the fields a plan reads, what decoding every field kept.
    rng = random.Random(7)
    ids = ["a", "b", "c", "3", "None", ""]
    grades: list[object] = [1, 2.5, None, "A-", 2**70, True, {"x": [1]}]
    fell_back = typed = 0
    for _ in range(400):
        pages: list[bytes] = []
        decoded: list[list[object]] = []
        for _ in range(rng.randint(1, 3)):
            page: list[object] = []
            for n in range(rng.randint(0, 5)):
                pick = rng.random()
                if pick < 0.8:
                    sub: dict[str, object] = {"user_id": rng.choice(ids[:3]), "state": "created"}
                    if rng.random() < 0.7:
                        sub["grade"] = rng.choice(grades)
                    sub["assignment_id"], sub["n"] = "x", n  # (fields a plan does not read)
                    page.append(sub)
                elif pick < 0.9:
                    page.append({"id": rng.choice(ids), "user_id": rng.choice([None, 3, ""])})
                else:
                    page.append(rng.choice(["text", 7, None]))
            body = json.dumps({"data": page, "links": []})
            if rng.random() < 0.05:
                body = body.replace("2.5", "NaN")  # (the standard library's reading)
            pages.append(body.encode())
            decoded.append(json.loads(body)["data"])
        only = frozenset(rng.sample(ids, rng.randint(1, len(ids))))
        _, wanted = _all_then_filtered(decoded, only)
        listing = SubmissionListing(only)
        for raw, items in zip(pages, decoded, strict=True):
            page_read = read_plan_page(raw)
            if page_read is None:  # (the client then decodes it as any answer)
                fell_back += 1
                listing.add(items)
            else:
                typed += 1
                listing.add(page_read["data"])
        got = listing.result()
        expected = [_plan_fields(s) for s in wanted]
        assert got == expected, (pages, only)
        # each text one interned string (shared over a district's 100k submissions)
        assert all(v is sys.intern(v) for sub in got for v in sub.values() if type(v) is str)
        # exact values: a large integer stays an integer, True stays a bool
        assert [{k: type(v) for k, v in s.items()} for s in got] == [
            {k: type(v) for k, v in s.items()} for s in expected if isinstance(s, dict)
        ]
    assert typed > 200 and fell_back > 50


def test_a_plan_listing_reads_an_answer_with_nan_and_large_integers_as_the_standard_library() -> (
    None
):
    body = (
        '{"data": [{"user_id": "a", "grade": NaN, "state": "created"},'
        ' {"user_id": "b", "grade": 1180591620717411303424}], "links": []}'
    )
    script = Script(httpx.Response(200, content=body.encode()))

    async def go() -> None:
        async with make_client(script) as client:
            subs = await client.list_submissions(SECTION, ASSIGNMENT, only=frozenset({"a", "b"}))
            assert [s["user_id"] for s in subs] == ["a", "b"]
            assert math.isnan(subs[0]["grade"]) and subs[0]["state"] == "created"
            assert subs[1]["grade"] == 2**70 and type(subs[1]["grade"]) is int

    run(go())


def _random_user(rng: random.Random, n: int) -> object:
    """A Data API listing item: usually a wrapped student, sometimes of another shape."""
    pick = rng.random()
    if pick < 0.05:
        return rng.choice(["text", 7, None])  # not an object
    user: dict[str, object] = {"id": rng.choice([f"s{n}", f"s{n}", "s0", "", 5])}
    for name in ("email", "sis_id", "student_number", "state_id", "district", "created"):
        if rng.random() < 0.5:
            user[name] = rng.choice(["A@x.org", "7", None, 12])
    names = [{"first": "Ann", "last": "Lee", "middle": None}, {"first": "Bo"}, None, "Ann"]
    if rng.random() < 0.8:
        user["name"] = rng.choice(names)
    student = {"sis_id": "9", "schools": ["x"], "enrollments": [{"school": "x"}], "email": "b"}
    roles = [{"student": student}, {"student": None}, {}, None, ["student"], {"teacher": {}}]
    if rng.random() < 0.8:
        user["roles"] = rng.choice(roles)
    if pick < 0.1:
        return user  # a bare object: the whole item is the user
    if pick < 0.12:
        return {"data": None}
    return {"data": user, "uri": f"/v3.0/users/{n}"}


def test_a_plan_roster_decoded_typed_is_what_compact_user_made_of_every_field() -> None:
    # A plan's roster pages are decoded with just the fields compact_user keeps; pages of other
    # shapes fall back to decoding every field. Either way each student is what compact_user
    # makes of the whole object, the first of each id, in the order listed.
    rng = random.Random(5)
    typed = fell_back = 0
    for _ in range(150):
        items = [_random_user(rng, n) for n in range(rng.randint(0, 6))]
        body = json.dumps({"data": items, "links": []})
        if rng.random() < 0.05:
            body = body.replace('"7"', "NaN", 1)
        if read_roster_page(body.encode()) is None:
            fell_back += 1
        else:
            typed += 1

        async def go(page: str = body) -> None:
            script = Script(then=lambda _: httpx.Response(200, content=page.encode()))
            async with make_client(script) as client:
                whole = await client.list_section_users(SECTION, limit=10)
                kept = await client.list_section_users(SECTION, limit=10, compact=True)
            assert kept == [compact_user(u) for u in whole], page
            assert all(type(u["id"]) is not str or u["id"] is sys.intern(u["id"]) for u in kept)

        run(go())
    assert typed > 40 and fell_back > 40  # (both ways were tried, on pages of students)
