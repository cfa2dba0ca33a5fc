"""Several shops on one Unleashed account, end to end: two Shopify sandboxes (an NZD shop
`nz` and an AUD shop `au` with the same SKUs, colliding order numbers and gids) and one
Unleashed sandbox, driven through the command line over real sockets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.sandbox.common import Fault, Recorded
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from tests.faultkit import wait_for

PLACED = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def two_shops(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandboxes]:
    """Two Shopify sandboxes and one Unleashed sandbox, seeded; stopped afterwards."""
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    boxes = start_sandboxes(seed=3, orders=8, shops=2)
    for _, shop, _ in boxes.shops:
        shop.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
    try:
        yield boxes
    finally:
        boxes.stop()


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def shop(boxes: Sandboxes, name: str) -> Any:
    return next(box for shop_name, box, _ in boxes.shops if shop_name == name)


def sent_orders(boxes: Sandboxes) -> Counter[str]:
    return Counter(str(o["OrderNumber"]) for o in boxes.unleashed.sales_orders())


def paid_numbers(box: Any, prefix: str) -> set[str]:
    """The OrderNumbers the shop's sendable orders must get (paid, not cancelled or test)."""
    return {
        f"{prefix}{order.number}"
        for order in box.orders.values()
        if order.financial_status == "PAID" and order.cancelled_at is None and not order.test
    }


def runs(config: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(str(config.parent / "syncer.db"))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def test_orders_from_both_shops_arrive_once_under_their_own_prefixes(
    two_shops: Sandboxes, tmp_path: Path
) -> None:
    config = two_shops.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
    first = run(config, "sync", "orders")
    second = run(config, "sync", "orders")

    assert first.exit_code in (0, 1), first.output
    assert second.exit_code == first.exit_code, second.output
    wanted = paid_numbers(shop(two_shops, "nz"), "NZ-") | paid_numbers(shop(two_shops, "au"), "AU-")
    sent = sent_orders(two_shops)
    assert set(sent) == wanted
    assert set(sent.values()) == {1}
    assert [(r["job"], r["shop"]) for r in runs(config)] == [
        ("orders", "nz"),
        ("orders", "au"),
        ("orders", "nz"),
        ("orders", "au"),
    ]


def state_rows(config: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(str(config.parent / "syncer.db"))
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def test_colliding_order_gids_keep_separate_links_and_cursors(
    two_shops: Sandboxes, tmp_path: Path
) -> None:
    config = two_shops.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
    run(config, "sync", "orders")

    links = state_rows(config, "SELECT kind, key, remote_id FROM links WHERE kind LIKE '%order'")
    nz = {key: guid for kind, key, guid in links if kind == "nz/order"}
    au = {key: guid for kind, key, guid in links if kind == "au/order"}
    shared = set(nz) & set(au)
    assert shared, "the two sandboxes number their order gids alike"
    assert all(nz[gid] != au[gid] for gid in shared)  # each shop's order its own sales order
    cursors = dict(state_rows(config, "SELECT job, value FROM cursors"))
    assert set(cursors) == {"nz/orders", "au/orders"}


def test_shop_option_touches_only_that_shop(two_shops: Sandboxes, tmp_path: Path) -> None:
    config = two_shops.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
    result = run(config, "sync", "orders", "--shop", "au")

    assert result.exit_code in (0, 1), result.output
    sent = sent_orders(two_shops)
    assert sent
    assert all(number.startswith("AU-") for number in sent)
    assert set(sent) == paid_numbers(shop(two_shops, "au"), "AU-")
    assert [(r["job"], r["shop"]) for r in runs(config)] == [("orders", "au")]
    assert not state_rows(config, "SELECT * FROM cursors WHERE job LIKE 'nz/%'")

    run(config, "sync", "orders", "--shop", "nz")
    report = run(config, "report", "--shop", "au", "--json")
    assert report.exit_code == 0
    assert {r["shop"] for r in json.loads(report.stdout)["runs"]} == {"au"}


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "orders", "--shop", "uk"],
        ["sync", "all", "--shop", "uk"],
        ["sync", "inventory", "--dry-run", "--shop", "uk"],
        ["report", "--shop", "uk"],
        ["status", "--shop", "uk"],
        ["status", "--check", "--shop", "uk"],
    ],
)
def test_unknown_shop_exits_2_listing_the_shops(
    two_shops: Sandboxes, tmp_path: Path, args: list[str]
) -> None:
    config = two_shops.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
    result = run(config, *args)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: no shop named 'uk' in the config; its shops are: nz, au"
    ]
    assert not two_shops.unleashed.sales_orders()


def test_a_single_shop_state_file_keeps_its_keys(
    sandboxes: Sandboxes, tmp_path: Path, sandbox_env: dict[str, str]
) -> None:
    """With one `shopify:` section every state key is what it always was, so a state file
    written before `shops:` existed goes on working: same cursor, same links, no resend."""
    config = sandboxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
    first = run(config, "sync", "orders")
    assert first.exit_code in (0, 1), first.output
    count = len(sandboxes.unleashed.sales_orders())
    # What an older syncer left: runs without a shop.
    conn = sqlite3.connect(str(tmp_path / "syncer.db"))
    with conn:
        conn.execute("UPDATE runs SET shop = NULL")
    conn.close()
    kinds = {kind for (kind,) in state_rows(config, "SELECT DISTINCT kind FROM links")}
    assert "order" in kinds
    assert not any("/" in kind for kind in kinds)
    assert [job for (job,) in state_rows(config, "SELECT job FROM cursors")] == ["orders"]

    skus = [v.sku for v in sandboxes.world.variants()]
    sandboxes.shopify.add_order([(skus[0], 1)], email="late@example.com")
    second = run(config, "sync", "orders")

    assert second.exit_code in (0, 1), second.output
    assert len(sandboxes.unleashed.sales_orders()) == count + 1
    assert Counter(
        Counter(o["OrderNumber"] for o in sandboxes.unleashed.sales_orders()).values()
    ) == Counter({1: count + 1})
    shops = [shop for (shop,) in state_rows(config, "SELECT shop FROM runs ORDER BY id")]
    assert shops == [None, sandboxes.shopify_server.url.split("://", 1)[1]]
    assert [job for (job,) in state_rows(config, "SELECT job FROM cursors")] == ["orders"]


def test_config_errors_of_several_shops_exit_2_naming_the_key(
    two_shops: Sandboxes, tmp_path: Path
) -> None:
    """Each error is reported with its key path, and nothing is sent."""
    data = two_shops.shops_config(state_path="syncer.db")
    both = {**data, "shopify": data["shops"]["nz"]["shopify"]}
    same_prefix = json.loads(json.dumps(data))
    same_prefix["shops"]["au"]["orders"]["order_number_prefix"] = "NZ-"
    shopify_master = {**data, "master": "shopify"}
    cases = {
        "shopify": both,
        "shops.au.orders.order_number_prefix": same_prefix,
        "master": shopify_master,
    }
    for key, case in cases.items():
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
        result = run(path, "sync", "orders")
        assert result.exit_code == 2, (key, result.output)
        assert any(line.strip().startswith(f"- {key}: ") for line in result.stderr.splitlines()), (
            key,
            result.stderr,
        )
    assert not two_shops.unleashed.sales_orders()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_then_rerun_sends_each_shops_orders_once(tmp_path: Path) -> None:
    """A real subprocess is killed while a sales order is in flight, at the k-th
    `POST /SalesOrders` the Unleashed sandbox logs (in the first shop's run, then in the
    second's), and run again to completion: every order of both shops exists exactly once."""
    per_shop = 6
    with start_sandboxes(seed=4, orders=0, shops=2) as boxes:
        placed = datetime(2026, 11, 20, tzinfo=UTC)
        skus = [v.sku for v in boxes.world.variants()]
        for _, box, _ in boxes.shops:
            box.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
            for i in range(per_shop):
                box.add_order(
                    [(skus[i % len(skus)], 1 + i % 2)],
                    email=f"buyer{i}@example.com",
                    created_at=placed + timedelta(minutes=i),
                )
        boxes.unleashed_server.faults.add(
            Fault("slow", match="POST /SalesOrders/", count=10**6, delay=0.05)
        )
        config = boxes.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
        command = [sys.executable, "-m", "syncer", "--config", str(config), "sync", "orders"]
        env = {**os.environ, **SANDBOX_ENV}
        # The 3rd POST is in nz's run; after it, nz's rest and then au's: the 9th is in au's.
        for target in (3, 9):
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            reached = wait_for(lambda target=target: len(posted(boxes)) >= target, process)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert reached, f"the run ended before POST #{target}"
            assert process.returncode == -signal.SIGKILL

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

        assert final.returncode == 0, final.stdout + final.stderr
        numbers = Counter(str(o["OrderNumber"]) for o in boxes.unleashed.sales_orders())
        wanted = {f"{p}{1001 + i}" for p in ("NZ-", "AU-") for i in range(per_shop)}
        assert numbers == Counter({number: 1 for number in wanted})
        assert len({r.path for r in posted(boxes)}) == 2 * per_shop  # no other Guid posted


def posted(boxes: Sandboxes) -> list[Recorded]:
    return boxes.unleashed_server.requests("POST /SalesOrders/")


def test_product_groups_limit_what_each_shop_gets(two_shops: Sandboxes, tmp_path: Path) -> None:
    """nz takes only Apparel, au only Homeware: a new product goes to the shop of its group
    only, and an edit in Unleashed reaches only the shop whose groups hold the product."""
    unleashed = two_shops.unleashed
    for code, title, group in (
        ("NEW-TEE", "New Tee", "Apparel"),
        ("NEW-MUG", "New Mug", "Homeware"),
    ):
        unleashed.add_product(code, title, DefaultSellPrice=20)
        unleashed.update_product(code, ProductGroup=group)
    nz, au = shop(two_shops, "nz"), shop(two_shops, "au")
    homeware = next(
        p
        for p in two_shops.world.products
        if p.product_type == "Homeware"
        and len(p.variants) == 1
        and all(p.variants[0].sku in box.by_sku for box in (nz, au))
    )
    sku = homeware.variants[0].sku
    title = nz.variant_for(sku).product.title
    unleashed.update_product(sku, ProductDescription="Renamed in Unleashed")
    config = two_shops.write_shops_config(
        tmp_path / "config.yaml",
        shops={
            "nz": {"products": {"groups": ["Apparel"]}},
            "au": {"products": {"groups": ["Homeware"]}},
        },
        state={"path": "syncer.db"},
    )

    result = run(config, "sync", "products")

    assert result.exit_code in (0, 1), result.output
    assert "NEW-TEE" in nz.by_sku, result.output
    assert "NEW-MUG" not in nz.by_sku
    assert "NEW-MUG" in au.by_sku
    assert "NEW-TEE" not in au.by_sku
    assert au.variant_for(sku).product.title == "Renamed in Unleashed"
    assert nz.variant_for(sku).product.title == title
    links = state_rows(config, "SELECT kind, key FROM links WHERE kind LIKE '%/product'")
    assert ("nz/product", sku) not in links
    assert ("au/product", sku) in links


def shared_stock_boxes(boxes: Sandboxes) -> str:
    """A single-variant SKU stocked in both shops, 20 on hand in Unleashed's MAIN."""
    sku = next(
        p.variants[0].sku
        for p in boxes.world.products
        if len(p.variants) == 1
        and all(p.variants[0].sku in box.by_sku for _, box, _ in boxes.shops)
    )
    boxes.unleashed.set_stock(sku, "MAIN", 20)
    return sku


def test_a_held_order_in_one_shop_lowers_the_shared_warehouse_in_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """au holds an order of 3 units from its Main location; MAIN feeds Main in both shops,
    so both show 20 - 3, less each shop's own buffer (au keeps 2 back, nz none)."""
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    with start_sandboxes(seed=5, orders=0, shops=2) as boxes:
        nz, au = shop(boxes, "nz"), shop(boxes, "au")
        sku = shared_stock_boxes(boxes)
        order = au.add_order(
            [(sku, 3)], email="held@example.com", location="MAIN", created_at=PLACED
        )
        au.add_custom_line(order, "Engraving", Decimal("5.00"))  # no SKU: the order is held
        order.updated_at = PLACED  # the sandbox's clock may run a second ahead of the run's
        config = boxes.write_shops_config(
            tmp_path / "config.yaml",
            shops={"au": {"inventory": {"buffer": 2}}},
            state={"path": "syncer.db"},
        )

        orders = run(config, "sync", "orders")
        assert orders.exit_code == 1, orders.output  # au's order is held
        assert not boxes.unleashed.sales_orders()
        inventory = run(config, "sync", "inventory")

        assert inventory.exit_code == 0, inventory.output
        assert nz.quantities(sku, "MAIN")["available"] == 17
        assert au.quantities(sku, "MAIN")["available"] == 15


def test_inventory_for_one_shop_reads_the_others_orders_but_writes_only_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    with start_sandboxes(seed=6, orders=0, shops=2) as boxes:
        nz, au = shop(boxes, "nz"), shop(boxes, "au")
        sku = shared_stock_boxes(boxes)
        au.add_order(
            [(sku, 4)], financial_status="PENDING", email="open@example.com", created_at=PLACED
        )
        before = au.quantities(sku, "MAIN")["available"]
        config = boxes.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})

        result = run(config, "sync", "inventory", "--shop", "nz")

        assert result.exit_code == 0, result.output
        assert nz.quantities(sku, "MAIN")["available"] == 16  # au's unpaid order is in flight
        assert au.quantities(sku, "MAIN")["available"] == before
        assert not [w for w in au.writes if "inventorySetQuantities" in str(w)]
        assert [(r["job"], r["shop"]) for r in runs(config)] == [("inventory", "nz")]


def test_shipments_go_back_to_the_shop_whose_order_was_shipped(tmp_path: Path) -> None:
    """Order #1001 exists in both shops; Unleashed ships NZ-1001 and AU-1002. Each shop's
    fulfilments run fulfils only its own order, with the shipment's tracking number."""
    env = dict(SANDBOX_ENV)
    with start_sandboxes(seed=7, orders=0, shops=2) as boxes, pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        skus = [v.sku for v in boxes.world.variants()]
        for _, box, _ in boxes.shops:
            for i in range(2):
                box.add_order([(skus[i], 1)], email=f"ship{i}@example.com", created_at=PLACED)
        config = boxes.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
        assert run(config, "sync", "orders").exit_code == 0
        boxes.unleashed.ship_order("NZ-1001", tracking_number="NZTRACK", shipping_company="NZ Post")
        boxes.unleashed.ship_order("AU-1002", tracking_number="AUTRACK", shipping_company="NZ Post")

        result = run(config, "sync", "fulfillments")

        assert result.exit_code == 0, result.output
        nz, au = shop(boxes, "nz"), shop(boxes, "au")
        fulfilled = {
            (name, order.number): [t.get("number") for f in order.fulfillments for t in f.tracking]
            for name, box in (("nz", nz), ("au", au))
            for order in box.orders.values()
        }
        assert fulfilled == {
            ("nz", 1001): ["NZTRACK"],
            ("nz", 1002): [],
            ("au", 1001): [],
            ("au", 1002): ["AUTRACK"],
        }


def test_check_covers_each_shop_and_warns_of_shared_warehouses(
    two_shops: Sandboxes, tmp_path: Path
) -> None:
    config = two_shops.write_shops_config(tmp_path / "config.yaml", state={"path": "syncer.db"})

    result = run(config, "check")

    lines = result.stdout.splitlines()
    for name, currency in (("nz", "NZD"), ("au", "AUD")):
        assert any(f"{name}: shopify: " in line for line in lines), result.stdout
        assert any(
            f"{name}: orders.currency: shop currency {currency}" in line for line in lines
        ), result.stdout
        assert any(f"{name}: inventory.locations" in line for line in lines), result.stdout
    shared = [line for line in lines if "feeds 2 shops" in line]
    assert len(shared) == 2  # MAIN and WEST both feed nz and au
    assert "lowers what every one of them shows for MAIN" in " ".join(result.stdout.split())
