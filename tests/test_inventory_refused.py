"""Refused rows and Shopify bundle parents in `sync inventory`, end to end over real sockets.

A Shopify Bundles parent (`requiresComponents: true`) refuses API stock writes, and Shopify
refuses a whole `inventorySetQuantities` call when one of its rows is refused, naming that row
by its index. These tests drive the CLI against both sandboxes, which model both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes, start_sandboxes
from tests.report_kit import detail, last_items

SET = "inventorySetQuantities"
BUNDLE_NOTE = "bundle: Shopify derives its stock"
NON_MUTABLE_MESSAGE = (
    "The specified inventory item is not allowed to be adjusted via API. Example: if the "
    "inventory item is a parent bundle."
)


def sync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "sync", "inventory", *args])


def sent_items(boxes: Sandboxes, since: int = 0) -> list[list[str]]:
    """The inventory item ids of every inventorySetQuantities request after the first `since`,
    one list per request, refused or applied."""
    calls = boxes.shopify_server.requests(SET)[since:]
    return [
        [q["inventoryItemId"] for q in json.loads(r.body)["variables"]["input"]["quantities"]]
        for r in calls
    ]


@pytest.fixture
def catalogue() -> Iterator[Sandboxes]:
    """Both sandboxes with a catalogue of more than 250 SKUs and no orders."""
    boxes = start_sandboxes(seed=5, products=130, orders=0, shopify_options={"drift": False})
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture
def config(catalogue: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path) -> Path:
    return catalogue.write_config(
        tmp_path / "config.yaml",
        state_path=tmp_path / "state.db",
        inventory={"locations": {"MAIN": "Main warehouse"}},
    )


def test_a_batch_of_250_with_a_bundle_parent_and_a_refused_row(
    catalogue: Sandboxes, config: Path
) -> None:
    boxes = catalogue
    assert sync(config).exit_code == 0  # first run: a full read, every level already right
    skus = [v.sku for v in boxes.world.variants()][:250]
    assert len(skus) == 250
    bundle, refused = skus[7], skus[100]
    boxes.shopify.make_bundle(bundle)
    boxes.shopify.set_non_mutable(refused)
    bundle_item = boxes.shopify.variant_for(bundle).inventory_item.id
    refused_item = boxes.shopify.variant_for(refused).inventory_item.id
    before = {sku: boxes.shopify.quantities(sku, "MAIN")["available"] for sku in skus}
    for sku in skus:  # Unleashed gains 3 units of each: 250 levels to write
        boxes.unleashed.set_stock(sku, "MAIN", boxes.world.stock[(sku, "MAIN")] + 3)
    calls = len(boxes.shopify_server.requests(SET))

    result = sync(config)

    assert result.exit_code == 1, result.output  # the refused row failed
    # One call of 249 (the bundle is never sent), refused for one row, then the other 248
    # again at once under a new key.
    sent = sent_items(boxes, calls)
    assert [len(call) for call in sent] == [249, 248]
    assert all(bundle_item not in call for call in sent)
    assert refused_item in sent[0]
    assert refused_item not in sent[1]
    applied = boxes.shopify.written(SET)
    assert len(applied[-1]["input"]["input"]["quantities"]) == 248
    keys = [call.get("idempotency_key") for call in applied]
    assert len(set(keys)) == len(keys)
    landed = [s for s in skus if s not in (bundle, refused)]
    assert len(landed) == 248
    for sku in landed:
        assert boxes.shopify.quantities(sku, "MAIN")["available"] == before[sku] + 3
    assert boxes.shopify.quantities(bundle, "MAIN")["available"] == before[bundle]
    assert boxes.shopify.quantities(refused, "MAIN")["available"] == before[refused]

    run, items = last_items(config)
    assert (run["updated"], run["failed"], run["held"]) == (248, 1, 0)
    bundled = items[f"{bundle}@MAIN"]
    assert bundled["action"] == "unchanged"
    assert detail(bundled)["note"] == BUNDLE_NOTE
    failed = items[f"{refused}@MAIN"]
    assert failed["action"] == "fail"
    assert NON_MUTABLE_MESSAGE in failed["error"]
    assert "NON_MUTABLE_INVENTORY_ITEM" in failed["error"]

    # The next runs never send the bundle: neither the incremental one (which retries the
    # refused row alone) nor a full one.
    calls = len(boxes.shopify_server.requests(SET))
    assert sync(config).exit_code == 1
    assert sent_items(boxes, calls) == [[refused_item]]
    _, items = last_items(config)
    assert items[f"{refused}@MAIN"]["action"] == "fail"
    calls = len(boxes.shopify_server.requests(SET))
    assert sync(config, "--full").exit_code == 1
    assert all(bundle_item not in call for call in sent_items(boxes, calls))
    _, items = last_items(config)
    assert items[f"{bundle}@MAIN"]["action"] == "unchanged"
    assert detail(items[f"{bundle}@MAIN"])["note"] == BUNDLE_NOTE

    # Shopify takes the row again once it accepts writes to it: the failure clears.
    boxes.shopify.set_non_mutable(refused, False)
    assert sync(config).exit_code == 0
    assert boxes.shopify.quantities(refused, "MAIN")["available"] == before[refused] + 3


def test_a_bundle_parent_first_met_in_an_incremental_run_is_not_written(
    catalogue: Sandboxes, config: Path
) -> None:
    """The flag comes with the look-up of an uncached SKU's variant, and with the levels of
    a cached inventory item, so it is known however the level is read."""
    boxes = catalogue
    assert sync(config).exit_code == 0
    bundle, plain = [v.sku for v in boxes.world.variants()][3:5]
    boxes.shopify.make_bundle(bundle)
    for sku in (bundle, plain):
        boxes.unleashed.set_stock(sku, "MAIN", boxes.world.stock[(sku, "MAIN")] + 5)
    calls = len(boxes.shopify_server.requests(SET))
    assert sync(config).exit_code == 0
    bundle_item = boxes.shopify.variant_for(bundle).inventory_item.id
    assert all(bundle_item not in call for call in sent_items(boxes, calls))
    _, items = last_items(config)
    assert items[f"{bundle}@MAIN"]["action"] == "unchanged"
    assert detail(items[f"{bundle}@MAIN"])["note"] == BUNDLE_NOTE
    assert items[f"{plain}@MAIN"]["action"] == "update"
