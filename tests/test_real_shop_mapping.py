"""Orders of real shops, as pure mapping: lines without a SKU (custom items, tips, gift cards),
bundle components, and the currency and exchange rate a sales order is sent in (issue 16)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_factory import LineSpec, OrderSpec, ShipSpec, order_node

from syncer.money import cents
from syncer.orders.credit import LINES_KEY, map_free_credit
from syncer.orders.currency import CurrencyHold, CurrencyRates
from syncer.orders.mapping import OrderSettings, map_sales_order

D = Decimal
HOLD = OrderSettings()
CHARGE = OrderSettings(lines_without_sku="charge")
GUID = "5f0c1a52-8a0c-4d2b-9a57-000000000001"
ZERO = D(0)


def with_presentment(node: Any, currency: str, rate: Decimal) -> Any:
    """The node as Shopify returns it for a customer paying in `currency`: every MoneyBag also
    carries `presentmentMoney`, each amount converted and rounded on its own."""
    if isinstance(node, list):
        return [with_presentment(item, currency, rate) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: with_presentment(value, currency, rate) for key, value in node.items()}
    shop = node.get("shopMoney")
    if isinstance(shop, dict):
        amount = cents(D(shop["amount"]) * rate)
        out["presentmentMoney"] = {"amount": str(amount), "currencyCode": currency}
    return out


def custom_order(*extra: dict[str, Any], tip: Decimal = ZERO) -> dict[str, Any]:
    """A tax-exclusive NZD order of one product line plus the given SKU-less lines."""
    node = order_node(OrderSpec([LineSpec("TEE", 2, D("20.00"))]))
    node["totalTipReceivedSet"] = {"shopMoney": {"amount": str(tip), "currencyCode": "NZD"}}
    for index, line in enumerate(extra, start=2):
        node["lineItems"]["nodes"].append(
            {
                "id": f"gid://shopify/LineItem/{index}",
                "sku": None,
                "name": line["title"],
                "title": line["title"],
                "quantity": line.get("quantity", 1),
                "currentQuantity": line.get("quantity", 1),
                "taxable": line.get("rate", D(0)) > 0,
                "isGiftCard": line.get("gift_card", False),
                "lineItemGroup": None,
                "discountedUnitPriceAfterAllDiscountsSet": {
                    "shopMoney": {"amount": str(line["price"]), "currencyCode": "NZD"}
                },
                "taxLines": (
                    [
                        {
                            "rate": float(line["rate"]),
                            "title": "GST",
                            "priceSet": {"shopMoney": {"amount": "0", "currencyCode": "NZD"}},
                        }
                    ]
                    if line.get("rate")
                    else []
                ),
            }
        )
    return node


ENGRAVING = {"title": "Engraving", "price": D("12.50"), "quantity": 2, "rate": D("0.15")}
TIP = {"title": "Tip", "price": D("5.00")}
GIFT_CARD = {"title": "Gift card $50", "price": D("50.00"), "gift_card": True}


def assert_totals_rule(payload: dict[str, Any], lines_key: str, qty_key: str, price_key: str):
    """Unleashed's validation: each line rounds on its own, the header sums the lines."""
    lines = payload[lines_key]
    for line in lines:
        assert line["LineTotal"] == cents(line[qty_key] * line[price_key])
        assert line["LineTax"] == cents(line["LineTotal"] * line["TaxRate"])
    assert payload["SubTotal"] == sum((line["LineTotal"] for line in lines), D(0))
    assert payload["TaxTotal"] == sum((line["LineTax"] for line in lines), D(0))
    assert payload["Total"] == payload["SubTotal"] + payload["TaxTotal"]


# -- lines without a SKU ------------------------------------------------------------------------


def test_by_default_each_line_without_a_sku_is_named_by_title_and_holds_the_order() -> None:
    mapped = map_sales_order(
        custom_order(ENGRAVING, TIP, GIFT_CARD, tip=D("5.00")), HOLD, guid=GUID, customer_code="C"
    )

    assert mapped.missing_from({"TEE"}) == [
        "<no sku: Engraving>",
        "<no sku: Tip>",
        "<no sku: Gift card $50>",
    ]
    assert [(c["title"], c["kind"]) for c in mapped.notes["lines_without_sku"]] == [
        ("Engraving", "custom"),
        ("Tip", "tip"),
        ("Gift card $50", "gift_card"),
    ]


def test_with_charge_each_becomes_a_charge_line_with_its_title_price_and_tax() -> None:
    mapped = map_sales_order(
        custom_order(ENGRAVING, TIP, GIFT_CARD, tip=D("5.00")), CHARGE, guid=GUID, customer_code="C"
    )

    assert mapped.missing_from({"TEE"}) == []
    assert mapped.skus == ("TEE",)
    product, engraving, tip, gift = mapped.payload["SalesOrderLines"]
    assert product["Product"] == {"ProductCode": "TEE"}
    assert "LineType" not in product
    assert engraving == {
        "LineNumber": 2,
        "LineType": "Charge",
        "Product": {"ProductDescription": "2 x Engraving"},
        "OrderQuantity": 1,
        "UnitPrice": D("25.00"),
        "DiscountRate": D(0),
        "LineTotal": D("25.00"),
        "LineTax": D("3.75"),
        "TaxRate": D("0.15"),
    }
    assert (tip["Product"], tip["UnitPrice"], tip["LineTax"]) == (
        {"ProductDescription": "Tip"},
        D("5.00"),
        D(0),
    )
    assert gift["Product"] == {"ProductDescription": "Gift card $50"}
    # 2 tees 40 + 6 tax, engraving 25 + 3.75 tax, tip 5, gift card 50
    assert mapped.payload["Total"] == D("129.75")
    assert_totals_rule(mapped.payload, "SalesOrderLines", "OrderQuantity", "UnitPrice")


@pytest.mark.parametrize(
    ("line", "tip", "kind"),
    [
        pytest.param({"title": "Tip", "price": D("3")}, D("3"), "tip", id="titled-tip"),
        pytest.param({"title": "Thanks!", "price": D("3")}, D("3"), "tip", id="tip-by-amount"),
        pytest.param({"title": "Tip", "price": D("3")}, D(0), "custom", id="no-tip-received"),
        pytest.param({"title": "Thanks!", "price": D("4")}, D("3"), "custom", id="other-amount"),
        pytest.param(
            {"title": "Tip", "price": D("3"), "gift_card": True}, D("3"), "gift_card", id="gift"
        ),
    ],
)
def test_tips_gift_cards_and_custom_items_are_told_apart(
    line: dict[str, Any], tip: Decimal, kind: str
) -> None:
    mapped = map_sales_order(custom_order(line, tip=tip), CHARGE, guid=GUID, customer_code="C")
    assert [c["kind"] for c in mapped.notes["lines_without_sku"]] == [kind]


def test_bundle_components_map_as_lines_and_the_detail_names_the_bundle() -> None:
    node = order_node(OrderSpec([LineSpec("MUG", 1, D("9")), LineSpec("TEA", 2, D("4"))]))
    group = {"id": "gid://shopify/LineItemGroup/1", "title": "Tea for one", "quantity": 1}
    for line in node["lineItems"]["nodes"]:
        line["lineItemGroup"] = group

    mapped = map_sales_order(node, HOLD, guid=GUID, customer_code="C")

    assert [line["Product"] for line in mapped.payload["SalesOrderLines"]] == [
        {"ProductCode": "MUG"},
        {"ProductCode": "TEA"},
    ]
    assert mapped.notes["bundles"] == [{"bundle": "Tea for one", "lines": ["MUG", "TEA"]}]


# -- currencies ---------------------------------------------------------------------------------

RATES = CurrencyRates({"AUD": D("0.8933"), "USD": D("0.6725")}, "NZD")


@pytest.mark.parametrize(
    ("rates", "code", "expected"),
    [
        pytest.param(RATES, "NZD", D(1), id="base"),
        pytest.param(RATES, "AUD", D("0.8933"), id="in-use"),
        pytest.param(RATES, "usd", D("0.6725"), id="case"),
        pytest.param(CurrencyRates({"AUD": D("0.8933")}, None), "NZD", D(1), id="assumed-base"),
        pytest.param(CurrencyRates({"AUD": D("0.8933")}, None), "JPY", D(1), id="assumed-any"),
    ],
)
def test_exchange_rate_is_unleasheds_own(rates: CurrencyRates, code: str, expected: D) -> None:
    assert rates.rate_for(code) == expected


def test_a_currency_neither_base_nor_in_use_holds_with_the_fix() -> None:
    with pytest.raises(CurrencyHold) as caught:
        RATES.rate_for("JPY")
    assert str(caught.value) == (
        "currency JPY is neither Unleashed's base currency (NZD) nor in use there; "
        "add JPY under Currency Rates in Unleashed"
    )


def test_rates_are_read_from_the_in_use_list_and_unset_rates_are_left_out() -> None:
    rates = CurrencyRates.from_records(
        [
            {"CurrencyCode": "AUD", "DefaultSellRate": D("0.893300")},
            {"CurrencyCode": "GBP", "DefaultSellRate": None},
            {"CurrencyCode": "EUR", "DefaultSellRate": "0"},
        ],
        "nzd",
    )
    assert rates == CurrencyRates({"AUD": D("0.893300")}, "NZD")


def test_presentment_sends_the_customers_currency_and_amounts() -> None:
    spec = OrderSpec([LineSpec("TEE", 2, D("20.00"))], shipping=[ShipSpec(D("10"))])
    node = with_presentment(order_node(spec), "USD", D("0.6725"))
    node["presentmentCurrencyCode"] = "USD"

    shop = map_sales_order(node, HOLD, guid=GUID, customer_code="C")
    sent = map_sales_order(
        node,
        OrderSettings(currency="presentment"),
        guid=GUID,
        customer_code="C",
        exchange_rate=D("0.6725"),
    )

    assert (shop.payload["Currency"], shop.payload["ExchangeRate"]) == (
        {"CurrencyCode": "NZD"},
        D(1),
    )
    assert (sent.payload["Currency"], sent.payload["ExchangeRate"]) == (
        {"CurrencyCode": "USD"},
        D("0.6725"),
    )
    assert [line["UnitPrice"] for line in sent.payload["SalesOrderLines"]] == [
        D("13.45"),
        D("6.73"),
    ]
    # What the after-import comparison keeps stays in the shop's money.
    [(line_id, sent_line)] = sent.lines_snapshot.items()
    assert sent_line["shopify_unit_price"] == shop.lines_snapshot[line_id]["shopify_unit_price"]
    assert sent_line["unit_price"] == "13.45"
    assert sent.notes["currency"] == "USD"
    assert sent.notes["exchange_rate"] == "0.6725"


def test_credit_notes_follow_the_same_currency_rule() -> None:
    spec = OrderSpec([LineSpec("TEE", 2, D("20.00"))])
    node = with_presentment(order_node(spec), "USD", D("0.6725"))
    node["presentmentCurrencyCode"] = "USD"
    refund = with_presentment(
        {
            "id": "gid://shopify/Refund/9",
            "createdAt": "2026-11-02T00:00:00Z",
            "refundLineItems": {
                "nodes": [
                    {
                        "quantity": 1,
                        "lineItem": {"id": "gid://shopify/LineItem/1", "sku": "TEE"},
                        "subtotalSet": {"shopMoney": {"amount": "20.00", "currencyCode": "NZD"}},
                        "totalTaxSet": {"shopMoney": {"amount": "3.00", "currencyCode": "NZD"}},
                    }
                ]
            },
            "refundShippingLines": {"nodes": []},
        },
        "USD",
        D("0.6725"),
    )

    payload = map_free_credit(
        refund,
        node,
        OrderSettings(currency="presentment"),
        guid=GUID,
        customer_code="C",
        exchange_rate=D("0.6725"),
    )

    assert (payload["Currency"], payload["ExchangeRate"]) == ({"CurrencyCode": "USD"}, D("0.6725"))
    assert payload[LINES_KEY][0]["CreditPrice"] == D("13.45")


def test_a_refunded_line_without_a_sku_is_credited_as_a_charge_with_charge() -> None:
    node = custom_order(ENGRAVING)
    refund = {
        "id": "gid://shopify/Refund/9",
        "createdAt": "2026-11-02T00:00:00Z",
        "refundLineItems": {
            "nodes": [
                {
                    "quantity": 2,
                    "lineItem": {
                        "id": "gid://shopify/LineItem/2",
                        "sku": None,
                        "title": "Engraving",
                    },
                    "subtotalSet": {"shopMoney": {"amount": "25.00", "currencyCode": "NZD"}},
                    "totalTaxSet": {"shopMoney": {"amount": "3.75", "currencyCode": "NZD"}},
                }
            ]
        },
    }

    payload = map_free_credit(refund, node, CHARGE, guid=GUID, customer_code="C")

    [line] = payload[LINES_KEY]
    assert line["LineType"] == "Charge"
    assert line["Product"] == {"ProductDescription": "2 x Engraving"}
    assert (line["LineTotal"], line["LineTax"]) == (D("25.00"), D("3.75"))


# -- the totals rule, for random real-shop orders -----------------------------------------------

CURRENCY_CASES = {
    # (settings.currency, presentment currency, rate of the presented money, rates, expected)
    "base": ("shop", "NZD", D(1), RATES, ("NZD", D(1))),
    "in-use foreign": ("shop", "AUD", D(1), RATES, ("AUD", D("0.8933"))),
    "presentment": ("presentment", "USD", D("0.6725"), RATES, ("USD", D("0.6725"))),
}

money_st = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)
line_st = st.builds(
    LineSpec,
    sku=st.sampled_from(["TEE", "MUG", None]),
    quantity=st.integers(1, 7),
    unit_price=money_st,
    rate=st.sampled_from([D(0), D("0.15"), D("0.1")]),
    discount=st.sampled_from([D(0), D("0.1"), D("0.333"), D("0.5")]),
)
ship_st = st.builds(
    ShipSpec, price=st.sampled_from([D(0), D("4.99"), D("12.00")]), rate=st.just(D("0.15"))
)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(line_st, min_size=1, max_size=6),
    shipping=st.lists(ship_st, max_size=2),
    taxes_included=st.booleans(),
    case=st.sampled_from(sorted(CURRENCY_CASES)),
)
def test_totals_rule_holds_for_random_real_shop_orders(
    lines: list[LineSpec], shipping: list[ShipSpec], taxes_included: bool, case: str
) -> None:
    mode, presented, presented_rate, rates, (currency, rate) = CURRENCY_CASES[case]
    node = order_node(OrderSpec(copy.deepcopy(lines), taxes_included, shipping))
    if case == "in-use foreign":
        node = copy.deepcopy(node)
        node["currencyCode"] = "AUD"
    node = with_presentment(node, presented, presented_rate)
    node["presentmentCurrencyCode"] = presented
    order_settings = OrderSettings(lines_without_sku="charge", currency=mode)  # type: ignore[arg-type]

    exchange = rates.rate_for(currency)
    mapped = map_sales_order(
        node, order_settings, guid=GUID, customer_code="C", exchange_rate=exchange
    )

    payload = mapped.payload
    assert (payload["Currency"], payload["ExchangeRate"]) == ({"CurrencyCode": currency}, rate)
    assert_totals_rule(payload, "SalesOrderLines", "OrderQuantity", "UnitPrice")
    charges = [line for line in payload["SalesOrderLines"] if line.get("LineType") == "Charge"]
    without_sku = sum(1 for line in lines if line.sku is None)
    shipped = sum(1 for s in shipping if s.price)
    assert len(charges) == without_sku + shipped
    assert all(line["OrderQuantity"] == 1 for line in charges)
    # Nothing is lost beyond rounding: a cent or so a line, and with converted money (each
    # presented amount rounded on its own here) up to a cent a unit.
    slack = len(payload["SalesOrderLines"]) + 1
    if case == "presentment":
        slack += sum(line.quantity for line in lines)
    assert abs(mapped.difference) <= D("0.01") * slack
