"""What the inventory job read, in the planner's terms: cursor, stock rows, the Shopify view,
location resolution and the open-order overflow check."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from syncer.errors import ConfigError, Problem
from syncer.inventory.locations import resolve_locations
from syncer.inventory.planner import LevelRow, StockRow
from syncer.inventory.snapshot import (
    ShopifyView,
    batched,
    level_row,
    overflows,
    parse_cursor,
    stock_row,
)

MAIN = "gid://shopify/Location/1"
WEST = "gid://shopify/Location/2"
NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, {}, id="none"),
        pytest.param("", {}, id="empty"),
        pytest.param(
            '{"MAIN": "2026-11-01T12:00:00Z", "WEST": "2026-11-02T08:30:00Z"}',
            {"MAIN": NOON, "WEST": LATER},
            id="per-warehouse",
        ),
        pytest.param("2026-11-01T12:00:00Z", {"MAIN": NOON, "WEST": NOON}, id="older-plain"),
        pytest.param('{"MAIN": "soon", "WEST": "2026-11-02T08:30:00Z"}', {"WEST": LATER}, id="bad"),
        pytest.param("[1, 2]", {}, id="not-an-object"),
        pytest.param("garbage", {}, id="unreadable"),
    ],
)
def test_parse_cursor(value: str | None, expected: dict[str, datetime]) -> None:
    assert parse_cursor(value, ["MAIN", "WEST"]) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {"ProductCode": " TEE ", "AvailableQty": 81.5},
            StockRow("TEE", "MAIN", Decimal("81.5")),
            id="trimmed-fraction",
        ),
        pytest.param({"ProductCode": "", "AvailableQty": 3}, None, id="no-code"),
        pytest.param({"AvailableQty": 3}, None, id="missing-code"),
    ],
)
def test_stock_row(raw: dict[str, Any], expected: StockRow | None) -> None:
    assert stock_row(raw, "MAIN") == expected


@pytest.mark.parametrize("quantity", [None, "lots", "1e", ""])
def test_stock_row_not_a_number_is_nan_for_the_planner_to_hold(quantity: Any) -> None:
    row = stock_row({"ProductCode": "TEE", "AvailableQty": quantity}, "MAIN")
    assert row is not None
    assert row.available.is_nan()


def test_stock_rows_share_their_decimals() -> None:
    decimals: dict[str, Decimal] = {}
    a = stock_row({"ProductCode": "A", "AvailableQty": "5"}, "MAIN", decimals)
    b = stock_row({"ProductCode": "B", "AvailableQty": "5"}, "MAIN", decimals)
    assert a is not None
    assert b is not None
    assert a.available is b.available
    assert decimals == {"5": Decimal("5")}


def test_level_row_without_a_quantity_is_inactive() -> None:
    assert level_row("I1", MAIN, None, True) == LevelRow("I1", MAIN, None, True, False)
    assert level_row("I1", MAIN, "7", None) == LevelRow("I1", MAIN, 7, False, True)


def test_shopify_view_keeps_one_level_per_item_and_lists_duplicates() -> None:
    view = ShopifyView()
    view.add("TEE", level_row("I1", MAIN, 4, True))
    view.add("TEE", level_row("I1", MAIN, 4, True))  # the same level read twice
    view.add("TEE", level_row("I1", WEST, 2, True))
    view.add("DUP", level_row("I2", MAIN, 1, True))
    view.add("DUP", level_row("I3", MAIN, 5, True))
    assert view.added == 5
    assert [view.carries(sku) for sku in ("TEE", "DUP", "RAW")] == [True, True, False]
    at_main = view.at(MAIN)
    assert dict(at_main) == {
        ("TEE", MAIN): LevelRow("I1", MAIN, 4, True, True),
        ("DUP", MAIN): [LevelRow("I2", MAIN, 1, True, True), LevelRow("I3", MAIN, 5, True, True)],
    }
    assert ("TEE", WEST) not in at_main
    assert len(view.at(WEST)) == 1
    assert len(view.at("gid://shopify/Location/9")) == 0


def _order(more_orders: bool = False, more_lines: bool = False) -> dict[str, Any]:
    return {
        "fulfillmentOrders": {
            "pageInfo": {"hasNextPage": more_orders},
            "nodes": [{"lineItems": {"pageInfo": {"hasNextPage": more_lines}, "nodes": []}}],
        }
    }


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        pytest.param(_order(), False, id="complete"),
        pytest.param(_order(more_orders=True), True, id="more-fulfillment-orders"),
        pytest.param(_order(more_lines=True), True, id="more-lines"),
        pytest.param({}, False, id="no-fulfillment-orders"),
    ],
)
def test_overflows(order: dict[str, Any], expected: bool) -> None:
    assert overflows(order) is expected


def test_batched_keeps_order_and_size() -> None:
    rows: list[tuple[str, str | None, str, dict[str, Any]]] = [
        (str(n), None, "linked", {}) for n in range(5)
    ]
    assert [len(b) for b in batched(iter(rows), 2)] == [2, 2, 1]
    assert [r for b in batched(iter(rows), 2) for r in b] == rows
    assert list(batched(iter([]), 2)) == []


SHOP = [
    {"id": MAIN, "name": "Main Store"},
    {"id": WEST, "name": "West"},
    {"id": "gid://shopify/Location/3", "name": "west"},
]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        pytest.param({"MAIN": MAIN}, {"MAIN": MAIN}, id="by-gid"),
        pytest.param({"MAIN": "Main Store"}, {"MAIN": MAIN}, id="by-name"),
        pytest.param({"MAIN": "main store"}, {"MAIN": MAIN}, id="case-folded-unambiguous"),
        pytest.param({"W": "West"}, {"W": WEST}, id="exact-beats-folded"),
    ],
)
def test_resolve_locations(configured: dict[str, str], expected: dict[str, str]) -> None:
    assert resolve_locations(configured, SHOP) == expected


@pytest.mark.parametrize(
    ("configured", "problem"),
    [
        pytest.param(
            {"MAIN": "Depot"},
            Problem(
                "inventory.locations.MAIN",
                "Shopify has no location 'Depot'",
                "use the name or gid of one of the shop's locations: 'Main Store', 'West', 'west'",
            ),
            id="unknown",
        ),
        pytest.param(
            {"W": "WEST"},
            Problem(
                "inventory.locations.W",
                "2 Shopify locations are named 'WEST'",
                "use the name or gid of one of the shop's locations: 'Main Store', 'West', 'west'",
            ),
            id="ambiguous",
        ),
        pytest.param(
            {"A": MAIN, "B": "Main Store"},
            Problem(
                "inventory.locations.B",
                "maps to the same Shopify location as A",
                "map each warehouse to its own location",
            ),
            id="same-location-twice",
        ),
    ],
)
def test_resolve_locations_names_the_problem_and_the_fix(
    configured: dict[str, str], problem: Problem
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_locations(configured, SHOP)
    assert caught.value.problems == [problem]
