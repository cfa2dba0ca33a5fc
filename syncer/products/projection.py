"""One comparable record per SKU, from either side, so the planner compares like with like;
and back: the payload each API takes for a planned change.

Unleashed products and Shopify variants are projected onto the six synced field pairs
(`FIELDS`: title, description, price, barcode, weight, product type). Each value is normalised
once here, by the rules in `NORMALISATION`, so the planner can use plain equality; a value
that cannot be normalised becomes a `RecordProblem` on the record (the planner holds that SKU
with the reason) instead of an exception that would stop the whole plan.

Pure: no HTTP, no SQL, no CLI. Input shapes:
- Unleashed: a product dict as `GET /Products` returns it.
- Shopify: a variant node from GraphQL: `{id, sku, title, barcode, price, updatedAt,
  product {id, title, descriptionHtml, productType, status, updatedAt, variantsCount {count}},
  inventoryItem {id, tracked, measurement {weight {unit, value}}}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from syncer.money import CENT, cents, to_decimal

Side = Literal["shopify", "unleashed"]
SIDES: tuple[Side, Side] = ("shopify", "unleashed")
SIDE_NAMES: dict[str, str] = {"shopify": "Shopify", "unleashed": "Unleashed"}

FIELDS: tuple[str, ...] = ("title", "description", "price", "barcode", "weight", "product_type")
# On a multi-variant Shopify product these live on the product, shared by every variant, so a
# value coming from one Unleashed product must not overwrite them.
PRODUCT_LEVEL_FIELDS: frozenset[str] = frozenset({"title", "description", "product_type"})
VARIANT_LEVEL_FIELDS: frozenset[str] = frozenset({"price", "barcode", "weight"})

# field -> (rule, why). The single place that says what "equal" means for each field pair.
NORMALISATION: dict[str, tuple[str, str]] = {
    "title": (
        "runs of whitespace collapsed to one space, trimmed; empty -> None. Shopify side: the "
        "product title for a single-variant product, else '<product title> - <variant title>'",
        "editors add stray spaces; Unleashed has one product per SKU, Shopify may share a title",
    ),
    "description": (
        "CRLF/CR -> LF; leading/trailing whitespace trimmed; whitespace between two tags removed "
        "when either tag is a block-level tag (p, div, li, ul, ol, h1-h6, table parts, br, hr, "
        "...); everything inside <pre> untouched; empty -> None. NOT normalised: whitespace in "
        "text, whitespace between inline tags (<b>a</b> <i>b</i> keeps its space), entities "
        "(&amp; vs &#38;), attribute order or quoting, tag case, <br> vs <br/>",
        "editors re-indent HTML between blocks, which renders the same; anything else may "
        "render differently, so it is compared as written",
    ),
    "price": (
        "Decimal rounded half-up to cents, tax-exclusive. Unleashed: DefaultSellPrice or "
        "SellPriceTierN.Value (a string). Shopify: price, divided by (1 + tax_rate) and rounded "
        "to cents when the shop's prices include tax. Missing -> None; not a number -> problem; "
        "an unset Unleashed tier (absent, Value null, or 0) -> None with the reason kept",
        "Unleashed sell prices exclude tax; comparing in those terms makes ex -> inc -> ex exact "
        "for any tax_rate >= 0",
    ),
    "barcode": (
        "trimmed; None and '' are equal (None)",
        "both APIs return either for 'no barcode'",
    ),
    "weight": (
        "kilograms as Decimal with 3 decimals (half-up); GRAMS / 1000, POUNDS x 0.45359237, "
        "OUNCES x 0.028349523125; missing -> 0.000; unknown unit or not a number -> problem",
        "Unleashed Weight is kg; Shopify stores a unit and defaults to 0, so 'no weight' is 0",
    ),
    "product_type": (
        "whitespace collapsed and trimmed; None and '' are equal (None). Unleashed: "
        "ProductGroup.GroupName; Shopify: product.productType",
        "both sides use an empty value for 'none'",
    ),
}

KG_PER_UNIT: dict[str, Decimal] = {
    "KILOGRAMS": Decimal(1),
    "GRAMS": Decimal("0.001"),
    "POUNDS": Decimal("0.45359237"),
    "OUNCES": Decimal("0.028349523125"),
}
_GRAM = Decimal("0.001")
ZERO_KG = Decimal("0.000")

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "section", "summary", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_WHITESPACE = re.compile(r"\s+")
_PRE_BLOCK = re.compile(r"(<pre\b.*?</pre\s*>)", re.IGNORECASE | re.DOTALL)
_SPACE_BETWEEN_TAGS = re.compile(
    r"(<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*>)(\s+)(?=<(/?)([a-zA-Z][a-zA-Z0-9]*))"
)


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why one record cannot be compared. `field` None means the whole record is unusable."""

    field: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Projection:
    """The comparable view of one Unleashed product or one Shopify variant (slots: a whole
    catalogue of them is held at once)."""

    side: Side
    sku: str | None
    title: str | None = None
    description: str | None = None
    price: Decimal | None = None
    barcode: str | None = None
    weight: Decimal = ZERO_KG
    product_type: str | None = None
    # Shopify only: several variants share title, description and product type.
    multi_variant: bool = False
    # Unleashed only: Obsolete products are set to draft in Shopify (master unleashed).
    obsolete: bool = False
    # Shopify only: ACTIVE | DRAFT | ARCHIVED | UNLISTED.
    status: str | None = None
    # What a writer needs: shopify product_id / variant_id / inventory_item_id, unleashed guid.
    ids: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[RecordProblem, ...] = ()
    # Unleashed only: why `price` is None although the record was read (an unset price tier),
    # worded as the fix. Only a master is held for it: as the other side the price is written.
    unset_price: str | None = None

    def value(self, name: str) -> Any:
        if name not in FIELDS:
            raise ValueError(f"unknown product field {name!r}; expected one of {', '.join(FIELDS)}")
        return getattr(self, name)

    @property
    def label(self) -> str:
        """How a report names this record when it has no usable SKU."""
        ident = ", ".join(f"{k} {v}" for k, v in sorted(self.ids.items()))
        return f"{SIDE_NAMES[self.side]} record ({ident or 'no id'})"


# ---------------------------------------------------------------- normalisers


def normalise_text(value: object) -> str | None:
    """Collapse whitespace runs to one space and trim; empty means None."""
    if value is None:
        return None
    text = _WHITESPACE.sub(" ", str(value)).strip()
    return text or None


def normalise_barcode(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _drop_space_between_blocks(html: str) -> str:
    def replace(match: re.Match[str]) -> str:
        before, after = match.group(3).lower(), match.group(6).lower()
        if before in _BLOCK_TAGS or after in _BLOCK_TAGS:
            return match.group(1)
        return match.group(0)

    return _SPACE_BETWEEN_TAGS.sub(replace, html)


def normalise_html(value: object) -> str | None:
    """Conservative HTML normalisation; see NORMALISATION["description"] for the exact rule."""
    if value is None:
        return None
    html = str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    parts = _PRE_BLOCK.split(html)
    # split() with one group: odd indexes are <pre> blocks, kept byte for byte.
    html = "".join(
        part if i % 2 else _drop_space_between_blocks(part) for i, part in enumerate(parts)
    )
    return html or None


def tax_exclusive(price: Decimal, tax_rate: Decimal) -> Decimal:
    """Tax-inclusive shop price -> tax-exclusive cents, as compared and as Unleashed holds it."""
    return cents(price / (Decimal(1) + tax_rate))


def tax_inclusive(price: Decimal, tax_rate: Decimal) -> Decimal:
    """Tax-exclusive price -> the shop's tax-inclusive price: round(ex x (1 + rate), 2)."""
    return cents(price * (Decimal(1) + tax_rate))


def shopify_price(exclusive: Decimal, *, taxes_included: bool, tax_rate: Decimal) -> Decimal:
    """The price to send to Shopify for a tax-exclusive projected price."""
    return tax_inclusive(exclusive, tax_rate) if taxes_included else cents(exclusive)


def weight_to_kg(value: object, unit: object) -> Decimal:
    """Shopify weight {unit, value} -> kg with 3 decimals; ValueError names the bad part."""
    if not isinstance(unit, str) or unit not in KG_PER_UNIT:
        raise ValueError(
            f"weight unit {unit!r} is unknown (expected one of {', '.join(KG_PER_UNIT)})"
        )
    amount = to_decimal(value, "weight")
    return _rounded(amount * KG_PER_UNIT[unit], _GRAM, "weight", value)


def kg(value: object) -> Decimal:
    """An Unleashed Weight (kg, number or string; None means 0) -> kg with 3 decimals."""
    if value is None or value == "":
        return ZERO_KG
    return _rounded(to_decimal(value, "Weight"), _GRAM, "Weight", value)


def _price(value: object, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return _rounded(to_decimal(value, what), CENT, what, value)


def _rounded(amount: Decimal, quantum: Decimal, what: str, value: object) -> Decimal:
    """`amount` rounded half-up to `quantum`; ValueError (naming the field) for a number too
    large to hold to that precision, so one absurd value fails its item, not the run."""
    try:
        return amount.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"{what} is too large to be a real value: {value!r}") from None


# ---------------------------------------------------------------- projections


def _unleashed_price(product: Mapping[str, Any], price_tier: str | int) -> tuple[object, str]:
    if price_tier == "default":
        return product.get("DefaultSellPrice"), "DefaultSellPrice"
    if isinstance(price_tier, int) and not isinstance(price_tier, bool) and 1 <= price_tier <= 10:
        name = f"SellPriceTier{price_tier}"
        tier = product.get(name)
        return (tier.get("Value") if isinstance(tier, Mapping) else None), f"{name}.Value"
    raise ValueError(f"products.price_tier is {price_tier!r}; use 'default' or a number 1..10")


def unset_tier_reason(product: Mapping[str, Any], price_tier: str | int) -> str | None:
    """Why the configured price tier holds no price, or None when it holds one (or the default
    price is used).

    Unleashed sends every tier on every product, set or not: a tier the account never named
    comes as `{"Name": "", "Value": "0.0000"}`, an unfilled one with a null Value. A tier
    price of 0 is read the same way: a sell price of 0 is far more likely a tier nobody filled
    in than a product given away, and sent to Shopify it would sell the product for nothing.
    """
    if price_tier == "default":
        return None
    name = f"SellPriceTier{price_tier}"
    tier = product.get(name)
    if isinstance(tier, Mapping):
        value = tier.get("Value")
        try:
            if value is not None and value != "" and to_decimal(value, name) != 0:
                return None
        except ValueError:
            return None  # not a number: reported as a problem of the price field instead
        why = f"Name {tier.get('Name')!r}, Value {value!r}"
    else:
        why = "no such tier on the product" if tier is None else f"{tier!r} is not a tier"
    return f"{name} is not set in Unleashed ({why}): set it, or use price_tier: default"


def from_unleashed(product: Mapping[str, Any], *, price_tier: str | int = "default") -> Projection:
    """Project one Unleashed product; bad values become problems on the record."""
    problems: list[RecordProblem] = []
    guid = product.get("Guid")
    ids = {"guid": str(guid)} if guid else {}
    sku = normalise_barcode(product.get("ProductCode"))
    if sku is None:
        problems.append(
            RecordProblem(None, f"Unleashed product {guid or '(no Guid)'} has no ProductCode")
        )

    raw_price, price_source = _unleashed_price(product, price_tier)
    price: Decimal | None = None
    unset_price = unset_tier_reason(product, price_tier)
    try:
        price = _price(raw_price, price_source)
    except ValueError as exc:
        problems.append(RecordProblem("price", f"Unleashed {exc}"))

    weight = ZERO_KG
    try:
        weight = kg(product.get("Weight"))
    except ValueError as exc:
        problems.append(RecordProblem("weight", f"Unleashed {exc}"))

    group = product.get("ProductGroup")
    return Projection(
        side="unleashed",
        sku=sku,
        title=normalise_text(product.get("ProductDescription")),
        description=normalise_html(product.get("Notes")),
        price=price,
        barcode=normalise_barcode(product.get("Barcode")),
        weight=weight,
        product_type=normalise_text(group.get("GroupName") if isinstance(group, Mapping) else None),
        obsolete=bool(product.get("Obsolete")),
        ids=ids,
        problems=tuple(problems),
        unset_price=unset_price,
    )


def shopify_title(
    product_title: object, variant_title: object, *, multi_variant: bool
) -> str | None:
    """The title used for pairing: the product's, plus ' - <variant title>' when it has several."""
    base = normalise_text(product_title) or ""
    suffix = normalise_text(variant_title) if multi_variant else None
    return normalise_text(f"{base} - {suffix}" if suffix else base)


def from_shopify(
    variant: Mapping[str, Any], *, taxes_included: bool, tax_rate: Decimal
) -> Projection:
    """Project one Shopify variant node; prices become tax-exclusive when the shop includes tax."""
    problems: list[RecordProblem] = []
    product = variant.get("product") or {}
    item = variant.get("inventoryItem") or {}
    ids = {
        name: str(value)
        for name, value in (
            ("product_id", product.get("id")),
            ("variant_id", variant.get("id")),
            ("inventory_item_id", item.get("id")),
        )
        if value
    }
    sku = normalise_barcode(variant.get("sku"))
    if sku is None:
        problems.append(
            RecordProblem(
                None,
                f"Shopify variant {variant.get('id') or '(no id)'} of "
                f"{product.get('title')!r} has no SKU; set it to the Unleashed ProductCode",
            )
        )

    count = (product.get("variantsCount") or {}).get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        problems.append(
            RecordProblem(None, f"Shopify product {product.get('id')} has no variantsCount.count")
        )
        count = 1
    multi_variant = count > 1

    price: Decimal | None = None
    try:
        price = _price(variant.get("price"), "Shopify price")
        if price is not None and taxes_included:
            price = tax_exclusive(price, tax_rate)
    except ValueError as exc:
        problems.append(RecordProblem("price", str(exc)))

    weight = ZERO_KG
    raw_weight = ((item.get("measurement") or {}).get("weight")) or None
    if raw_weight is not None and raw_weight.get("value") is not None:
        try:
            weight = weight_to_kg(raw_weight.get("value"), raw_weight.get("unit"))
        except ValueError as exc:
            problems.append(RecordProblem("weight", f"Shopify {exc}"))

    return Projection(
        side="shopify",
        sku=sku,
        title=shopify_title(
            product.get("title"), variant.get("title"), multi_variant=multi_variant
        ),
        description=normalise_html(product.get("descriptionHtml")),
        price=price,
        barcode=normalise_barcode(variant.get("barcode")),
        weight=weight,
        product_type=normalise_text(product.get("productType")),
        multi_variant=multi_variant,
        status=product.get("status"),
        ids=ids,
        problems=tuple(problems),
    )


# ---------------------------------------------------------------- store format

STORE_FORMAT: dict[str, str] = {
    "title": "the normalised text; None is ''",
    "description": "the normalised HTML; None is ''",
    "price": "tax-exclusive cents with exactly 2 decimals ('12.50'); None is ''",
    "barcode": "the trimmed barcode; None is ''",
    "weight": "kilograms with exactly 3 decimals ('0.250')",
    "product_type": "the normalised text; None is ''",
}
"""How last-synced values are kept in the state (strings, compared as strings). A value always
goes through the projection first, so equal projections give equal strings."""


def to_store(name: str, value: object) -> str:
    """Serialise a projected field value for `last_synced`."""
    if value is None:
        return ""
    if name == "price":
        assert isinstance(value, Decimal)
        return str(cents(value))
    if name == "weight":
        assert isinstance(value, Decimal)
        return str(value.quantize(_GRAM, rounding=ROUND_HALF_UP))
    if name in FIELDS:
        return str(value)
    raise ValueError(f"unknown product field {name!r}")


def from_store(name: str, text: str) -> Any:
    """Parse a `last_synced` string back to a projected value (inverse of `to_store`)."""
    if name == "weight":
        return kg(text)
    if text == "":
        return None
    if name == "price":
        try:
            return cents(Decimal(text))
        except InvalidOperation:
            raise ValueError(f"stored price {text!r} is not a number") from None
    if name in FIELDS:
        return text
    raise ValueError(f"unknown product field {name!r}")


# ---------------------------------------------------------------- payloads (to the APIs)
# The inverse of the projections above, kept beside them so a field's two directions are
# changed together. `changes` is a planned write's {field: (old, new)}.

Changes = Mapping[str, tuple[Any, Any]]

# Projection field -> the `productUpdate` argument that holds it.
_SHOPIFY_PRODUCT_ARGUMENTS: dict[str, str] = {
    "title": "title",
    "description": "descriptionHtml",
    "product_type": "productType",
    "status": "status",
}


def shopify_weight(kilograms: Decimal) -> dict[str, Any]:
    """The `inventoryItem` input that sets a variant's weight (always sent in kilograms)."""
    return {"measurement": {"weight": {"unit": "KILOGRAMS", "value": kilograms}}}


def shopify_product_fields(changes: Changes) -> dict[str, Any]:
    """The `productUpdate` arguments for the product-level changes (and a status change);
    Shopify clears a text field with '', not null."""
    return {
        argument: changes[name][1] or ""
        for name, argument in _SHOPIFY_PRODUCT_ARGUMENTS.items()
        if name in changes
    }


def shopify_variant_input(
    variant_id: str, changes: Changes, *, taxes_included: bool, tax_rate: Decimal
) -> dict[str, Any]:
    """The `ProductVariantsBulkInput` for the variant-level changes. The price is the shop's
    own pricing (tax added when its prices include tax), the inverse of `from_shopify`."""
    body: dict[str, Any] = {"id": variant_id}
    if "price" in changes:
        body["price"] = shopify_price(
            changes["price"][1], taxes_included=taxes_included, tax_rate=tax_rate
        )
    if "barcode" in changes:
        body["barcode"] = changes["barcode"][1] or ""
    if "weight" in changes:
        body["inventoryItem"] = shopify_weight(changes["weight"][1])
    return body


def unleashed_product_body(
    sku: str, changes: Changes, *, price_tier: str | int = "default", tier_name: str | None = None
) -> dict[str, Any]:
    """The `POST /Products/{guid}` body: ProductCode and only the changed fields, the inverse
    of `from_unleashed`. A price goes to DefaultSellPrice or to the configured sell price
    tier; a tier's Value is a string, sent with the tier's Name when it is known, so the
    product keeps the name Unleashed shows for it."""
    body: dict[str, Any] = {"ProductCode": sku}
    if "title" in changes:
        body["ProductDescription"] = changes["title"][1]
    if "description" in changes:
        body["Notes"] = changes["description"][1]
    if "price" in changes:
        value: Decimal | None = changes["price"][1]
        if price_tier == "default":
            body["DefaultSellPrice"] = value
        else:
            tier: dict[str, Any] = {"Value": None if value is None else f"{value:f}"}
            if tier_name is not None:
                tier = {"Name": tier_name, **tier}
            body[f"SellPriceTier{price_tier}"] = tier
    if "barcode" in changes:
        body["Barcode"] = changes["barcode"][1]
    if "weight" in changes:
        body["Weight"] = changes["weight"][1]
    if "product_type" in changes:
        group = changes["product_type"][1]
        body["ProductGroup"] = {"GroupName": group} if group else None
    return body
