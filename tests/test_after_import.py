"""After import (issue 8): edits, cancellations and refunds of orders already sent, end to end.

A sent order is never sent again; what happens to it in Shopify afterwards is reported once
each (`conflict`, `cancelled`, `refund`), and with `refunds: credit_note` each refund becomes
exactly one free credit note in Unleashed, even across lost replies and reruns.
"""

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
from syncer.sandbox.common import Fault
from syncer.sandbox.runner import Sandboxes
from syncer.sandbox.shopify import Order

PLACED_AT = datetime(2026, 11, 20, tzinfo=UTC)


def sync(config: Path) -> Result:
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


def settle(boxes: Sandboxes) -> None:
    """Let the wall clock pass the sandbox's latest timestamp (a run reads up to its start)."""
    target = boxes.shopify.now()
    while datetime.now(UTC) < target + timedelta(seconds=1):
        time.sleep(0.05)


def sales_orders_for(boxes: Sandboxes, order: Order) -> list[dict[str, Any]]:
    return [o for o in boxes.unleashed.sales_orders() if o["CustomerRef"] == order.name]


@pytest.fixture(autouse=True)
def roomy_bucket(sandboxes: Sandboxes) -> None:
    """A big Shopify cost bucket: these tests are about orders, not throttling (covered by the
    client's tests), and each order page costs ~870 of the real 1,000 points."""
    sandboxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)


@pytest.fixture
def sent(sandboxes: Sandboxes) -> Order:
    """A paid three-line order with shipping, placed after every seed order."""
    skus = [v.sku for v in sandboxes.world.variants()]
    return sandboxes.shopify.add_order(
        [(skus[0], 3), (skus[4], 2), (skus[7], 1)],
        shipping=Decimal("7.50"),
        taxes_included=True,
        created_at=PLACED_AT,
    )


def config_for(boxes: Sandboxes, tmp_path: Path, refunds: str = "report") -> Path:
    return boxes.write_config(tmp_path / "config.yaml", orders={"refunds": refunds})


def first_sync(boxes: Sandboxes, config: Path, order: Order) -> None:
    result = sync(config)
    assert result.exit_code == 0, result.output
    assert len(sales_orders_for(boxes, order)) == 1


def test_an_edit_is_one_conflict_with_the_line_difference(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order
) -> None:
    config = config_for(sandboxes, tmp_path)
    first_sync(sandboxes, config, sent)
    edited_sku = sent.lines[0].sku
    sandboxes.shopify.edit_order(sent, {edited_sku: 1})
    settle(sandboxes)
    sandboxes.unleashed_server.clear_log()

    result = sync(config)

    assert result.exit_code == 0, result.output  # a conflict only reports
    [item] = last_items(config)
    assert (item["entity"], item["key"], item["action"]) == ("order", sent.name, "conflict")
    [line] = item["detail"]["lines"]
    assert (line["sku"], line["sent"], line["current"]) == (edited_sku, 3, 1)
    assert sandboxes.unleashed_server.requests("POST /SalesOrders/") == []
    assert len(sales_orders_for(sandboxes, sent)) == 1

    assert sync(config).exit_code == 0
    assert last_items(config) == []  # reported once


def test_a_cancellation_is_one_cancelled_item(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order
) -> None:
    config = config_for(sandboxes, tmp_path)
    first_sync(sandboxes, config, sent)
    sandboxes.shopify.cancel_order(sent)
    settle(sandboxes)

    assert sync(config).exit_code == 0

    assert [(i["key"], i["action"]) for i in last_items(config)] == [(sent.name, "cancelled")]
    assert sync(config).exit_code == 0
    assert last_items(config) == []
    assert len(sales_orders_for(sandboxes, sent)) == 1


def test_two_refunds_are_two_refund_items_and_no_conflict(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order
) -> None:
    config = config_for(sandboxes, tmp_path)
    first_sync(sandboxes, config, sent)
    sandboxes.shopify.add_refund(sent, {sent.lines[0].sku: 1})
    sandboxes.shopify.add_refund(sent, {sent.lines[1].sku: 2}, shipping=True)
    settle(sandboxes)

    assert sync(config).exit_code == 0

    items = last_items(config)
    assert [(i["entity"], i["action"]) for i in items] == [("refund", "refund")] * 2
    refunded = [[(line["sku"], line["quantity"]) for line in i["detail"]["lines"]] for i in items]
    assert refunded == [[(sent.lines[0].sku, 1)], [(sent.lines[1].sku, 2)]]
    assert items[1]["detail"]["shipping"] != []
    assert sandboxes.unleashed.credit_notes() == []  # refunds: report writes nothing

    assert sync(config).exit_code == 0
    assert last_items(config) == []


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("lost_reply", id="credit-applied-reply-lost"),
        pytest.param("drop", id="credit-dropped"),
    ],
)
def test_credit_notes_are_made_once_per_refund(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order, fault: str
) -> None:
    config = config_for(sandboxes, tmp_path, refunds="credit_note")
    first_sync(sandboxes, config, sent)
    first = sandboxes.shopify.add_refund(sent, {sent.lines[0].sku: 1})
    second = sandboxes.shopify.add_refund(sent, {sent.lines[1].sku: 1}, shipping=True)
    settle(sandboxes)
    sandboxes.unleashed_server.faults.add(
        Fault(fault, match="POST /CreditNotes/FreeCredit", count=1)
    )

    sync(config)  # a dropped POST fails that refund (exit 1); a lost reply is resolved now
    sync(config)
    rerun = sync(config)

    assert rerun.exit_code == 0, rerun.output
    notes = sandboxes.unleashed.credit_notes()
    assert len(notes) == 2
    references = sorted(n["CustomerRef"] for n in notes)
    assert references == sorted(
        f"{sent.name} refund {r.id.rsplit('/', 1)[-1]}" for r in (first, second)
    )
    customer = sales_orders_for(sandboxes, sent)[0]["Customer"]["CustomerCode"]
    assert {n["Customer"]["CustomerCode"] for n in notes} == {customer}
    shipping_credit = [n for n in notes if str(second.id.rsplit("/", 1)[-1]) in n["CustomerRef"]]
    assert any(line.get("LineType") == "Charge" for line in shipping_credit[0]["CreditLines"])
    assert len(sandboxes.unleashed_server.requests("POST /CreditNotes/FreeCredit")) == 2 + (
        fault == "drop"
    )


def test_a_failed_credit_note_is_retried_after_the_cursor_moved_on(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order
) -> None:
    config = config_for(sandboxes, tmp_path, refunds="credit_note")
    first_sync(sandboxes, config, sent)
    refunded_at = datetime.now(UTC) - timedelta(hours=1)  # outside the next window's overlap
    sandboxes.shopify.add_refund(sent, {sent.lines[0].sku: 1}, at=refunded_at)
    sandboxes.shopify.add_refund(sent, {sent.lines[2].sku: 1}, at=refunded_at)
    # The refunds are older than the cursor: re-read them with --since, failing one POST.
    sandboxes.unleashed_server.faults.add(
        Fault("status", match="POST /CreditNotes/FreeCredit", count=1, status=400)
    )
    failed = CliRunner().invoke(
        cli,
        ["--config", str(config), "sync", "orders", "--since", refunded_at.isoformat()],
    )
    assert failed.exit_code == 1, failed.output
    assert len(sandboxes.unleashed.credit_notes()) == 1

    retried = sync(config)  # the order's last change is now far behind the cursor

    assert retried.exit_code == 0, retried.output
    assert len(sandboxes.unleashed.credit_notes()) == 2
    assert [(i["entity"], i["action"]) for i in last_items(config)] == [("refund", "refund")]


def test_status_counts_the_events(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, sent: Order
) -> None:
    config = config_for(sandboxes, tmp_path)
    skus = [v.sku for v in sandboxes.world.variants()]
    other = sandboxes.shopify.add_order([(skus[2], 2)], created_at=PLACED_AT)
    first_sync(sandboxes, config, sent)
    sandboxes.shopify.add_refund(sent, {sent.lines[0].sku: 1})
    sandboxes.shopify.add_refund(sent, {sent.lines[1].sku: 1})
    sandboxes.shopify.edit_order(sent, {sent.lines[2].sku: 3})
    sandboxes.shopify.cancel_order(other)
    settle(sandboxes)

    assert sync(config).exit_code == 0
    assert sync(config).exit_code == 0  # nothing is counted twice

    result = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["events"] == {"refund": 2, "conflict": 1, "cancelled": 1}


@pytest.mark.parametrize(
    ("taxes_included", "shipping"),
    [
        pytest.param(True, False, id="incl-tax-lines"),
        pytest.param(False, False, id="excl-tax-lines"),
        pytest.param(True, True, id="incl-tax-with-shipping"),
        pytest.param(False, True, id="excl-tax-with-shipping"),
    ],
)
def test_a_credit_note_totals_what_shopify_refunded(
    sandboxes: Sandboxes,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    taxes_included: bool,
    shipping: bool,
) -> None:
    config = config_for(sandboxes, tmp_path, refunds="credit_note")
    skus = [v.sku for v in sandboxes.world.variants()]
    order = sandboxes.shopify.add_order(
        [(skus[1], 2), (skus[5], 1)],
        shipping=Decimal("9.95"),
        taxes_included=taxes_included,
        discount_rate=Decimal("0.10"),
        created_at=PLACED_AT,
    )
    first_sync(sandboxes, config, order)
    refund = sandboxes.shopify.add_refund(order, {skus[1]: 1}, shipping=shipping)
    settle(sandboxes)

    assert sync(config).exit_code == 0

    [note] = sandboxes.unleashed.credit_notes()
    refunded = refund.total_refunded_set["shopMoney"]["amount"]
    assert abs(Decimal(str(note["Total"])) - refunded) <= Decimal("0.01")
