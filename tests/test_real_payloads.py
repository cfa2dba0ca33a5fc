"""Real API replies go through the very parsers and projections the jobs use.

Two sources per resource, side by side in each table:
- `real:` replies captured from the real APIs or printed by the vendors' docs, read from
  `../shared/reference/real-payloads/` (relative to the project root) when it exists; those
  cases skip cleanly elsewhere;
- `own:` our fixtures in the same shapes (`tests/fixtures/`), so every table also runs on a
  user's machine.

Client-level parsing runs over real sockets: a replay server answers with the payload and the
client method the job calls reads it. Each case asserts concrete parsed values. A payload that
cannot serve syncer's purpose must end as a per-item failure or hold with a clear reason.

Two conversions, both stated where used: the vendors' docs print only the value of `data`, so
those files are wrapped in `{"data": ...}`; and syncer's documents select `nodes` and
`pageInfo` on every connection, where the captured replies answered queries that selected
`edges { node }`, so such connections are re-shaped to `nodes` (the objects are unchanged).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_factory import LineSpec, OrderSpec, ShipSpec, order_node

from syncer.connectors import shopify_documents as docs
from syncer.connectors.shopify import ShopifyClient
from syncer.connectors.unleashed import UnleashedClient
from syncer.errors import ApiError
from syncer.http import CallCounter, Redactor, RetryPolicy
from syncer.inventory.job import level_row, stock_row
from syncer.inventory.planner import InFlightLine, StockRow, in_flight_lines
from syncer.orders.job import readable
from syncer.orders.mapping import (
    MappingError,
    OrderSettings,
    is_selected,
    map_sales_order,
    refunded_quantities,
    sales_order_guid,
)
from syncer.products.job import unleashed_stamp
from syncer.products.planner import plan
from syncer.products.projection import from_shopify, from_unleashed
from syncer.sandbox.common import Reply, Request, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY, UnleashedSandbox

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "reference" / "real-payloads"
OWN = Path(__file__).resolve().parent / "fixtures"
POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=30.0, read_timeout=5.0)
D = Decimal


def load(source: str) -> Any:
    """`real:<side>/<file>` from the shared real payloads (skip when absent), or
    `own:<side>/<file>` from tests/fixtures."""
    kind, _, name = source.partition(":")
    if kind == "real":
        path = REAL / name
        if not path.exists():
            pytest.skip(f"{path} is not here (the shared reference folder is absent)")
    else:
        path = OWN / name
    return json.loads(path.read_text(encoding="utf-8"))


def case(source: str, *values: Any) -> Any:
    """A table row named by its source, e.g. `real-shopify/throttled_error_community`."""
    label = source.replace(":", "-").removesuffix(".json")
    return pytest.param(source, *values, id=label)


def as_nodes(value: Any) -> Any:
    """Every `edges { node }` connection as `nodes` plus `pageInfo`, the way syncer's
    documents select connections (the node objects are kept as they are)."""
    if isinstance(value, list):
        return [as_nodes(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: as_nodes(item) for key, item in value.items()}
    if isinstance(out.get("edges"), list):
        edges = out.pop("edges")
        out["nodes"] = [edge.get("node") for edge in edges]
        out.setdefault("pageInfo", {"hasNextPage": False, "endCursor": None})
    return out


def with_data(payload: dict[str, Any]) -> dict[str, Any]:
    """A docs example (the value of `data` only) as the HTTP reply carries it."""
    return payload if "data" in payload or "errors" in payload else {"data": payload}


# -- a replay server -----------------------------------------------------------------------


@dataclass
class ReplayApp:
    """Answers each request with the next queued reply (a 500 when none is left)."""

    name: str = "replay"
    replies: list[Reply] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)

    def handle(self, request: Request) -> Reply:
        self.seen.append(request)
        if not self.replies:
            return Reply(500, {"Message": "the test queued no reply for this request"})
        return self.replies.pop(0)


@pytest.fixture(scope="module")
def replay_server() -> Iterator[SandboxServer]:
    with SandboxServer(ReplayApp()) as server:
        yield server


@pytest.fixture
def replay(replay_server: SandboxServer) -> ReplayApp:
    app = replay_server.app
    assert isinstance(app, ReplayApp)
    app.replies.clear()
    app.seen.clear()
    return app


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def shopify(replay_server: SandboxServer, slept: list[float]) -> ShopifyClient:
    return ShopifyClient(
        replay_server.url,
        "2026-10",
        access_token="shpat_replay",
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
        sleep=slept.append,
    )


@pytest.fixture
def unleashed(replay_server: SandboxServer, slept: list[float]) -> UnleashedClient:
    return UnleashedClient(
        replay_server.url,
        "api-id",
        "api-key",
        "tests/syncer",
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
        sleep=slept.append,
    )


# A reply to the cheap probe the client sends to learn the bucket size before sizing a page.
PROBE = {
    "data": {"shop": {"id": "gid://shopify/Shop/1"}},
    "extensions": {
        "cost": {
            "requestedQueryCost": 1,
            "actualQueryCost": 1,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": 1999,
                "restoreRate": 100.0,
            },
        }
    },
}


# == Shopify ===================================================================================

NOT_PAID = "financial status PENDING is not in orders.financial_statuses ['paid']"
TEST_ORDER = "test order (orders.include_test_orders is false)"
MISSING_CURRENCY = "order.currencyCode is missing"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Captured without `id` (that query did not select it): the job fails each order.
        case(
            "real:shopify/orders_page_captured_bc_connector.json",
            {
                "WEB1346": (False, NOT_PAID),
                "WEB1347": (False, NOT_PAID),
                "WEB1348": (False, TEST_ORDER),
                "WEB1349": (False, TEST_ORDER),
            },
        ),
        # Paid orders with ids, but without the money fields syncer's query selects.
        case(
            "real:shopify/docs_orders_details.json",
            {
                name: (True, MISSING_CURRENCY)
                for name in ("#2000", "#2006", "#2002", "#2009", "#2003")
            },
        ),
        case(
            "own:shopify/orders_page.json",
            {"#7001": (False, NOT_PAID), "#7002": (False, TEST_ORDER)},
        ),
    ],
)
def test_orders_pages_become_one_decision_per_order(
    source: str,
    expected: dict[str, tuple[bool, str]],
    replay: ReplayApp,
    shopify: ShopifyClient,
) -> None:
    replay.replies += [Reply(200, PROBE), Reply(200, as_nodes(with_data(load(source))))]
    orders = list(shopify.iter_orders("status:any"))
    settings = OrderSettings()
    decided: dict[str, tuple[bool, str]] = {}
    for order in orders:
        if not readable(order):
            selected, reason = is_selected(order, settings)
            assert not selected
            decided[order["name"]] = (False, reason)
            continue
        assert is_selected(order, settings) == (True, "")
        with pytest.raises(MappingError) as raised:
            map_sales_order(order, settings, guid="g", customer_code="C")
        decided[order["name"]] = (True, str(raised.value))
    assert {name: decided[name] for name in expected} == expected
    # Pacing reads the bucket from the float `maximumAvailable` (2000.0 or 1000.0).
    assert shopify.cost_limit() == 1000


@pytest.mark.parametrize(
    ("source", "wait"),
    [
        # (requested 752 - available 666) / restore 50.0, plus the client's slack.
        case("real:shopify/throttled_error_community.json", 1.72 + 0.05),
        case("own:shopify/throttled.json", 3.0 + 0.05),
    ],
)
def test_a_throttled_reply_without_data_is_waited_out_and_retried(
    source: str, wait: float, replay: ReplayApp, shopify: ShopifyClient, slept: list[float]
) -> None:
    throttled = load(source)
    assert "data" not in throttled
    replay.replies += [Reply(200, throttled), Reply(200, PROBE)]
    data = shopify.execute(docs.SHOP_PROBE, kind="shop.probe")
    assert data == {"shop": {"id": "gid://shopify/Shop/1"}}
    assert slept == [pytest.approx(wait)]
    assert len(replay.seen) == 2


@pytest.mark.parametrize(
    ("source", "fulfillment"),
    [
        case(
            "real:shopify/fulfillment_create_v2_captured_bc_connector.json",
            {"id": "gid://shopify/Fulfillment/5936298623038", "status": "SUCCESS"},
        ),
        case(
            "own:shopify/fulfillment_create.json",
            {"id": "gid://shopify/Fulfillment/7700001", "status": "SUCCESS"},
        ),
    ],
)
def test_a_fulfillment_create_reply_gives_the_fulfillment(
    source: str, fulfillment: dict[str, str], replay: ReplayApp, shopify: ShopifyClient
) -> None:
    body = load(source)
    # The captured reply answered fulfillmentCreateV2; syncer sends fulfillmentCreate, whose
    # payload has the same fields (fulfillment, userErrors).
    body["data"] = {"fulfillmentCreate": next(iter(body["data"].values()))}
    replay.replies.append(Reply(200, body))
    created = shopify.fulfillment_create({"lineItemsByFulfillmentOrder": []})
    assert created == fulfillment
    assert shopify.cost_limit() == 1000  # float maximumAvailable 2000.0, capped at 1,000


@pytest.mark.parametrize(
    ("source", "changes"),
    [
        case(
            "real:shopify/docs_inventory_set_quantities.json",
            [{"name": "available", "delta": 10}, {"name": "on_hand", "delta": 10}],
        ),
        case(
            "real:shopify/docs_inventory_set_quantities_idempotent_change_from.json",
            [
                {"name": "available", "delta": 41, "quantityAfterChange": None},
                {"name": "on_hand", "delta": 41, "quantityAfterChange": None},
            ],
        ),
        case(
            "own:shopify/inventory_set_quantities.json",
            [
                {"name": "available", "delta": -3, "quantityAfterChange": None},
                {"name": "on_hand", "delta": -3, "quantityAfterChange": None},
            ],
        ),
    ],
)
def test_an_inventory_set_quantities_reply_is_accepted(
    source: str, changes: list[dict[str, Any]], replay: ReplayApp, shopify: ShopifyClient
) -> None:
    replay.replies.append(Reply(200, with_data(load(source))))
    payload = shopify.set_inventory_quantities(
        [
            {
                "inventoryItemId": "gid://shopify/InventoryItem/1",
                "locationId": "gid://shopify/Location/1",
                "quantity": 5,
                "changeFromQuantity": 4,
            }
        ],
        reason="correction",
        reference_uri=None,
        idempotency_key="5f0c1c2e-7d4b-4a59-9a0e-0c2b7f1d9e31",
    )
    assert payload["userErrors"] == []
    assert payload["inventoryAdjustmentGroup"]["changes"] == changes


@pytest.mark.parametrize(
    ("source", "sku", "available", "row"),
    [
        case(
            "real:shopify/docs_inventory_level_quantities.json",
            "element-151",
            2,
            ("gid://shopify/InventoryItem/30322695", "gid://shopify/Location/346779380", 2),
        ),
        case(
            "own:shopify/inventory_level_quantities.json",
            "MUG-BLUE",
            7,
            ("gid://shopify/InventoryItem/4400001", "gid://shopify/Location/6600001", 7),
        ),
    ],
)
def test_an_inventory_level_gives_its_available_quantity(
    source: str,
    sku: str,
    available: int,
    row: tuple[str, str, int],
    replay: ReplayApp,
    shopify: ShopifyClient,
) -> None:
    level = load(source)["inventoryLevel"]
    page = {"data": {"location": {"inventoryLevels": as_nodes({"edges": [{"node": level}]})}}}
    replay.replies += [Reply(200, PROBE), Reply(200, page)]
    (read,) = shopify.iter_inventory_levels(level["location"]["id"])
    assert (read["item"]["sku"], read["available"]) == (sku, available)
    parsed = level_row(read["item"]["id"], read["location"]["id"], read["available"], True)
    assert (parsed.inventory_item_id, parsed.location_gid, parsed.available) == row
    assert parsed.active
    assert parsed.tracked


@pytest.mark.parametrize(
    ("source", "found"),
    [
        case(
            "real:shopify/docs_product_variants_by_sku.json",
            {"element-151": "gid://shopify/ProductVariant/30322695"},
        ),
        case(
            "own:shopify/product_variants_by_sku.json",
            {"MUG-BLUE": "gid://shopify/ProductVariant/3300001"},
        ),
    ],
)
def test_variants_by_sku_keep_exact_matches_and_hold_what_cannot_be_compared(
    source: str, found: dict[str, str], replay: ReplayApp, shopify: ShopifyClient
) -> None:
    (sku,) = found
    replay.replies += [Reply(200, PROBE), Reply(200, as_nodes(with_data(load(source))))]
    by_sku = shopify.variants_by_skus([sku])
    assert {key: [v["id"] for v in found_] for key, found_ in by_sku.items()} == {sku: [found[sku]]}
    # This reply selected no product fields: the projection says so and the planner holds
    # the SKU with that reason instead of writing anything.
    (variant,) = by_sku[sku]
    record = from_shopify(variant, taxes_included=False, tax_rate=D(0))
    result = plan("shopify", [record], [], {})
    assert result.writes == ()
    (item,) = result.items
    assert (item.key, item.action) == (sku, "hold")
    assert item.error == (
        "Shopify product None has no variantsCount.count; the Shopify record has no title; "
        "set one (it is the product title); the Shopify record has no sell price; set one "
        "(products.price_tier selects the Unleashed price)"
    )


@pytest.mark.parametrize(
    ("source", "title", "status"),
    [
        case("real:shopify/product_captured_bc_connector.json", "Anchor Bracelet Mens", "ACTIVE"),
        case("own:shopify/product.json", "Stoneware mug", "ACTIVE"),
    ],
)
def test_a_product_reply_is_read(
    source: str, title: str, status: str, replay: ReplayApp, shopify: ShopifyClient
) -> None:
    replay.replies.append(Reply(200, load(source)))
    product = shopify.product("gid://shopify/Product/1")
    assert product is not None
    assert (product["title"], product["status"]) == (title, status)
    assert shopify.cost_limit() == 1000


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # The docs' fulfilment-order lines carry no SKU (that query did not select one): a
        # line without a SKU cannot match Unleashed stock, so the order counts nothing.
        case("real:shopify/docs_order_fulfillment_orders.json", []),
        case(
            "own:shopify/order_fulfillment_orders.json",
            [InFlightLine("MUG-BLUE", "gid://shopify/Location/6600001", 2, "unsent_paid", "o1")],
        ),
    ],
)
def test_fulfillment_orders_give_the_units_in_flight(
    source: str, expected: list[InFlightLine]
) -> None:
    order = {
        "id": "o1",
        "cancelledAt": None,
        "displayFinancialStatus": "PAID",
        "lineItems": {"nodes": []},
        **load(source)["order"],
    }
    lines = in_flight_lines(
        [order], {}, unallocated_statuses=("Parked",), default_location_gid="default"
    )
    assert lines == expected


@pytest.mark.parametrize(
    ("source", "refund_id", "note"),
    [
        case(
            "real:shopify/docs_refund_show.json", "gid://shopify/Refund/196417871", "free shipping"
        ),
        case("own:shopify/refund.json", "gid://shopify/Refund/1100001", "damaged in transit"),
    ],
)
def test_a_refund_without_lines_is_read_as_a_refund_of_no_units(
    source: str, refund_id: str, note: str, replay: ReplayApp, shopify: ShopifyClient
) -> None:
    refund = load(source)["refund"]
    replay.replies += [Reply(200, PROBE), Reply(200, {"data": {"nodes": [refund]}})]
    (read,) = shopify.refunds_by_ids([refund_id])
    assert (read["id"], read["note"]) == (refund_id, note)
    assert refunded_quantities({"refunds": [read]}) == {}


# -- orders built like the real ones map to sales orders Unleashed accepts -------------------


def _amount(bag: dict[str, Any]) -> Decimal:
    return D(bag["shopMoney"]["amount"])


def _cents(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def as_syncer_reads(node: dict[str, Any], skus: list[str], currency: str) -> dict[str, Any]:
    """A real-shape order node completed with what syncer's own query selects, each value
    derived as Shopify derives it: the discounted prices from the original price minus the
    discount allocations, the current total from those and the tax lines."""
    order = json.loads(json.dumps(node))
    order.update(
        id=f"gid://shopify/Order/{order['legacyResourceId']}",
        currencyCode=currency,
        processedAt="2026-11-20T10:00:00Z",
        displayFinancialStatus="PAID",
        email=None,
    )
    total = D(0)
    for index, line in enumerate(order["lineItems"]["nodes"]):
        discount = sum(
            (_amount(a["allocatedAmountSet"]) for a in line["discountAllocations"]), D(0)
        )
        line_amount = _amount(line["originalUnitPriceSet"]) * line["quantity"] - discount
        unit = line_amount / line["quantity"]
        assert unit == _cents(unit), "fixture: choose discounts that divide evenly"
        line.update(
            id=f"gid://shopify/LineItem/{index + 1}",
            sku=skus[index % len(skus)],
            discountedUnitPriceAfterAllDiscountsSet={"shopMoney": {"amount": str(unit)}},
        )
        if line["currentQuantity"]:
            total += unit * line["currentQuantity"]
            if not order["taxesIncluded"]:
                total += sum((_amount(t["priceSet"]) for t in line["taxLines"]), D(0))
    for index, shipping in enumerate(order["shippingLines"]["nodes"]):
        discount = sum(
            (_amount(a["allocatedAmountSet"]) for a in shipping["discountAllocations"]), D(0)
        )
        amount = _amount(shipping["originalPriceSet"]) - discount
        shipping.update(
            id=f"gid://shopify/ShippingLine/{index + 1}",
            discountedPriceSet={"shopMoney": {"amount": str(amount)}},
        )
        total += amount
        if not order["taxesIncluded"]:
            total += sum((_amount(t["priceSet"]) for t in shipping["taxLines"]), D(0))
    order["currentTotalPriceSet"] = {"shopMoney": {"amount": str(total)}}
    return order


def assert_totals_rule(payload: dict[str, Any]) -> None:
    """Unleashed's rule, restated here: per line LineTotal = round(qty x UnitPrice, 2) and
    LineTax = round(LineTotal x TaxRate, 2); SubTotal, TaxTotal, Total are their sums."""
    lines = payload["SalesOrderLines"]
    for line in lines:
        assert line["LineTotal"] == _cents(D(line["OrderQuantity"]) * line["UnitPrice"]), line
        assert line["LineTax"] == _cents(line["LineTotal"] * line["TaxRate"]), line
    assert payload["SubTotal"] == sum(line["LineTotal"] for line in lines)
    assert payload["TaxTotal"] == sum(line["LineTax"] for line in lines)
    assert payload["Total"] == payload["SubTotal"] + payload["TaxTotal"]


ORDER_SHAPES = [
    # 65.60 at 10 % (tax 5.96) and 11.90 shipping at 21 % (tax 2.07): Shopify's 2.07 is
    # 11.90 - 11.90/1.21; no tax-exclusive cent gives it under Unleashed's rule, so one
    # cent is left between the totals and recorded.
    case(
        "real:shopify/order_node_rr_ibericos_1289.json",
        [(1, D("59.64"), D("5.96"), D("0.1"))],
        [("Tarifa fija 11,9€ para pedidos de menos de 120€", D("0.21"))],
        D("77.49"),
        D("0.01"),
    ),
    # Free shipping: the zero shipping line with its zero 21 % tax line is left out.
    case(
        "real:shopify/order_node_rr_ibericos_1290_free_shipping.json",
        [(1, D("137.82"), D("13.78"), D("0.1"))],
        [],
        D("151.60"),
        D("0"),
    ),
    case(
        "own:shopify/order_node_free_shipping.json",
        [(2, D("43.30"), D("6.50"), D("0.15"))],
        [],
        D("49.80"),
        D("0"),
    ),
    case(
        "own:shopify/order_node_discounted_mixed_rates.json",
        [(3, D("48.85"), D("4.89"), D("0.1")), (1, D("6.20"), D("1.30"), D("0.21"))],
        [("Tarifa fija", D("0.21"))],
        D("66.19"),
        D("-0.01"),
    ),
    # Tax on top; the line whose units all went back (currentQuantity 0) is not sent.
    case(
        "own:shopify/order_node_tax_exclusive.json",
        [(2, D("21.60"), D("1.92"), D("0.08875"))],
        [("Ground", D("0.08875"))],
        D("28.96"),
        D("0"),
    ),
]


@pytest.mark.parametrize(("source", "lines", "charges", "total", "left"), ORDER_SHAPES)
def test_real_shaped_orders_map_to_sales_orders_that_pass_the_totals_rule(
    source: str,
    lines: list[tuple[int, Decimal, Decimal, Decimal]],
    charges: list[tuple[str, Decimal]],
    total: Decimal,
    left: Decimal,
) -> None:
    order = as_syncer_reads(load(source), ["SKU-A", "SKU-B"], "EUR")
    mapped = map_sales_order(order, OrderSettings(), guid="g-1", customer_code="SHOPIFY")
    payload = mapped.payload
    assert_totals_rule(payload)
    products = [line for line in payload["SalesOrderLines"] if line.get("LineType") is None]
    assert [
        (line["OrderQuantity"], line["LineTotal"], line["LineTax"], line["TaxRate"])
        for line in products
    ] == lines
    charged = [line for line in payload["SalesOrderLines"] if line.get("LineType") == "Charge"]
    assert [(c["Product"]["ProductDescription"], c["TaxRate"]) for c in charged] == charges
    assert payload["Total"] == total
    assert mapped.difference == left
    assert payload["DiscountRate"] == 0
    assert all(line["DiscountRate"] == 0 for line in payload["SalesOrderLines"])


def test_a_tax_line_read_by_percentage_or_fraction_gives_the_same_rate() -> None:
    node = load("own:shopify/order_node_discounted_mixed_rates.json")
    by_percentage = as_syncer_reads(node, ["SKU-A"], "EUR")
    by_fraction = json.loads(json.dumps(by_percentage))
    for owner in (*by_fraction["lineItems"]["nodes"], *by_fraction["shippingLines"]["nodes"]):
        for tax_line in owner["taxLines"]:
            tax_line["rate"] = float(D(str(tax_line.pop("ratePercentage"))) / 100)
    settings = OrderSettings()
    one = map_sales_order(by_percentage, settings, guid="g", customer_code="C").payload
    two = map_sales_order(by_fraction, settings, guid="g", customer_code="C").payload
    assert one == two


def by_percentage_only(order: dict[str, Any]) -> dict[str, Any]:
    """The order with every tax line carrying only `ratePercentage`, as some replies do."""
    out = json.loads(json.dumps(order))
    owners = [*out["lineItems"]["nodes"], *out["shippingLines"]["nodes"]]
    for owner in owners:
        for tax_line in owner.get("taxLines") or []:
            rate = tax_line.pop("rate")
            tax_line["ratePercentage"] = float(D(str(rate)) * 100)
    return out


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.builds(
            LineSpec,
            sku=st.sampled_from(["TEE", "MUG"]),
            quantity=st.integers(1, 20),
            unit_price=st.integers(1, 100_000).map(lambda c: D(c) / 100),
            rate=st.sampled_from([D(0), D("0.04"), D("0.1"), D("0.15"), D("0.21"), D("0.08875")]),
            discount=st.sampled_from([D(0), D("0.1"), D("0.3333")]),
        ),
        min_size=1,
        max_size=4,
    ),
    shipping=st.lists(
        st.builds(
            ShipSpec,
            price=st.integers(0, 3_000).map(lambda c: D(c) / 100),
            rate=st.sampled_from([D(0), D("0.1"), D("0.21")]),
        ),
        max_size=1,
    ),
    taxes_included=st.booleans(),
)
def test_tax_lines_by_percentage_map_exactly_as_by_fraction(
    lines: list[LineSpec], shipping: list[ShipSpec], taxes_included: bool
) -> None:
    spec = OrderSpec(lines=lines, shipping=shipping, taxes_included=taxes_included)
    order = order_node(spec)
    settings_ = OrderSettings()
    by_fraction = map_sales_order(order, settings_, guid="g", customer_code="C")
    by_percent = map_sales_order(by_percentage_only(order), settings_, guid="g", customer_code="C")
    assert by_percent.payload == by_fraction.payload
    assert_totals_rule(by_percent.payload)


@pytest.fixture(scope="module")
def unleashed_sandboxes() -> Iterator[dict[Decimal, tuple[UnleashedSandbox, SandboxServer]]]:
    """One Unleashed sandbox per tax rate, started when first asked for: its tax code
    G.S.T. carries that rate, and Unleashed takes an order's rate from its tax code."""
    started: dict[Decimal, tuple[UnleashedSandbox, SandboxServer]] = {}
    try:
        yield started
    finally:
        for _, server in started.values():
            server.stop()


def sandbox_taxing(
    rate: Decimal, started: dict[Decimal, tuple[UnleashedSandbox, SandboxServer]]
) -> tuple[UnleashedSandbox, SandboxServer]:
    if rate not in started:
        world = dataclasses.replace(make_world(3, products=4, orders=0), tax_rate=rate)
        app = UnleashedSandbox(world)
        started[rate] = (app, SandboxServer(app).start())
    return started[rate]


@pytest.mark.parametrize(("source", "lines", "charges", "total", "left"), ORDER_SHAPES)
def test_real_shaped_orders_are_accepted_by_the_unleashed_sandbox(
    source: str,
    lines: Any,
    charges: Any,
    total: Decimal,
    left: Any,
    unleashed_sandboxes: dict[Decimal, tuple[UnleashedSandbox, SandboxServer]],
) -> None:
    world = make_world(3, products=4, orders=0)
    codes = sorted(v.sku for v in world.variants())
    order = as_syncer_reads(load(source), codes[:2], world.currency)
    guid = sales_order_guid("replay.example", order["id"])
    mapped = map_sales_order(order, OrderSettings(), guid=guid, customer_code="SHOPIFY")
    # The order's header rate (its most common line rate) must be its tax code's rate.
    _, server = sandbox_taxing(mapped.payload["TaxRate"], unleashed_sandboxes)
    client = UnleashedClient(
        server.url,
        DEFAULT_API_ID,
        DEFAULT_API_KEY,
        "tests/syncer",
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
    )
    client.create_sales_order(guid, mapped.payload)
    stored = client.get_sales_order(guid)
    assert stored is not None
    assert (D(str(stored["Total"])), stored["OrderNumber"]) == (
        total,
        mapped.payload["OrderNumber"],
    )


# == Unleashed =================================================================================


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Pagination": {
            "NumberOfItems": len(items),
            "PageSize": 200,
            "PageNumber": 1,
            "NumberOfPages": 1,
        },
        "Items": items,
    }


def unleashed_page(source: str) -> dict[str, Any]:
    """A list reply; a single product (an element of `Items`) is wrapped in a page."""
    body = load(source)
    return body if "Items" in body else page([body])


@pytest.mark.parametrize(
    ("source", "tier", "expected"),
    [
        case(
            "real:unleashed/products_page_silvershop.json",
            "default",
            {
                "IIID1": ("Socks Updated", D("8.50"), D("0.100"), "Clothing", False, None),
                "IIID5": ("Mp3 Player Updated", D("24.95"), D("1.000"), "Electronics", True, None),
            },
        ),
        # Tier 1 is null on every product of this page: each is unset, with the reason.
        case(
            "real:unleashed/products_page_silvershop.json",
            1,
            {
                "IIID1": (
                    "Socks Updated",
                    None,
                    D("0.100"),
                    "Clothing",
                    False,
                    "SellPriceTier1 is not set in Unleashed (Name 'Sell Price Tier 1', "
                    "Value None): set it, or use price_tier: default",
                ),
                "IIID5": (
                    "Mp3 Player Updated",
                    None,
                    D("1.000"),
                    "Electronics",
                    True,
                    "SellPriceTier1 is not set in Unleashed (Name 'Sell Price Tier 1', "
                    "Value None): set it, or use price_tier: default",
                ),
            },
        ),
        case(
            "real:unleashed/product_single_jsok.json",
            1,
            {"_TEST01": ("Test Item 01", D("15.00"), D("0.000"), "_Test", False, None)},
        ),
        case(
            "real:unleashed/product_single_jsok.json",
            2,
            {
                "_TEST01": (
                    "Test Item 01",
                    D("0.00"),
                    D("0.000"),
                    "_Test",
                    False,
                    "SellPriceTier2 is not set in Unleashed (Name '', Value '0.0000'): "
                    "set it, or use price_tier: default",
                ),
            },
        ),
        case(
            "own:unleashed/products_page.json",
            3,
            {
                "MUG-BLUE": (
                    "Stoneware mug Blue",
                    None,
                    D("0.350"),
                    "Mugs",
                    False,
                    "SellPriceTier3 is not set in Unleashed (Name 'Wholesale', "
                    "Value None): set it, or use price_tier: default",
                ),
                "MUG-OLD": ("Enamel mug", D("9.50"), D("0.000"), None, True, None),
            },
        ),
        case(
            "own:unleashed/products_page.json",
            1,
            {
                "MUG-BLUE": ("Stoneware mug Blue", D("21.28"), D("0.350"), "Mugs", False, None),
                "MUG-OLD": ("Enamel mug", D("13.80"), D("0.000"), None, True, None),
            },
        ),
    ],
)
def test_unleashed_products_project_to_comparable_records(
    source: str,
    tier: str | int,
    expected: dict[str, tuple[Any, ...]],
    replay: ReplayApp,
    unleashed: UnleashedClient,
) -> None:
    replay.replies.append(Reply(200, unleashed_page(source)))
    products = list(unleashed.iter_products())
    records = {}
    for product in products:
        record = from_unleashed(product, price_tier=tier)
        assert record.problems == ()
        records[record.sku] = (
            record.title,
            record.price,
            record.weight,
            record.product_type,
            record.obsolete,
            record.unset_price,
        )
    assert records == expected
    # Every real product carries a readable `/Date(ms)/` stamp (an ISO text is not one).
    stamps = [unleashed_stamp(p.get("LastModifiedOn")) for p in products]
    assert all(stamp is None or stamp.tzinfo is UTC for stamp in stamps)


def test_the_jsok_product_stamp_is_read_as_utc() -> None:
    product = load("real:unleashed/product_single_jsok.json")
    assert unleashed_stamp(product["LastModifiedOn"]) == datetime(
        2013, 9, 9, 0, 20, 19, 420000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("source", "email", "code", "found"),
    [
        # The demo customer has no Email: a search by email finds it by prefix only.
        case("real:unleashed/customers_page_silvershop.json", "franck@example.com", "FRANCK", []),
        case("own:unleashed/customers_page.json", "ann@example.com", "SH-ANN2", ["SH-ANN"]),
    ],
)
def test_customers_are_matched_by_exact_email_and_code(
    source: str,
    email: str,
    code: str,
    found: list[str],
    replay: ReplayApp,
    unleashed: UnleashedClient,
) -> None:
    body = load(source)
    replay.replies += [Reply(200, body), Reply(200, body)]
    assert [c["CustomerCode"] for c in unleashed.find_customers_by_email(email)] == found
    customer = unleashed.get_customer_by_code(code)
    assert customer is not None
    assert customer["CustomerCode"] == code
    assert "contactEmail=" in replay.seen[0].query
    assert f"customerCode={code}" in replay.seen[1].query


@pytest.mark.parametrize(
    ("source", "warehouse", "rows"),
    [
        # A fragment without `Pagination`: one page, read as such.
        case(
            "real:unleashed/stock_on_hand_items_fragment_trueloaded.json",
            "3PL",
            [StockRow("BF1001-BS", "3PL", D(46))],
        ),
        case(
            "own:unleashed/stock_on_hand_page.json",
            "MAIN",
            [StockRow("MUG-BLUE", "MAIN", D("10.5"))],
        ),
    ],
)
def test_stock_on_hand_rows_become_stock_rows(
    source: str, warehouse: str, rows: list[StockRow], replay: ReplayApp, unleashed: UnleashedClient
) -> None:
    replay.replies.append(Reply(200, load(source)))
    raw = list(unleashed.iter_stock_on_hand(warehouse))
    parsed = [stock_row(row, warehouse) for row in raw]
    # A row without a product code cannot be matched and is dropped, not a crash.
    assert [row for row in parsed if row is not None] == rows
    assert f"warehouseCode={warehouse}" in replay.seen[0].query


@pytest.mark.parametrize(
    ("source", "statuses"),
    [
        case(
            "real:unleashed/sales_orders_page_parked_with_charge_line.json",
            {"b6b620d7-1d40-4488-b6fb-072e737302cc": "Parked"},
        ),
        case(
            "real:unleashed/sales_orders_page_shopify_imported_trimmed.json",
            {
                "9f92c12b-446e-4f8b-a039-06b4a49db90e": "Completed",
                "b6b620d7-1d40-4488-b6fb-072e737302cc": "Parked",
            },
        ),
        case(
            "real:unleashed/sales_orders_page_silvershop.json",
            {"g201": "Placed", "g202": "Dispatched"},
        ),
        case(
            "own:unleashed/sales_orders_page.json",
            {
                "6f1e2d3c-4b5a-5c6d-8e7f-9a0b1c2d3e01": "Parked",
                "6f1e2d3c-4b5a-5c6d-8e7f-9a0b1c2d3e02": "Placed",
            },
        ),
    ],
)
def test_sales_order_pages_give_each_orders_status_by_guid(
    source: str, statuses: dict[str, str], replay: ReplayApp, unleashed: UnleashedClient
) -> None:
    replay.replies.append(Reply(200, load(source)))
    orders = list(unleashed.iter_sales_orders(order_status=["Parked", "Placed"]))
    # As the inventory job reads them: Guid (any case) -> OrderStatus.
    assert {str(o["Guid"]).lower(): o["OrderStatus"] for o in orders} == statuses
    assert "orderStatus=Parked,Placed" in replay.seen[0].query
    # Money comes back exact; a charge line has no product code and an all-zero Guid.
    for order in orders:
        assert isinstance(order["Total"], (int, Decimal))
        for line in order["SalesOrderLines"]:
            if line["LineType"] == "Charge":
                assert line["Product"]["ProductCode"] is None
                assert line["Product"]["Guid"] == "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("source", "number", "status"),
    [
        case("real:unleashed/sales_order_single_null_payment_due.json", "SO-00010863", "Parked"),
        case("real:unleashed/sales_order_item_trueloaded.json", "SO-00000140", "Parked"),
    ],
)
def test_one_sales_order_is_found_by_guid(
    source: str, number: str, status: str, replay: ReplayApp, unleashed: UnleashedClient
) -> None:
    body = load(source)
    replay.replies.append(Reply(200, body))
    found = unleashed.get_sales_order(str(body["Guid"]))
    assert found is not None
    assert (found["OrderNumber"], found["OrderStatus"]) == (number, status)
    assert replay.seen[0].path.endswith(f"/SalesOrders/{body['Guid']}")


def test_a_sales_order_reply_that_is_not_an_object_is_an_api_error(
    replay: ReplayApp, unleashed: UnleashedClient
) -> None:
    replay.replies.append(Reply(200, [load("own:unleashed/sales_orders_page.json")]))
    with pytest.raises(ApiError, match="expected one record, got list"):
        unleashed.get_sales_order("6f1e2d3c-4b5a-5c6d-8e7f-9a0b1c2d3e01")
