"""Pagination: Data API range paging and LMS Connect submission cursors (with expiry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.sandbox_api import SECTION, Api

BIG_SECTION = "6a5e000001a0000000000001"  # the generated seed's first section


def _links(body: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {link["rel"]: link["uri"] for link in body.get("links", [])}


def test_data_api_pages_through_250_students_both_ways(
    make_api: Callable[..., Api], seed_file: Callable[..., Path]
) -> None:
    api = make_api(seed_path=seed_file(sections=1, students=250))
    seen: list[str] = []
    uri: str | None = f"/v3.0/sections/{BIG_SECTION}/users?role=student&limit=40"
    while uri:
        body = api.get(uri).json()
        seen += [item["data"]["id"] for item in body["data"]]
        uri = _links(body).get("next")
    assert len(seen) == 250 and len(set(seen)) == 250 and seen == sorted(seen)
    back: list[str] = []
    last = "f" * 24
    uri = f"/v3.1/sections/{BIG_SECTION}/users?role=student&limit=40&ending_before={last}"
    while uri:
        body = api.get(uri).json()
        back = [item["data"]["id"] for item in body["data"]] + back
        uri = _links(body).get("prev")
    assert back == seen
    everything = api.get(f"/v3.1/sections/{BIG_SECTION}/users", params={"limit": 10000}).json()
    assert len(everything["data"]) == 251  # the teacher too
    assert "next" not in _links(everything)
    default = api.get(f"/v3.1/sections/{BIG_SECTION}/users?role=student").json()
    assert len(default["data"]) == 100
    assert _links(default)["next"].endswith(f"starting_after={seen[99]}")


def test_data_api_limit_bounds(api: Api) -> None:
    users = f"/v3.1/sections/{SECTION}/users"
    assert api.get(users, params={"limit": 10001}).status_code == 413
    assert api.get(users, params={"limit": 0}).status_code == 400
    assert api.get(users, params={"role": "parent"}).status_code == 400


def test_submissions_cursor_walks_150_without_gaps(
    make_api: Callable[..., Api], seed_file: Callable[..., Path]
) -> None:
    api = make_api(seed_path=seed_file(sections=1, students=150))
    a = api.create(BIG_SECTION)
    uri: str | None = f"/v3.1/sections/{BIG_SECTION}/assignments/{a['id']}/submissions?limit=40"
    seen: list[str] = []
    pages = 0
    while uri:
        body = api.get(uri).json()
        pages += 1
        assert isinstance(body["data"][0], dict) and "data" not in body["data"][0]  # not wrapped
        seen += [s["user_id"] for s in body["data"]]
        links = body.get("links", [])
        assert all(link["rel"] == "next" for link in links)
        uri = links[0]["uri"] if links else None
    assert pages == 4
    assert len(seen) == 150 and len(set(seen)) == 150 and seen == sorted(seen)


def test_cursor_expires_two_hours_after_the_listing_started(api: Api) -> None:
    a = api.create()
    base = f"/v3.1/sections/{SECTION}/assignments/{a['id']}/submissions"
    first = api.get(base, params={"limit": 5}).json()
    second_uri = first["links"][0]["uri"]
    api.put("/_sandbox/clock", json={"advance_seconds": 3600})
    second = api.get(second_uri).json()
    third_uri = second["links"][0]["uri"]
    api.put("/_sandbox/clock", json={"advance_seconds": 3601})
    r = api.get(third_uri)
    assert r.status_code == 400
    assert "expired" in r.json()["message"]
    restarted = api.get(base, params={"limit": 5})
    assert restarted.status_code == 200


def test_bad_cursor_and_limit_are_400(api: Api) -> None:
    a = api.create()
    base = f"/v3.1/sections/{SECTION}/assignments/{a['id']}/submissions"
    for params in ({"cursor": "garbage"}, {"limit": 0}, {"limit": 101}, {"limit": "x"}):
        r = api.get(base, params=params)
        assert r.status_code == 400, params
        assert set(r.json()) == {"message"}
    b = api.create()
    cursor = parse_qs(urlsplit(api.get(base, params={"limit": 2}).json()["links"][0]["uri"]).query)
    other = f"/v3.1/sections/{SECTION}/assignments/{b['id']}/submissions"
    assert api.get(other, params={"cursor": cursor["cursor"][0]}).status_code == 400
