"""Projection of Unleashed products and Shopify variants onto comparable per-SKU records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.products.projection import (
    FIELDS,
    NORMALISATION,
    STORE_FORMAT,
    from_shopify,
    from_store,
    from_unleashed,
    normalise_html,
    normalise_text,
    shopify_price,
    shopify_product_fields,
    shopify_variant_input,
    tax_exclusive,
    tax_inclusive,
    to_store,
    unleashed_product_body,
    weight_to_kg,
)

RATE = Decimal("0.15")


def unleashed(**overrides: Any) -> dict[str, Any]:
    product: dict[str, Any] = {
        "Guid": "g-1",
        "ProductCode": "TEE-BLK-M",
        "ProductDescription": "Tee Black M",
        "Notes": "<p>Soft</p>",
        "Barcode": None,
        "Weight": 0.2,
        "DefaultSellPrice": 10,
        "SellPriceTier1": {"Name": "RRP", "Value": "15.0000"},
        "SellPriceTier2": None,
        "ProductGroup": {"Guid": "grp", "GroupName": "Tees"},
        "Obsolete": False,
        "LastModifiedOn": "/Date(1378686019420)/",
    }
    product.update(overrides)
    return product


def variant(
    *,
    product: dict[str, Any] | None = None,
    weight: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "gid://shopify/ProductVariant/1",
        "sku": "TEE-BLK-M",
        "title": "Default Title",
        "barcode": None,
        "price": "10.00",
        "updatedAt": "2026-11-01T00:00:00Z",
        "product": {
            "id": "gid://shopify/Product/1",
            "title": "Tee Black M",
            "descriptionHtml": "<p>Soft</p>",
            "productType": "Tees",
            "status": "ACTIVE",
            "updatedAt": "2026-11-01T00:00:00Z",
            "variantsCount": {"count": 1},
            **(product or {}),
        },
        "inventoryItem": {
            "id": "gid://shopify/InventoryItem/1",
            "tracked": True,
            "measurement": {"weight": weight or {"unit": "KILOGRAMS", "value": 0.2}},
        },
    }
    node.update(overrides)
    return node


def shop(node: dict[str, Any], taxes_included: bool = False) -> Any:
    return from_shopify(node, taxes_included=taxes_included, tax_rate=RATE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("  Tee \t Black\n M ", "Tee Black M", id="collapse-and-trim"),
        pytest.param("", None, id="empty-is-none"),
        pytest.param("   ", None, id="blank-is-none"),
        pytest.param(None, None, id="none"),
    ],
)
def test_text_whitespace(raw: str | None, expected: str | None) -> None:
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("<p>a</p>\n  <p>b</p>", "<p>a</p><p>b</p>", id="between-blocks"),
        pytest.param("<ul>\r\n <li>x</li>\r\n</ul>", "<ul><li>x</li></ul>", id="crlf-list"),
        pytest.param("  <p>a</p>\n", "<p>a</p>", id="trimmed"),
        pytest.param("<b>a</b> <i>b</i>", "<b>a</b> <i>b</i>", id="inline-space-kept"),
        pytest.param("<p>a  b</p>", "<p>a  b</p>", id="text-space-kept"),
        pytest.param("<p>a</p>\n<b>x</b>", "<p>a</p><b>x</b>", id="block-then-inline"),
        pytest.param(
            "<pre>\n  <div>x</div>\n</pre>", "<pre>\n  <div>x</div>\n</pre>", id="pre-untouched"
        ),
        pytest.param("<br>\n<br/>", "<br><br/>", id="br-forms-kept"),
        pytest.param("&amp;", "&amp;", id="entities-kept"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_html_normalisation(raw: str | None, expected: str | None) -> None:
    assert normalise_html(raw) == expected


@pytest.mark.parametrize(
    ("unleashed_overrides", "shopify_node", "taxes_included", "field"),
    [
        pytest.param(
            {"ProductDescription": "Tee  Black M "}, variant(), False, "title", id="title-space"
        ),
        pytest.param(
            {"Notes": "<p>a</p>\r\n<p>b</p>"},
            variant(product={"descriptionHtml": "<p>a</p>\n    <p>b</p>"}),
            False,
            "description",
            id="html-indentation",
        ),
        pytest.param(
            {"Notes": None},
            variant(product={"descriptionHtml": ""}),
            False,
            "description",
            id="description-none-vs-empty",
        ),
        pytest.param({"DefaultSellPrice": 10}, variant(price="10.00"), False, "price", id="cents"),
        pytest.param(
            {"DefaultSellPrice": "10.004"}, variant(price="10.0"), False, "price", id="half-up"
        ),
        pytest.param(
            {"DefaultSellPrice": 10}, variant(price="11.50"), True, "price", id="tax-inclusive"
        ),
        pytest.param(
            {"DefaultSellPrice": 10.01}, variant(price="11.51"), True, "price", id="tax-inc-round"
        ),
        pytest.param(
            {"Weight": 0.25},
            variant(weight={"unit": "GRAMS", "value": 250.0}),
            False,
            "weight",
            id="grams",
        ),
        pytest.param(
            {"Weight": 0.454},
            variant(weight={"unit": "POUNDS", "value": 1.0}),
            False,
            "weight",
            id="pounds",
        ),
        pytest.param(
            {"Weight": 0.028},
            variant(weight={"unit": "OUNCES", "value": 1}),
            False,
            "weight",
            id="ounces",
        ),
        pytest.param(
            {"Weight": None},
            variant(weight={"unit": "KILOGRAMS", "value": 0.0}),
            False,
            "weight",
            id="no-weight-is-zero",
        ),
        pytest.param({"Barcode": ""}, variant(barcode=None), False, "barcode", id="barcode-empty"),
        pytest.param(
            {"Barcode": " 9400 "}, variant(barcode="9400"), False, "barcode", id="barcode-trim"
        ),
        pytest.param(
            {"ProductGroup": None},
            variant(product={"productType": ""}),
            False,
            "product_type",
            id="type-none-vs-empty",
        ),
    ],
)
def test_field_pairs_compare_equal(
    unleashed_overrides: dict[str, Any],
    shopify_node: dict[str, Any],
    taxes_included: bool,
    field: str,
) -> None:
    left = from_unleashed(unleashed(**unleashed_overrides))
    right = shop(shopify_node, taxes_included)
    assert left.problems == ()
    assert right.problems == ()
    assert left.value(field) == right.value(field)


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        pytest.param("default", Decimal("10.00"), id="default"),
        pytest.param(1, Decimal("15.00"), id="tier-1-string"),
        pytest.param(2, None, id="tier-null"),
        pytest.param(3, None, id="tier-absent"),
    ],
)
def test_unleashed_price_tier(tier: str | int, expected: Decimal | None) -> None:
    assert from_unleashed(unleashed(), price_tier=tier).price == expected


@pytest.mark.parametrize("tier", [0, 11, "tier1", True])
def test_bad_price_tier_is_rejected(tier: Any) -> None:
    with pytest.raises(ValueError, match=r"products\.price_tier"):
        from_unleashed(unleashed(), price_tier=tier)


@pytest.mark.parametrize(
    ("node", "expected_title", "multi"),
    [
        pytest.param(variant(), "Tee Black M", False, id="single-variant"),
        pytest.param(
            variant(title="Black / M", product={"title": "Tee", "variantsCount": {"count": 3}}),
            "Tee - Black / M",
            True,
            id="multi-variant",
        ),
        pytest.param(
            variant(title=" Black ", product={"title": " Tee ", "variantsCount": {"count": 2}}),
            "Tee - Black",
            True,
            id="multi-variant-whitespace",
        ),
    ],
)
def test_shopify_title_for_pairing(node: dict[str, Any], expected_title: str, multi: bool) -> None:
    projection = shop(node)
    assert (projection.title, projection.multi_variant) == (expected_title, multi)


def test_ids_and_status_are_copied() -> None:
    projection = shop(variant())
    assert projection.ids == {
        "product_id": "gid://shopify/Product/1",
        "variant_id": "gid://shopify/ProductVariant/1",
        "inventory_item_id": "gid://shopify/InventoryItem/1",
    }
    assert projection.status == "ACTIVE"
    assert from_unleashed(unleashed(Obsolete=True)).ids == {"guid": "g-1"}
    assert from_unleashed(unleashed(Obsolete=True)).obsolete is True


@pytest.mark.parametrize(
    ("projection_of", "field", "fragment"),
    [
        pytest.param(
            lambda: shop(variant(price="ten")), "price", "not a number", id="shopify-price"
        ),
        pytest.param(
            lambda: from_unleashed(unleashed(DefaultSellPrice="n/a")),
            "price",
            "DefaultSellPrice is not a number",
            id="unleashed-price",
        ),
        pytest.param(
            lambda: from_unleashed(unleashed(SellPriceTier1={"Value": "x"}), price_tier=1),
            "price",
            "SellPriceTier1.Value is not a number",
            id="unleashed-tier-price",
        ),
        pytest.param(
            lambda: shop(variant(weight={"unit": "STONES", "value": 1})),
            "weight",
            "weight unit 'STONES' is unknown",
            id="weight-unit",
        ),
        pytest.param(
            lambda: from_unleashed(unleashed(Weight="heavy")),
            "weight",
            "Weight is not a number",
            id="unleashed-weight",
        ),
        pytest.param(
            lambda: from_unleashed(unleashed(DefaultSellPrice=1e30)),
            "price",
            "DefaultSellPrice is too large to be a real value: 1e+30",
            id="unleashed-price-huge",
        ),
        pytest.param(
            lambda: from_unleashed(unleashed(Weight=1e30)),
            "weight",
            "Weight is too large to be a real value: 1e+30",
            id="unleashed-weight-huge",
        ),
        pytest.param(
            lambda: shop(variant(price="1e30")), "price", "too large", id="shopify-price-huge"
        ),
        pytest.param(
            lambda: shop(variant(weight={"unit": "GRAMS", "value": 1e30})),
            "weight",
            "weight is too large to be a real value",
            id="shopify-weight-huge",
        ),
        pytest.param(lambda: shop(variant(sku="")), None, "has no SKU", id="shopify-sku"),
        pytest.param(
            lambda: from_unleashed(unleashed(ProductCode=None)),
            None,
            "has no ProductCode",
            id="unleashed-code",
        ),
        pytest.param(
            lambda: shop(variant(product={"variantsCount": None})),
            None,
            "variantsCount",
            id="variants-count",
        ),
    ],
)
def test_bad_data_is_a_record_problem(projection_of: Any, field: str | None, fragment: str) -> None:
    projection = projection_of()
    assert [p.field for p in projection.problems] == [field]
    assert fragment in projection.problems[0].reason


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        pytest.param("1.5", "KILOGRAMS", Decimal("1.500"), id="kg"),
        pytest.param(1500, "GRAMS", Decimal("1.500"), id="g"),
        pytest.param("2", "POUNDS", Decimal("0.907"), id="lb"),
        pytest.param("16", "OUNCES", Decimal("0.454"), id="oz"),
        pytest.param("0.0005", "KILOGRAMS", Decimal("0.001"), id="half-up"),
    ],
)
def test_weight_to_kg(value: object, unit: str, expected: Decimal) -> None:
    assert weight_to_kg(value, unit) == expected


@pytest.mark.parametrize(
    ("exclusive", "rate", "inclusive"),
    [
        pytest.param("10.00", "0.15", "11.50", id="gst"),
        pytest.param("10.01", "0.15", "11.51", id="gst-round"),
        pytest.param("0.03", "0.15", "0.03", id="tiny"),
        pytest.param("19.99", "0.2", "23.99", id="vat"),
    ],
)
def test_tax_conversion_both_ways(exclusive: str, rate: str, inclusive: str) -> None:
    assert tax_inclusive(Decimal(exclusive), Decimal(rate)) == Decimal(inclusive)
    assert tax_exclusive(Decimal(inclusive), Decimal(rate)) == Decimal(exclusive)
    assert shopify_price(Decimal(exclusive), taxes_included=True, tax_rate=Decimal(rate)) == (
        Decimal(inclusive)
    )
    assert shopify_price(Decimal(exclusive), taxes_included=False, tax_rate=Decimal(rate)) == (
        Decimal(exclusive)
    )


@given(
    cents_value=st.integers(min_value=0, max_value=10**9),
    rate=st.sampled_from(["0", "0.05", "0.125", "0.15", "0.2", "0.25"]).map(Decimal),
)
def test_exclusive_price_survives_a_round_trip_through_the_shop(
    cents_value: int, rate: Decimal
) -> None:
    exclusive = Decimal(cents_value) / 100
    assert tax_exclusive(tax_inclusive(exclusive, rate), rate) == exclusive


@given(st.text(alphabet="ab <>/p\n\tl", max_size=40))
def test_html_normalisation_is_idempotent(raw: str) -> None:
    once = normalise_html(raw)
    assert normalise_html(once) == once


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        pytest.param("title", "Tee", "Tee", id="title"),
        pytest.param("title", None, "", id="title-none"),
        pytest.param("description", "<p>a</p>", "<p>a</p>", id="description"),
        pytest.param("price", Decimal("12.5"), "12.50", id="price"),
        pytest.param("price", None, "", id="price-none"),
        pytest.param("barcode", None, "", id="barcode-none"),
        pytest.param("weight", Decimal("0.25"), "0.250", id="weight"),
        pytest.param("product_type", "Tees", "Tees", id="type"),
    ],
)
def test_store_format_round_trip(field: str, value: object, text: str) -> None:
    assert to_store(field, value) == text
    assert from_store(field, text) == value


def test_every_field_has_a_documented_rule_and_store_format() -> None:
    assert set(NORMALISATION) == set(FIELDS) == set(STORE_FORMAT)
    assert all(rule and why for rule, why in NORMALISATION.values())


def test_unknown_field_is_named() -> None:
    with pytest.raises(ValueError, match="unknown product field 'colour'"):
        from_unleashed(unleashed()).value("colour")


# --- payloads to the APIs ----------------------------------------------------------------------

D = Decimal


@pytest.mark.parametrize(
    ("changes", "tier", "name", "expected"),
    [
        pytest.param(
            {"title": ("a", "Tee"), "price": (None, D("10.50")), "product_type": ("T", None)},
            "default",
            None,
            {
                "ProductCode": "TEE",
                "ProductDescription": "Tee",
                "DefaultSellPrice": D("10.50"),
                "ProductGroup": None,
            },
            id="default-price-and-cleared-group",
        ),
        pytest.param(
            {"price": (None, D("10.50")), "product_type": (None, "Tees")},
            3,
            "Wholesale",
            {
                "ProductCode": "TEE",
                "SellPriceTier3": {"Name": "Wholesale", "Value": "10.50"},
                "ProductGroup": {"GroupName": "Tees"},
            },
            id="named-tier",
        ),
        pytest.param(
            {"price": (D("1"), None), "weight": (D("0"), D("0.250")), "barcode": ("1", None)},
            7,
            None,
            {
                "ProductCode": "TEE",
                "SellPriceTier7": {"Value": None},
                "Weight": D("0.250"),
                "Barcode": None,
            },
            id="cleared-unnamed-tier",
        ),
    ],
)
def test_unleashed_product_body(
    changes: dict[str, Any], tier: str | int, name: str | None, expected: dict[str, Any]
) -> None:
    assert unleashed_product_body("TEE", changes, price_tier=tier, tier_name=name) == expected


def test_shopify_payloads_split_product_and_variant_fields() -> None:
    changes = {
        "title": ("a", "Tee"),
        "description": ("<p>x</p>", None),
        "status": ("ACTIVE", "DRAFT"),
        "price": (D("1"), D("10.00")),
        "barcode": ("9400", None),
        "weight": (D("0"), D("0.250")),
    }
    assert shopify_product_fields(changes) == {
        "title": "Tee",
        "descriptionHtml": "",
        "status": "DRAFT",
    }
    assert shopify_variant_input("v1", changes, taxes_included=True, tax_rate=RATE) == {
        "id": "v1",
        "price": D("11.50"),
        "barcode": "",
        "inventoryItem": {"measurement": {"weight": {"unit": "KILOGRAMS", "value": D("0.250")}}},
    }


UNSET_TIER_2 = "SellPriceTier2 is not set in Unleashed ({}): set it, or use price_tier: default"


@pytest.mark.parametrize(
    ("tier_2", "expected_price", "reason"),
    [
        pytest.param(
            {"Name": "", "Value": "0.0000"},
            Decimal("0.00"),
            UNSET_TIER_2.format("Name '', Value '0.0000'"),
            id="unnamed-zero-as-unleashed-sends-it",
        ),
        pytest.param(
            {"Name": "Wholesale", "Value": None},
            None,
            UNSET_TIER_2.format("Name 'Wholesale', Value None"),
            id="null-value",
        ),
        pytest.param(
            {"Name": "Wholesale", "Value": ""},
            None,
            UNSET_TIER_2.format("Name 'Wholesale', Value ''"),
            id="empty-value",
        ),
        pytest.param(
            {"Name": "Wholesale", "Value": 0},
            Decimal("0.00"),
            UNSET_TIER_2.format("Name 'Wholesale', Value 0"),
            id="number-zero",
        ),
        pytest.param(
            None, None, UNSET_TIER_2.format("no such tier on the product"), id="tier-null"
        ),
        pytest.param(
            "12.00", None, UNSET_TIER_2.format("'12.00' is not a tier"), id="tier-not-an-object"
        ),
        pytest.param({"Name": "Wholesale", "Value": "12.5000"}, Decimal("12.50"), None, id="set"),
        pytest.param({"Name": "", "Value": "7.0000"}, Decimal("7.00"), None, id="unnamed-priced"),
    ],
)
def test_an_unset_price_tier_is_flagged_with_the_reason(
    tier_2: Any, expected_price: Decimal | None, reason: str | None
) -> None:
    record = from_unleashed(unleashed(SellPriceTier2=tier_2), price_tier=2)
    assert record.price == expected_price
    assert record.unset_price == reason
    assert record.problems == ()
    # The default price never looks at the tiers.
    assert from_unleashed(unleashed(SellPriceTier2=tier_2)).price == Decimal("10.00")
    assert from_unleashed(unleashed(SellPriceTier2=tier_2)).unset_price is None


def test_an_absent_price_tier_is_unset() -> None:
    product = unleashed()
    del product["SellPriceTier2"]
    record = from_unleashed(product, price_tier=2)
    assert (record.price, record.unset_price) == (
        None,
        UNSET_TIER_2.format("no such tier on the product"),
    )
