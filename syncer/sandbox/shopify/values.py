"""Values as Shopify writes them (global ids, money at two places, UTC timestamps) and the
cap Shopify puts on every input array."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MAX_INPUT_ARRAY = 250  # any list argument or input field: longer ones fail the call
CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gid(kind: str, num: int) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_gid(value: str | None) -> tuple[str, int] | None:
    """("Order", 12) from "gid://shopify/Order/12" (query strings ignored); None when malformed."""
    if not value:
        return None
    match = re.fullmatch(r"gid://shopify/(\w+)/(\d+)(\?.*)?", value)
    return (match.group(1), int(match.group(2))) if match else None


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def by_gid(value: str | None, kind: str, table: dict[int, Any]) -> Any:
    """The record a gid names in `table`, or None for a malformed gid or one of another kind."""
    parsed = parse_gid(value)
    if parsed is None or parsed[0] != kind:
        return None
    return table.get(parsed[1])
