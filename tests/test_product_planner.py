"""The three-way product planner (SPEC section 4, "Products") and its safety stop."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from syncer.products.planner import (
    ProductPlan,
    ProductWrite,
    plan,
    safety_check,
)
from syncer.products.projection import (
    FIELDS,
    PRODUCT_LEVEL_FIELDS,
    Projection,
    RecordProblem,
    Side,
    from_shopify,
    from_unleashed,
    shopify_price,
    shopify_product_fields,
    shopify_variant_input,
    to_store,
    unleashed_product_body,
)

BASE: dict[str, Any] = {
    "title": "Tee",
    "description": "<p>Soft</p>",
    "price": Decimal("10.00"),
    "barcode": "9400",
    "weight": Decimal("0.200"),
    "product_type": "Tees",
}


def u(sku: str = "A", **values: Any) -> Projection:
    return Projection(side="unleashed", sku=sku, **{**BASE, "ids": {"guid": f"g-{sku}"}, **values})


def s(sku: str = "A", **values: Any) -> Projection:
    ids = {"product_id": f"p-{sku}", "variant_id": f"v-{sku}", "inventory_item_id": f"i-{sku}"}
    return Projection(side="shopify", sku=sku, **{**BASE, "status": "ACTIVE", "ids": ids, **values})


def stored(**values: Any) -> dict[str, str]:
    merged = {**BASE, **values}
    return {name: to_store(name, merged[name]) for name in FIELDS}


def actions(result: ProductPlan) -> list[tuple[str, str]]:
    return [(item.key, item.action) for item in result.items]


def changes(result: ProductPlan) -> dict[str, dict[str, tuple[Any, Any]]]:
    return {write.sku: dict(write.changes) for write in result.writes}


# ---------------------------------------------------------------- three-way rule, table-driven

THREE_WAY = [
    pytest.param([u()], [s()], {"A": stored()}, {}, [("A", "unchanged")], {}, id="unchanged"),
    pytest.param([u()], [s()], {}, {}, [("A", "unchanged")], {}, id="first-link-equal"),
    pytest.param(
        [u(price=Decimal("12.00"))],
        [s()],
        {},
        {},
        [("A", "update")],
        {"A": {"price": (Decimal("10.00"), Decimal("12.00"))}},
        id="first-link-writes-only-differing-fields",
    ),
    pytest.param(
        [u(title="Tee v2")],
        [s()],
        {"A": stored()},
        {},
        [("A", "update")],
        {"A": {"title": ("Tee", "Tee v2")}},
        id="master-changed",
    ),
    pytest.param(
        [u()],
        [s(barcode=None)],
        {"A": stored()},
        {},
        [("A", "drift")],
        {},
        id="drift-not-written",
    ),
    pytest.param(
        [u()],
        [s(barcode=None)],
        {"A": stored()},
        {"overwrite_drift": True},
        [("A", "update")],
        {"A": {"barcode": (None, "9400")}},
        id="overwrite-drift",
    ),
    pytest.param(
        [u(weight=Decimal("0.300"))],
        [s(weight=Decimal("0.250"))],
        {"A": stored()},
        {},
        [("A", "update")],
        {"A": {"weight": (Decimal("0.250"), Decimal("0.300"))}},
        id="master-change-replaces-drift",
    ),
    pytest.param(
        [u(price=Decimal("11.00"))],
        [s(product_type="Shirts")],
        {"A": stored()},
        {},
        [("A", "update"), ("A", "drift")],
        {"A": {"price": (Decimal("10.00"), Decimal("11.00"))}},
        id="change-and-drift-on-other-fields",
    ),
    pytest.param(
        [u(title="Tee v2")],
        [s()],
        {"A": {k: v for k, v in stored().items() if k != "title"}},
        {},
        [("A", "update")],
        {"A": {"title": ("Tee", "Tee v2")}},
        id="newly-selected-field-is-a-first-link",
    ),
    pytest.param(
        [u(title="Tee v2", price=Decimal("9.00"))],
        [s()],
        {},
        {"fields": ["price"]},
        [("A", "update")],
        {"A": {"price": (Decimal("10.00"), Decimal("9.00"))}},
        id="fields-selection",
    ),
    pytest.param(
        [u(title="Tee v2")],
        [s()],
        {},
        {"fields": ["price", "weight"]},
        [("A", "unchanged")],
        {},
        id="unselected-difference-ignored",
    ),
    pytest.param(
        [u(title="Tee - Black", price=Decimal("12.00"))],
        [s(title="Tee - Navy", multi_variant=True)],
        {},
        {"overwrite_drift": True},
        [("A", "update"), ("A", "drift")],
        {"A": {"price": (Decimal("10.00"), Decimal("12.00"))}},
        id="multi-variant-title-is-drift-never-written",
    ),
    pytest.param(
        [s(title="Tee - Black", multi_variant=True)],
        [u(title="Tee")],
        {},
        {},
        [("A", "update")],
        {"A": {"title": ("Tee", "Tee - Black")}},
        id="master-shopify-writes-composed-title",
    ),
    pytest.param(
        [s(price=Decimal("12.00"))],
        [u()],
        {"A": stored()},
        {},
        [("A", "update")],
        {"A": {"price": (Decimal("10.00"), Decimal("12.00"))}},
        id="master-shopify-mirror",
    ),
    pytest.param(
        [s()],
        [u(barcode="0000")],
        {"A": stored()},
        {},
        [("A", "drift")],
        {},
        id="master-shopify-drift",
    ),
]


@pytest.mark.parametrize(
    ("master", "other", "last", "options", "expected_actions", "expected_changes"), THREE_WAY
)
def test_three_way_rule(
    master: list[Projection],
    other: list[Projection],
    last: dict[str, dict[str, str]],
    options: dict[str, Any],
    expected_actions: list[tuple[str, str]],
    expected_changes: dict[str, dict[str, tuple[Any, Any]]],
) -> None:
    result = plan(master[0].side, master, other, last, **options)
    assert actions(result) == expected_actions
    assert changes(result) == expected_changes
    assert all(write.side == other[0].side for write in result.writes)
    fields = options.get("fields", FIELDS)
    assert result.synced["A"] == {
        **last.get("A", {}),
        **{name: to_store(name, master[0].value(name)) for name in fields},
    }


def test_update_carries_ids_and_report_detail() -> None:
    result = plan("unleashed", [u(price=Decimal("12.5"))], [s()], {})
    (write,) = result.writes
    assert write.kind == "update"
    assert write.ids == {"product_id": "p-A", "variant_id": "v-A", "inventory_item_id": "i-A"}
    assert write.master_ids == {"guid": "g-A"}
    assert result.items[0].detail == {"price": {"current": "10.00", "new": "12.50"}}


def test_drift_detail_names_both_values() -> None:
    result = plan("unleashed", [u()], [s(weight=Decimal("1.000"))], {"A": stored()})
    assert result.items[0].detail == {"weight": {"master": "0.200", "other": "1.000"}}
    assert result.writes == ()


@pytest.mark.parametrize(
    ("create_missing", "expected_action", "writes"),
    [
        pytest.param(True, "create", 1, id="create-missing-on"),
        pytest.param(False, "drift", 0, id="create-missing-off"),
    ],
)
def test_missing_on_other_side(create_missing: bool, expected_action: str, writes: int) -> None:
    result = plan("unleashed", [u(barcode=None)], [], {}, create_missing=create_missing)
    assert actions(result) == [("A", expected_action)]
    assert len(result.writes) == writes
    if writes:
        (write,) = result.writes
        assert (write.side, write.kind, write.ids, write.master_ids) == (
            "shopify",
            "create",
            {},
            {"guid": "g-A"},
        )
        assert write.changes == {name: (None, BASE[name]) for name in FIELDS if name != "barcode"}
        assert "A" in result.synced
    else:
        assert result.items[0].detail["missing_on"] == "shopify"
        assert "A" not in result.synced


def test_create_always_includes_the_title() -> None:
    result = plan("shopify", [s()], [], {}, fields=["price"])
    assert result.writes[0].changes == {
        "title": (None, "Tee"),
        "price": (None, Decimal("10.00")),
    }


def test_other_side_only_is_reported_not_written() -> None:
    result = plan("unleashed", [], [s("Z")], {})
    assert actions(result) == [("Z", "drift")]
    assert result.items[0].detail["missing_on"] == "unleashed"
    assert result.writes == ()


@pytest.mark.parametrize(
    ("other", "expected_actions", "expected_changes"),
    [
        pytest.param(
            [s(status="ACTIVE")],
            [("A", "update")],
            {"A": {"status": ("ACTIVE", "DRAFT")}},
            id="active-to-draft",
        ),
        pytest.param(
            [s(status="UNLISTED")],
            [("A", "update")],
            {"A": {"status": ("UNLISTED", "DRAFT")}},
            id="unlisted-to-draft",
        ),
        pytest.param([s(status="DRAFT")], [("A", "unchanged")], {}, id="already-draft"),
        pytest.param([s(status="ARCHIVED")], [("A", "unchanged")], {}, id="archived-left"),
        pytest.param(
            [s(status="ACTIVE", multi_variant=True)],
            [("A", "drift")],
            {},
            id="multi-variant-reported",
        ),
        pytest.param([], [("A", "unchanged")], {}, id="obsolete-not-created"),
    ],
)
def test_obsolete_unleashed_product_goes_to_draft(
    other: list[Projection],
    expected_actions: list[tuple[str, str]],
    expected_changes: dict[str, Any],
) -> None:
    result = plan("unleashed", [u(obsolete=True)], other, {"A": stored()})
    assert actions(result) == expected_actions
    assert changes(result) == expected_changes


@pytest.mark.parametrize(
    ("master", "other", "known", "fragment"),
    [
        pytest.param(
            [u(), u()],
            [s()],
            None,
            "2 records in Unleashed",
            id="master-duplicate",
        ),
        pytest.param(
            [u()],
            [s(), s()],
            None,
            "2 records in Shopify",
            id="other-duplicate",
        ),
        pytest.param(
            [u(), u()],
            [s(), s(), s()],
            None,
            "3 records in Shopify, 2 records in Unleashed",
            id="both-sides",
        ),
        pytest.param(
            [u()],
            [s()],
            {"shopify": {"A"}},
            "1 record in Shopify (known duplicate)",
            id="known-duplicate",
        ),
    ],
)
def test_duplicates_hold_every_record_of_the_sku(
    master: list[Projection],
    other: list[Projection],
    known: dict[Side, set[str]] | None,
    fragment: str,
) -> None:
    result = plan("unleashed", [*master, u("B")], [*other, s("B", price=Decimal(1))], {},
                  duplicates=known)  # fmt: skip
    assert actions(result) == [("A", "hold"), ("B", "update")]
    held = result.items[0]
    assert held.error is not None
    assert fragment in held.error
    assert "SKU A is duplicated" in held.error
    assert len(held.detail["records"]["shopify"]) == len(other)
    assert [write.sku for write in result.writes] == ["B"]
    assert "A" not in result.synced


@pytest.mark.parametrize(
    ("master", "other", "fields", "expected"),
    [
        pytest.param(
            [u(problems=(RecordProblem("price", "price is not a number: 'x'"),))],
            [s()],
            FIELDS,
            "hold",
            id="bad-price-held",
        ),
        pytest.param(
            [u(price=None, problems=(RecordProblem("price", "bad"),))],
            [s(title="Other")],
            ["title"],
            "update",
            id="bad-price-ignored-when-not-selected",
        ),
        pytest.param(
            [u()],
            [s(problems=(RecordProblem("weight", "weight unit 'STONES' is unknown"),))],
            FIELDS,
            "hold",
            id="bad-other-weight-held",
        ),
        pytest.param([u(price=None)], [s()], FIELDS, "hold", id="master-without-price-held"),
        pytest.param([u()], [s(price=None)], FIELDS, "update", id="other-without-price-written"),
    ],
)
def test_record_problems_hold_the_sku(
    master: list[Projection], other: list[Projection], fields: Any, expected: str
) -> None:
    result = plan("unleashed", master, other, {}, fields=fields)
    assert actions(result) == [("A", expected)]
    if expected == "hold":
        assert result.writes == ()
        assert result.items[0].error


def test_record_without_sku_is_held_by_its_ids() -> None:
    node = {"id": "gid://shopify/ProductVariant/9", "sku": "", "title": "Default Title",
            "price": "1.00", "product": {"id": "gid://shopify/Product/9", "title": "Gift card",
            "variantsCount": {"count": 1}}, "inventoryItem": {}}  # fmt: skip
    record = from_shopify(node, taxes_included=False, tax_rate=Decimal(0))
    result = plan("unleashed", [u()], [s(), record], {})
    hold = next(item for item in result.items if item.action == "hold")
    assert "gid://shopify/ProductVariant/9" in hold.key
    assert hold.error is not None
    assert "has no SKU" in hold.error


def test_scope_limits_the_plan() -> None:
    master = [u("A", price=Decimal(1)), u("B", price=Decimal(2)), u("C")]
    other = [s("A"), s("B"), s("C")]
    result = plan("unleashed", master, other, {}, scope={"B", "Z"})
    assert actions(result) == [("B", "update")]
    assert set(result.synced) == {"B"}


def test_plan_refuses_a_write_to_the_master_side() -> None:
    write = ProductWrite("A", "unleashed", "update", {"price": (Decimal(1), Decimal(2))})
    with pytest.raises(ValueError, match="writes A to unleashed, the master side"):
        ProductPlan("unleashed", (write,), (), {})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: plan("both", [], [], {}),  # type: ignore[arg-type]
            "master is 'both'",
            id="bad-master",
        ),
        pytest.param(
            lambda: plan("unleashed", [], [], {}, fields=["title", "colour"]),
            "unknown field(s) colour",
            id="bad-field",
        ),
        pytest.param(
            lambda: plan("unleashed", [s()], [], {}),
            "a shopify record was passed as the unleashed side",
            id="sides-swapped",
        ),
    ],
)
def test_bad_arguments_are_named(call: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    assert message in str(caught.value)


# ---------------------------------------------------------------- safety stop


def plan_with(writes: int) -> ProductPlan:
    return plan(
        "unleashed",
        [u(str(i), price=Decimal(99)) for i in range(writes)],
        [s(str(i)) for i in range(writes)],
        {},
    )


@pytest.mark.parametrize(
    ("writes", "options", "message"),
    [
        pytest.param(
            3,
            {"max_changes": 2, "force": False, "master_count": 3, "other_count": 3,
             "linked_count": 3},
            "the plan would change 3 products, more than products.max_changes (2); "
            "re-run with --force to apply it",
            id="too-many-changes",
        ),
        pytest.param(
            2,
            {"max_changes": 2, "force": False, "master_count": 3, "other_count": 3,
             "linked_count": 3},
            None,
            id="at-the-limit",
        ),
        pytest.param(
            3,
            {"max_changes": 2, "force": True, "master_count": 3, "other_count": 3,
             "linked_count": 3},
            None,
            id="forced",
        ),
        pytest.param(
            0,
            {"max_changes": 500, "force": False, "master_count": 0, "other_count": 812,
             "linked_count": 812},
            "Unleashed listed no products while 812 products are linked; check the account "
            "and its credentials, or re-run with --force to apply the plan anyway",
            id="master-empty",
        ),
        pytest.param(
            0,
            {"max_changes": 500, "force": False, "master_count": 812, "other_count": 0,
             "linked_count": 812},
            "Shopify listed no products while 812 products are linked; check the account "
            "and its credentials, or re-run with --force to apply the plan anyway",
            id="other-empty",
        ),
        pytest.param(
            0,
            {"max_changes": 500, "force": False, "master_count": 0, "other_count": 0,
             "linked_count": 5},
            "Shopify and Unleashed listed no products while 5 products are linked; check the "
            "account and its credentials, or re-run with --force to apply the plan anyway",
            id="both-empty",
        ),
        pytest.param(
            0,
            {"max_changes": 500, "force": False, "master_count": 0, "other_count": 0,
             "linked_count": 0},
            None,
            id="fresh-install",
        ),
        pytest.param(
            0,
            {"max_changes": 500, "force": True, "master_count": 0, "other_count": 10,
             "linked_count": 10},
            None,
            id="empty-side-forced",
        ),
    ],
)  # fmt: skip
def test_safety_check_messages(writes: int, options: dict[str, Any], message: str | None) -> None:
    assert safety_check(plan_with(writes), **options) == message


# ---------------------------------------------------------------- properties

TEXT = st.text(alphabet="ab  \n", max_size=6)
HTML = st.lists(st.sampled_from(["<p>", "</p>", "a", " ", "\n", "<b>", "</b>", "<br>"]),
                max_size=6).map("".join)  # fmt: skip
PRICE = st.integers(min_value=0, max_value=10**7).map(lambda c: Decimal(c) / 100)
WEIGHT = st.integers(min_value=0, max_value=10**6).map(lambda g: Decimal(g) / 1000)
RATE = st.sampled_from(["0", "0.1", "0.125", "0.15", "0.2"]).map(Decimal)


@st.composite
def catalogue_values(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "title": draw(TEXT),
        "variant_title": draw(TEXT),
        "description": draw(HTML),
        "price": draw(PRICE),
        "barcode": draw(st.none() | st.text(alphabet="0123 ", max_size=4)),
        "weight": draw(WEIGHT),
        "weight_unit": draw(st.sampled_from(["KILOGRAMS", "GRAMS"])),
        "product_type": draw(st.none() | TEXT),
        "multi": draw(st.booleans()),
        "status": draw(st.sampled_from(["ACTIVE", "DRAFT", "ARCHIVED"])),
        "obsolete": draw(st.booleans()),
    }


def unleashed_dict(sku: str, v: dict[str, Any], tier: str | int = "default") -> dict[str, Any]:
    product = {
        "Guid": f"g-{sku}",
        "ProductCode": sku,
        "ProductDescription": v["title"],
        "Notes": v["description"],
        "DefaultSellPrice": str(v["price"]),
        "Barcode": v["barcode"],
        "Weight": str(v["weight"]),
        "ProductGroup": None if v["product_type"] is None else {"GroupName": v["product_type"]},
        "Obsolete": v["obsolete"],
    }
    if tier != "default":
        # The tier holds the synced price; DefaultSellPrice is some other price.
        product["DefaultSellPrice"] = "999.99"
        product[f"SellPriceTier{tier}"] = {"Name": f"Tier {tier}", "Value": str(v["price"])}
    return product


def shopify_dict(
    sku: str, v: dict[str, Any], taxes_included: bool, rate: Decimal
) -> dict[str, Any]:
    grams = v["weight_unit"] == "GRAMS"
    return {
        "id": f"v-{sku}",
        "sku": sku,
        "title": v["variant_title"] or "Black",
        "barcode": v["barcode"],
        "price": str(shopify_price(v["price"], taxes_included=taxes_included, tax_rate=rate)),
        "product": {
            "id": f"p-{sku}",
            "title": v["title"],
            "descriptionHtml": v["description"],
            "productType": v["product_type"] or "",
            "status": v["status"],
            "variantsCount": {"count": 2 if v["multi"] else 1},
        },
        "inventoryItem": {
            "id": f"i-{sku}",
            "measurement": {
                "weight": {
                    "unit": v["weight_unit"],
                    "value": str(v["weight"] * 1000 if grams else v["weight"]),
                }
            },
        },
    }


def apply_to_shopify(node: dict[str, Any], write: ProductWrite, taxes_included: bool,
                     rate: Decimal) -> dict[str, Any]:  # fmt: skip
    """Apply what the Shopify writer sends for a planned write (`productUpdate` arguments and
    a `ProductVariantsBulkInput`) to the variant node, as Shopify stores it."""
    node = copy.deepcopy(node)
    product, item = node["product"], node["inventoryItem"]
    fields = shopify_product_fields(write.changes)
    if "title" in fields:
        assert product["variantsCount"]["count"] == 1, "title written on a multi-variant"
    product.update(fields)
    variant = shopify_variant_input(node["id"], write.changes, taxes_included=taxes_included,
                                    tax_rate=rate)  # fmt: skip
    assert variant["id"] == node["id"]
    if "price" in variant:
        node["price"] = str(variant["price"])
    if "barcode" in variant:
        node["barcode"] = variant["barcode"]
    if "inventoryItem" in variant:
        weight = variant["inventoryItem"]["measurement"]["weight"]
        item["measurement"] = {"weight": {"unit": weight["unit"], "value": str(weight["value"])}}
    return node


def apply_to_unleashed(product: dict[str, Any], write: ProductWrite,
                       tier: str | int) -> dict[str, Any]:  # fmt: skip
    """Apply the Unleashed writer's `POST /Products/{guid}` body to the product, as Unleashed
    stores it: the fields sent replace the stored ones (decimals travel as JSON text here)."""
    name = product.get(f"SellPriceTier{tier}", {}).get("Name") if tier != "default" else None
    body = unleashed_product_body(write.sku, write.changes, price_tier=tier, tier_name=name)
    assert body["ProductCode"] == product["ProductCode"]
    if tier != "default" and "price" in write.changes:
        assert body[f"SellPriceTier{tier}"]["Name"] == f"Tier {tier}"
        assert "DefaultSellPrice" not in body
    return {**copy.deepcopy(product), **json.loads(json.dumps(body, default=str))}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    skus = draw(st.lists(st.sampled_from("ABCDEF"), unique=True, min_size=1, max_size=4))
    rows = {}
    for sku in skus:
        master_values = draw(catalogue_values())
        # The other side shares most values with the master, so drift and writes are both seen.
        different = draw(catalogue_values())
        changed = draw(st.sets(st.sampled_from(sorted(master_values))))
        other_values = {k: different[k] if k in changed else v for k, v in master_values.items()}
        last_choice = draw(st.sampled_from(["none", "master", "other", "partial"]))
        rows[sku] = (master_values, other_values, last_choice)
    return {
        "rows": rows,
        "master_side": draw(st.sampled_from(["unleashed", "shopify"])),
        "fields": draw(st.lists(st.sampled_from(FIELDS), min_size=1, unique=True)),
        "overwrite_drift": draw(st.booleans()),
        "taxes_included": draw(st.booleans()),
        "rate": draw(RATE),
        "missing_other": draw(st.sets(st.sampled_from(skus))),
        "price_tier": draw(st.sampled_from(["default", 1, 2, 10])),
    }


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_applying_the_plan_makes_the_other_side_equal_to_the_master(sc: dict[str, Any]) -> None:
    master_side: Side = sc["master_side"]
    taxes, rate, tier = sc["taxes_included"], sc["rate"], sc["price_tier"]
    target: Side = "shopify" if master_side == "unleashed" else "unleashed"
    raw: dict[Side, dict[str, dict[str, Any]]] = {"unleashed": {}, "shopify": {}}
    last: dict[str, dict[str, str]] = {}

    def project(side: Side, node: dict[str, Any]) -> Projection:
        if side == "unleashed":
            return from_unleashed(node, price_tier=tier)
        return from_shopify(node, taxes_included=taxes, tax_rate=rate)

    for sku, (master_values, other_values, last_choice) in sc["rows"].items():
        by_side = {master_side: master_values}
        by_side[target] = other_values
        raw["unleashed"][sku] = unleashed_dict(sku, by_side["unleashed"], tier)
        raw["shopify"][sku] = shopify_dict(sku, by_side["shopify"], taxes, rate)
        sources: dict[str, Side] = {"master": master_side, "other": target, "partial": master_side}
        if last_choice in sources:
            source = sources[last_choice]
            record = project(source, raw[source][sku])
            last[sku] = {name: to_store(name, record.value(name)) for name in FIELDS}
            if last_choice == "partial":
                last[sku].pop("title")

    for sku in sc["missing_other"]:
        del raw[target][sku]
    master = [project(master_side, node) for node in raw[master_side].values()]
    other = [project(target, node) for node in raw[target].values()]
    result = plan(master_side, master, other, last, fields=sc["fields"],
                  overwrite_drift=sc["overwrite_drift"])  # fmt: skip

    assert all(write.side == target for write in result.writes)
    event(f"kinds: {sorted({write.kind for write in result.writes})}")
    event(f"drift: {any(item.action == 'drift' for item in result.items)}")
    masters = {record.sku: record for record in master}
    for write in result.writes:
        if write.kind == "create":
            continue
        node = raw[target][write.sku]
        applied = (
            apply_to_shopify(node, write, taxes, rate)
            if target == "shopify"
            else apply_to_unleashed(node, write, tier)
        )
        after = project(target, applied)
        for name in write.changes:
            if name == "status":
                assert after.status == "DRAFT"
            else:
                assert after.value(name) == masters[write.sku].value(name), name
        if sc["overwrite_drift"]:
            # Every selected field converges, except product-level ones a shared product keeps.
            for name in sc["fields"]:
                if target == "shopify" and after.multi_variant and name in PRODUCT_LEVEL_FIELDS:
                    continue
                assert after.value(name) == masters[write.sku].value(name), name
    for item in result.items:
        assert item.action in {"create", "update", "unchanged", "drift", "hold"}


@st.composite
def projections(draw: st.DrawFn, side: Side) -> Projection:
    return Projection(
        side=side,
        sku=draw(st.sampled_from("ABCDEFGH")),
        title=draw(st.none() | st.text(alphabet="ab <", max_size=5)),
        description=draw(st.none() | st.text(alphabet="ab <", max_size=5)),
        price=draw(st.none() | PRICE),
        barcode=draw(st.none() | st.text(alphabet="ab1", max_size=3)),
        weight=draw(WEIGHT),
        product_type=draw(st.none() | st.text(alphabet="ab1", max_size=3)),
        multi_variant=draw(st.booleans()) if side == "shopify" else False,
        obsolete=False,
        status="ACTIVE" if side == "shopify" else None,
    )


@given(
    master_side=st.sampled_from(["unleashed", "shopify"]),
    records=st.lists(projections("unleashed"), max_size=8),
    fields=st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
)
def test_an_unchanged_catalogue_plans_no_writes(
    master_side: Side, records: list[Projection], fields: list[str]
) -> None:
    target: Side = "shopify" if master_side == "unleashed" else "unleashed"
    master = [replace(r, side=master_side) for r in records]
    other = [replace(r, side=target) for r in records]
    last = {r.sku or "": {name: to_store(name, r.value(name)) for name in FIELDS} for r in records}
    result = plan(master_side, master, other, last, fields=fields, overwrite_drift=True)
    assert result.writes == ()
    assert {item.action for item in result.items} <= {"unchanged", "hold"}


@given(
    master_side=st.sampled_from(["unleashed", "shopify"]),
    master_records=st.lists(projections("unleashed"), max_size=6),
    other_records=st.lists(projections("shopify"), max_size=6),
    overwrite_drift=st.booleans(),
)
def test_the_plan_never_writes_to_the_master_side(
    master_side: Side,
    master_records: list[Projection],
    other_records: list[Projection],
    overwrite_drift: bool,
) -> None:
    target: Side = "shopify" if master_side == "unleashed" else "unleashed"
    master = [replace(r, side=master_side) for r in master_records]
    other = [replace(r, side=target) for r in other_records]
    result = plan(master_side, master, other, {}, overwrite_drift=overwrite_drift)
    assert all(write.side == target for write in result.writes)
    assert result.change_count == len(result.writes)
    written = {write.sku for write in result.writes}
    assert len(written) == len(result.writes), "one write per SKU"


@pytest.mark.parametrize(
    ("master_side", "others", "fields", "named"),
    [
        pytest.param("unleashed", [], FIELDS, "ProductDescription", id="unleashed-create"),
        pytest.param("unleashed", [s(title="Mug")], FIELDS, "ProductDescription", id="update"),
        pytest.param("unleashed", [], ("price",), "ProductDescription", id="create-untitled"),
        pytest.param("shopify", [], FIELDS, "title", id="shopify-create"),
    ],
)
def test_a_master_without_a_title_is_held_not_written(
    master_side: Side, others: list[Projection], fields: tuple[str, ...], named: str
) -> None:
    if master_side == "unleashed":
        master, other = [u(title=None)], others
    else:
        master, other = [s(title=None)], [replace(o, side="unleashed") for o in others]
    result = plan(master_side, master, other, {}, fields=fields)
    assert result.writes == ()
    (item,) = result.items
    assert item.action == "hold"
    assert named in (item.error or "")


def test_a_title_is_not_required_for_an_update_that_does_not_sync_it() -> None:
    result = plan("unleashed", [u(title=None)], [s(title="Mug")], {}, fields=("price",))
    assert actions(result) == [("A", "unchanged")]


UNSET = "SellPriceTier2 is not set in Unleashed (Name '', Value '0.0000'): set it, or use price_tier: default"  # noqa: E501
UNSET_TIER = {"Name": "", "Value": "0.0000"}


def unleashed_product(sku: str = "A", **overrides: Any) -> dict[str, Any]:
    product: dict[str, Any] = {
        "Guid": f"g-{sku}",
        "ProductCode": sku,
        "ProductDescription": "Tee",
        "Notes": "<p>Soft</p>",
        "Barcode": "9400",
        "Weight": "0.2",
        "DefaultSellPrice": 10,
        "SellPriceTier2": UNSET_TIER,
        "ProductGroup": {"GroupName": "Tees"},
    }
    return {**product, **overrides}


@pytest.mark.parametrize(
    ("others", "last"),
    [
        pytest.param([], {}, id="create"),
        pytest.param([s()], {}, id="first-link"),
        pytest.param([s()], {"A": stored()}, id="linked"),
        pytest.param([s(price=Decimal("0.00"))], {"A": stored()}, id="linked-shopify-at-zero"),
    ],
)
def test_an_unset_tier_holds_the_product_and_writes_no_price(
    others: list[Projection], last: dict[str, dict[str, str]]
) -> None:
    master = from_unleashed(unleashed_product(), price_tier=2)
    result = plan("unleashed", [master], others, last)
    assert result.writes == ()
    (item,) = result.items
    assert (item.key, item.action, item.error) == ("A", "hold", UNSET)
    assert item.detail == {"reason": UNSET}


def test_an_unset_tier_holds_nothing_when_price_is_not_synced() -> None:
    master = from_unleashed(unleashed_product(), price_tier=2)
    result = plan("unleashed", [master], [s(title="Old")], {}, fields=("title",))
    assert changes(result) == {"A": {"title": ("Old", "Tee")}}


def test_an_unset_tier_on_the_other_side_is_filled_from_the_shopify_master() -> None:
    other = from_unleashed(unleashed_product(), price_tier=2)
    master = s(price=Decimal("12.00"))
    result = plan("shopify", [master], [other], {}, fields=("price",))
    assert changes(result) == {"A": {"price": (Decimal("0.00"), Decimal("12.00"))}}
    assert actions(result) == [("A", "update")]


@given(
    value=st.one_of(
        st.none(),
        st.just(""),
        st.sampled_from(["0", "0.0000", "0.00", "-0", "0E-4"]),
        st.just(0),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=4).map(str),
    ),
    name=st.sampled_from(["", "Wholesale"]),
    linked=st.booleans(),
)
def test_no_tier_value_of_nothing_ever_becomes_a_shopify_price(
    value: Any, name: str, linked: bool
) -> None:
    master = from_unleashed(
        unleashed_product(SellPriceTier2={"Name": name, "Value": value}), price_tier=2
    )
    result = plan("unleashed", [master], [s()] if linked else [], {})
    written = [w.changes["price"][1] for w in result.writes if "price" in w.changes]
    assert all(price > 0 for price in written)
    holds = [item for item in result.items if item.action == "hold"]
    if value in (None, "", 0) or (isinstance(value, str) and Decimal(value) == 0):
        assert [item.error for item in holds] == [
            f"SellPriceTier2 is not set in Unleashed (Name {name!r}, Value {value!r}): "
            "set it, or use price_tier: default"
        ]
    else:
        event("priced tier")
        assert holds == []
