"""Unleashed assemblies (`inventory.assemblies: true`) end to end over real sockets.

The Unleashed sandbox models bills of materials: with `isAssembled=true` a kit's AvailableQty
adds what its components can build, and a component's stock change does not re-stamp the kit's
own row, so an incremental read by `modifiedSince` never lists the kit again by itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes
from tests.report_kit import free_skus, last_items

SET = "inventorySetQuantities"


def sync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "sync", "inventory", *args])


def unleashed_requests(boxes: Sandboxes, since: int) -> list[str]:
    return [r.description for r in boxes.unleashed_server.requests()[since:]]


def config_with(boxes: Sandboxes, tmp_path: Path, *, assemblies: bool) -> Path:
    return boxes.write_config(
        tmp_path / "config.yaml",
        state_path=tmp_path / "state.db",
        inventory={"locations": {"MAIN": "Main warehouse"}, "assemblies": assemblies},
    )


@pytest.fixture
def kit(sandboxes: Sandboxes) -> tuple[str, str, str]:
    """(kit SKU, component SKU sold in Shopify too, raw material only Unleashed has): the kit
    takes 2 of the raw material and 1 of the other component."""
    boxes = sandboxes
    kit_sku, part = free_skus(boxes, 2)
    # Stock moved three days ago, so an incremental read (a day of overlap) no longer lists
    # these rows unless they change again.
    boxes.unleashed.clock = lambda: time.time() - 3 * 86_400
    try:
        boxes.unleashed.add_product("RAW-1", "Raw material")
        boxes.unleashed.set_stock(kit_sku, "MAIN", 1)
        boxes.unleashed.set_stock("RAW-1", "MAIN", 10)
        boxes.unleashed.set_stock(part, "MAIN", 3)
    finally:
        boxes.unleashed.clock = time.time
    return kit_sku, part, "RAW-1"


def test_a_kits_level_follows_its_components_stock_within_one_incremental_run(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, kit: tuple[str, str, str]
) -> None:
    boxes = sandboxes
    kit_sku, part, raw = kit
    boxes.unleashed.set_bill_of_materials(kit_sku, {raw: 2, part: 1})
    config = config_with(boxes, tmp_path, assemblies=True)

    seen = len(boxes.unleashed_server.requests())
    assert sync(config).exit_code == 0
    stock_reads = [d for d in unleashed_requests(boxes, seen) if "/StockOnHand" in d]
    assert stock_reads
    assert all("isAssembled=true" in d for d in stock_reads)
    # 1 of its own, and min(10 // 2, 3 // 1) = 3 that can be built.
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 4
    assert boxes.shopify.quantities(part, "MAIN")["available"] == 3

    kit_row = boxes.unleashed.stock(kit_sku, "MAIN")
    assert kit_row is not None
    boxes.unleashed.set_stock(raw, "MAIN", 4)  # now min(4 // 2, 3 // 1) = 2 can be built
    kit_row_after = boxes.unleashed.stock(kit_sku, "MAIN")
    assert kit_row_after is not None
    assert kit_row_after["LastModifiedOn"] == kit_row["LastModifiedOn"]  # not re-stamped

    seen = len(boxes.unleashed_server.requests())
    assert sync(config).exit_code == 0
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 3
    _, items = last_items(config)
    assert items[f"{kit_sku}@MAIN"]["action"] == "update"
    requests = unleashed_requests(boxes, seen)
    listed = [d for d in requests if "/StockOnHand" in d and "productId=" not in d]
    assert listed  # the incremental read, which lists the component and not the kit
    product = boxes.unleashed.product(kit_sku)
    assert product is not None
    guid = str(product["Guid"])
    rereads = [d for d in requests if "/StockOnHand" in d and "productId=" in d]
    assert len(rereads) == 1
    assert guid in rereads[0]

    # The other component sold in Shopify moves too: its level and the kit's, in one run.
    boxes.unleashed.set_stock(part, "MAIN", 1)  # min(4 // 2, 1 // 1) = 1
    assert sync(config).exit_code == 0
    assert boxes.shopify.quantities(part, "MAIN")["available"] == 1
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 2

    # Nothing changed: no kit is read again; StockOnHand once and the changed products once.
    seen = len(boxes.unleashed_server.requests())
    writes = len(boxes.shopify.written(SET))
    assert sync(config).exit_code == 0
    quiet = unleashed_requests(boxes, seen)
    assert len(quiet) == 2, quiet
    assert sum("/StockOnHand" in d for d in quiet) == 1
    assert sum("/Products" in d for d in quiet) == 1
    assert len(boxes.shopify.written(SET)) == writes


def test_a_bill_of_materials_added_later_reaches_the_kits_level_next_run(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, kit: tuple[str, str, str]
) -> None:
    """Adding a bill of materials changes the product, not its stock row: the kit is found by
    the products read and read again although StockOnHand does not list it."""
    boxes = sandboxes
    kit_sku, part, raw = kit
    config = config_with(boxes, tmp_path, assemblies=True)
    assert sync(config).exit_code == 0
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 1
    boxes.unleashed.set_bill_of_materials(kit_sku, {raw: 2, part: 1})
    assert sync(config).exit_code == 0
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 4


def test_without_assemblies_stock_is_read_as_it_is(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, kit: tuple[str, str, str]
) -> None:
    boxes = sandboxes
    kit_sku, part, raw = kit
    boxes.unleashed.set_bill_of_materials(kit_sku, {raw: 2, part: 1})
    config = config_with(boxes, tmp_path, assemblies=False)
    seen = len(boxes.unleashed_server.requests())
    assert sync(config).exit_code == 0
    requests = unleashed_requests(boxes, seen)
    assert not any("isAssembled" in d for d in requests)
    assert not any("/Products" in d for d in requests)
    assert boxes.shopify.quantities(kit_sku, "MAIN")["available"] == 1
