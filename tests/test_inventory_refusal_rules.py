"""Which rows of a refused `inventorySetQuantities` call Shopify named, and bundle parents in
the planner: pure rules, table-driven and with Hypothesis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.inventory.planner import (
    BUNDLE_NOTE,
    LevelRow,
    StockRow,
    plan_inventory,
    refusal_message,
    refused_rows,
    targeted_levels,
)

NON_MUTABLE = {
    "code": "NON_MUTABLE_INVENTORY_ITEM",
    "field": ["input", "quantities", "3", "inventoryItemId"],
    "message": "The specified inventory item is not allowed to be adjusted via API. Example: "
    "if the inventory item is a parent bundle.",
}
STALE = {
    "code": "CHANGE_FROM_QUANTITY_STALE",
    "field": ["input", "quantities", "0", "changeFromQuantity"],
    "message": "The specified compare quantity does not match the current quantity (4).",
}


@pytest.mark.parametrize(
    ("errors", "size", "expected"),
    [
        pytest.param([NON_MUTABLE], 5, {3: NON_MUTABLE}, id="one-row-by-index"),
        pytest.param([NON_MUTABLE, STALE], 5, {3: NON_MUTABLE, 0: STALE}, id="two-rows"),
        pytest.param(
            [{**NON_MUTABLE, "field": ["input", "quantities", 2]}],
            5,
            {2: {**NON_MUTABLE, "field": ["input", "quantities", 2]}},
            id="int-index",
        ),
        pytest.param(
            [{"code": "INVALID_REASON", "field": ["input", "reason"], "message": "bad"}],
            5,
            None,
            id="whole-input",
        ),
        pytest.param([NON_MUTABLE, {"message": "no field"}], 5, None, id="one-error-unplaced"),
        pytest.param([NON_MUTABLE], 3, None, id="index-out-of-range"),
        pytest.param(
            [{**NON_MUTABLE, "field": ["input", "quantities", "x"]}], 5, None, id="not-a-number"
        ),
        pytest.param([], 5, None, id="no-errors"),
        pytest.param(["a string"], 5, None, id="not-a-mapping"),
    ],
)
def test_refused_rows(errors: list[Any], size: int, expected: Any) -> None:
    assert refused_rows(errors, size) == expected


@given(
    size=st.integers(min_value=1, max_value=250),
    data=st.data(),
)
def test_named_rows_are_exactly_the_indexes_the_errors_name(size: int, data: Any) -> None:
    named = data.draw(st.sets(st.integers(min_value=0, max_value=size - 1), max_size=size))
    errors = [
        {"code": "NON_MUTABLE_INVENTORY_ITEM", "field": ["input", "quantities", str(i)]}
        for i in sorted(named)
    ]
    result = refused_rows(errors, size)
    if named:
        assert result is not None
        assert set(result) == named
    else:
        assert result is None


def test_refusal_message_keeps_shopifys_words_and_code() -> None:
    assert refusal_message(NON_MUTABLE) == (
        "Shopify refused this level: The specified inventory item is not allowed to be "
        "adjusted via API. Example: if the inventory item is a parent bundle. "
        "[NON_MUTABLE_INVENTORY_ITEM]"
    )


# -- bundle parents in the planner ------------------------------------------------------------

LOC = "gid://shopify/Location/1"


def level(item: int, available: int | None, *, bundle: bool = False) -> LevelRow:
    return LevelRow(
        f"gid://shopify/InventoryItem/{item}", LOC, available, True, available is not None, bundle
    )


@given(
    available=st.one_of(
        st.integers(min_value=0, max_value=10**6).map(Decimal),
        st.just(Decimal("NaN")),
        st.just(Decimal(10**12)),
    ),
    shopify_now=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
    buffer=st.integers(min_value=0, max_value=5),
    in_flight=st.integers(min_value=0, max_value=50),
    full=st.booleans(),
)
def test_a_bundle_parent_is_never_written_and_never_held(
    available: Decimal, shopify_now: int | None, buffer: int, in_flight: int, full: bool
) -> None:
    rows = [StockRow("KIT", "MAIN", available), StockRow("PART", "MAIN", Decimal(7))]
    shopify = {("KIT", LOC): level(1, shopify_now, bundle=True), ("PART", LOC): level(2, 3)}
    arguments: dict[str, Any] = {
        "locations": {"MAIN": LOC},
        "buffer": buffer,
        "scope_skus": None if full else {"KIT", "PART"},
    }
    plan = plan_inventory(rows, shopify, in_flight={("KIT", LOC): in_flight}, **arguments)
    assert all(s.key != "KIT@MAIN" for s in plan.sets)
    (item,) = [i for i in plan.items if i.key == "KIT@MAIN"]
    assert item.action == "unchanged"
    assert item.detail["note"] == BUNDLE_NOTE
    assert item.detail["shopify_now"] == shopify_now
    assert "KIT" not in targeted_levels(rows, shopify, **arguments).get(LOC, set())
    assert [s.key for s in plan.sets] == (["PART@MAIN"] if max(0, 7 - buffer) != 3 else [])


def test_a_bundle_parent_unleashed_does_not_list_is_left_alone_in_a_full_run() -> None:
    shopify = {("KIT", LOC): level(1, 4, bundle=True)}
    for known in (set(), {"KIT"}):
        plan = plan_inventory(
            [],
            shopify,
            locations={"MAIN": LOC},
            buffer=0,
            in_flight={},
            scope_skus=None,
            known_unleashed_skus=known,
        )
        assert plan.sets == []
        (item,) = plan.items
        assert (item.key, item.action, item.detail["note"]) == (
            "KIT@MAIN",
            "unchanged",
            BUNDLE_NOTE,
        )


# -- assemblies: which products are kits and components, and when kits are read again --------


def test_product_kind_reads_the_flags_as_unleashed_sends_them() -> None:
    from syncer.inventory.assemblies import ProductKind, product_kind

    raw = {"ProductCode": "KIT-1", "Guid": "ABC", "IsAssembledProduct": True, "IsComponent": None}
    assert product_kind(raw) == ProductKind("KIT-1", "abc", True, False)
    assert product_kind({"ProductCode": "", "Guid": "abc"}) is None
    assert product_kind({"ProductCode": "X"}) is None


@pytest.mark.parametrize(
    ("read", "remembered", "complete", "expected"),
    [
        pytest.param(
            [("KIT", True, False), ("PART", False, True), ("OTHER", False, False)],
            set(),
            False,
            [
                ("KIT", "g-kit", "assembled", {"assembled": True, "component": False}),
                ("PART", "g-part", "component", {"assembled": False, "component": True}),
            ],
            id="new-kit-and-component",
        ),
        pytest.param(
            [("KIT", False, False)],
            {"KIT"},
            False,
            [("KIT", "g-kit", "plain", {})],
            id="no-longer-a-kit",
        ),
        pytest.param(
            [("PART", False, True)],
            {"KIT", "PART"},
            True,
            [
                ("PART", "g-part", "component", {"assembled": False, "component": True}),
                ("KIT", None, "plain", {}),
            ],
            id="full-read-forgets-what-it-did-not-list",
        ),
        pytest.param(
            [("SUB", True, True)],
            set(),
            False,
            [("SUB", "g-sub", "assembled", {"assembled": True, "component": True})],
            id="sub-assembly",
        ),
    ],
)
def test_kind_links(
    read: list[tuple[str, bool, bool]],
    remembered: set[str],
    complete: bool,
    expected: list[Any],
) -> None:
    from syncer.inventory.assemblies import ProductKind, kind_links

    kinds = [ProductKind(code, f"g-{code.lower()}", a, c) for code, a, c in read]
    assert kind_links(kinds, remembered, complete=complete) == expected


def test_kits_are_read_again_only_where_a_component_changed_incrementally() -> None:
    from syncer.inventory.assemblies import merge_rows, warehouses_to_reread

    changed = [
        StockRow("PART", "MAIN", Decimal(3)),
        StockRow("PART", "WEST", Decimal(1)),
        StockRow("OTHER", "EAST", Decimal(1)),
    ]
    assert warehouses_to_reread(changed, {"PART"}, full={"WEST"}) == {"MAIN"}
    assert warehouses_to_reread(changed, set(), full=set()) == set()
    rows = [StockRow("KIT", "MAIN", Decimal(1)), StockRow("PART", "MAIN", Decimal(3))]
    fresh = [StockRow("KIT", "MAIN", Decimal(4))]
    assert merge_rows(rows, fresh) == [StockRow("PART", "MAIN", Decimal(3)), *fresh]
