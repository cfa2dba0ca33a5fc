"""orders.warehouse_by_location against the sandboxes: an order Shopify assigned to two
locations becomes two sales orders, exactly once each, across lost replies, reruns and kills;
shipments of either go back to the Shopify order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.orders.mapping import sales_order_guid
from syncer.orders.split import split_sales_order_guid
from syncer.sandbox.common import Fault
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from tests.faultkit import wait_for

D = Decimal


@pytest.fixture
def boxes(sandbox_env: dict[str, str]) -> Iterator[Sandboxes]:
    with start_sandboxes(seed=1, orders=0) as started:
        started.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
        yield started


def config(boxes: Sandboxes, tmp_path: Path) -> Path:
    return boxes.write_config(
        tmp_path / "config.yaml",
        orders={"warehouse_by_location": True},
        state={"path": str(tmp_path / "syncer.db")},
    )


def sync(path: Path, job: str = "orders") -> Result:
    return CliRunner().invoke(cli, ["--config", str(path), "sync", job])


def split_order(boxes: Sandboxes) -> Any:
    """#1001: two units of one SKU from WEST, one of another from MAIN, and shipping."""
    skus = [v.sku for v in boxes.world.variants()]
    return boxes.shopify.add_order(
        [(skus[0], 2), (skus[1], 1)], line_locations=["WEST", "MAIN"], shipping=D("7.50")
    )


def sales_orders(boxes: Sandboxes) -> dict[str, dict[str, Any]]:
    return {str(o["OrderNumber"]): o for o in boxes.unleashed.sales_orders()}


def posts(boxes: Sandboxes) -> Counter[str]:
    return Counter(r.path for r in boxes.unleashed_server.requests("POST /SalesOrders/"))


def assert_split_once(boxes: Sandboxes, order: Any) -> None:
    shop = boxes.shopify_server.url.split("://", 1)[1]
    found = sales_orders(boxes)
    assert sorted(found) == ["SH-1001-MAIN", "SH-1001-WEST"]
    main, west = found["SH-1001-MAIN"], found["SH-1001-WEST"]
    assert main["Warehouse"]["WarehouseCode"] == "MAIN"
    assert west["Warehouse"]["WarehouseCode"] == "WEST"
    assert west["Guid"] == split_sales_order_guid(shop, order.id, "WEST")
    assert main["Guid"] == split_sales_order_guid(shop, order.id, "MAIN")
    assert main["CustomerRef"] == west["CustomerRef"] == "#1001"
    codes = [line["Product"]["ProductCode"] for line in west["SalesOrderLines"]]
    assert codes == [order.lines[0].sku]
    # MAIN is first in inventory.locations: it carries the shipping charge.
    assert [line.get("LineType") for line in main["SalesOrderLines"]] == [None, "Charge"]
    shopify_total = D(order.current_total_price_set["shopMoney"]["amount"])
    assert abs(D(str(main["Total"])) + D(str(west["Total"])) - shopify_total) <= D("0.03")


def test_split_order_becomes_two_sales_orders_once(boxes: Sandboxes, tmp_path: Path) -> None:
    order = split_order(boxes)
    path = config(boxes, tmp_path)

    result = sync(path)

    assert result.exit_code == 0, result.output
    assert_split_once(boxes, order)
    assert sync(path).exit_code == 0
    assert_split_once(boxes, order)
    assert sum(posts(boxes).values()) == 2


def test_report_item_names_every_sales_order(boxes: Sandboxes, tmp_path: Path) -> None:
    split_order(boxes)
    path = config(boxes, tmp_path)
    assert sync(path).exit_code == 0

    report = CliRunner().invoke(cli, ["--config", str(path), "report", "1", "--json"])

    assert report.exit_code == 0, report.output
    assert '"SH-1001-MAIN"' in report.output
    assert '"SH-1001-WEST"' in report.output


def test_lost_reply_on_the_second_post_still_two(boxes: Sandboxes, tmp_path: Path) -> None:
    order = split_order(boxes)
    shop = boxes.shopify_server.url.split("://", 1)[1]
    west = split_sales_order_guid(shop, order.id, "WEST")
    boxes.unleashed_server.faults.add(Fault("lost_reply", match=f"POST /SalesOrders/{west}"))
    path = config(boxes, tmp_path)

    result = sync(path)

    assert result.exit_code == 0, result.output
    assert ("lost_reply", f"POST /SalesOrders/{west}") in [
        (kind, desc.split("?")[0]) for kind, desc in boxes.unleashed_server.faults.injected
    ]
    assert_split_once(boxes, order)
    assert sync(path).exit_code == 0
    assert_split_once(boxes, order)
    # The lost reply was settled by looking the Guid up: each sales order was posted once.
    assert sorted(posts(boxes).values()) == [1, 1]
    assert any(path.endswith(west) for path in posts(boxes))


def test_one_location_keeps_one_sales_order_in_its_warehouse(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    skus = [v.sku for v in boxes.world.variants()]
    order = boxes.shopify.add_order([(skus[0], 1), (skus[1], 1)], location="WEST")
    path = config(boxes, tmp_path)

    assert sync(path).exit_code == 0

    found = sales_orders(boxes)
    assert list(found) == ["SH-1001"]
    shop = boxes.shopify_server.url.split("://", 1)[1]
    assert found["SH-1001"]["Guid"] == sales_order_guid(shop, order.id)
    assert found["SH-1001"]["Warehouse"]["WarehouseCode"] == "WEST"


def test_shipment_of_either_sales_order_fulfils_the_shopify_order(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    order = split_order(boxes)
    path = config(boxes, tmp_path)
    assert sync(path).exit_code == 0
    boxes.unleashed.ship_order("SH-1001-WEST", "TRK-W", "NZ Post")
    boxes.unleashed.ship_order("SH-1001-MAIN", "TRK-M", "NZ Post")

    result = sync(path, "fulfillments")

    assert result.exit_code == 0, result.output
    fulfilled = [f for f in boxes.shopify.fulfillments.values() if f.order is order]
    assert sorted(f.location.name for f in fulfilled) == ["Main warehouse", "West warehouse"]
    assert order.display_fulfillment_status == "FULFILLED"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("kill_on", [1, 2])
def test_sigkill_on_a_post_then_rerun_still_two(
    boxes: Sandboxes, tmp_path: Path, kill_on: int
) -> None:
    order = split_order(boxes)
    # Each sales order is held in the sandbox, so the kill lands while the POST is in flight.
    boxes.unleashed_server.faults.add(
        Fault("slow", match="POST /SalesOrders/", count=10**6, delay=0.2)
    )
    path = config(boxes, tmp_path)
    command = [sys.executable, "-m", "syncer", "--config", str(path), "sync", "orders"]
    env = {**os.environ, **SANDBOX_ENV}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    reached = wait_for(lambda: sum(posts(boxes).values()) >= kill_on, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert reached
    assert process.returncode == -signal.SIGKILL

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert final.returncode == 0, final.stdout + final.stderr
    assert_split_once(boxes, order)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert_split_once(boxes, order)


def test_pos_sale_sent_parked_lowers_the_level_until_unleashed_allocates_it(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    sku = boxes.world.variants()[0].sku
    boxes.unleashed.set_stock(sku, "MAIN", 20)
    path = config(boxes, tmp_path)
    order = boxes.shopify.add_order([(sku, 3)], location="MAIN", pos=True)
    assert order.display_fulfillment_status == "FULFILLED"  # handed over at the till
    assert sync(path).exit_code == 0
    assert sales_orders(boxes)["SH-1001"]["OrderStatus"] == "Parked"
    full = ["--config", str(path), "sync", "inventory", "--full"]

    parked = CliRunner().invoke(cli, full)

    assert parked.exit_code == 0, parked.output
    # Unleashed still says 20 available; the 3 sold at the till are off the shelf.
    assert boxes.shopify.quantities(sku, "MAIN")["available"] == 17

    boxes.unleashed.set_order_status(sales_orders(boxes)["SH-1001"]["Guid"], "Placed")
    placed = CliRunner().invoke(cli, full)

    assert placed.exit_code == 0, placed.output
    # Allocated: Unleashed's own figure now excludes the 3, and they are not taken twice.
    assert boxes.shopify.quantities(sku, "MAIN")["available"] == 17
