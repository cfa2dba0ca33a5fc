"""The pure pieces of several shops: shared in-flight units, product groups, the store's
per-shop view, and the warning about warehouses that feed several shops."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.check import shared_warehouse_checks
from syncer.config import parse_config
from syncer.inventory.shared import add_units, shared_warehouses, translate_units
from syncer.products.planner import outside_groups
from syncer.products.projection import Projection
from syncer.report import RunReport
from syncer.store import Store, utcnow
from tests.conftest import SECRETS_ENV

NZ = {"MAIN": "gid://shopify/Location/1", "WEST": "gid://shopify/Location/2"}
AU = {"SYD": "gid://shopify/Location/1", "MAIN": "gid://shopify/Location/7"}


@pytest.mark.parametrize(
    ("other_units", "expected"),
    [
        # au's Location/7 is MAIN: its units count at nz's MAIN location.
        ({("A", "gid://shopify/Location/7"): 3}, {("A", NZ["MAIN"]): 3}),
        # au's Location/1 is SYD, which nz does not map (same gid number, other shop).
        ({("A", "gid://shopify/Location/1"): 5}, {}),
        ({("A", "gid://shopify/Location/9"): 5}, {}),
        (
            {("A", "gid://shopify/Location/7"): 2, ("B", "gid://shopify/Location/7"): 1},
            {("A", NZ["MAIN"]): 2, ("B", NZ["MAIN"]): 1},
        ),
        ({("A", "gid://shopify/Location/7"): 0}, {}),
    ],
)
def test_translate_units(other_units: dict[tuple[str, str], int], expected: dict[Any, int]) -> None:
    assert translate_units(NZ, AU, other_units) == expected


def test_shared_warehouses() -> None:
    assert shared_warehouses(NZ, AU) == {"MAIN"}
    assert shared_warehouses(NZ, {"SYD": "Sydney"}) == set()


locations = st.dictionaries(
    st.sampled_from(["MAIN", "WEST", "SYD", "AKL"]),
    st.integers(1, 6).map(lambda n: f"gid://shopify/Location/{n}"),
    max_size=4,
)


@given(
    own=locations,
    other=locations,
    units=st.dictionaries(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.integers(1, 6).map(lambda n: f"gid://shopify/Location/{n}"),
        ),
        st.integers(0, 50),
    ),
)
def test_translated_units_are_the_shared_warehouses_units(
    own: dict[str, str], other: dict[str, str], units: dict[tuple[str, str], int]
) -> None:
    """Nothing is invented or lost: per SKU, what lands at this shop is exactly the other
    shop's units at locations of warehouses both shops map (each location counted once)."""
    result = translate_units(own, other, units)
    shared_gids = {gid for code, gid in other.items() if code in own}
    for sku in {"A", "B", "C"}:
        landed = sum(q for (s, _), q in result.items() if s == sku)
        sent = sum(q for (s, gid), q in units.items() if s == sku and gid in shared_gids)
        assert landed == sent
    assert all(gid in own.values() for _, gid in result)
    assert all(q > 0 for q in result.values())


def test_add_units() -> None:
    total = {("A", "L1"): 1}
    assert add_units(total, {("A", "L1"): 2, ("B", "L1"): 1}) == {("A", "L1"): 3, ("B", "L1"): 1}


def record(sku: str, group: str | None) -> Projection:
    return Projection("unleashed", sku, title=sku, price=Decimal(1), product_type=group)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (None, set()),
        (("Tees",), {"M1", "X1"}),
        (("tees", "MUGS"), {"X1"}),
        (("Mugs",), {"T1", "X1"}),
    ],
)
def test_outside_groups(groups: tuple[str, ...] | None, expected: set[str]) -> None:
    records = [record("T1", "Tees"), record("M1", "Mugs"), record("X1", None)]
    assert outside_groups(records, groups) == expected


def shops_config(**au: Any) -> Any:
    data = {
        "unleashed": {"api_id": "${UNLEASHED_API_ID}", "api_key": "${UNLEASHED_API_KEY}"},
        "inventory": {"locations": {"MAIN": "Main warehouse"}},
        "shops": {
            "nz": {
                "shopify": {"shop": "nz.myshopify.com", "access_token": "${SHOPIFY_ACCESS_TOKEN}"},
                "orders": {"order_number_prefix": "NZ-"},
            },
            "au": {
                "shopify": {"shop": "au.myshopify.com", "access_token": "${SHOPIFY_ACCESS_TOKEN}"},
                "orders": {"order_number_prefix": "AU-"},
                **au,
            },
        },
    }
    return parse_config(data, SECRETS_ENV)


def test_a_warehouse_feeding_two_shops_is_a_warning_that_says_why() -> None:
    config = shops_config(inventory={"locations": {"SYD": "Sydney", "MAIN": "NZ warehouse"}})
    lines = shared_warehouse_checks(config)
    assert len(lines) == 1
    status, name, detail = lines[0]
    assert (status, name) == ("warn", "inventory.locations")
    assert detail.startswith(
        "warehouse MAIN feeds 2 shops: nz (Main warehouse), au (NZ warehouse). They share its stock"
    )
    assert "each shop's buffer is its own" in detail


def test_no_warning_when_the_other_shop_syncs_no_stock() -> None:
    config = shops_config(inventory={"enabled": False})
    assert shared_warehouse_checks(config) == []


def test_state_namespace_is_empty_for_a_single_shop(config_data: dict[str, Any]) -> None:
    single = parse_config(config_data, SECRETS_ENV)
    several = shops_config()
    assert single.state_namespace(single.shops[0]) == ""
    assert [several.state_namespace(shop) for shop in several.shops] == ["nz", "au"]


def test_shop_views_keep_cursors_links_pending_events_and_keys_apart(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    nz, au = store.for_shop("nz", "nz"), store.for_shop("au", "au")
    for view, value in ((nz, "nz-guid"), (au, "au-guid")):
        view.put_link("order", "gid://shopify/Order/1", status="created", remote_id=value)
        view.set_pending("orders", "order", "gid://shopify/Order/2", action="hold", reason="x")
        view.mark_events("gid://shopify/Order/1", [f"refund:{value}"], None)
        report = RunReport(job="orders", dry_run=False, started_at=utcnow(), cursor_before=None)
        report.cursor_after = f"{value}-cursor"
        view.finish_run(report, cursor_job="orders")
    nz.idempotency_key("inventory.set", "digest", "nz-key")

    assert nz.link("order", "gid://shopify/Order/1")["remote_id"] == "nz-guid"
    assert au.link("order", "gid://shopify/Order/1")["remote_id"] == "au-guid"
    assert nz.cursor("orders") == "nz-guid-cursor"
    assert au.cursors() == {"orders": "au-guid-cursor"}
    assert [row["job"] for row in au.all_pending()] == ["orders"]
    assert nz.seen_events("gid://shopify/Order/1") == {"refund:nz-guid"}
    assert au.idempotency_key("inventory.set", "digest", "au-key") == "au-key"
    assert [run["shop"] for run in nz.runs()] == ["nz"]
    assert [run["shop"] for run in store.runs()] == ["au", "nz"]
    assert store.link("order", "gid://shopify/Order/1") is None  # the single-shop layout
    assert store.cursors() == {"nz/orders": "nz-guid-cursor", "au/orders": "au-guid-cursor"}


def test_an_unnamed_view_reads_and_writes_the_single_shop_keys(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.put_link("order", "gid://shopify/Order/1", status="created", remote_id="guid")
    view = store.for_shop("", "example-store.myshopify.com")
    assert view.link("order", "gid://shopify/Order/1")["remote_id"] == "guid"
    report = RunReport(job="orders", dry_run=False, started_at=utcnow(), cursor_before=None)
    report.cursor_after = "c"
    view.finish_run(report, cursor_job="orders")
    assert store.cursors() == {"orders": "c"}
    assert store.runs()[0]["shop"] == "example-store.myshopify.com"
