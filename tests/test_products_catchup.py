"""An incremental `sync products` after a catalogue import: a large Shopify change set is read by
one bulk query, a small one still by pages, and the count that decides rides in the first
request. End to end: the CLI against both sandboxes over real sockets (master: shopify, so the
changed titles land in Unleashed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.products.job import CHANGES_BULK_THRESHOLD, read_bulk_read_at, write_cursor
from syncer.sandbox.runner import start_sandboxes

GRAPHQL = "/graphql.json"


def sync(config: Path) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(config), "sync", "products"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def last_items(config: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runner = CliRunner()
    runs = json.loads(runner.invoke(cli, ["--config", str(config), "report", "--json"]).output)
    run_id = max(run["id"] for run in runs["runs"])
    out = runner.invoke(cli, ["--config", str(config), "report", str(run_id), "--json"]).output
    data = json.loads(out)
    return data["run"], data["items"]


def operations(boxes: Any) -> list[str]:
    """The root fields of each Shopify GraphQL request, e.g. "shop" or
    "productVariants productsCount products": what was asked, request by request."""
    return [
        r.description.split(GRAPHQL, 1)[1].strip() for r in boxes.shopify_server.requests(GRAPHQL)
    ]


def change_pages(boxes: Any) -> int:
    """Requests that follow an `updated_at` search page by page (SKU look-ups excluded)."""
    pages = 0
    for request in boxes.shopify_server.requests(GRAPHQL):
        variables = json.loads(request.body).get("variables") or {}
        if "updated_at" in str(variables.get("query") or "") and variables.get("after"):
            pages += 1
    return pages


def edit_catalogue(boxes: Any, retitled: int, *, save_all: bool) -> dict[str, str]:
    """Retitle the first `retitled` single-variant products in Shopify and, with `save_all`,
    save every other product again unchanged (a new updatedAt), as a CSV import does.
    Returns SKU -> the new title of the retitled ones."""
    changed: dict[str, str] = {}
    for num in sorted(boxes.shopify.products):
        product = boxes.shopify.products[num]
        if len(changed) < retitled and len(product.variants) == 1:
            title = f"{product.title} (imported)"
            boxes.shopify.update_product(num, title=title)
            changed[product.variants[0].sku] = title
        elif save_all:
            boxes.shopify.update_product(num, title=product.title)
    return changed


def linked_sandboxes(tmp_path: Path, products: int) -> tuple[Any, Path]:
    """Sandboxes of `products` products last edited in Shopify an hour apart, the newest a
    day ago (so the next run's 5-minute overlap re-reads one of them besides what changes
    now), their bucket out of the way, and linked by a first run."""
    boxes = start_sandboxes(seed=1, products=products, orders=0, shopify_options={"drift": False})
    boxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
    day_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for age, product in enumerate(boxes.shopify.products.values()):
        product.updated_at = day_ago - timedelta(hours=age)
        for variant in product.variants:
            variant.updated_at = product.updated_at
    config = boxes.write_config(
        tmp_path / "config.yaml",
        master="shopify",
        state={"path": str(tmp_path / "state.db")},
        products={"tax_rate": 0.15, "max_changes": 100_000},
    )
    assert sync(config).exit_code == 0
    return boxes, config


@pytest.mark.parametrize(
    ("products", "save_all", "read_by"),
    [
        (CHANGES_BULK_THRESHOLD + 40, True, "bulk"),
        (CHANGES_BULK_THRESHOLD + 40, False, "first request"),
        (CHANGES_BULK_THRESHOLD - 40, True, "pages"),
    ],
    ids=["import-over-threshold", "three-edits", "import-under-threshold"],
)
def test_a_large_change_set_is_read_by_one_bulk_query_and_a_small_one_by_pages(
    sandbox_env: Any, tmp_path: Path, products: int, save_all: bool, read_by: str
) -> None:
    boxes, config = linked_sandboxes(tmp_path, products)
    with boxes:
        changed = edit_catalogue(boxes, 3, save_all=save_all)
        assert len(changed) == 3
        boxes.shopify_server.clear_log()
        boxes.unleashed_server.clear_log()

        result = sync(config)

        assert result.exit_code == 0, result.output
        asked = operations(boxes)
        # `shop`, then one request holding both change searches and the count.
        assert asked[0] == "shop"
        assert asked[1].startswith("productVariants productsCount products")
        paged = change_pages(boxes)
        bulk = [a for a in asked if a.startswith("bulkOperation")]
        downloads = boxes.shopify_server.requests("GET /_bulk/")
        if read_by == "bulk":
            assert (paged, bulk, len(downloads)) == (0, ["bulkOperationRunQuery"], 1)
            # Unleashed: the changes since its cursor, then one page of the whole catalogue
            # for every SKU to plan (cheaper than looking up hundreds of codes 50 at a time).
            assert len(boxes.unleashed_server.requests("GET /Products")) == 2
        elif read_by == "pages":
            assert (bulk, downloads) == ([], [])
            assert paged >= 1
        else:
            assert (paged, bulk, downloads) == (0, [], [])
            assert len(asked) <= 3  # + one look-up of the changed SKUs' variants
        run, items = last_items(config)
        assert {i["key"] for i in items if i["action"] == "update"} == set(changed)
        assert run["failed"] == run["held"] == run["created"] == 0
        for sku, title in changed.items():
            assert boxes.unleashed.product(sku)["ProductDescription"] == title

        if read_by == "pages":
            return  # what pages re-read in the next run's 5-minute overlap is skipped per SKU
        # The next run has nothing new: 2 Shopify requests, even right after an import (a
        # whole-catalogue bulk read saw everything older than its start, so the next search
        # starts there instead of 5 minutes before the import's newest stamp).
        boxes.shopify_server.clear_log()
        boxes.unleashed_server.clear_log()
        assert sync(config).exit_code == 0
        assert len(boxes.shopify_server.requests()) == 2
        assert len(boxes.unleashed_server.requests()) <= 2
        run, _ = last_items(config)
        assert run["updated"] == run["created"] == 0


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, None),
        ("", None),
        ('{"shopify": "2026-12-01T00:00:00Z", "unleashed": "2026-12-01T00:00:00Z"}', None),
        (
            '{"shopify": "2026-12-01T00:00:00Z", "shopify_read_at": "2026-12-01T00:03:00Z"}',
            datetime(2026, 12, 1, 0, 3, tzinfo=UTC),
        ),
        ('{"shopify_read_at": "not a time"}', None),
        ("2026-12-01T00:00:00Z", None),
        ("not json", None),
    ],
)
def test_the_bulk_read_time_is_read_back_from_the_cursor(
    stored: str | None, expected: datetime | None
) -> None:
    assert read_bulk_read_at(stored) == expected


def test_the_bulk_read_time_is_written_only_beside_a_side() -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    read_at = moment + timedelta(minutes=3)
    text = write_cursor({"shopify": moment, "unleashed": moment}, read_at=read_at)
    assert read_bulk_read_at(text) == read_at
    assert write_cursor({"shopify": None, "unleashed": None}, read_at=read_at) is None
