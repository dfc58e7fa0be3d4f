"""Retries: reads and idempotent writes retry; a create retries only if it never arrived."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from lmsctl.errors import (
    ApiBadRequestError,
    ApiNotFoundError,
    ApiRateLimitedError,
    ApiServerError,
    OutcomeUnknownError,
    TransportError,
)
from tests.support.client import (
    ASSIGNMENT,
    SECTION,
    USER,
    FakeTime,
    Script,
    body_of,
    make_client,
    message,
    ok,
    run,
)


def test_get_retries_server_errors_with_jittered_exponential_backoff() -> None:
    ft = FakeTime()
    script = Script(
        message(503, "x"),
        message(500, "x"),
        message(502, "x"),
        message(504, "x"),
        ok({"id": ASSIGNMENT}),
    )

    async def go() -> None:
        async with make_client(script, ft, backoff_base=0.5, backoff_max=3.0) as client:
            assert (await client.get_assignment(SECTION, ASSIGNMENT))["id"] == ASSIGNMENT
            assert client.stats.requests == 5
            assert client.stats.retries == 4
            assert client.stats.by_endpoint["GET assignment"] == 5
            assert client.stats.waited_seconds == pytest.approx(sum(ft.sleeps))

    run(go())
    assert len(ft.sleeps) == 4
    for n, delay in enumerate(ft.sleeps):
        assert 0 <= delay <= min(3.0, 0.5 * 2**n)


def test_get_gives_up_after_max_retries_with_the_last_error() -> None:
    script = Script(then=message(503, "Service Unavailable"))

    async def go() -> None:
        async with make_client(script, max_retries=3) as client:
            with pytest.raises(ApiServerError, match="503: Service Unavailable"):
                await client.get_section(SECTION)

    run(go())
    assert script.count == 4


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout,
        httpx.ConnectError,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
    ],
)
def test_reads_and_patches_retry_after_timeouts_and_broken_connections(
    failure: type[Exception],
) -> None:
    script = Script(failure, failure, then=ok({"id": "x", "grade": 7}))

    async def go() -> None:
        async with make_client(script) as client:
            await client.get_submission(SECTION, ASSIGNMENT, USER)
            script.steps = [failure]
            sub = await client.update_submission(SECTION, ASSIGNMENT, USER, {"grade": 7})
            assert sub["grade"] == 7

    run(go())
    assert [r.method for r in script.requests] == ["GET"] * 3 + ["PATCH"] * 2
    assert body_of(script.requests[-1]) == {"grade": 7}


def test_transport_failure_after_retries_names_the_request_not_the_library() -> None:
    async def go() -> None:
        async with make_client(Script(then=httpx.ConnectError), max_retries=2) as client:
            with pytest.raises(TransportError) as info:
                await client.get_section(SECTION)
            assert str(info.value) == (
                f"GET /v3.1/sections/{SECTION}: cannot connect to the API (ConnectError)"
            )
            assert isinstance(info.value.__cause__, httpx.ConnectError)

    run(go())


#: the rate limiter's own 503: Retry-After and an exhausted window (see LmsClient's rules)
LIMITER_503 = {"Retry-After": "2", "X-RateLimit-Limit": "1200", "X-RateLimit-Remaining": "0"}


@pytest.mark.parametrize(
    "never_arrived",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        message(503, "Service Unavailable", **LIMITER_503),
        message(429, "Too Many Requests", **{"Retry-After": "1"}),
        httpx.Response(429),  # Clever's limiter: an empty body, no Retry-After
    ],
    ids=["connect-error", "connect-timeout", "503-rate-limiter", "429", "429-bare"],
)
def test_a_create_is_retried_only_when_it_never_reached_the_server(never_arrived: object) -> None:
    script = Script(never_arrived, then=ok({"id": "new"}))

    async def go() -> None:
        async with make_client(script) as client:
            assert (await client.create_assignment(SECTION, {"title": "T"}))["id"] == "new"

    run(go())
    assert script.count == 2


def test_the_rate_limiters_503_waits_as_told_like_a_429() -> None:
    ft = FakeTime()
    script = Script(message(503, "Service Unavailable", **LIMITER_503), then=ok({"id": "new"}))

    async def go() -> None:
        async with make_client(script, ft) as client:
            await client.create_assignment(SECTION, {"title": "T"})
            assert client.stats.rate_limited == 1
            assert client.stats.retries == 0

    run(go())
    assert ft.sleeps == [2.0]


@pytest.mark.parametrize(
    "maybe_arrived",
    [
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
        message(500, "Internal Server Error"),
        httpx.Response(500, text="<html><h1>500 Internal Server Error</h1></html>"),
        message(502, "Bad Gateway"),
        message(503, "Service Unavailable"),
        # rate-limit headers alone are on every answer that passed the limiter
        message(503, "Service Unavailable", **{"X-RateLimit-Remaining": "17"}),
        message(503, "Service Unavailable", **{"X-RateLimit-Remaining": "0"}),
        message(503, "Service Unavailable", **{"Retry-After": "5"}),
        message(504, "Gateway Timeout"),
        message(501, "Not Implemented"),
        httpx.Response(200, text="<html>proxy error page</html>"),
        httpx.Response(200),
        ok({"title": "T"}),  # a data object without the new id
        httpx.Response(302, headers={"Location": "/v3.1/somewhere"}),
    ],
    ids=[
        "read-timeout",
        "write-timeout",
        "disconnect",
        "read-error",
        "write-error",
        "500",
        "500-html",
        "502",
        "503",
        "503-ratelimit-headers-only",
        "503-remaining-0-without-retry-after",
        "503-retry-after-only",
        "504",
        "501",
        "200-html",
        "200-empty",
        "200-without-id",
        "302",
    ],
)
def test_a_create_that_may_have_arrived_is_never_retried(maybe_arrived: object) -> None:
    script = Script(maybe_arrived, then=ok({"id": "duplicate"}))

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(OutcomeUnknownError) as info:
                await client.create_assignment(SECTION, {"title": "T"})
            assert "may or may not" in str(info.value)
            assert info.value.method == "POST"
            assert info.value.path == f"/v3.1/sections/{SECTION}/assignments"

    run(go())
    assert script.count == 1


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        (message(400, "MISSING_REQUIRED_FIELD"), ApiBadRequestError),
        (message(404, "Section not found"), ApiNotFoundError),
        # a 5xx whose message is a documented validation refusal proves nothing was created
        (message(500, "missing required field(s): description"), ApiServerError),
        (message(500, "due_date must be in the future"), ApiServerError),
        (
            message(500, "validation failure list:\nsubmission_types.0 in body should be one of"),
            ApiServerError,
        ),
        (message(502, "Schoology does not support submission type of link"), ApiServerError),
        (message(500, "\u201cno valid users found in Canvas\u201d"), ApiServerError),
    ],
    ids=["400", "404", "500-missing", "500-due", "500-enum", "502-schoology-link", "500-users"],
)
def test_a_create_refused_by_the_server_is_an_api_error(
    answer: httpx.Response, cls: type[Exception]
) -> None:
    script = Script(answer, then=ok())

    async def go() -> None:
        async with make_client(script) as client:
            with pytest.raises(cls):
                await client.create_assignment(SECTION, {"title": "T"})

    run(go())
    assert script.count == 1


def test_a_documented_refusal_as_a_5xx_is_final_for_every_method() -> None:
    script = Script(then=message(500, 'parsing time "2026-13-01": month out of range'))

    async def go() -> None:
        async with make_client(script, max_retries=5) as client:
            with pytest.raises(ApiServerError, match="month out of range"):
                await client.update_assignment(SECTION, ASSIGNMENT, {"due_date": "x"})

    run(go())
    assert script.count == 1


def test_delete_whose_answer_was_lost_then_404_counts_as_deleted() -> None:
    script = Script(httpx.ReadTimeout, message(404, "NOT_FOUND"))

    async def go() -> None:
        async with make_client(script) as client:
            assert await client.delete_assignment(SECTION, ASSIGNMENT) is None

    run(go())
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


def test_delete_of_a_missing_assignment_is_not_found() -> None:
    async def go() -> None:
        async with make_client(Script(message(404, "NOT_FOUND"))) as client:
            with pytest.raises(ApiNotFoundError):
                await client.delete_assignment(SECTION, ASSIGNMENT)

    run(go())


def test_429_waits_for_retry_after_then_retries() -> None:
    ft = FakeTime()
    script = Script(message(429, "slow down", **{"Retry-After": "7"}), then=ok())

    async def go() -> None:
        async with make_client(script, ft) as client:
            await client.get_section(SECTION)
            assert client.stats.rate_limited == 1
            assert client.stats.waited_seconds == pytest.approx(7.0)

    run(go())
    assert ft.sleeps == [7.0]


def test_429_without_retry_after_waits_until_the_reset_time_or_a_minute() -> None:
    ft = FakeTime()
    reset = str(int(time.time()) + 30)
    script = Script(
        message(429, "slow down", **{"X-RateLimit-Reset": reset}),
        message(429, "slow down"),
        then=ok(),
    )

    async def go() -> None:
        async with make_client(script, ft) as client:
            await client.get_section(SECTION)

    run(go())
    assert 27.0 <= ft.sleeps[0] <= 30.0
    assert ft.sleeps[1] == 60.0


def test_one_429_pauses_every_task_of_the_client() -> None:
    ft = FakeTime()
    starts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(ft.now)
        if len(starts) == 1:
            return message(429, "slow down", **{"Retry-After": "10"})
        return ok()

    async def go() -> None:
        async with make_client(handler, ft) as client:
            await asyncio.gather(*(client.get_section(f"s{i}") for i in range(20)))
            assert client.stats.rate_limited == 1

    run(go())
    assert starts[0] == 0.0
    assert len(starts) == 21
    assert all(t >= 10.0 for t in starts[1:])


def test_429_forever_ends_in_a_rate_limited_error() -> None:
    script = Script(then=message(429, "Too Many Requests", **{"Retry-After": "1"}))

    async def go() -> None:
        async with make_client(script, max_retries=0) as client:
            with pytest.raises(ApiRateLimitedError):
                await client.get_section(SECTION)

    run(go())
    assert script.count == 11  # ten 429s are waited out, not counted against max_retries


def test_429_retry_after_may_be_an_http_date_and_a_past_reset_still_waits_a_moment() -> None:
    ft = FakeTime()
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    script = Script(
        message(429, "slow down", **{"Retry-After": soon}),
        message(429, "slow down", **{"X-RateLimit-Reset": str(int(time.time()) - 5)}),
        then=ok(),
    )

    async def go() -> None:
        async with make_client(script, ft) as client:
            await client.get_section(SECTION)

    run(go())
    assert 17.0 <= ft.sleeps[0] <= 20.0
    assert ft.sleeps[1] == 1.0


def test_the_429_wait_floor_is_the_clients_setting() -> None:
    ft = FakeTime()
    script = Script(
        message(429, "slow down", **{"Retry-After": "0.2"}),
        message(429, "slow down", **{"X-RateLimit-Reset": str(int(time.time()) - 5)}),
        message(429, "slow down", **{"Retry-After": "3"}),
        then=ok(),
    )

    async def go() -> None:
        async with make_client(script, ft, min_rate_limit_wait=0.05) as client:
            await client.get_section(SECTION)

    run(go())
    assert ft.sleeps == pytest.approx([0.2, 0.05, 3.0])


def test_schoology_not_launched_500_on_a_grade_is_final_not_retried() -> None:
    script = Script(then=message(500, "Error updating submission"))

    async def go() -> None:
        async with make_client(script, max_retries=5) as client:
            with pytest.raises(ApiServerError, match="500: Error updating submission"):
                await client.update_submission(SECTION, ASSIGNMENT, USER, {"grade_points": 9})

    run(go())
    assert script.count == 1  # retrying cannot help until the student opens the app
