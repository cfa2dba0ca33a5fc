"""`sync orders` end to end over real sockets: the CLI against both sandboxes (issue 4).

Each test drives `syncer sync orders` with click's CliRunner and then inspects what the
Unleashed sandbox holds and what the sandboxes' request logs saw.
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
from syncer.connectors.unleashed import UnleashedClient
from syncer.http import CallCounter, Redactor
from syncer.orders import job as orders_job
from syncer.orders.mapping import customer_code_for
from syncer.sandbox.common import Fault
from syncer.sandbox.runner import Sandboxes, start_sandboxes
from syncer.store import Store

SALES_ORDER_POST = "POST /SalesOrders/"


def sync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "sync", "orders", *args])


def status(config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def last_items(config: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The last run row and its items, read the way a person would (`report --json`)."""
    runner = CliRunner()
    runs = json.loads(runner.invoke(cli, ["--config", str(config), "report", "--json"]).output)
    run_id = max(run["id"] for run in runs["runs"])
    data = json.loads(
        runner.invoke(cli, ["--config", str(config), "report", str(run_id), "--json"]).output
    )
    return data["run"], data["items"]


def settle(boxes: Sandboxes) -> None:
    """Wait until the wall clock has passed every Shopify timestamp handed out: the sandbox
    stamps quick successive changes a second apart, which can run ahead of real time, and a
    run reads only up to its own start time."""
    target = boxes.shopify.now()
    while datetime.now(UTC) < target + timedelta(seconds=1):
        time.sleep(0.05)


def selected_names(boxes: Sandboxes) -> set[str]:
    """Orders the SPEC says are sent: paid, not cancelled, not test."""
    return {
        order.name
        for order in boxes.shopify.orders.values()
        if order.financial_status == "PAID" and order.cancelled_at is None and not order.test
    }


def sales_orders_by_ref(boxes: Sandboxes) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for order in boxes.unleashed.sales_orders():
        found.setdefault(str(order["CustomerRef"]), []).append(order)
    return found


def unleashed_client(boxes: Sandboxes) -> UnleashedClient:
    from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY

    return UnleashedClient(
        boxes.unleashed_server.url,
        DEFAULT_API_ID,
        DEFAULT_API_KEY,
        "sandbox/tests",
        counter=CallCounter(),
        redactor=Redactor([]),
    )


@pytest.fixture(autouse=True)
def roomy_bucket(sandboxes: Sandboxes) -> None:
    """A big Shopify cost bucket: these tests are about orders, not throttling (covered by the
    client's tests), and each order page costs ~870 of the real 1,000 points."""
    sandboxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)


@pytest.fixture
def config(sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path) -> Path:
    return sandboxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})


# -- selection, idempotence, money ------------------------------------------------------------


def test_only_paid_orders_are_sent_once_and_a_rerun_creates_nothing(
    sandboxes: Sandboxes, config: Path
) -> None:
    statuses = {o.financial_status for o in sandboxes.shopify.orders.values()}
    assert {"PENDING", "AUTHORIZED", "PARTIALLY_REFUNDED"} <= statuses  # the seed has them all
    assert any(o.test for o in sandboxes.shopify.orders.values())
    assert any(o.cancelled_at for o in sandboxes.shopify.orders.values())
    wanted = selected_names(sandboxes)

    first = sync(config)

    assert first.exit_code == 0, first.output
    created = sales_orders_by_ref(sandboxes)
    assert set(created) == wanted
    assert all(len(orders) == 1 for orders in created.values())
    run, items = last_items(config)
    assert {(i["entity"], i["key"], i["action"]) for i in items} == {
        ("order", name, "create") for name in wanted
    }
    assert run["created"] == len(wanted)
    assert run["dry_run"] == 0

    sandboxes.unleashed_server.clear_log()
    second = sync(config)

    assert second.exit_code == 0, second.output
    assert sandboxes.unleashed_server.requests(SALES_ORDER_POST) == []
    assert sales_orders_by_ref(sandboxes) == created
    assert last_items(config)[1] == []


@pytest.mark.parametrize(
    ("taxes_included", "discount", "shipping"),
    [
        pytest.param(True, Decimal("0.10"), Decimal("7.50"), id="incl-tax-discount-shipping"),
        pytest.param(True, Decimal("0.15"), Decimal("9.95"), id="incl-tax-odd-discount"),
        pytest.param(False, Decimal("0.10"), Decimal("7.50"), id="excl-tax-discount-shipping"),
        pytest.param(True, Decimal(0), Decimal(0), id="incl-tax-plain"),
    ],
)
def test_totals_pass_unleashed_validation_and_match_shopify(
    sandboxes: Sandboxes,
    config: Path,
    taxes_included: bool,
    discount: Decimal,
    shipping: Decimal,
) -> None:
    skus = [v.sku for v in sandboxes.world.variants()]
    order = sandboxes.shopify.add_order(
        [(skus[0], 3), (skus[4], 1), (skus[7], 2)],
        taxes_included=taxes_included,
        discount_rate=discount,
        shipping=shipping,
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
    )

    result = sync(config)

    assert result.exit_code == 0, result.output
    [sales_order] = sales_orders_by_ref(sandboxes)[order.name]
    shopify_total = order.current_total_price_set["shopMoney"]["amount"]
    assert abs(Decimal(str(sales_order["Total"])) - shopify_total) <= Decimal("0.01")
    lines = sales_order["SalesOrderLines"]
    assert len(lines) == 3 + (1 if shipping else 0)
    _, items = last_items(config)
    [item] = [i for i in items if i["key"] == order.name]
    assert Decimal(item["detail"]["shopify_total"]) == shopify_total


@pytest.mark.parametrize(
    ("mode", "expect"),
    [
        pytest.param("charge", {"LineType": "Charge"}, id="charge-line"),
        pytest.param("product", {"ProductCode": "SHIPPING"}, id="product-line"),
    ],
)
def test_shipping_modes(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path, mode: str, expect: Any
) -> None:
    config = sandboxes.write_config(
        tmp_path / "config.yaml",
        orders={"shipping": {"mode": mode, "product_code": "SHIPPING"}},
    )
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order(
        [(sku, 1)], shipping=Decimal("7.50"), created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )

    assert sync(config).exit_code == 0

    [sales_order] = sales_orders_by_ref(sandboxes)[order.name]
    shipping_line = sales_order["SalesOrderLines"][-1]
    if mode == "charge":
        assert shipping_line.get("LineType") == "Charge"
    else:
        assert shipping_line["Product"]["ProductCode"] == "SHIPPING"
        assert shipping_line.get("LineType") in (None, "")


def test_shipping_product_missing_from_unleashed_holds_the_order(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = sandboxes.write_config(
        tmp_path / "config.yaml",
        orders={"shipping": {"mode": "product", "product_code": "FREIGHT"}},
    )
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order(
        [(sku, 1)], shipping=Decimal("7.50"), created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )

    result = sync(config)

    assert result.exit_code == 1
    _, items = last_items(config)
    [item] = [i for i in items if i["key"] == order.name]
    assert item["action"] == "hold"
    assert "FREIGHT" in item["error"]


# -- held orders ------------------------------------------------------------------------------


def test_unknown_sku_holds_until_the_product_appears(sandboxes: Sandboxes, config: Path) -> None:
    known = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order(
        [(known, 1), ("NEW-SKU-77", 2)], created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )

    first = sync(config)

    assert first.exit_code == 1
    _, items = last_items(config)
    [held] = [i for i in items if i["key"] == order.name]
    assert held["action"] == "hold"
    assert "NEW-SKU-77" in held["error"]
    assert order.name not in sales_orders_by_ref(sandboxes)
    pending = status(config)["pending"]
    assert [(p["job"], p["action"]) for p in pending] == [("orders", "hold")]
    assert "NEW-SKU-77" in pending[0]["reason"]
    assert status(config)["jobs"]["orders"]["held"] == 1

    again = sync(config)  # the cursor has moved past the order: it is retried anyway

    assert again.exit_code == 1
    assert [i["action"] for i in last_items(config)[1]] == ["hold"]

    sandboxes.unleashed.add_product("NEW-SKU-77", "New thing")
    third = sync(config)

    assert third.exit_code == 0, third.output
    assert len(sales_orders_by_ref(sandboxes)[order.name]) == 1
    assert status(config)["pending"] == []
    assert [(i["key"], i["action"]) for i in last_items(config)[1]] == [(order.name, "create")]


# -- lost replies and customers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("lost_reply", id="applied-reply-lost"),
        pytest.param("drop", id="dropped-before-applied"),
    ],
)
def test_an_ambiguous_post_leaves_exactly_one_sales_order(
    sandboxes: Sandboxes, config: Path, kind: str
) -> None:
    sandboxes.unleashed_server.faults.add(Fault(kind, match=SALES_ORDER_POST, count=1))

    result = sync(config)

    assert result.exit_code == 0, result.output
    assert sandboxes.unleashed_server.faults.injected[0][0] == kind
    created = sales_orders_by_ref(sandboxes)
    assert set(created) == selected_names(sandboxes)
    assert all(len(orders) == 1 for orders in created.values())
    assert sync(config).exit_code == 0
    assert sales_orders_by_ref(sandboxes) == created


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("lost_reply", id="applied-reply-lost"),
        pytest.param("drop", id="dropped-before-applied"),
    ],
)
def test_an_ambiguous_customer_create_makes_one_customer(
    sandboxes: Sandboxes, config: Path, kind: str
) -> None:
    sku = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order(
        [(sku, 1)], email="new.person@example.org", created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    sandboxes.unleashed_server.faults.add(Fault(kind, match="POST /Customers/", count=1))

    result = sync(config)

    assert result.exit_code == 0, result.output
    assert sandboxes.unleashed_server.faults.injected[0][0] == kind
    matching = [c for c in sandboxes.unleashed.customers() if c["Email"] == order.email]
    assert len(matching) == 1
    [sales_order] = sales_orders_by_ref(sandboxes)[order.name]
    assert sales_order["Customer"]["CustomerCode"] == matching[0]["CustomerCode"]


def test_per_email_matches_the_exact_email_not_a_prefix(sandboxes: Sandboxes, config: Path) -> None:
    client = unleashed_client(sandboxes)
    client.create_customer(
        "0b6f6a3e-1f41-4a6e-9a43-5e0b3f0b9a01",
        {
            "CustomerCode": "ANN-AU",
            "CustomerName": "Ann (Australia)",
            "Email": "ann@example.com.au",
            "Currency": {"CurrencyCode": "NZD"},
        },
    )
    client.create_customer(
        "0b6f6a3e-1f41-4a6e-9a43-5e0b3f0b9a02",
        {
            "CustomerCode": "BOB",
            "CustomerName": "Bob",
            "Email": "Bob@Example.com",
            "Currency": {"CurrencyCode": "NZD"},
        },
    )
    sku = sandboxes.world.variants()[0].sku
    at = datetime(2026, 11, 20, tzinfo=UTC)
    ann = sandboxes.shopify.add_order([(sku, 1)], email="ann@example.com", created_at=at)
    bob = sandboxes.shopify.add_order([(sku, 1)], email="bob@example.com", created_at=at)
    no_email = sandboxes.shopify.add_order([(sku, 1)], email=None, created_at=at)

    assert sync(config).exit_code == 0

    orders = sales_orders_by_ref(sandboxes)
    ann_code = orders[ann.name][0]["Customer"]["CustomerCode"]
    assert ann_code == customer_code_for("ann@example.com") != "ANN-AU"
    [ann_customer] = [c for c in sandboxes.unleashed.customers() if c["CustomerCode"] == ann_code]
    assert ann_customer["Email"] == "ann@example.com"
    assert orders[bob.name][0]["Customer"]["CustomerCode"] == "BOB"
    assert orders[no_email.name][0]["Customer"]["CustomerCode"] == "SHOPIFY"


def test_single_customer_mode_uses_one_code_and_creates_no_customer(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = sandboxes.write_config(
        tmp_path / "config.yaml", orders={"customer": {"mode": "single", "code": "SHOPIFY"}}
    )
    before = len(sandboxes.unleashed.customers())

    assert sync(config).exit_code == 0

    codes = {o["Customer"]["CustomerCode"] for o in sandboxes.unleashed.sales_orders()}
    assert codes == {"SHOPIFY"}
    assert len(sandboxes.unleashed.customers()) == before
    assert sandboxes.unleashed_server.requests("/Customers") == []


# -- dry run, --since, --limit ----------------------------------------------------------------


def test_dry_run_writes_nothing_and_moves_no_cursor(sandboxes: Sandboxes, config: Path) -> None:
    result = sync(config, "--dry-run")

    assert result.exit_code == 0, result.output
    writes = [r for r in sandboxes.unleashed_server.log if r.method != "GET"]
    assert writes == []
    assert sandboxes.unleashed.sales_orders() == []
    run, items = last_items(config)
    assert run["dry_run"] == 1
    assert status(config)["jobs"]["orders"]["cursor"] is None
    assert {i["key"] for i in items if i["action"] == "create"} == selected_names(sandboxes)
    for name in sorted(selected_names(sandboxes))[:3]:
        assert name in result.output  # the plan table names each order

    assert sync(config).exit_code == 0  # the real run afterwards sends everything
    assert set(sales_orders_by_ref(sandboxes)) == selected_names(sandboxes)


def test_limit_caps_orders_and_moves_the_cursor_only_to_the_last_handled(
    sandboxes: Sandboxes, config: Path
) -> None:
    ordered = sorted(sandboxes.shopify.orders.values(), key=lambda o: (o.updated_at, o.id))

    first = sync(config, "--limit", "5")

    assert first.exit_code == 0, first.output
    handled = ordered[:5]
    assert len(sandboxes.unleashed_server.requests(SALES_ORDER_POST)) == len(
        [o for o in handled if o.name in selected_names(sandboxes)]
    )
    assert set(sales_orders_by_ref(sandboxes)) == {
        o.name for o in handled if o.name in selected_names(sandboxes)
    }
    cursor = status(config)["jobs"]["orders"]["cursor"]
    assert cursor == handled[-1].updated_at.isoformat().replace("+00:00", "Z")

    assert sync(config).exit_code == 0

    assert set(sales_orders_by_ref(sandboxes)) == selected_names(sandboxes)
    assert all(len(v) == 1 for v in sales_orders_by_ref(sandboxes).values())


def test_since_reads_from_the_given_time(sandboxes: Sandboxes, config: Path) -> None:
    since = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)
    later = {
        n for n in selected_names(sandboxes) if sandboxes.shopify.find_order(n).updated_at >= since
    }
    assert 0 < len(later) < len(selected_names(sandboxes))

    assert sync(config, "--since", "2026-11-01T01:30:00Z").exit_code == 0

    assert set(sales_orders_by_ref(sandboxes)) == later


def test_since_later_than_the_cursor_does_not_skip_the_gap(
    sandboxes: Sandboxes, config: Path
) -> None:
    assert sync(config, "--limit", "3").exit_code == 0
    cursor = status(config)["jobs"]["orders"]["cursor"]

    assert sync(config, "--since", "2026-11-01T02:00:00Z").exit_code == 0

    assert status(config)["jobs"]["orders"]["cursor"] == cursor
    assert sync(config).exit_code == 0
    assert set(sales_orders_by_ref(sandboxes)) == selected_names(sandboxes)


def test_orders_start_leaves_older_orders_alone(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = sandboxes.write_config(
        tmp_path / "config.yaml", orders={"start": "2026-11-01T01:30:00Z"}
    )
    start = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)

    assert sync(config).exit_code == 0

    assert set(sales_orders_by_ref(sandboxes)) == {
        n for n in selected_names(sandboxes) if sandboxes.shopify.find_order(n).updated_at >= start
    }


# -- chunks, look-up cost ----------------------------------------------------------------------


def test_small_chunks_send_every_order_once_and_scan_the_catalogue_at_most_once(
    sandboxes: Sandboxes, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_job, "CHUNK", 3)
    newest = max(o.updated_at for o in sandboxes.shopify.orders.values())

    result = sync(config)

    assert result.exit_code == 0, result.output
    created = sales_orders_by_ref(sandboxes)
    assert set(created) == selected_names(sandboxes)
    assert all(len(v) == 1 for v in created.values())
    assert len(sandboxes.shopify.orders) > 3 * orders_job.CHUNK  # several chunks were handled
    # no product links: the first chunk counts the catalogue and scans it; later chunks ask
    # Unleashed nothing more about products
    product_reads = sandboxes.unleashed_server.requests("GET /Products")
    assert len(product_reads) <= 2, [r.query for r in product_reads]
    cursor = status(config)["jobs"]["orders"]["cursor"]
    assert cursor == newest.isoformat().replace("+00:00", "Z")


def test_targeted_look_ups_give_way_to_one_scan_once_they_cost_as_much(
    sandboxes: Sandboxes, config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every SKU linked (GUIDs known) and 1,000 more links, so a scan is estimated at two
    pages: chunk one looks up by GUID (one call); by chunk two the GUID look-ups plus the next
    would cost as much as a scan, so the run scans once and asks nothing more, however many
    chunks follow."""
    monkeypatch.setattr(orders_job, "CHUNK", 2)
    products = {p["ProductCode"]: p for p in unleashed_client(sandboxes).iter_products()}
    sandboxes.unleashed_server.clear_log()
    linked = [
        (code, p["Guid"], "linked", {"unleashed_guid": p["Guid"]}) for code, p in products.items()
    ]
    others = [(f"ELSEWHERE-{n}", None, "linked", {}) for n in range(1000)]
    store = Store(tmp_path / "syncer.db")
    try:
        store.put_links("product", linked + others)
    finally:
        store.close()

    result = sync(config)

    assert result.exit_code == 0, result.output
    assert set(sales_orders_by_ref(sandboxes)) == selected_names(sandboxes)
    queries = [r.query for r in sandboxes.unleashed_server.requests("GET /Products")]
    assert len([q for q in queries if "productId=" in q]) == 1, queries
    assert len(queries) == 2, queries  # one GUID batch, then one scan page


# -- cost --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_backfill_of_1000_orders_costs_one_page_per_page_and_one_create_per_order(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    from syncer.connectors import shopify_documents as docs
    from syncer.connectors.shopify import LINE_ITEMS_FIRST
    from syncer.connectors.shopify_cost import MAX_QUERY_COST, fit_size

    with start_sandboxes(seed=3, orders=1000) as boxes:
        # Shopify's 50 points/s restore rate would make ~170 pages of ~900 points take
        # minutes; a larger bucket keeps the measurement fast and changes no request count.
        boxes.shopify.set_bucket(maximum=10_000_000, restore_rate=10_000_000)
        config = boxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
        started = time.monotonic()

        result = sync(config)

        seconds = time.monotonic() - started
        assert result.exit_code == 0, result.output
        page_size = fit_size(
            docs.ORDERS,
            {"query": "", "lineItemsFirst": LINE_ITEMS_FIRST},
            "first",
            50,
            budget=MAX_QUERY_COST,
        )
        selected = selected_names(boxes)
        emails = {boxes.shopify.find_order(n).email for n in selected} - {None}
        kinds: dict[str, int] = {}
        for record in boxes.shopify_server.log:
            kind = record.description.split(" ", 2)[-1]
            kinds[kind] = kinds.get(kind, 0) + 1
        unleashed: dict[str, int] = {}
        for record in boxes.unleashed_server.log:
            kind = f"{record.method} /{record.path.strip('/').split('/')[0]}"
            unleashed[kind] = unleashed.get(kind, 0) + 1
        store = Store(tmp_path / "syncer.db")
        try:
            run = store.runs(last=1)[0]
        finally:
            store.close()
        print(  # noqa: T201 - the figures are what this measurement is for (pytest -s)
            f"\n1000-order backfill: {len(selected)} sent, {len(emails)} distinct emails, "
            f"page size {page_size}, {seconds:.1f} s\n"
            f"  shopify requests by operation: {kinds}\n"
            f"  unleashed requests by kind: {unleashed}\n"
            f"  runs row: shopify_calls={run['shopify_calls']} "
            f"unleashed_calls={run['unleashed_calls']}"
        )
        assert kinds.get("orders", 0) <= math.ceil(1000 / page_size)
        assert unleashed.get("POST /SalesOrders") == len(selected)
        assert unleashed.get("GET /Customers", 0) <= len(emails)
        assert unleashed.get("POST /Customers", 0) <= len(emails)
        assert unleashed.get("GET /Products", 0) <= 1  # one catalogue scan for every SKU
        assert run["unleashed_calls"] == sum(unleashed.values())
