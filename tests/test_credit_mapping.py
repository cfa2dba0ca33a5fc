"""Shopify refund -> Unleashed free credit note payload (refunds: credit_note)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_factory import LineSpec, OrderSpec, ShipSpec, order_node, refund_node, shopify_tax

from syncer.money import cents, line_totals, order_totals
from syncer.orders.credit import (
    LINES_KEY,
    PRICE_KEY,
    QUANTITY_KEY,
    REFERENCE_KEY,
    credit_reference,
    map_free_credit,
    with_shipping_tax,
)
from syncer.orders.mapping import MappingError, OrderSettings

D = Decimal
SETTINGS = OrderSettings()
GUID = "00000000-0000-4000-8000-0000000000cc"
REFUND_ID = "gid://shopify/Refund/998877"


def credit(refund: dict[str, Any], order: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return map_free_credit(refund, order, SETTINGS, guid=GUID, customer_code="C0001", **kwargs)


def assert_totals_rule(payload: dict[str, Any]) -> None:
    pairs = []
    for line in payload[LINES_KEY]:
        expected = line_totals(D(line[QUANTITY_KEY]), line[PRICE_KEY], line["TaxRate"])
        assert (line["LineTotal"], line["LineTax"]) == expected, line
        pairs.append(expected)
    assert (payload["SubTotal"], payload["TaxTotal"], payload["Total"]) == order_totals(pairs)


def refund_of(spec: OrderSpec, quantities: list[int], *, shipping: bool) -> tuple[dict, dict]:
    """An order and a refund of `quantities` units per line (plus all shipping if asked),
    with subtotal and tax as Shopify reports them (in the order's own pricing)."""
    order = order_node(spec)
    items = order["lineItems"]["nodes"]
    lines = []
    for item, line_spec, qty in zip(items, spec.lines, quantities, strict=True):
        if qty:
            amount = qty * line_spec.discounted_unit
            lines.append(
                (item, qty, amount, shopify_tax(amount, line_spec.rate, spec.taxes_included))
            )
    ships = []
    if shipping:
        for node, ship in zip(order["shippingLines"]["nodes"], spec.shipping, strict=True):
            ships.append(
                (node, ship.price, shopify_tax(ship.price, ship.rate, spec.taxes_included))
            )
    return refund_node(REFUND_ID, lines, ships, taxes_included=spec.taxes_included), order


CASES = [
    pytest.param(
        # Tax-exclusive: 2 x 20.00 -> 40.00 + 6.00; shipping 5.00 + 0.75.
        OrderSpec(
            [LineSpec("TEE", 3, D("20.00")), LineSpec("MUG", 1, D("9.00"))],
            shipping=[ShipSpec(D("5.00"), title="Courier")],
        ),
        [2, 0],
        True,
        [
            (None, "TEE", 2, D("20.00"), D("40.00"), D("6.00")),
            ("Charge", "Courier", 1, D("5.00"), D("5.00"), D("0.75")),
        ],
        (D("45.00"), D("6.75"), D("51.75")),
        id="tax-exclusive-with-shipping",
    ),
    pytest.param(
        # Tax-inclusive with 10% off: 1 x 20.70 incl -> 18.00 + 2.70; shipping 8.00 incl ->
        # 6.96 + 1.04 (see test_order_mapping for the same conversion worked out).
        OrderSpec(
            [LineSpec("TEE", 3, D("23.00"), discount=D("0.10"))],
            taxes_included=True,
            shipping=[ShipSpec(D("8.00"))],
        ),
        [1],
        True,
        [
            (None, "TEE", 1, D("18.00"), D("18.00"), D("2.70")),
            ("Charge", "Standard", 1, D("6.96"), D("6.96"), D("1.04")),
        ],
        (D("24.96"), D("3.74"), D("28.70")),
        id="tax-inclusive-with-shipping",
    ),
    pytest.param(
        # Lines only: no shipping refunded, no charge line.
        OrderSpec(
            [LineSpec("TEE", 3, D("20.00")), LineSpec("GIFT", 1, D("9.00"), rate=D(0))],
            shipping=[ShipSpec(D("5.00"))],
        ),
        [1, 1],
        False,
        [
            (None, "TEE", 1, D("20.00"), D("20.00"), D("3.00")),
            (None, "GIFT", 1, D("9.00"), D("9.00"), D("0.00")),
        ],
        (D("29.00"), D("3.00"), D("32.00")),
        id="lines-only",
    ),
]


@pytest.mark.parametrize(("spec", "quantities", "shipping", "lines", "totals"), CASES)
def test_credit_cases(
    spec: OrderSpec,
    quantities: list[int],
    shipping: bool,
    lines: list[tuple[Any, ...]],
    totals: tuple[Decimal, Decimal, Decimal],
) -> None:
    refund, order = refund_of(spec, quantities, shipping=shipping)
    payload = credit(refund, order)
    got = [
        (
            line.get("LineType"),
            line["Product"].get("ProductCode") or line["Product"].get("ProductDescription"),
            line[QUANTITY_KEY],
            line[PRICE_KEY],
            line["LineTotal"],
            line["LineTax"],
        )
        for line in payload[LINES_KEY]
    ]
    assert got == lines
    assert (payload["SubTotal"], payload["TaxTotal"], payload["Total"]) == totals
    assert_totals_rule(payload)


def test_credit_header() -> None:
    refund, order = refund_of(OrderSpec([LineSpec("TEE", 1, D("20.00"))]), [1], shipping=False)
    payload = credit(refund, order)
    assert payload["Guid"] == GUID
    assert payload[REFERENCE_KEY] == "#1001 refund 998877" == credit_reference("#1001", REFUND_ID)
    assert REFUND_ID in payload["Comments"]
    assert "#1001" in payload["Comments"]
    assert "customer return" in payload["Comments"]
    assert payload["Customer"] == {"CustomerCode": "C0001"}
    assert payload["Warehouse"] == {"WarehouseCode": "MAIN"}
    assert payload["Currency"] == {"CurrencyCode": "NZD"}
    assert payload["Tax"] == {"TaxCode": "G.S.T.", "TaxRate": D("0.15")}
    assert payload["CreditDate"] == "2026-11-03T10:00:00"


def test_shipping_in_product_mode() -> None:
    spec = OrderSpec([LineSpec("TEE", 1, D("20.00"))], shipping=[ShipSpec(D("5.00"))])
    refund, order = refund_of(spec, [0], shipping=True)
    config = OrderSettings(shipping_mode="product", shipping_product_code="FREIGHT")
    payload = map_free_credit(refund, order, config, guid=GUID, customer_code="C1")
    (ship,) = payload[LINES_KEY]
    assert ship["Product"] == {"ProductCode": "FREIGHT"}
    assert "LineType" not in ship


def test_rate_from_sku_table_when_line_not_in_order() -> None:
    refund, order = refund_of(OrderSpec([LineSpec("TEE", 2, D("20.00"))]), [1], shipping=False)
    order["lineItems"]["nodes"] = []
    with pytest.raises(MappingError, match="tax_rate_by_sku"):
        credit(refund, order)
    payload = credit(refund, order, tax_rate_by_sku={"TEE": D("0.15")})
    assert payload[LINES_KEY][0]["LineTax"] == D("3.00")


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        pytest.param(
            lambda r: r["refundLineItems"]["nodes"][0]["lineItem"].update(sku=None),
            "sku is missing",
            id="custom-item",
        ),
        pytest.param(
            lambda r: r.update(refundLineItems={"nodes": []}, refundShippingLines={"nodes": []}),
            "amount-only",
            id="amount-only",
        ),
        pytest.param(lambda r: r.pop("id"), "refund.id", id="no-id"),
        pytest.param(
            lambda r: r["refundLineItems"]["nodes"][0].pop("subtotalSet"),
            "subtotalSet",
            id="no-subtotal",
        ),
    ],
)
def test_unmappable_refund(break_it: Any, message: str) -> None:
    refund, order = refund_of(OrderSpec([LineSpec("TEE", 2, D("20.00"))]), [1], shipping=False)
    break_it(refund)
    with pytest.raises(MappingError, match=message):
        credit(refund, order)


line_specs = st.builds(
    LineSpec,
    sku=st.sampled_from(["TEE", "MUG", "CAP"]),
    quantity=st.integers(1, 50),
    unit_price=st.integers(1, 500_000).map(lambda c: D(c) / 100),
    rate=st.integers(0, 2500).map(lambda bp: D(bp) / 10_000),
    discount=st.sampled_from([D(0), D("0.10"), D("0.3333")]),
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(line_specs, min_size=1, max_size=8),
    taxes_included=st.booleans(),
    ship=st.integers(1, 10_000).map(lambda c: D(c) / 100),
    data=st.data(),
)
def test_credit_totals_rule_holds(
    lines: list[LineSpec], taxes_included: bool, ship: Decimal, data: st.DataObject
) -> None:
    spec = OrderSpec(lines, taxes_included=taxes_included, shipping=[ShipSpec(ship)])
    quantities = [data.draw(st.integers(0, line.quantity)) for line in lines]
    refund, order = refund_of(spec, quantities, shipping=True)
    payload = credit(refund, order)
    assert_totals_rule(payload)
    refunded = D(refund["totalRefundedSet"]["shopMoney"]["amount"])
    assert abs(payload["Total"] - refunded) <= cents(D("0.01") * (len(lines) + 1))
    assert payload[LINES_KEY][-1]["LineType"] == "Charge"


def test_with_shipping_tax_copies_the_rate_onto_a_refunded_shipping_line() -> None:
    tax = [{"rate": 0.15, "priceSet": {"shopMoney": {"amount": "1.50"}}}]
    order: dict[str, Any] = {
        "shippingLines": {"nodes": [{"id": "S1", "title": "Courier", "taxLines": tax}]},
        "refunds": [
            {"refundShippingLines": {"nodes": [{"shippingLine": {"id": "S1", "title": "Post"}}]}},
            {"refundShippingLines": [{"shippingLine": {"id": "S2"}}]},  # no such line: left
            {
                "refundShippingLines": [{"shippingLine": {"id": "S1", "taxLines": []}}]
            },  # has its own
            "not a refund",
        ],
    }
    with_shipping_tax(order)
    refunds = order["refunds"]
    assert refunds[0]["refundShippingLines"]["nodes"][0]["shippingLine"] == {
        "id": "S1",
        "title": "Post",
        "taxLines": tax,
    }
    assert refunds[1]["refundShippingLines"][0]["shippingLine"] == {"id": "S2"}
    assert refunds[2]["refundShippingLines"][0]["shippingLine"] == {"id": "S1", "taxLines": []}
