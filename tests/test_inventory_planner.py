"""The inventory planner: targets, in-flight rules, holds, batching and the safety stop."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.errors import ConfigError
from syncer.inventory.planner import (
    NOT_IN_SHOPIFY,
    InFlightLine,
    InventoryPlan,
    LevelRow,
    SetQuantity,
    StockRow,
    after_stale,
    batches,
    in_flight,
    in_flight_lines,
    mutation_input,
    plan_inventory,
    safety_check,
    sent_order_statuses,
    split_not_in_shopify,
    targeted_levels,
)

MAIN = "gid://shopify/Location/1"
WEST = "gid://shopify/Location/2"
LOCATIONS = {"MAIN": MAIN}


def level(
    available: int | None, *, item: str = "1", location: str = MAIN, **flags: bool
) -> LevelRow:
    return LevelRow(
        inventory_item_id=f"gid://shopify/InventoryItem/{item}",
        location_gid=location,
        available=available,
        tracked=flags.get("tracked", True),
        active=flags.get("active", True),
    )


def row(sku: str, available: str, warehouse: str = "MAIN") -> StockRow:
    return StockRow(sku, warehouse, Decimal(available))


def plan(
    stock: list[StockRow],
    levels: dict[tuple[str, str], Any],
    *,
    buffer: int = 0,
    flight: dict[tuple[str, str], int] | None = None,
    scope: set[str] | None = None,
    known: set[str] | None = None,
) -> InventoryPlan:
    return plan_inventory(
        stock,
        levels,
        locations=LOCATIONS,
        buffer=buffer,
        in_flight=flight or {},
        scope_skus=scope,
        known_unleashed_skus=known,
    )


# --- plan_inventory --------------------------------------------------------------------------

TARGET_CASES = [
    pytest.param("10", 0, 0, 4, 10, id="plain-copy"),
    pytest.param("10", 2, 0, 4, 8, id="buffer"),
    pytest.param("10", 0, 3, 4, 7, id="in-flight"),
    pytest.param("10", 2, 3, 4, 5, id="buffer-and-in-flight"),
    pytest.param("2", 1, 5, 3, 0, id="floored-at-zero"),
    pytest.param("-4", 0, 0, 3, 0, id="negative-available"),
    pytest.param("81.8", 0, 0, 0, 81, id="fractional-is-floored"),
    pytest.param("0.9", 0, 0, 1, 0, id="fraction-below-one"),
    pytest.param("5", 0, 0, 5, 5, id="unchanged"),
    pytest.param("0", 0, 0, 0, 0, id="unchanged-zero"),
]


@pytest.mark.parametrize(("available", "buffer", "flying", "now", "target"), TARGET_CASES)
def test_target_and_write(available: str, buffer: int, flying: int, now: int, target: int) -> None:
    result = plan(
        [row("TEE", available)],
        {("TEE", MAIN): level(now)},
        buffer=buffer,
        flight={("TEE", MAIN): flying, ("TEE", WEST): 99},
    )
    [item] = result.items
    assert item.key == "TEE@MAIN"
    assert item.detail == {
        "shopify_now": now,
        "unleashed_available": available,
        "buffer": buffer,
        "in_flight": flying,
        "target": target,
    }
    if target == now:
        assert item.action == "unchanged"
        assert result.sets == []
    else:
        assert item.action == "update"
        assert result.sets == [
            SetQuantity("gid://shopify/InventoryItem/1", MAIN, target, now, "TEE@MAIN")
        ]


HOLD_CASES = [
    pytest.param({}, "is not on any Shopify variant", id="unknown-sku"),
    pytest.param(
        {("TEE", MAIN): level(3, tracked=False)}, "does not track inventory", id="untracked"
    ),
    pytest.param({("TEE", MAIN): level(None, active=False)}, "is not active", id="no-level"),
    pytest.param({("TEE", MAIN): level(3, active=False)}, "is not active", id="inactive"),
    pytest.param(
        {("TEE", WEST): level(3, location=WEST)}, "is not stocked at Shopify", id="not-stocked"
    ),
    pytest.param(
        {("TEE", MAIN): [level(3, item="1"), level(4, item="2")]},
        "is on 2 Shopify variants",
        id="duplicate-sku-same-location",
    ),
    pytest.param(
        {("TEE", MAIN): level(3, item="1"), ("TEE", WEST): level(3, item="2", location=WEST)},
        "is on 2 Shopify variants",
        id="duplicate-sku-across-locations",
    ),
]


@pytest.mark.parametrize(("levels", "reason"), HOLD_CASES)
def test_unwritable_levels_are_held_with_a_reason(levels: dict[Any, Any], reason: str) -> None:
    result = plan([row("TEE", "7")], levels)
    [item] = result.items
    assert (item.key, item.action) == ("TEE@MAIN", "hold")
    assert item.error is not None
    assert reason in item.error
    assert result.sets == []


ABSURD_CASES = [
    pytest.param("NaN", 0, "is NaN, which is not a number", id="nan"),
    pytest.param("Infinity", 0, "is Infinity, which is not a number", id="infinity"),
    pytest.param("1E+30", 0, "is 1E+30, which gives a level above", id="1e30"),
    pytest.param("2147483648", 0, "gives a level above Shopify's limit 2147483647", id="int32+1"),
    pytest.param("2147483650", 2, "gives a level above", id="buffer-not-enough"),
]


@pytest.mark.parametrize(("available", "flying", "reason"), ABSURD_CASES)
def test_absurd_available_is_held_alone(available: str, flying: int, reason: str) -> None:
    """One such quantity would fail Shopify's whole batch (its Int is 32-bit): that level is
    held naming AvailableQty and the value, the neighbour is still written."""
    result = plan(
        [row("TEE", available), row("CAP", "5")],
        {("TEE", MAIN): level(3, item="1"), ("CAP", MAIN): level(1, item="2")},
        flight={("TEE", MAIN): flying},
    )
    items = {item.key: item for item in result.items}
    held = items["TEE@MAIN"]
    assert held.action == "hold"
    assert held.error is not None
    assert held.error.startswith("Unleashed AvailableQty for TEE@MAIN")
    assert reason in held.error
    assert held.detail == {"unleashed_available": available}
    assert [s.key for s in result.sets] == ["CAP@MAIN"]


@pytest.mark.parametrize(
    ("available", "target"),
    [
        pytest.param("2147483647", 2147483647, id="int32-max"),
        pytest.param("2147483649", 2147483647, id="in-flight-brings-it-under"),
    ],
)
def test_largest_quantity_shopify_takes_is_written(available: str, target: int) -> None:
    flying = int(available) - target
    result = plan(
        [row("TEE", available)], {("TEE", MAIN): level(3)}, flight={("TEE", MAIN): flying}
    )
    assert [s.quantity for s in result.sets] == [target]


def test_targeted_levels_are_the_ones_in_flight_can_change() -> None:
    """The job reads in flight only for `targeted`: held and reported levels need none."""
    result = plan(
        [row("TEE", "7"), row("CAP", "NaN"), row("HAT", "4"), row("NEW", "2")],
        {
            ("TEE", MAIN): level(7, item="1"),
            ("CAP", MAIN): level(1, item="2"),
            ("HAT", MAIN): level(1, item="3", tracked=False),
            ("OLD", MAIN): level(1, item="4"),
        },
        known={"OLD"},
    )
    assert result.targeted == {("TEE", MAIN), ("OLD", MAIN)}


def test_shopify_only_sku_is_reported_in_a_full_run_and_left_alone() -> None:
    levels = {("GIFT", MAIN): level(12), ("GIFT", WEST): level(1, location=WEST)}
    full = plan([], levels)
    [item] = full.items  # WEST is not a mapped location
    assert (item.key, item.action, item.detail["shopify_now"]) == ("GIFT@MAIN", "unchanged", 12)
    assert "not in Unleashed StockOnHand" in item.detail["note"]
    assert full.sets == []
    incremental = plan([], levels, scope={"GIFT"})
    assert incremental.items == []


def test_shopify_sku_without_a_level_at_the_location_is_not_reported() -> None:
    assert plan([], {("GIFT", MAIN): level(None, active=False)}).items == []


def test_known_unleashed_product_missing_from_stock_on_hand_goes_to_zero() -> None:
    result = plan([], {("NEW", MAIN): level(4)}, known={"NEW"})
    assert result.sets == [SetQuantity("gid://shopify/InventoryItem/1", MAIN, 0, 4, "NEW@MAIN")]
    assert result.items[0].action == "update"
    assert "no stock transactions" in result.items[0].detail["note"]


def test_scope_limits_the_rows_planned() -> None:
    levels = {("A", MAIN): level(1, item="1"), ("B", MAIN): level(1, item="2")}
    result = plan([row("A", "5"), row("B", "5")], levels, scope={"B"})
    assert [item.key for item in result.items] == ["B@MAIN"]
    assert [s.key for s in result.sets] == ["B@MAIN"]


def test_unmapped_warehouses_and_aggregate_rows_are_counted_not_planned() -> None:
    stock = [row("TEE", "5", "WEST"), row("TEE", "9", "")]
    result = plan(stock, {("TEE", MAIN): level(1)}, scope={"TEE"})
    assert result.unmapped_rows == 2
    assert (result.items, result.sets) == ([], [])


def test_repeated_stock_rows() -> None:
    same = plan([row("TEE", "5"), row("TEE", "5")], {("TEE", MAIN): level(1)})
    assert [(i.key, i.action) for i in same.items] == [("TEE@MAIN", "update")]
    clash = plan([row("TEE", "5"), row("TEE", "6")], {("TEE", MAIN): level(1)})
    assert [(i.key, i.action) for i in clash.items] == [("TEE@MAIN", "fail")]
    assert clash.sets == []
    elsewhere = plan([row("TEE", "5", "WEST"), row("TEE", "6", "WEST")], {}, scope={"TEE"})
    assert (elsewhere.items, elsewhere.unmapped_rows) == ([], 1)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        pytest.param({"buffer": -1, "locations": LOCATIONS}, "inventory.buffer", id="buffer"),
        pytest.param(
            {"buffer": 0, "locations": {"MAIN": MAIN, "WEST": MAIN}},
            "inventory.locations",
            id="two-warehouses-one-location",
        ),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_inventory([], {}, in_flight={}, scope_skus=None, **kwargs)
    assert raised.value.problems[0].path == path


# --- in flight -------------------------------------------------------------------------------


def order(
    gid: str,
    *,
    financial: str = "PAID",
    cancelled: bool = False,
    lines: list[dict[str, Any]] | None = None,
    fulfillment_orders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": gid,
        "cancelledAt": "2026-11-20T10:00:00Z" if cancelled else None,
        "displayFinancialStatus": financial,
        "lineItems": {"nodes": lines or [{"sku": "TEE", "currentQuantity": 2}]},
    }
    if fulfillment_orders is not None:
        node["fulfillmentOrders"] = {"nodes": fulfillment_orders}
    return node


def fo(status: str, location: str, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "status": status,
        "assignedLocation": {"location": {"id": location}},
        "lineItems": {
            "nodes": [{"remainingQuantity": qty, "lineItem": {"sku": sku}} for sku, qty in lines]
        },
    }


IN_FLIGHT_CASES = [
    pytest.param(order("o1"), None, ["Parked"], {("TEE", MAIN): 2}, "unsent_paid", id="held-paid"),
    pytest.param(
        order("o1", financial="PENDING"), None, ["Parked"], {("TEE", MAIN): 2}, "unsent_unpaid",
        id="unpaid-open",
    ),
    pytest.param(
        order("o1"), "Parked", ["Parked"], {("TEE", MAIN): 2}, "sent_unallocated", id="parked"
    ),
    pytest.param(order("o1"), "Placed", ["Parked"], {}, None, id="placed-is-allocated"),
    pytest.param(order("o1"), "Parked", [], {}, None, id="parked-allocated-by-account"),
    pytest.param(order("o1"), "Completed", ["Parked"], {}, None, id="completed"),
    pytest.param(order("o1", cancelled=True), None, ["Parked"], {}, None, id="cancelled-unsent"),
    pytest.param(order("o1", cancelled=True), "Parked", ["Parked"], {}, None, id="cancelled-sent"),
    pytest.param(
        order("o1", lines=[{"sku": "TEE", "currentQuantity": 1, "quantity": 3}]),
        None, ["Parked"], {("TEE", MAIN): 1}, "unsent_paid", id="refunded-units-excluded",
    ),
    pytest.param(
        order("o1", lines=[{"sku": "TEE", "currentQuantity": 3, "unfulfilledQuantity": 1}]),
        None, ["Parked"], {("TEE", MAIN): 1}, "unsent_paid", id="fulfilled-units-excluded",
    ),
    pytest.param(
        order("o1", lines=[{"sku": "", "currentQuantity": 3}, {"sku": "T", "currentQuantity": 0}]),
        None, ["Parked"], {}, None, id="no-sku-and-zero-lines",
    ),
    pytest.param(
        order(
            "o1",
            fulfillment_orders=[
                fo("OPEN", WEST, ("TEE", 1), ("CAP", 0)),
                fo("ON_HOLD", MAIN, ("TEE", 2)),
                fo("CLOSED", MAIN, ("TEE", 5)),
                fo("CANCELLED", MAIN, ("TEE", 5)),
            ],
        ),
        "Parked", ["Parked"], {("TEE", WEST): 1, ("TEE", MAIN): 2}, "sent_unallocated",
        id="fulfilment-orders-give-location-and-remaining",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("node", "sent", "statuses", "expected", "reason"), IN_FLIGHT_CASES)
def test_in_flight_rules(
    node: dict[str, Any],
    sent: str | None,
    statuses: list[str],
    expected: dict[tuple[str, str], int],
    reason: str | None,
) -> None:
    lines = in_flight_lines(
        [node], {"o1": sent}, unallocated_statuses=statuses, default_location_gid=MAIN
    )
    assert in_flight(lines) == expected
    assert {line.reason for line in lines} == ({reason} if reason else set())
    assert all(line.order_gid == "o1" for line in lines)


def test_in_flight_sums_orders_and_never_sent_orders_need_no_entry() -> None:
    orders = [order("o1"), order("o2"), order("o3", lines=[{"sku": "CAP", "currentQuantity": 4}])]
    lines = in_flight_lines(
        orders, {"o2": "Parked"}, unallocated_statuses=["Parked"], default_location_gid=MAIN
    )
    assert in_flight(lines) == {("TEE", MAIN): 4, ("CAP", MAIN): 4}


def test_in_flight_from_a_held_order_lowers_the_target() -> None:
    held = order("held", lines=[{"sku": "TEE", "currentQuantity": 3}])
    flying = in_flight(
        in_flight_lines([held], {}, unallocated_statuses=["Parked"], default_location_gid=MAIN)
    )
    result = plan([row("TEE", "10")], {("TEE", MAIN): level(10)}, flight=flying)
    assert result.sets[0].quantity == 7
    assert result.items[0].detail["in_flight"] == 3


def test_negative_in_flight_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        in_flight([InFlightLine("TEE", MAIN, -1, "unsent_paid")])


# --- batches and the mutation input ----------------------------------------------------------


def sets(count: int) -> list[SetQuantity]:
    return [
        SetQuantity(f"gid://shopify/InventoryItem/{n}", MAIN, n, n + 1, f"S{n}@MAIN")
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        pytest.param(0, [], id="none"),
        pytest.param(1, [1], id="one"),
        pytest.param(250, [250], id="exactly-250"),
        pytest.param(251, [250, 1], id="251-is-two"),
        pytest.param(600, [250, 250, 100], id="600"),
    ],
)
def test_batches(count: int, sizes: list[int]) -> None:
    result = batches(sets(count))
    assert [len(batch) for batch in result] == sizes
    assert [s for batch in result for s in batch] == sets(count)


def test_batch_size_over_shopify_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 250"):
        batches(sets(3), size=251)


def test_mutation_input_shape() -> None:
    variables = mutation_input(
        sets(2), reason="correction", reference_uri="gid://syncer/InventorySync/7"
    )
    assert variables == {
        "name": "available",
        "reason": "correction",
        "referenceDocumentUri": "gid://syncer/InventorySync/7",
        "quantities": [
            {
                "inventoryItemId": "gid://shopify/InventoryItem/0",
                "locationId": MAIN,
                "quantity": 0,
                "changeFromQuantity": 1,
            },
            {
                "inventoryItemId": "gid://shopify/InventoryItem/1",
                "locationId": MAIN,
                "quantity": 1,
                "changeFromQuantity": 2,
            },
        ],
    }


@pytest.mark.parametrize(
    ("batch", "reason", "message"),
    [
        pytest.param(sets(1), "fixed it", "not one Shopify accepts", id="unknown-reason"),
        pytest.param([], "correction", "at least one", id="empty"),
        pytest.param(sets(251), "correction", "at most 250", id="too-many"),
        pytest.param(sets(1) * 2, "correction", "twice", id="same-level-twice"),
    ],
)
def test_mutation_input_refuses_bad_batches(
    batch: list[SetQuantity], reason: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mutation_input(batch, reason=reason, reference_uri="gid://syncer/InventorySync/1")


def test_mutation_input_matches_shopify_schema(shopify_reference: Any) -> None:
    from graphql import coerce_input_value

    input_type = shopify_reference.get_type("InventorySetQuantitiesInput")
    variables = mutation_input(sets(3), reason="correction", reference_uri="gid://syncer/S/1")
    coerced = coerce_input_value(variables, input_type)
    assert coerced["quantities"][2]["changeFromQuantity"] == 3


# --- safety stop -----------------------------------------------------------------------------


SAFETY_CASES = [
    pytest.param(
        3, 2, False, 10, 5,
        "safety stop: the inventory plan changes 3 levels, more than inventory.max_changes (2); "
        "nothing was written. Check it with --dry-run, then re-run with --force to apply it.",
        id="too-many-changes",
    ),
    pytest.param(
        0, 2, False, 0, 5,
        "safety stop: Unleashed StockOnHand listed no stock while 5 products are linked; "
        "nothing was written. If Unleashed really has no stock, re-run with --force.",
        id="empty-side",
    ),
    pytest.param(3, 2, True, 0, 5, None, id="forced"),
    pytest.param(2, 2, False, 10, 5, None, id="at-the-limit"),
    pytest.param(0, 2, False, None, 5, None, id="incremental-empty-read-is-normal"),
    pytest.param(0, 2, False, 0, 0, None, id="nothing-linked-yet"),
]  # fmt: skip


@pytest.mark.parametrize(("count", "limit", "force", "rows", "linked", "message"), SAFETY_CASES)
def test_safety_check(
    count: int, limit: int, force: bool, rows: int | None, linked: int, message: str | None
) -> None:
    planned = InventoryPlan(sets=sets(count))
    assert (
        safety_check(
            planned, max_changes=limit, force=force, unleashed_rows=rows, linked_count=linked
        )
        == message
    )


# --- properties ------------------------------------------------------------------------------

skus = st.sampled_from([f"SKU{n}" for n in range(12)])
quantities = st.decimals(
    min_value=-20, max_value=500, places=1, allow_nan=False, allow_infinity=False
)


@settings(max_examples=200, deadline=None)
@given(
    stock=st.dictionaries(skus, quantities, max_size=12),
    shopify_now=st.dictionaries(skus, st.integers(min_value=-5, max_value=500), max_size=12),
    flying=st.dictionaries(skus, st.integers(min_value=0, max_value=50), max_size=12),
    buffer=st.integers(min_value=0, max_value=10),
)
def test_plan_properties(
    stock: dict[str, Decimal], shopify_now: dict[str, int], flying: dict[str, int], buffer: int
) -> None:
    levels = {(sku, MAIN): level(now, item=sku) for sku, now in shopify_now.items()}
    flight = {(sku, MAIN): units for sku, units in flying.items()}
    result = plan(
        [row(sku, str(qty)) for sku, qty in stock.items()], levels, buffer=buffer, flight=flight
    )
    by_key = {s.key: s for s in result.sets}
    for set_quantity in result.sets:
        sku = set_quantity.key.removesuffix("@MAIN")
        expected = max(0, math.floor(stock.get(sku, Decimal(0))) - buffer - flying.get(sku, 0))
        assert set_quantity.quantity >= 0
        assert set_quantity.quantity == expected
        assert set_quantity.change_from == shopify_now[sku]
        assert set_quantity.quantity != set_quantity.change_from
    # In flight moves targets, never which levels have one: the job plans once without it.
    without = plan([row(sku, str(qty)) for sku, qty in stock.items()], levels, buffer=buffer)
    assert without.targeted == result.targeted
    targeted = {f"{sku}@MAIN" for sku, _ in result.targeted}
    for item in result.items:
        assert (item.action == "update") == (item.key in by_key)
        assert ("target" in item.detail) == (item.key in targeted)
        if item.action == "unchanged" and "target" in item.detail:
            assert item.detail["target"] == item.detail["shopify_now"]
    # every stock row and every Shopify-only level shows up in the report
    assert {i.key for i in result.items} == {f"{sku}@MAIN" for sku in set(stock) | set(shopify_now)}
    assert all(len(batch) <= 250 for batch in batches(result.sets * 40))


@settings(max_examples=150, deadline=None)
@given(
    stock=st.dictionaries(skus, quantities, max_size=12),
    shopify_now=st.dictionaries(
        skus, st.one_of(st.none(), st.integers(min_value=-5, max_value=500)), max_size=12
    ),
    known=st.sets(skus, max_size=12),
    scoped=st.one_of(st.none(), st.sets(skus, max_size=12)),
    buffer=st.integers(min_value=0, max_value=10),
)
def test_targeted_levels_are_the_plans_without_its_items(
    stock: dict[str, Decimal],
    shopify_now: dict[str, int | None],
    known: set[str],
    scoped: set[str] | None,
    buffer: int,
) -> None:
    """The job learns which levels need in flight from targeted_levels, which must name
    exactly the levels plan_inventory computes a target for (held, missing, scoped)."""
    rows = [row(sku, str(qty)) for sku, qty in stock.items()]
    levels = {
        (sku, MAIN): level(now, item=sku, active=now is not None)
        for sku, now in shopify_now.items()
    }
    result = plan(rows, levels, buffer=buffer, scope=scoped, known=known)
    targeted = targeted_levels(
        rows,
        levels,
        locations=LOCATIONS,
        buffer=buffer,
        scope_skus=scoped,
        known_unleashed_skus=known,
    )
    assert targeted == result.targeted_skus
    assert {(sku, gid) for gid, names in targeted.items() for sku in names} == result.targeted


def test_unchanged_levels_share_equal_details_and_notes_stay_their_own() -> None:
    """Equal details of unchanged levels are one dict (memory of a large catalogue); a
    level missing from StockOnHand gets its note on a detail of its own."""
    levels = {(sku, MAIN): level(5, item=sku) for sku in ("A", "B", "GONE")}
    result = plan([row("A", "5"), row("B", "5")], levels, known={"GONE"})
    by_key = {item.key: item for item in result.items}
    assert by_key["A@MAIN"].detail is by_key["B@MAIN"].detail
    assert "note" not in by_key["A@MAIN"].detail
    assert by_key["GONE@MAIN"].action == "update"
    assert by_key["GONE@MAIN"].detail["note"] == "not in StockOnHand: no stock transactions yet"


# --- after a stale compare-and-swap ------------------------------------------------------------


@pytest.mark.parametrize(
    ("planned", "change_from", "current", "expected_target", "sends"),
    [
        pytest.param(10, 4, 2, 8, True, id="two-sold-meanwhile-target-drops-by-two"),
        pytest.param(10, 4, 7, 10, True, id="three-added-meanwhile-not-added"),
        pytest.param(1, 4, 0, 0, False, id="sold-out-meanwhile-already-at-zero"),
        pytest.param(3, 5, 0, 0, False, id="never-below-zero"),
        pytest.param(6, 4, 6, 6, False, id="someone-set-it-to-the-target"),
    ],
)
def test_after_stale_target(
    planned: int, change_from: int, current: int, expected_target: int, sends: bool
) -> None:
    quantity = SetQuantity("gid://shopify/InventoryItem/1", MAIN, planned, change_from, "A@MAIN")
    fresh, target = after_stale(quantity, current)
    assert target == expected_target
    if sends:
        assert fresh == SetQuantity(
            "gid://shopify/InventoryItem/1", MAIN, expected_target, current, "A@MAIN"
        )
    else:
        assert fresh is None


@given(
    planned=st.integers(min_value=0, max_value=10_000),
    change_from=st.integers(min_value=0, max_value=10_000),
    current=st.integers(min_value=-100, max_value=10_000),
)
def test_after_stale_never_sells_more_than_planned(
    planned: int, change_from: int, current: int
) -> None:
    quantity = SetQuantity("gid://shopify/InventoryItem/1", MAIN, planned, change_from, "A@MAIN")
    fresh, target = after_stale(quantity, current)
    assert 0 <= target <= planned
    sold = max(0, change_from - current)
    assert target == max(0, planned - sold)
    assert (fresh is None) == (current == target)
    if fresh is not None:
        assert (fresh.quantity, fresh.change_from) == (target, current)


# --- which sent orders count as allocated ----------------------------------------------------


@pytest.mark.parametrize(
    ("link", "statuses", "expected"),
    [
        pytest.param(
            {"remote_id": "AB-1", "status": "created"},
            {"ab-1": "Parked"},
            {"O1": "Parked"},
            id="found-in-unallocated-status-guid-case-folded",
        ),
        pytest.param(
            {"remote_id": "ab-1", "status": "created"}, {}, {"O1": "allocated"}, id="created-gone"
        ),
        pytest.param({"remote_id": "ab-1", "status": "sending"}, {}, {}, id="sending-not-found"),
        pytest.param({"remote_id": None, "status": "failed"}, {}, {}, id="failed-not-found"),
        pytest.param(
            {"remote_id": "ab-1", "status": "sending"},
            {"ab-1": "Parked"},
            {"O1": "Parked"},
            id="sending-but-found",
        ),
    ],
)
def test_sent_order_statuses(
    link: dict[str, Any], statuses: dict[str, str], expected: dict[str, str]
) -> None:
    assert sent_order_statuses({"O1": link}, statuses) == expected


# --- SKUs no Shopify variant carries ---------------------------------------------------------


def test_split_not_in_shopify_reports_unknown_and_keeps_linked_and_carried() -> None:
    rows = [row("CARRIED", "5"), row("LINKED", "3"), row("RAW", "2.5", "WEST")]
    items, kept = split_not_in_shopify(rows, {"CARRIED"}.__contains__, {"LINKED"})
    assert kept == rows[:2]
    assert [(i.entity, i.key, i.action, i.detail) for i in items] == [
        (
            "stock",
            "RAW@WEST",
            "unchanged",
            {"unleashed_available": "2.5", "note": NOT_IN_SHOPIFY},
        )
    ]
