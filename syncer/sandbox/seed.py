"""Seeded sample data shared by both sandboxes, so their catalogues line up by SKU.

`make_world(seed)` is deterministic: the same seed gives the same shop and the same Unleashed
account. Sizes are parameters so the benchmark can ask for 10,000 variants and 2,000 orders.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

TAX_RATE = Decimal("0.15")
WAREHOUSES = (("MAIN", "Main warehouse"), ("WEST", "West warehouse"))

_ADJECTIVES = ("Classic", "Organic", "Merino", "Canvas", "Alpine", "Coastal", "Urban", "Heritage")
_NOUNS = ("Tee", "Hoodie", "Beanie", "Tote", "Mug", "Scarf", "Cap", "Sock", "Bottle", "Journal")
_GROUPS = ("Apparel", "Accessories", "Homeware", "Stationery")
_COLOURS = ("Black", "White", "Navy", "Olive")
_SIZES = ("S", "M", "L", "XL")
_FIRST = ("Aroha", "Ben", "Chloe", "Dev", "Ema", "Finn", "Grace", "Hemi", "Isla", "Jack")
_LAST = ("Ngata", "Smith", "Patel", "Wong", "Brown", "Kaur", "Taylor", "Wilson")
_CITIES = (("Auckland", "AUK", "1010"), ("Wellington", "WGN", "6011"), ("Dunedin", "OTA", "9016"))


@dataclass
class Variant:
    sku: str
    title: str  # variant title ("Black / M"), "Default Title" for single-variant products
    price: Decimal  # tax-exclusive sell price, as Unleashed holds it
    barcode: str | None
    weight_kg: Decimal


@dataclass
class Product:
    title: str
    handle: str
    description_html: str
    product_type: str
    variants: list[Variant]


@dataclass
class Line:
    sku: str
    quantity: int


@dataclass
class Order:
    number: int  # Shopify order number; name is "#<number>"
    email: str | None
    first_name: str
    last_name: str
    city: tuple[str, str, str]
    lines: list[Line]
    financial_status: str  # PAID, PENDING, AUTHORIZED, ...
    taxes_included: bool
    discount_rate: Decimal  # fraction of each line taken off by an order-level code
    shipping: Decimal  # shipping charge in the order's own pricing (incl. tax when taxes_included)
    test: bool = False
    cancelled: bool = False
    created_at: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=UTC))


@dataclass
class Customer:
    code: str
    name: str
    email: str


@dataclass
class World:
    products: list[Product]
    warehouses: tuple[tuple[str, str], ...]
    stock: dict[tuple[str, str], int]  # (sku, warehouse code) -> quantity on hand
    customers: list[Customer]
    orders: list[Order]
    tax_rate: Decimal = TAX_RATE
    currency: str = "NZD"

    def variants(self) -> list[Variant]:
        return [v for p in self.products for v in p.variants]


def make_world(
    seed: int = 1,
    *,
    products: int = 12,
    orders: int = 20,
    start: datetime | None = None,
    paid_share: float | None = None,
) -> World:
    """Build a catalogue of `products` Shopify products (some with variants) and `orders`.

    `paid_share` (0..1) makes that share of the orders PAID and spreads the rest over the
    other statuses (the benchmark wants mostly paid orders); None keeps the default mix."""
    if paid_share is not None and not 0 <= paid_share <= 1:
        raise ValueError(f"paid_share must be between 0 and 1, got {paid_share}")
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    catalogue: list[Product] = []
    for index in range(products):
        name = f"{_ADJECTIVES[index % len(_ADJECTIVES)]} {_NOUNS[index % len(_NOUNS)]}"
        if index >= len(_ADJECTIVES) * len(_NOUNS) // 4:
            name = f"{name} {index}"
        base = f"P{index:05d}"
        multi = index % 3 == 0
        options = [(c, s) for c in _COLOURS[:2] for s in _SIZES[:2]] if multi else [None]
        price = Decimal(rng.randrange(900, 9900)) / 100
        variants = []
        for option in options:
            suffix = f"-{option[0][:3].upper()}-{option[1]}" if option else ""
            variants.append(
                Variant(
                    sku=f"{base}{suffix}",
                    title=f"{option[0]} / {option[1]}" if option else "Default Title",
                    price=price,
                    barcode=f"94{rng.randrange(10**10, 10**11)}" if rng.random() < 0.8 else None,
                    weight_kg=Decimal(rng.randrange(50, 2000)) / 1000,
                )
            )
        catalogue.append(
            Product(
                title=name,
                handle=f"{name.lower().replace(' ', '-')}-{index}",
                description_html=f"<p>{name}, made to last.</p>",
                product_type=_GROUPS[index % len(_GROUPS)],
                variants=variants,
            )
        )
    skus = [v.sku for p in catalogue for v in p.variants]
    stock = {(sku, code): rng.randrange(0, 60) for sku in skus for code, _ in WAREHOUSES}
    people = [
        (first, last, f"{first.lower()}.{last.lower()}@example.com")
        for first in _FIRST
        for last in _LAST
    ]
    rng.shuffle(people)
    customers = [
        Customer(code=f"C{i:04d}", name=f"{f} {last}", email=email)
        for i, (f, last, email) in enumerate(people[:5])
    ]
    statuses = ["PAID"] * 7 + ["PENDING", "AUTHORIZED", "PARTIALLY_REFUNDED"]
    order_list: list[Order] = []
    for index in range(orders):
        first, last, email = people[index % len(people)]
        lines = [
            Line(sku=rng.choice(skus), quantity=rng.randint(1, 3)) for _ in range(rng.randint(1, 3))
        ]
        order_list.append(
            Order(
                number=1001 + index,
                email=email if index % 11 != 5 else None,
                first_name=first,
                last_name=last,
                city=_CITIES[index % len(_CITIES)],
                lines=lines,
                financial_status=_status(index, statuses, paid_share),
                taxes_included=index % 2 == 0,
                discount_rate=Decimal("0.10") if index % 4 == 1 else Decimal(0),
                shipping=Decimal("7.50") if index % 3 else Decimal(0),
                test=index % 17 == 16,
                cancelled=index % 13 == 12,
                created_at=start + timedelta(minutes=7 * index),
            )
        )
    return World(
        products=catalogue,
        warehouses=WAREHOUSES,
        stock=stock,
        customers=customers,
        orders=order_list,
    )


def _status(index: int, statuses: list[str], paid_share: float | None) -> str:
    """The default rotating mix, or PAID for `paid_share` of the orders spread evenly."""
    if paid_share is None:
        return statuses[index % len(statuses)]
    if int((index + 1) * paid_share) > int(index * paid_share):
        return "PAID"
    others = [s for s in statuses if s != "PAID"]
    return others[index % len(others)]
