"""`sync products` end to end: the CLI against both sandboxes over real sockets.

Seed facts used here (seed 1): P00004 and P00005 are single-variant products on both sides;
Shopify's P00001 price is one unit off (seeded drift); P00002 exists only in Unleashed;
SHOP-ONLY-1 exists only in Shopify; SHIPPING (the orders' shipping product) is never synced.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.connectors import shopify_documents as docs
from syncer.connectors.shopify_cost import fit_size
from syncer.products.writers import unleashed_guid
from syncer.sandbox.common import Fault
from syncer.store import Store

MUTATIONS = ("productCreate", "productUpdate", "productVariantsBulkUpdate")


def sync(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(config), "sync", "products", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def last_run(config: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The newest run and its items, as `syncer report --json` prints them."""
    runner = CliRunner()
    runs = json.loads(runner.invoke(cli, ["--config", str(config), "report", "--json"]).output)
    run_id = max(run["id"] for run in runs["runs"])
    out = runner.invoke(cli, ["--config", str(config), "report", str(run_id), "--json"]).output
    data = json.loads(out)
    for item in data["items"]:
        if isinstance(item["detail"], str):
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
    return data["run"], data["items"]


def mutation_requests(boxes: Any) -> int:
    shopify = sum(len(boxes.shopify_server.requests(name)) for name in MUTATIONS)
    unleashed = len(boxes.unleashed_server.requests("POST /Products"))
    return shopify + unleashed


@pytest.fixture
def setup(sandboxes: Any, sandbox_env: Any, tmp_path: Path) -> Any:
    """Write a config for `master` and run the first (linking) sync."""

    def make(master: str, *, baseline: bool = True, **products: Any) -> Path:
        config = sandboxes.write_config(
            tmp_path / "config.yaml",
            master=master,
            state={"path": str(tmp_path / "state.db")},
            products={"tax_rate": 0.15, **products},
        )
        if baseline:
            result = sync(config)
            assert result.exit_code == 0, result.output
        return config

    return make


# -- the master's changes land on the other side, field by field ------------------------------


def test_unleashed_master_change_lands_in_shopify_with_only_changed_fields(
    sandboxes: Any, setup: Any
) -> None:
    config = setup("unleashed")
    mark = len(sandboxes.shopify.written())
    sandboxes.unleashed.update_product(
        "P00004",
        DefaultSellPrice=Decimal("19.99"),
        ProductDescription="Alpine Mug XL",
        Barcode="9400000000017",
        Weight=Decimal("0.777"),
    )
    result = sync(config)
    assert result.exit_code == 0, result.output

    variant = sandboxes.shopify.variant_for("P00004")
    assert variant.price == Decimal("22.99")  # 19.99 x 1.15, the shop includes tax
    assert variant.barcode == "9400000000017"
    assert variant.inventory_item.weight_value == Decimal("0.777")
    assert variant.product.title == "Alpine Mug XL"
    writes = sandboxes.shopify.written()[mark:]
    assert [w["mutation"] for w in writes] == ["productUpdate", "productVariantsBulkUpdate"]
    assert set(writes[0]["input"]["product"]) == {"id", "title"}
    (sent,) = writes[1]["input"]["variants"]
    assert set(sent) == {"id", "price", "barcode", "inventoryItem"}
    assert sent["inventoryItem"] == {
        "measurement": {"weight": {"unit": "KILOGRAMS", "value": 0.777}}
    }
    _, items = last_run(config)
    (update,) = [i for i in items if i["action"] == "update"]
    assert update["key"] == "P00004"
    assert set(update["detail"]) == {"title", "price", "barcode", "weight"}
    assert update["detail"]["price"]["new"] == "19.99"


def test_shopify_master_change_lands_in_unleashed_with_only_changed_fields(
    sandboxes: Any, setup: Any
) -> None:
    config = setup("shopify")
    mark = len(sandboxes.unleashed.writes)
    sandboxes.shopify.update_variant(
        "P00004", price=Decimal("23.00"), barcode="9400000000024", weight_value=Decimal("0.5")
    )
    sandboxes.shopify.update_product("P00004", title="Alpine Mug Deluxe")
    result = sync(config)
    assert result.exit_code == 0, result.output

    product = sandboxes.unleashed.product("P00004")
    assert product["DefaultSellPrice"] == Decimal("20.00")  # 23.00 / 1.15, tax-exclusive
    assert product["Barcode"] == "9400000000024"
    assert Decimal(str(product["Weight"])) == Decimal("0.5")
    assert product["ProductDescription"] == "Alpine Mug Deluxe"
    (write,) = sandboxes.unleashed.writes[mark:]
    body = json.loads(write["body"])
    assert set(body) == {
        "Guid",
        "ProductCode",
        "ProductDescription",
        "DefaultSellPrice",
        "Barcode",
        "Weight",
    }
    assert body["Guid"] == product["Guid"]


# -- drift: reported, not written, unless --overwrite-drift -----------------------------------


@pytest.mark.parametrize("master", ["unleashed", "shopify"])
def test_edit_on_the_other_side_is_drift_until_overwritten(
    sandboxes: Any, setup: Any, master: str
) -> None:
    config = setup(master)
    original = sandboxes.unleashed.product("P00005")["Barcode"]
    if master == "unleashed":
        sandboxes.shopify.update_variant("P00005", barcode="DRIFT-1")
    else:
        sandboxes.unleashed.update_product("P00005", Barcode="DRIFT-1")
    before = mutation_requests(sandboxes)

    result = sync(config)
    assert result.exit_code == 0, result.output  # drift only reports
    assert mutation_requests(sandboxes) == before
    run, items = last_run(config)
    drift = [i for i in items if i["key"] == "P00005" and i["action"] == "drift"]
    assert drift
    assert drift[0]["detail"]["barcode"] == {"master": original, "other": "DRIFT-1"}
    assert run["status"] == "ok"

    result = sync(config, "--overwrite-drift")
    assert result.exit_code == 0, result.output
    assert mutation_requests(sandboxes) == before + 1
    if master == "unleashed":
        assert sandboxes.shopify.variant_for("P00005").barcode == original
    else:
        assert sandboxes.unleashed.product("P00005")["Barcode"] == original
    _, items = last_run(config)
    assert [i["action"] for i in items if i["key"] == "P00005"] == ["update"]


@pytest.mark.parametrize("master", ["unleashed", "shopify"])
def test_an_unchanged_catalogue_costs_no_write(sandboxes: Any, setup: Any, master: str) -> None:
    config = setup(master)
    before = mutation_requests(sandboxes)
    for args in ((), ("--full",)):
        result = sync(config, *args)
        assert result.exit_code == 0, result.output
        assert mutation_requests(sandboxes) == before
        run, _ = last_run(config)
        assert (run["created"], run["updated"], run["failed"]) == (0, 0, 0)


# -- creates -------------------------------------------------------------------------------


def test_create_missing_creates_a_single_variant_product_once(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed")
    (variant,) = sandboxes.shopify.by_sku["P00002"]
    source = sandboxes.unleashed.product("P00002")
    assert variant.product.title == source["ProductDescription"]
    assert variant.inventory_item.tracked is True
    assert variant.inventory_item.weight_value == Decimal(str(source["Weight"]))
    assert len(sandboxes.shopify.written("productCreate")) == 1
    assert sandboxes.shopify.by_sku.get("SHIPPING") is None
    assert sync(config).exit_code == 0
    assert len(sandboxes.shopify.written("productCreate")) == 1


def test_create_missing_off_creates_nothing(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed", create_missing=False)
    assert sandboxes.shopify.written("productCreate") == []
    assert "P00002" not in sandboxes.shopify.by_sku
    _, items = last_run(config)
    (item,) = [i for i in items if i["key"] == "P00002"]
    assert item["action"] == "drift"
    assert item["detail"]["missing_on"] == "shopify"


def test_shopify_master_creates_in_unleashed_under_a_stable_guid(
    sandboxes: Any, setup: Any
) -> None:
    setup("shopify")
    product = sandboxes.unleashed.product("SHOP-ONLY-1")
    assert product is not None
    assert product["ProductDescription"] == "Shopify Gift Wrap"
    shop = sandboxes.shopify_server.url.split("://", 1)[-1].rstrip("/").lower()
    assert product["Guid"] == unleashed_guid(shop, "SHOP-ONLY-1")


def test_a_lost_create_reply_is_looked_up_not_repeated(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed", baseline=False)
    sandboxes.shopify_server.faults.add(Fault("lost_reply", match="productCreate"))
    result = sync(config)
    assert result.exit_code == 0, result.output
    assert len(sandboxes.shopify.written("productCreate")) == 1
    assert len(sandboxes.shopify.by_sku["P00002"]) == 1
    assert sync(config).exit_code == 0
    assert len(sandboxes.shopify.written("productCreate")) == 1


# -- holds, safety, dry run -------------------------------------------------------------------


def test_duplicate_skus_are_held_with_the_sku_named(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed")
    # update_variant(sku, **fields) cannot take sku= as a field: set it as the sandbox does.
    variant = sandboxes.shopify.variant_for("P00005")
    with sandboxes.shopify.lock:
        sandboxes.shopify._set_sku(variant, "P00004")
        variant.updated_at = variant.inventory_item.updated_at = sandboxes.shopify.now()
    before = mutation_requests(sandboxes)
    result = sync(config)
    assert result.exit_code == 1, result.output
    assert "P00004" in result.output
    assert "duplicated" in result.output
    assert mutation_requests(sandboxes) == before
    run, items = last_run(config)
    (held,) = [i for i in items if i["action"] == "hold"]
    assert held["key"] == "P00004"
    assert "P00004" in held["error"]
    assert run["status"] == "partial"


def test_safety_stop_then_force(sandboxes: Any, setup: Any, tmp_path: Path) -> None:
    config = setup("unleashed", baseline=False, max_changes=1)
    result = sync(config)  # the first run would update P00001 and create P00002
    assert result.exit_code == 1, result.output
    assert mutation_requests(sandboxes) == 0
    run, _ = last_run(config)
    assert run["status"] == "failed"
    assert "--force" in run["error"]
    store = Store(tmp_path / "state.db")
    try:
        assert store.cursor("products") is None
    finally:
        store.close()

    result = sync(config, "--force")
    assert result.exit_code == 0, result.output
    assert len(sandboxes.shopify.written("productCreate")) == 1


def test_dry_run_writes_nothing_and_moves_no_cursor(
    sandboxes: Any, setup: Any, tmp_path: Path
) -> None:
    config = setup("unleashed", baseline=False)
    result = sync(config, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "planned changes" in result.output
    assert "P00002" in result.output
    assert mutation_requests(sandboxes) == 0
    run, items = last_run(config)
    assert run["dry_run"] == 1
    assert run["cursor_after"] is None
    assert {i["key"]: i["action"] for i in items if i["action"] != "unchanged"} == {
        "P00001": "update",
        "P00002": "create",
        "SHOP-ONLY-1": "drift",
    }
    store = Store(tmp_path / "state.db")
    try:
        assert store.cursor("products") is None
        assert store.links("product") == []
    finally:
        store.close()


# -- scale ---------------------------------------------------------------------------------


def test_full_reconcile_of_10000_variants_reads_shopify_in_one_bulk_query(
    sandbox_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from syncer.sandbox.runner import start_sandboxes

    with start_sandboxes(
        seed=1, products=5000, orders=0, shopify_options={"drift": False}
    ) as boxes:
        variants = len(boxes.shopify.variants)
        assert variants >= 10_000
        boxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
        config = boxes.write_config(
            tmp_path / "config.yaml", state={"path": str(tmp_path / "state.db")}
        )
        started = time.monotonic()
        result = sync(config, "--full")
        elapsed = time.monotonic() - started
        assert result.exit_code == 0, result.output
        assert mutation_requests(boxes) == 0
        shopify_calls = len(boxes.shopify_server.requests())
        unleashed_calls = len(boxes.unleashed_server.requests())
        # Paging would take ceil(variants / page): the 1,000-point cost limit fits only
        # `page` VariantFields a request. One bulk query reads them all: shop, count, start,
        # a few polls and one download.
        page = fit_size(docs.VARIANTS, {"query": None}, "first", 250)
        assert len(boxes.shopify_server.requests("bulkOperationRunQuery")) == 1
        assert len(boxes.shopify_server.requests("GET /_bulk/")) == 1
        paged = boxes.shopify_server.requests("graphql.json productVariants")
        assert [r for r in paged if "productVariantsCount" not in r.description] == []
        assert shopify_calls <= math.ceil(variants / 250) + 5
        assert unleashed_calls <= math.ceil((variants + 1) / 1000) + 1
        run, _ = last_run(config)
        assert run["unchanged"] == variants
        assert run["updated"] == run["created"] == 0
        assert (run["shopify_calls"], run["unleashed_calls"]) == (shopify_calls, unleashed_calls)
        with capsys.disabled():
            print(  # noqa: T201 - the brief asks for the measured request counts
                f"\n--full: {variants} variants, {elapsed:.1f}s, shopify {shopify_calls} "
                f"requests by bulk query (paging would take {math.ceil(variants / page)}, "
                f"{page} a page), unleashed {unleashed_calls} requests"
            )


def test_a_rejected_write_fails_that_sku_only_and_is_retried(
    sandboxes: Any, setup: Any, tmp_path: Path
) -> None:
    config = setup("unleashed")
    sandboxes.unleashed.update_product("P00004", DefaultSellPrice=Decimal("-1.00"))
    sandboxes.unleashed.update_product("P00005", Barcode="9400000000055")
    result = sync(config)
    assert result.exit_code == 1, result.output
    _, items = last_run(config)
    by_key = {i["key"]: i for i in items if i["action"] != "unchanged"}
    assert by_key["P00004"]["action"] == "fail"
    assert "Price must be greater than or equal to 0" in by_key["P00004"]["error"]
    assert by_key["P00005"]["action"] == "update"
    assert sandboxes.shopify.variant_for("P00005").barcode == "9400000000055"
    store = Store(tmp_path / "state.db")
    try:
        assert [row["key"] for row in store.pending("products", "product")] == ["P00004"]
        link = store.link("product", "P00004")
        assert link is not None
        assert link["data"]["synced"]["price"] != "-1.00"  # last synced value kept
    finally:
        store.close()

    sandboxes.unleashed.update_product("P00004", DefaultSellPrice=Decimal("18.00"))
    assert sync(config).exit_code == 0
    assert sandboxes.shopify.variant_for("P00004").price == Decimal("20.70")
    store = Store(tmp_path / "state.db")
    try:
        assert store.pending("products", "product") == []
    finally:
        store.close()


# -- request budget, clocks, titles, stocking of creates (issues 5 and 9) ------------------------


def api_requests(boxes: Any) -> tuple[int, int]:
    return len(boxes.shopify_server.requests()), len(boxes.unleashed_server.requests())


@pytest.mark.parametrize("master", ["unleashed", "shopify"])
def test_a_no_change_run_costs_at_most_two_requests_per_api(
    sandboxes: Any, setup: Any, master: str
) -> None:
    config = setup(master)
    held = master == "unleashed"
    if held:  # a SKU held on every run (no sell price) is retried inside the same reads
        sandboxes.unleashed.update_product("P00004", DefaultSellPrice=None)
    sync(config)
    sync(config)  # the writes of the earlier runs come back once as changes
    shopify_before, unleashed_before = api_requests(sandboxes)
    result = sync(config)
    shopify_after, unleashed_after = api_requests(sandboxes)
    assert result.exit_code == (1 if held else 0), result.output
    assert shopify_after - shopify_before <= 2
    assert unleashed_after - unleashed_before <= 2
    run, items = last_run(config)
    assert (run["shopify_calls"], run["unleashed_calls"]) == (
        shopify_after - shopify_before,
        unleashed_after - unleashed_before,
    )
    assert [i["key"] for i in items if i["action"] == "hold"] == (["P00004"] if held else [])
    # One Shopify request carries both change searches and the held SKU's look-up.
    combined = sandboxes.shopify_server.requests(
        "productVariants productsCount products productVariants"
    )[-1]
    assert ("sku:P00004" in str(combined.body)) is held


def test_a_quiet_unleashed_catalogue_is_not_reread_from_its_last_change(
    sandboxes: Any, setup: Any
) -> None:
    """The seeded products last changed weeks ago; the Unleashed cursor still moves to the
    time Unleashed answered (its Date header), so the next run asks only for the last day."""
    config = setup("unleashed")
    sync(config)
    reads = sandboxes.unleashed_server.requests("GET /Products")
    since = [r.query for r in reads if "modifiedSince" in r.query][-1]
    asked = datetime.fromisoformat(since.split("modifiedSince=")[1].split("&")[0])
    assert datetime.now(UTC).replace(tzinfo=None) - asked < timedelta(days=1, minutes=5)


@pytest.mark.parametrize(
    "master",
    [
        pytest.param("shopify", id="shopify-change-seen-by-shopify-clock"),
        pytest.param("unleashed", id="unleashed-change-seen-by-unleashed-clock"),
    ],
)
def test_a_clock_running_ahead_skips_no_change(
    sandboxes: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: Any, master: str
) -> None:
    """With this machine two days ahead of both APIs, a change made after a run is still
    read by the next one: the cursors follow the APIs' own stamps."""
    from datetime import timedelta

    from tests.faultkit import Harness

    h = Harness(
        sandboxes,
        tmp_path,
        monkeypatch,
        overrides={"master": master, "products": {"tax_rate": 0.15}},
        skew=timedelta(days=2),
    )
    h.sync("products")
    h.sync("products")
    if master == "shopify":
        sandboxes.shopify.update_variant("P00005", price=Decimal("40.25"))
    else:
        sandboxes.unleashed.update_product("P00005", DefaultSellPrice=Decimal("41.00"))
    h.sync("products")
    if master == "shopify":
        assert Decimal(str(sandboxes.unleashed.product("P00005")["DefaultSellPrice"])) == Decimal(
            "35.00"
        )  # 40.25 / 1.15
    else:
        assert sandboxes.shopify.variant_for("P00005").price == Decimal("47.15")
    store = h.store()
    try:
        cursor = json.loads(store.cursor("products") or "{}")
    finally:
        store.close()
    ahead = datetime.now(UTC) + timedelta(days=1)
    assert all(datetime.fromisoformat(v.replace("Z", "+00:00")) < ahead for v in cursor.values())


def test_a_blank_unleashed_title_is_held_before_any_write(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed")
    sandboxes.unleashed.update_product("P00004", ProductDescription=None)
    sandboxes.unleashed.update_product("P00005", ProductDescription="   ")
    before = mutation_requests(sandboxes)
    result = sync(config)
    assert result.exit_code == 1, result.output
    assert mutation_requests(sandboxes) == before
    _, items = last_run(config)
    held = {i["key"]: i["error"] for i in items if i["action"] == "hold"}
    assert set(held) == {"P00004", "P00005"}
    assert all("ProductDescription" in reason for reason in held.values())


def test_a_created_product_is_stocked_at_every_mapped_location(sandboxes: Any, setup: Any) -> None:
    config = setup("unleashed")
    (variant,) = sandboxes.shopify.by_sku["P00002"]
    mapped = dict(sandboxes.world.warehouses)
    stocked = {level.location.name for level in variant.inventory_item.levels.values()}
    assert stocked == set(mapped.values())
    assert len(sandboxes.shopify_server.requests("locations")) == 1
    _, items = last_run(config)
    (create,) = [i for i in items if i["action"] == "create"]
    assert create["detail"]["stocked_at"] == sorted(mapped)
    # A run without creates resolves no locations.
    assert sync(config).exit_code == 0
    assert len(sandboxes.shopify_server.requests("locations")) == 1


def test_a_refused_bulk_read_falls_back_to_pages(
    sandboxes: Any, setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token without access to bulk operations still gets a full reconcile, by pages."""
    from syncer.connectors.shopify import ShopifyClient
    from syncer.errors import DataError
    from syncer.products import job

    def refused(self: Any) -> Any:
        raise DataError("shopify refused bulkOperationRunQuery (ACCESS_DENIED)", api="shopify")
        yield  # a generator, like the real one

    monkeypatch.setattr(job, "SHOPIFY_BULK_THRESHOLD", 1)
    monkeypatch.setattr(ShopifyClient, "bulk_variants", refused)
    config = setup("unleashed", baseline=False)
    result = sync(config, "--full")
    assert result.exit_code == 0, result.output
    assert sandboxes.shopify_server.requests("productVariants")
    run, _ = last_run(config)
    assert run["status"] == "ok"


def test_an_unset_price_tier_holds_the_product_and_no_price_reaches_shopify(
    sandboxes: Any, setup: Any
) -> None:
    config = setup("unleashed", price_tier=1)
    price_before = sandboxes.shopify.variant_for("P00004").price
    # Unleashed sends a tier nobody set up as {"Name": "", "Value": "0.0000"}.
    sandboxes.unleashed.update_product("P00004", SellPriceTier1={"Name": "", "Value": "0.0000"})
    sandboxes.unleashed.add_product(
        "NEW-TIER", "New tee", SellPriceTier1={"Name": "RRP", "Value": None}, DefaultSellPrice=9
    )
    before = mutation_requests(sandboxes)
    result = sync(config)
    assert result.exit_code == 1, result.output
    assert mutation_requests(sandboxes) == before
    assert sandboxes.shopify.variant_for("P00004").price == price_before
    assert "NEW-TIER" not in sandboxes.shopify.by_sku
    run, items = last_run(config)
    held = {i["key"]: i["error"] for i in items if i["action"] == "hold"}
    assert held == {
        "P00004": "SellPriceTier1 is not set in Unleashed (Name '', Value '0.0000'): set it, "
        "or use price_tier: default",
        "NEW-TIER": "SellPriceTier1 is not set in Unleashed (Name 'RRP', Value None): set it, "
        "or use price_tier: default",
    }
    assert run["status"] == "partial"
    # Once the tier is filled in, the price goes through.
    sandboxes.unleashed.update_product("P00004", SellPriceTier1={"Name": "RRP", "Value": "21.5000"})
    assert sync(config).exit_code == 1  # NEW-TIER is still held
    assert sandboxes.shopify.variant_for("P00004").price == Decimal("24.73")
