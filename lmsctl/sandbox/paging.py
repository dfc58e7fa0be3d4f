"""Listings: reading a ``?limit=`` and the links of a Data API range-paged listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from lmsctl.sandbox.shapes import message

SUBMISSIONS_MAX_LIMIT = 100
DATA_API_MAX_LIMIT = 10000

PageOf = Callable[[str | None, str | None, int], list[dict[str, Any]]]


def data_api_limit(limit_text: str | None) -> int | Response:
    """A Data API listing's ?limit= (100 if absent), or Clever's 400/413 answer to a bad one."""
    return query_limit(limit_text, default=100, maximum=DATA_API_MAX_LIMIT, too_large=413)


def query_limit(
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


def range_links(
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
