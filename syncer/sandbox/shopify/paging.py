"""Cursor pagination: opaque cursors, the `first` limit, and stable page order.

Root connections sort by (sort key, id) so pages stay complete when many records share a
sort value; nested connections page by position. In a bulk query `first` is ignored.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError

from syncer.sandbox.shopify.bulk import in_bulk_mode

MAX_PAGE_SIZE = 250


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def page_size(args: dict[str, Any], limit: int = MAX_PAGE_SIZE) -> int:
    if in_bulk_mode():
        return sys.maxsize  # a bulk query reads whole connections; `first` is ignored
    first = args.get("first")
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first < 0 or first > limit:
        raise GraphQLError(f"The first argument must be between 0 and {limit} (got {first}).")
    return int(first)


def connection(
    nodes: list[Any], cursors: list[str], has_next: bool, has_previous: bool
) -> dict[str, Any]:
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def offset_connection(
    items: list[Any], args: dict[str, Any], limit: int = MAX_PAGE_SIZE
) -> dict[str, Any]:
    """A nested connection paged by position (line items, fulfillment orders, ...)."""
    size = page_size(args, limit)
    start = 0
    if args.get("after"):
        start = int(decode_cursor(args["after"])["p"]) + 1
    chunk = items[start : start + size]
    cursors = [encode_cursor({"p": start + i}) for i in range(len(chunk))]
    return connection(chunk, cursors, start + size < len(items), start > 0)


def sorted_connection(
    items: list[Any], args: dict[str, Any], sort_value: Any, sort_name: str
) -> dict[str, Any]:
    """A root connection in a stable order: (sort value, id), ties broken by id."""
    size = page_size(args)
    reverse = bool(args.get("reverse"))
    keyed = sorted(((sort_value(item), item.num), item) for item in items)
    if reverse:
        keyed.reverse()
    start = 0
    if args.get("after"):
        data = decode_cursor(args["after"])
        if data.get("s") != sort_name:
            raise GraphQLError("Invalid cursor for current pagination sort.")
        mark = (data["v"], data["id"])
        start = len(keyed)
        for index, (key, _) in enumerate(keyed):
            if (key > mark) if not reverse else (key < mark):
                start = index
                break
    chunk = keyed[start : start + size]
    cursors = [encode_cursor({"s": sort_name, "v": key[0], "id": key[1]}) for key, _ in chunk]
    return connection([item for _, item in chunk], cursors, start + size < len(keyed), start > 0)


def sort_key_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    return value
