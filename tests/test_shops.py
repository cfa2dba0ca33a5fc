"""Several shops on one Unleashed account, end to end: two Shopify sandboxes (an NZD shop
`nz` and an AUD shop `au` with the same SKUs, colliding order numbers and gids) and one
Unleashed sandbox, driven through the command line over real sockets."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer.cli import cli
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes


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
