"""Bad input (issue 9): malformed, missing, mistyped and absurd data from either API, and
hostile config values. Each must give a per-item failure (or hold) naming the field, or a
clear error with the SPEC's exit code; none may crash a run (no traceback, no "unexpected"),
and no good item may be lost because a neighbour was bad.

API payloads are made bad on the way out of an otherwise faithful sandbox by
`tests.faultkit.Tamper`, which rewrites the JSON of chosen replies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes
from tests.faultkit import (
    SUMMARY,
    Harness,
    assert_no_crash,
    check_nothing_lost,
    check_orders_exactly_once,
    check_pending_reported,
    job_available,
    selected_order_names,
    tamper,
    unleashed_refs,
    walk,
)

# -- Shopify orders ---------------------------------------------------------------------------


def order_node(body: Any, name: str) -> dict[str, Any] | None:
    return next(
        (node for node in walk(body) if node.get("name") == name and "lineItems" in node), None
    )


def first_line(order: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = order["lineItems"]["nodes"][0]
    return line


def null_sku(order: dict[str, Any]) -> None:
    first_line(order)["sku"] = None


def price_abc(order: dict[str, Any]) -> None:
    for node in walk(first_line(order)):
        if "amount" in node:
            node["amount"] = "abc"


def negative_quantity(order: dict[str, Any]) -> None:
    line = first_line(order)
    line["quantity"] = line["currentQuantity"] = -2


def quantity_text(order: dict[str, Any]) -> None:
    first_line(order)["currentQuantity"] = "three"


def no_line_items(order: dict[str, Any]) -> None:
    del order["lineItems"]


def huge_strings(order: dict[str, Any]) -> None:
    for node in walk(order):
        if "firstName" in node:
            node["firstName"] = "Z" * 200_000
    first_line(order)["title"] = "T" * 200_000


def unknown_status(order: dict[str, Any]) -> None:
    order["displayFinancialStatus"] = "PAID_IN_SPACE_CREDITS"


def bad_currency(order: dict[str, Any]) -> None:
    for node in walk(order):
        if "currencyCode" in node:
            node["currencyCode"] = 7


ORDER_CASES = [
    pytest.param(null_sku, ("hold",), "sku", id="line-sku-null"),
    pytest.param(price_abc, ("fail",), "price", id="line-price-abc"),
    pytest.param(negative_quantity, ("fail", "hold"), "quantity", id="line-quantity-negative"),
    pytest.param(quantity_text, ("fail", "hold"), "quantity", id="line-quantity-text"),
    pytest.param(no_line_items, ("fail",), "lineitems", id="line-items-missing"),
    pytest.param(huge_strings, ("fail", "create"), "", id="huge-strings"),
    pytest.param(bad_currency, ("fail", "create"), "", id="currency-wrong-type"),
    pytest.param(unknown_status, (), "", id="financial-status-unknown-enum"),
]


@pytest.mark.parametrize(("corrupt", "actions", "field"), ORDER_CASES)
def test_bad_shopify_order_is_one_failed_item(
    corrupt: Callable[[dict[str, Any]], None],
    actions: tuple[str, ...],
    field: str,
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """One order arrives broken; it alone is failed or held (naming the field) and stays on
    the retry list; every other order goes through; once the data is sane it is sent."""
    h = Harness(sandboxes, tmp_path, monkeypatch)
    target = sorted(selected_order_names(sandboxes))[0]

    def rewrite(body: Any) -> Any:
        order = order_node(body, target)
        if order is not None:
            corrupt(order)
        return body

    wrapper = tamper(sandboxes, "shopify")
    wrapper.rewrite(" orders", rewrite)
    wrapper.rewrite(" nodes", rewrite)
    h.sync("orders")
    SUMMARY["bad inputs"] += 1
    items = last_items(h, "orders")
    mine = [i for i in items if i["key"] == target]
    if not actions:
        assert not mine
        assert target not in unleashed_refs(sandboxes)
    else:
        assert mine, f"{target} was not reported"
        assert mine[0]["action"] in actions, f"{target}: {mine}"
        if mine[0]["action"] != "create":
            assert field in (mine[0]["error"] or "").lower(), mine[0]
            assert len(mine[0]["error"]) < 2000, "the error repeats the bad value in full"
    check_orders_exactly_once(sandboxes, held={target})
    check_pending_reported(h)
    if actions:  # an unknown status is "not selected", not a record left behind
        check_nothing_lost(h)
    wrapper.clear()
    if actions and mine[0]["action"] != "create":
        assert h.sync("orders").exit_code == 0
        check_orders_exactly_once(sandboxes)


def last_items(h: Harness, job: str) -> list[dict[str, Any]]:
    store = h.store()
    try:
        run = store.runs(last=1, job=job)[0]
        return store.run_items(int(run["id"]))
    finally:
        store.close()


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(
            lambda node: 42,
            id="node-not-an-object",
        ),
        pytest.param(
            lambda node: {**node, "id": None},
            id="node-without-id",
        ),
    ],
)
def test_unreadable_order_node_does_not_move_the_cursor_past_it(
    broken: Callable[[dict[str, Any]], Any],
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    h = Harness(sandboxes, tmp_path, monkeypatch)
    target = sorted(selected_order_names(sandboxes))[0]

    def rewrite(body: Any) -> Any:
        nodes = body["data"]["orders"]["nodes"]
        body["data"]["orders"]["nodes"] = [
            broken(n) if isinstance(n, dict) and n.get("name") == target else n for n in nodes
        ]
        return body

    wrapper = tamper(sandboxes, "shopify")
    wrapper.rewrite(" orders", rewrite)
    h.sync("orders")
    SUMMARY["bad inputs"] += 1
    wrapper.clear()
    h.sync("orders")
    check_orders_exactly_once(sandboxes)


# -- malformed bodies -------------------------------------------------------------------------

TRUNCATED = b'{"data": {"orders": {"nodes": [{"id": "gid://shopify/Order/1", "na'


@pytest.mark.parametrize(
    ("api", "match", "body", "job"),
    [
        pytest.param("shopify", " orders", TRUNCATED, "orders", id="shopify-orders-truncated"),
        pytest.param("shopify", " orders", b"<html>oops</html>", "orders", id="shopify-html"),
        pytest.param("shopify", " orders", b"[1, 2, 3]", "orders", id="shopify-json-array"),
        pytest.param("unleashed", "GET /Products", b'{"Items": [', "orders", id="unl-products"),
        pytest.param("unleashed", "GET /Products", b'{"Items": [', "products", id="unl-catalogue"),
        pytest.param(
            "unleashed", "GET /StockOnHand", b"<html>502</html>", "inventory", id="unl-stock-html"
        ),
        pytest.param(
            "unleashed", "GET /StockOnHand", b'{"Pagination": 5}', "inventory", id="unl-stock-shape"
        ),
    ],
)
def test_malformed_reply_is_a_clear_error_and_nothing_is_lost(
    api: str,
    match: str,
    body: bytes,
    job: str,
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """A 200 reply that is not the JSON asked for: the run ends with a plain message (exit 1
    or 3), the cursor does not move past unread data, and a later clean run does it all."""
    if not job_available(job):
        pytest.skip(f"syncer/{job}/job.py is not there yet")
    h = Harness(sandboxes, tmp_path, monkeypatch)
    if job == "inventory":
        h.sync("orders")
    wrapper = tamper(sandboxes, api)
    wrapper.rewrite(match, lambda _: body)
    result = h.sync(job, allowed=(1, 3))
    SUMMARY["bad inputs"] += 1
    assert f"{job}: {api} " in result.output, result.output  # one plain line naming the API
    if job == "orders":
        check_nothing_lost(h)
    wrapper.clear()
    h.sync(job)
    if job == "orders":
        check_orders_exactly_once(sandboxes)
    check_pending_reported(h)


def test_garbled_reply_to_a_sales_order_post_sends_it_once(
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """Unleashed applied the POST but its reply is garbage: the order must not be sent twice."""
    h = Harness(sandboxes, tmp_path, monkeypatch)
    wrapper = tamper(sandboxes, "unleashed")
    wrapper.rewrite("POST /SalesOrders/", lambda _: b'{"Guid": "', count=2)
    h.sync("orders", allowed=(0, 1, 3))
    SUMMARY["bad inputs"] += 1
    check_nothing_lost(h)
    h.sync("orders")
    check_orders_exactly_once(sandboxes)


# -- Unleashed products and stock -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"Weight": "heavy"}, "weight", id="weight-text"),
        pytest.param({"DefaultSellPrice": "NaN"}, "price", id="price-nan"),
        pytest.param({"DefaultSellPrice": -5}, "price", id="price-negative"),
        pytest.param({"ProductDescription": None}, "title", id="description-null"),
        pytest.param({"ProductDescription": "D" * 300_000}, "description", id="description-huge"),
        pytest.param({"Barcode": 12345}, "barcode", id="barcode-number"),
        pytest.param({"ProductGroup": "Apparel"}, "group", id="group-wrong-shape"),
    ],
)
def test_bad_unleashed_product_is_one_item(
    fields: dict[str, Any],
    field: str,
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """A product record with a wrong-typed or absurd field: that SKU is failed or held with
    an error naming the field (or written sanely); the rest of the catalogue is synced."""
    if not job_available("products"):
        pytest.skip("syncer/products/job.py is not there yet")
    h = Harness(sandboxes, tmp_path, monkeypatch)
    sku, good = sandboxes.world.products[4].variants[0], sandboxes.world.products[5].variants[0]
    sandboxes.unleashed.update_product(good.sku, DefaultSellPrice=good.price + 3)
    sku, good = sku.sku, good.sku

    def rewrite(body: Any) -> Any:
        for node in walk(body):
            if node.get("ProductCode") == sku:
                node.update(fields)
        return body

    tamper(sandboxes, "unleashed").rewrite("GET /Products", rewrite)
    h.sync("products")
    SUMMARY["bad inputs"] += 1
    items = last_items(h, "products")
    mine = [i for i in items if sku in i["key"]]
    for item in mine:
        if item["action"] in ("fail", "hold"):
            assert field in (item["error"] or "").lower(), item
    others = [i for i in items if good in i["key"]]
    assert others, f"{good} was not reported"
    assert all(i["action"] in ("update", "create", "unchanged") for i in others), others
    if fields.get("DefaultSellPrice") is not None:
        price = sandboxes.shopify.variant_for(sku).price
        assert price > 0, f"{sku}: an absurd Unleashed price reached Shopify as {price}"
    check_pending_reported(h)


ABSURD_STOCK_BUG = (
    "syncer/inventory/planner.py target_quantity/_plan_row: an AvailableQty of 1e30 is "
    "planned as a write of 10**30; Shopify's Int is 32-bit, so GraphQL rejects the whole "
    "inventorySetQuantities batch and every level in it (up to 250) fails, not just that SKU. "
    "Fix: hold a row whose AvailableQty is not finite or above 2**31 - 1, naming AvailableQty."
)


@pytest.mark.parametrize(
    ("available", "outcome"),
    [
        pytest.param("NaN", "item", id="available-nan"),
        pytest.param("abc", "item", id="available-text"),
        pytest.param(None, "item", id="available-null"),
        pytest.param(-5, 0, id="available-negative"),
        pytest.param(
            1e30,
            "item",
            id="available-absurd",
        ),
        pytest.param(7.9, 7, id="available-fraction"),
    ],
)
def test_bad_stock_row_is_one_item(
    available: Any,
    outcome: Any,
    sandboxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """A StockOnHand row with a bad AvailableQty: that level is failed or held naming the
    field, or set by the formula (negative -> 0, fraction -> floor); the others are synced."""
    if not job_available("inventory"):
        pytest.skip("syncer/inventory/job.py is not there yet")
    h = Harness(sandboxes, tmp_path, monkeypatch)
    sandboxes.shopify.orders.clear()  # no in-flight units: the level is AvailableQty itself
    sku = sandboxes.world.products[4].variants[0].sku
    good = sandboxes.world.products[5].variants[0].sku
    sandboxes.unleashed.set_stock(sku, "MAIN", 12)
    sandboxes.unleashed.set_stock(good, "MAIN", 21)

    def rewrite(body: Any) -> Any:
        for node in walk(body):
            if node.get("ProductCode") == sku and node.get("WarehouseCode") == "MAIN":
                node["AvailableQty"] = available
        return body

    before = sandboxes.shopify.quantities(sku, "MAIN")["available"]
    tamper(sandboxes, "unleashed").rewrite("GET /StockOnHand", rewrite)
    h.sync("inventory")
    SUMMARY["bad inputs"] += 1
    after = sandboxes.shopify.quantities(sku, "MAIN")["available"]
    assert sandboxes.shopify.quantities(good, "MAIN")["available"] == 21
    items = [i for i in last_items(h, "inventory") if i["key"].startswith(f"{sku}@MAIN")]
    flagged = [i for i in items if i["action"] in ("fail", "hold")]
    if outcome == "item":
        assert flagged, items
        assert "available" in (flagged[0]["error"] or "").lower(), items
        assert after == before, "a level was written from an unreadable quantity"
    else:
        assert after == outcome, items
    check_pending_reported(h)


# -- hostile config ---------------------------------------------------------------------------

BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "orders:\n  financial_statuses: *h\n"
    "products:\n  fields: *h\n"
)


def with_section(section: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data.setdefault(section, {}).update(values)

    return change


@pytest.mark.parametrize(
    ("change", "key"),
    [
        pytest.param(with_section("products", max_changes=-5), "products.max_changes", id="neg"),
        pytest.param(
            with_section("inventory", max_changes="lots"), "inventory.max_changes", id="t"
        ),
        pytest.param(with_section("inventory", buffer=-1), "inventory.buffer", id="neg-buffer"),
        pytest.param(with_section("inventory", buffer=10**40), "inventory.buffer", id="huge"),
        pytest.param(with_section("inventory", buffer=1.5), "inventory.buffer", id="float"),
        pytest.param(with_section("orders", order_status="Shipped"), "orders.order_status", id="e"),
        pytest.param(with_section("orders", financial_statuses="paid"), "orders.financial", id="l"),
        pytest.param(with_section("orders", start="yesterday"), "orders.start", id="date"),
        pytest.param(with_section("products", tax_rate=15), "products.tax_rate", id="rate"),
        pytest.param(with_section("products", price_tier=11), "products.price_tier", id="tier"),
        pytest.param(with_section("schedule", orders="-5m"), "schedule.orders", id="interval"),
        pytest.param(with_section("inventory", locations=["MAIN"]), "inventory.locations", id="l2"),
        pytest.param(lambda d: d.update(shopify="shop"), "shopify", id="section-a-string"),
        pytest.param(lambda d: d.update(master="both"), "master", id="master-enum"),
        pytest.param(
            with_section("state", path="/dev/null/sub/state.db"),
            "state.path",
            id="state-unwritable",
        ),
    ],
)
# `status` reads and validates the config and opens the state like `sync`, but never calls an
# API, so a value the validation misses does not wait on the network.
def test_hostile_config_value_exits_2_naming_the_key(
    change: Callable[[dict[str, Any]], None],
    key: str,
    config_data: dict[str, Any],
    write_config: Callable[..., Path],
    secrets_env: dict[str, str],
) -> None:
    change(config_data)
    path = write_config(config_data)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    SUMMARY["bad inputs"] += 1
    assert_no_crash(result.output)
    assert result.exit_code == 2, result.output
    assert key in result.output, result.output


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(BOMB.encode(), id="yaml-bomb"),
        pytest.param(b"shopify:\n  shop: caf\xe9\xff\xfe\n", id="not-utf8"),
        pytest.param(b"- just\n- a list\n", id="top-level-list"),
        pytest.param(b"shopify: {shop: [unclosed\n", id="broken-yaml"),
        pytest.param(b"!!python/object/apply:os.system ['echo pwned']\n", id="python-tag"),
        pytest.param(b"\x00\x01\x02", id="binary"),
    ],
)
def test_hostile_config_file_exits_2(
    content: bytes, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    SUMMARY["bad inputs"] += 1
    assert_no_crash(result.output)
    assert result.exit_code == 2, result.output
    assert "pwned" not in result.output
    assert len(result.output) < 20_000, "the error message repeats the expanded document"


def test_config_error_lists_every_problem(
    config_data: dict[str, Any], write_config: Callable[..., Path], secrets_env: dict[str, str]
) -> None:
    config_data["products"] = {"max_changes": -1, "tax_rate": "x"}
    config_data["inventory"]["buffer"] = "y"
    path = write_config(config_data)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    SUMMARY["bad inputs"] += 1
    assert result.exit_code == 2
    for key in ("products.max_changes", "products.tax_rate", "inventory.buffer"):
        assert key in result.output, result.output
    assert json.dumps(yaml.safe_load(path.read_text())) != ""  # the file itself is untouched
