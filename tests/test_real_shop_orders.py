"""`sync orders` for real shops, end to end over real sockets (issue 16): lines without a SKU,
and sales orders in the shop's or the customer's currency at Unleashed's own exchange rate."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes

D = Decimal
WHEN = datetime(2026, 11, 20, tzinfo=UTC)  # after every seeded order
START = "2026-11-10T00:00:00Z"  # so a run reads only the orders a test places


def sync(config: Path, boxes: Sandboxes) -> Result:
    """Run `sync orders` once the wall clock has passed every Shopify stamp handed out (the
    sandbox stamps quick changes a second apart, and a run reads only up to its own start)."""
    target = boxes.shopify.now()
    while datetime.now(UTC) <= target + timedelta(seconds=1):
        time.sleep(0.05)
    return CliRunner().invoke(cli, ["--config", str(config), "sync", "orders"])


def last_items(config: Path) -> list[dict[str, Any]]:
    runner = CliRunner()
    runs = json.loads(runner.invoke(cli, ["--config", str(config), "report", "--json"]).output)
    run_id = max(run["id"] for run in runs["runs"])
    data = json.loads(
        runner.invoke(cli, ["--config", str(config), "report", str(run_id), "--json"]).output
    )
    items: list[dict[str, Any]] = data["items"]
    return items


def sales_order(boxes: Sandboxes, name: str) -> dict[str, Any]:
    [found] = [o for o in boxes.unleashed.sales_orders() if o["CustomerRef"] == name]
    return found


@pytest.fixture(autouse=True)
def roomy_bucket(sandboxes: Sandboxes) -> None:
    sandboxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)


def write(boxes: Sandboxes, tmp_path: Path, **orders: Any) -> Path:
    return boxes.write_config(
        tmp_path / "config.yaml", orders={"start": START, "warehouse": "MAIN", **orders}
    )


def test_a_custom_line_holds_by_default_and_is_a_charge_line_with_charge(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order([(sku, 1)], created_at=WHEN)
    sandboxes.shopify.add_custom_line(order, "Gift wrapping", D("6.90"))
    sandboxes.shopify.add_custom_line(order, "Tip", D("5.00"), tip=True)

    held = sync(write(sandboxes, tmp_path), sandboxes)

    assert held.exit_code == 1, held.output
    [item] = last_items(tmp_path / "config.yaml")
    assert (item["key"], item["action"]) == (order.name, "hold")
    assert item["error"] == (
        "lines without a SKU: Gift wrapping, Tip "
        "(orders.lines_without_sku: charge sends them as charge lines)"
    )
    assert [(c["title"], c["kind"]) for c in item["detail"]["lines_without_sku"]] == [
        ("Gift wrapping", "custom"),
        ("Tip", "tip"),
    ]
    assert not [o for o in sandboxes.unleashed.sales_orders() if o["CustomerRef"] == order.name]

    sent = sync(write(sandboxes, tmp_path, lines_without_sku="charge"), sandboxes)

    assert sent.exit_code == 0, sent.output
    [item] = last_items(tmp_path / "config.yaml")
    assert (item["key"], item["action"]) == (order.name, "create")
    lines = sales_order(sandboxes, order.name)["SalesOrderLines"]
    charges = [line for line in lines if line["LineType"] == "Charge"]
    # As Unleashed returns charges: no product code and the all-zero product Guid.
    assert [
        (c["Product"]["ProductDescription"], c["Product"]["ProductCode"], c["Product"]["Guid"])
        for c in charges
    ] == [
        ("Gift wrapping", None, "00000000-0000-0000-0000-000000000000"),
        ("Tip", None, "00000000-0000-0000-0000-000000000000"),
    ]
    # The shop's prices include tax: the wrapping is sent tax-exclusive with its own tax.
    wrapping, tip = charges
    assert wrapping["LineTotal"] + wrapping["LineTax"] == D("6.90")
    assert (tip["LineTotal"], tip["LineTax"]) == (D("5.00"), D(0))


def test_an_aud_shop_on_an_nzd_account_sends_unleasheds_rate_read_once(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    sandboxes.shopify.set_shop_currency("AUD")
    skus = [v.sku for v in sandboxes.world.variants()[:2]]
    names = [sandboxes.shopify.add_order([(sku, 1)], created_at=WHEN).name for sku in skus]
    config = write(sandboxes, tmp_path)
    sandboxes.unleashed_server.clear_log()

    result = sync(config, sandboxes)

    assert result.exit_code == 0, result.output
    for name in names:
        order = sales_order(sandboxes, name)
        assert order["Currency"]["CurrencyCode"] == "AUD"
        assert order["ExchangeRate"] == D("0.893300")
    assert len(sandboxes.unleashed_server.requests("GET /Currencies")) == 1
    detail = last_items(config)[0]["detail"]
    assert (detail["currency"], detail["exchange_rate"]) == ("AUD", "0.893300")


def test_a_jpy_order_with_no_jpy_in_unleashed_is_held_until_a_rate_is_set(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    sandboxes.shopify.set_shop_currency("JPY")
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order([(sku, 1)], created_at=WHEN)
    data = sandboxes.config(orders={"start": START})
    data["unleashed"]["base_currency"] = "NZD"
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")

    held = sync(config, sandboxes)

    assert held.exit_code == 1, held.output
    [item] = last_items(config)
    assert (item["key"], item["action"]) == (order.name, "hold")
    assert item["error"] == (
        "currency JPY is neither Unleashed's base currency (NZD) nor in use there; "
        "add JPY under Currency Rates in Unleashed"
    )
    assert not [o for o in sandboxes.unleashed.sales_orders() if o["CustomerRef"] == order.name]

    sandboxes.unleashed.set_currency_rate("JPY", D("91.250000"))
    sent = sync(config, sandboxes)

    assert sent.exit_code == 0, sent.output
    placed = sales_order(sandboxes, order.name)
    assert (placed["Currency"]["CurrencyCode"], placed["ExchangeRate"]) == ("JPY", D("91.25"))


def test_with_presentment_a_usd_presented_order_in_an_nzd_shop_is_sent_in_usd(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order([(sku, 2)], shipping=D("8.00"), created_at=WHEN)
    sandboxes.shopify.set_presentment(order, "USD", D("0.6725"))
    nzd = sandboxes.shopify.add_order([(sku, 1)], created_at=WHEN)

    result = sync(write(sandboxes, tmp_path, currency="presentment"), sandboxes)

    assert result.exit_code == 0, result.output
    sent = sales_order(sandboxes, order.name)
    assert (sent["Currency"]["CurrencyCode"], sent["ExchangeRate"]) == ("USD", D("0.6725"))
    usd_total = D(order.current_total_price_set["presentmentMoney"]["amount"])
    assert abs(sent["Total"] - usd_total) <= D("0.02")
    home = sales_order(sandboxes, nzd.name)
    assert (home["Currency"]["CurrencyCode"], home["ExchangeRate"]) == ("NZD", D(1))


def test_an_account_without_the_currencies_resource_sends_at_rate_one(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """A 404 from `GET /Currencies` holds nothing back: the order goes at exchange rate 1."""
    from syncer.sandbox.common import Fault

    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order([(sku, 1)], created_at=WHEN)
    sandboxes.unleashed_server.faults.add(Fault("status", "GET /Currencies", 10, status=404))

    result = sync(write(sandboxes, tmp_path), sandboxes)

    assert result.exit_code == 0, result.output
    assert [r.status for r in sandboxes.unleashed_server.requests("GET /Currencies")] == [404]
    assert D(str(sales_order(sandboxes, order.name)["ExchangeRate"])) == 1
