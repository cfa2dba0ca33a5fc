"""Shopify's search syntax in `query:` arguments, and which fields each connection searches.

`a:1 b:2 OR b:3` is an AND of OR-groups; `-field:` negates, `field:>=value` compares, a
trailing `*` matches a prefix, and unknown fields are ignored as Shopify does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from syncer.sandbox.shopify.values import parse_gid

if TYPE_CHECKING:
    from syncer.sandbox.shopify.model import Order


_TOKEN = re.compile(r"""-?[\w.]+:(?:[<>]=?)?(?:'[^']*'|"[^"]*"|[^\s()]+)|\(|\)|\S+""")
_TERM = re.compile(r"""(-?)([\w.]+):(<=|>=|<|>)?(.*)""", re.S)


@dataclass
class Term:
    field: str
    op: str  # ":", "<", "<=", ">", ">="
    value: str
    negate: bool = False


def parse_search(query: str | None) -> list[list[Term]]:
    """Shopify search syntax as AND of OR-groups: `a:1 b:2 OR b:3` -> [[a:1], [b:2, b:3]]."""
    groups: list[list[Term]] = []
    join_next = False
    for token in _TOKEN.findall(query or ""):
        if token in ("(", ")", "AND"):
            continue
        if token == "OR":
            join_next = True
            continue
        match = _TERM.fullmatch(token)
        if match:
            negate, name, op, value = match.groups()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            term = Term(name.lower(), op or ":", value, bool(negate))
        else:
            term = Term("default", ":", token.strip("'\""))
        if join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return groups


def parse_when(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GraphQLError(f"Invalid date in search query: {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def compare(actual: Any, term: Term) -> bool:
    if actual is None:
        return False
    if isinstance(actual, (list, tuple, set)):
        return any(compare(a, term) for a in actual)
    target: Any
    if isinstance(actual, datetime):
        target = parse_when(term.value)
    elif isinstance(actual, bool):
        target = term.value.lower() in ("true", "1", "yes")
    elif isinstance(actual, int):
        parsed = parse_gid(term.value)
        try:
            target = parsed[1] if parsed else int(term.value)
        except ValueError:
            return False
    else:
        actual, target = str(actual).lower(), term.value.lower()
        if term.op == ":" and target.endswith("*"):
            return bool(actual.startswith(target[:-1]))
    if term.op == ":":
        return bool(actual == target)
    if term.op == ">":
        return bool(actual > target)
    if term.op == ">=":
        return bool(actual >= target)
    if term.op == "<":
        return bool(actual < target)
    return bool(actual <= target)


def matches(item: Any, groups: list[list[Term]], fields: dict[str, Any]) -> bool:
    for group in groups:
        ok = False
        for term in group:
            getter = fields.get(term.field)
            if getter is None:
                ok = True  # Shopify ignores unknown search fields (with a warning)
                break
            hit = compare(getter(item), term)
            if hit != term.negate:
                ok = True
                break
        if not ok:
            return False
    return True


def order_status_match(order: Order, value: str) -> bool:
    value = value.lower()
    if value == "any":
        return True
    if value == "cancelled":
        return order.cancelled_at is not None
    if value == "closed":
        return order.closed
    return not order.closed  # open / not_closed


# Shopify's `fulfillment_status` search values per displayFulfillmentStatus: `shipped` and
# `fulfilled` mean fully fulfilled, `unshipped` nothing fulfilled, `partial` some, and
# `unfulfilled` anything not yet fully fulfilled (unshipped or partial).
_FULFILLMENT_SEARCH_VALUES = {
    "FULFILLED": ["fulfilled", "shipped"],
    "PARTIALLY_FULFILLED": ["partial", "partially_fulfilled", "unfulfilled"],
    "UNFULFILLED": ["unshipped", "unfulfilled"],
}


def fulfillment_status_values(order: Order) -> list[str]:
    status = order.display_fulfillment_status
    return _FULFILLMENT_SEARCH_VALUES.get(status, [status.lower()])


ORDER_FIELDS: dict[str, Any] = {
    "id": lambda o: o.num,
    "updated_at": lambda o: o.updated_at,
    "created_at": lambda o: o.created_at,
    "processed_at": lambda o: o.processed_at,
    "name": lambda o: [o.name, str(o.number)],
    "financial_status": lambda o: o.financial_status.lower(),
    "fulfillment_status": lambda o: fulfillment_status_values(o),
    "test": lambda o: o.test,
    "email": lambda o: o.email,
    "sku": lambda o: [li.sku for li in o.lines],
    "default": lambda o: [o.name, o.email or ""],
}
PRODUCT_FIELDS: dict[str, Any] = {
    "id": lambda p: p.num,
    "updated_at": lambda p: p.updated_at,
    "created_at": lambda p: p.created_at,
    "title": lambda p: p.title,
    "handle": lambda p: p.handle,
    "status": lambda p: p.status.lower(),
    "product_type": lambda p: p.product_type,
    "sku": lambda p: [v.sku for v in p.variants],
    "barcode": lambda p: [v.barcode for v in p.variants if v.barcode],
    "default": lambda p: [p.title] + [v.sku for v in p.variants],
}
VARIANT_FIELDS: dict[str, Any] = {
    "id": lambda v: v.num,
    "updated_at": lambda v: v.updated_at,
    "created_at": lambda v: v.created_at,
    "sku": lambda v: v.sku,
    "barcode": lambda v: v.barcode,
    "title": lambda v: v.title,
    "product_id": lambda v: v.product.num,
    "product_status": lambda v: v.product.status.lower(),
    "default": lambda v: [v.sku, v.title, v.product.title],
}
ITEM_FIELDS: dict[str, Any] = {
    "id": lambda i: i.num,
    "updated_at": lambda i: i.updated_at,
    "created_at": lambda i: i.created_at,
    "sku": lambda i: i.sku,
    "default": lambda i: i.sku,
}
LEVEL_FIELDS: dict[str, Any] = {
    "updated_at": lambda lv: lv.updated_at,
    "inventory_item_id": lambda lv: lv.item.num,
    "sku": lambda lv: lv.item.sku,
}
LOCATION_FIELDS: dict[str, Any] = {
    "id": lambda loc: loc.num,
    "name": lambda loc: loc.name,
    "active": lambda loc: loc.is_active,
    "default": lambda loc: loc.name,
}
