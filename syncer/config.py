"""Load and validate the YAML config into frozen dataclasses.

The model is declared once: every key is a dataclass field whose metadata says how its YAML
value is read (`Kind`), with its default as the field's default and a line of help. One walker
reads any section from those declarations, so a new key is one line here and nothing else.

Every problem is collected (key path, reason, fix) and raised together as one `ConfigError`,
so a merchant fixes the file in one pass. Unknown keys are errors: a typo must not pass
silently. Secrets are written as `${ENV_VAR}` and read from the environment.

A config names one shop (`shopify:`) or several (`shops:`); each shop's own orders, products,
inventory and fulfillments sections are merged over the top-level ones, key by key.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

import yaml

from syncer.errors import ConfigError, Problem, UsageError

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
INTERVAL_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
SHOP_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
FIELDS = ("title", "description", "price", "barcode", "weight", "product_type")
FINANCIAL_STATUSES = (
    "paid",
    "partially_paid",
    "partially_refunded",
    "refunded",
    "pending",
    "authorized",
    "voided",
    "expired",
)
ALERT_EVENTS = ("failed", "held", "error")
# The sections a shop of `shops:` may override; `shopify:` is each shop's own.
SHOP_SECTIONS = ("orders", "products", "inventory", "fulfillments")


# -- how one key is read -----------------------------------------------------------------------


class Invalid(Exception):
    """A value a `Kind` refuses: the reason and, where one helps, the fix."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


class Kind:
    """How a YAML value becomes the key's Python value; raises `Invalid` when it cannot.

    `secret` keys are redacted everywhere and warned about when written in clear; `redact`
    keys are redacted only (an identifier that is harmless alone but still private).
    """

    secret: bool = False
    redact: bool = False

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Kind):
    """A string, with `${ENV}` expanded. `check` may refuse or normalise the expanded text."""

    choices: tuple[str, ...] = ()
    max_len: int | None = None
    nonblank: bool = False
    secret: bool = False
    redact: bool = False
    check: Callable[[str], str] | None = None

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid(f"must be a string, got {_kind(value)}")
        raw = str(value)
        if self.secret and raw and not ENV_PATTERN.search(raw):
            reader.clear_secrets.append(str(at))
        text = reader.expand(raw, at)
        if self.nonblank and text == "" and not ENV_PATTERN.search(raw):
            raise Invalid("must not be empty")
        if self.choices and text not in self.choices:
            raise Invalid(f"must be one of {', '.join(self.choices)}, got {_show(text)}")
        if self.max_len is not None and len(text) > self.max_len:
            raise Invalid(f"must be at most {self.max_len} characters, got {len(text)}")
        if self.check is not None and text:
            text = self.check(text)
        return text


@dataclass(frozen=True)
class Flag(Kind):
    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Whole(Kind):
    minimum: int = 0
    maximum: int = 10**9

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, got {_show(value)}")
        if value < self.minimum:
            raise Invalid(f"must be at least {self.minimum}, got {value}")
        if value > self.maximum:
            raise Invalid(f"must be at most {self.maximum}, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Words(Kind):
    """A list of strings; `lower` compares case-insensitively (Shopify's PAID == paid)."""

    choices: tuple[str, ...] = ()
    allow_empty: bool = True
    lower: bool = False

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"must be a list of strings, got {_show(value)}", "e.g. [a, b]")
        if not value and not self.allow_empty:
            raise Invalid("must not be empty")
        words = [v.strip().lower() for v in value] if self.lower else list(value)
        bad = [v for v in words if self.choices and v not in self.choices]
        if bad:
            raise Invalid(f"unknown value(s) {', '.join(bad)}", f"use {', '.join(self.choices)}")
        return tuple(words)


@dataclass(frozen=True)
class Interval(Kind):
    """A duration in seconds: 30s, 5m, 2h, 1d; a bare number counts minutes."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value * 60
        match = INTERVAL_PATTERN.match(str(value))
        if isinstance(value, bool) or not match or int(match.group(1)) == 0:
            raise Invalid(
                f"{_show(value)} is not an interval", "use a number with s, m, h or d, e.g. 15m"
            )
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return int(match.group(1)) * factor


@dataclass(frozen=True)
class Timestamp(Kind):
    """An ISO-8601 time, made UTC; a time without an offset is taken as UTC."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise Invalid(
                    f"{_show(value)} is not an ISO-8601 time", 'e.g. "2026-01-01T00:00:00Z"'
                ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


@dataclass(frozen=True)
class TimeOfDay(Kind):
    """A local time "HH:MM". Unquoted, YAML 1.1 reads 3:30 as the number 210 (base 60), so a
    whole number of minutes below a day is read back as the time it was written as."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
        fix = 'write it in quotes, e.g. "03:30", or null for never'
        raise Invalid(f"must be a time HH:MM, got {_show(value)}", fix)


@dataclass(frozen=True)
class Fraction(Kind):
    """A rate from 0 to below 1, kept exact as a Decimal."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            rate = Decimal(str(value))
        except InvalidOperation:
            raise Invalid(f"must be a number, got {_show(value)}", "e.g. 0.15 for 15%") from None
        if not rate.is_finite() or rate < 0 or rate >= 1:
            raise Invalid(
                f"must be a fraction from 0 to below 1, got {_show(value)}", "e.g. 0.15 for 15%"
            )
        return rate


@dataclass(frozen=True)
class PriceTier(Kind):
    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if value == "default":
            return "default"
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
            return value
        raise Invalid(
            f"must be default or 1..10, got {_show(value)}",
            "default uses DefaultSellPrice, N uses SellPriceTierN",
        )


@dataclass(frozen=True)
class Locations(Kind):
    """Unleashed warehouse code -> Shopify location name or gid; each bad entry is named."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        if not isinstance(value, dict):
            raise Invalid(f"must be a mapping of warehouse code to location, got {_kind(value)}")
        result: dict[str, str] = {}
        for code, location in value.items():
            if not isinstance(location, str) or not location.strip():
                reader.problem(at.child(str(code)), "must be a Shopify location name or gid")
                continue
            result[str(code)] = location.strip()
        return result


@dataclass(frozen=True)
class FilePath(Kind):
    """A path, `~` expanded."""

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        return Path(Text().read(value, at, reader)).expanduser()


@dataclass(frozen=True)
class Section(Kind):
    """A nested mapping read by the same walker from its own declarations."""

    model: type

    def read(self, value: Any, at: At, reader: Reader) -> Any:
        return read_section(self.model, value, at, reader)


def key(
    default: Any = MISSING, kind: Kind | None = None, help: str = "", *, keep_null: bool = False
) -> Any:
    """Declare a config key. Without a default the key is required. A null in the file means
    "use the default", unless `keep_null` (where null is a choice of its own, e.g. "never")."""
    meta = {"kind": kind, "help": help, "keep_null": keep_null}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(model: type, help: str = "") -> Any:
    """Declare a nested section whose keys all have defaults."""
    return field(default_factory=model, metadata={"kind": Section(model), "help": help})


# -- checks of single values -------------------------------------------------------------------


def _shop_domain(shop: str) -> str:
    if "://" not in shop and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", shop):
        raise Invalid(
            f"{shop!r} is not a shop domain", "use example-store.myshopify.com or a base URL"
        )
    return shop


def _api_version(version: str) -> str:
    if not re.fullmatch(r"\d{4}-(01|04|07|10)|unstable", version):
        raise Invalid(
            f"{version!r} is not a Shopify API version",
            'use a quarterly version such as "2026-10"',
        )
    return version


def _url(example: str) -> Callable[[str], str]:
    def check(url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise Invalid(f"{url!r} is not a URL", f"use {example}")
        return url.rstrip("/")

    return check


def _currency(code: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", code):
        raise Invalid(
            f"{code!r} is not a currency code", "use a three-letter ISO 4217 code such as NZD"
        )
    return code.upper()


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopifyConfig:
    shop: str = key(kind=Text(nonblank=True, check=_shop_domain), help="shop domain or base URL")
    access_token: str | None = key(None, Text(secret=True), "Admin API access token")
    client_id: str | None = key(None, Text(), "client-credentials grant, with client_secret")
    client_secret: str | None = key(None, Text(secret=True), "client-credentials grant secret")
    api_version: str = key("2026-10", Text(check=_api_version), "quarterly Admin API version")

    @property
    def base_url(self) -> str:
        """`example.myshopify.com` -> https URL; a full URL (a sandbox) is kept as is."""
        if "://" in self.shop:
            return self.shop.rstrip("/")
        return f"https://{self.shop.strip('/')}"

    @staticmethod
    def validate(data: Mapping[str, Any], values: dict[str, Any], at: At, reader: Reader) -> None:
        """A token, or both halves of the client-credentials grant; blanks count as absent."""
        for name in ("access_token", "client_id", "client_secret"):
            values[name] = values[name] or None
        token, client_id, secret = (
            values["access_token"],
            values["client_id"],
            values["client_secret"],
        )
        already = any(p.path.startswith(f"{at}.") for p in reader.problems)
        if not token and not (client_id and secret) and not already:
            reader.problem(
                at.child("access_token"),
                "is required (or client_id and client_secret)",
                "add access_token: ${SHOPIFY_ACCESS_TOKEN}",
            )
        if bool(client_id) != bool(secret):
            reader.problem(
                at.child("client_secret" if client_id else "client_id"),
                "client_id and client_secret go together",
                "set both or neither",
            )


@dataclass(frozen=True)
class UnleashedConfig:
    api_id: str = key(kind=Text(nonblank=True, redact=True), help="API id")
    api_key: str = key(kind=Text(nonblank=True, secret=True), help="API key")
    base_url: str = key(
        "https://api.unleashedsoftware.com",
        Text(check=_url("https://api.unleashedsoftware.com")),
        "API base URL",
    )
    client_type: str = key("syncer/syncer", Text(), "sent as the client-type header")
    base_currency: str | None = key(None, Text(check=_currency), "Unleashed's base currency")


@dataclass(frozen=True)
class CustomerConfig:
    mode: str = key("per_email", Text(choices=("per_email", "single")), "how customers are found")
    code: str = key("SHOPIFY", Text(), "customer code in single mode and for orders w/o email")


@dataclass(frozen=True)
class ShippingConfig:
    mode: str = key("charge", Text(choices=("charge", "product")), "charge line or product line")
    product_code: str = key("SHIPPING", Text(), "product code in product mode")


@dataclass(frozen=True)
class OrdersConfig:
    enabled: bool = key(True, Flag(), "send paid Shopify orders to Unleashed")
    financial_statuses: tuple[str, ...] = key(
        ("paid",),
        Words(choices=FINANCIAL_STATUSES, allow_empty=False, lower=True),
        "Shopify financial statuses that are sent",
    )
    start: datetime | None = key(None, Timestamp(), "first run: older orders are left alone")
    include_test_orders: bool = key(False, Flag(), "send Shopify test orders too")
    order_number_prefix: str = key("SH-", Text(max_len=10), "Unleashed OrderNumber prefix")
    order_status: str = key("Parked", Text(choices=("Parked", "Placed")), "new sales order status")
    warehouse: str = key("MAIN", Text(max_len=15), "Unleashed warehouse code for new orders")
    warehouse_by_location: bool = key(False, Flag(), "warehouse from the fulfilment location")
    tax_code: str = key("G.S.T.", Text(), "Unleashed tax code for taxed lines")
    customer: CustomerConfig = section(CustomerConfig)
    shipping: ShippingConfig = section(ShippingConfig)
    refunds: str = key("report", Text(choices=("report", "credit_note")), "report or credit")
    lines_without_sku: str = key("hold", Text(choices=("hold", "charge")), "hold or charge line")
    currency: str = key("shop", Text(choices=("shop", "presentment")), "shop or customer money")


@dataclass(frozen=True)
class ProductsConfig:
    enabled: bool = key(True, Flag(), "keep product data in step")
    fields: tuple[str, ...] = key(
        FIELDS, Words(choices=FIELDS, allow_empty=False), "fields kept in step"
    )
    price_tier: str | int = key("default", PriceTier(), "default or 1..10 (SellPriceTierN)")
    tax_rate: Decimal = key(Decimal("0.15"), Fraction(), "converts tax-inclusive shop prices")
    create_missing: bool = key(True, Flag(), "create products the other side lacks")
    max_changes: int = key(500, Whole(minimum=1), "safety stop")
    groups: tuple[str, ...] | None = key(
        None, Words(allow_empty=False), "only Unleashed products of these product groups"
    )


@dataclass(frozen=True)
class InventoryConfig:
    enabled: bool = key(True, Flag(), "push Unleashed stock to Shopify")
    # More than a million units held back per SKU is a typo, and would zero the shop.
    buffer: int = key(0, Whole(maximum=1_000_000), "units held back per SKU and location")
    unallocated_statuses: tuple[str, ...] = key(
        ("Parked",), Words(), "sent orders in these statuses still count as in flight"
    )
    locations: Mapping[str, str] = key({}, Locations(), "warehouse code -> Shopify location")
    max_changes: int = key(5000, Whole(minimum=1), "safety stop")
    assemblies: bool = key(False, Flag(), "count what bills of materials can build")

    @staticmethod
    def validate(data: Mapping[str, Any], values: dict[str, Any], at: At, reader: Reader) -> None:
        """Stock needs somewhere to go: an enabled inventory sync maps at least one warehouse."""
        if not values["enabled"]:
            return
        given = data.get("locations")
        if given is None:
            reader.problem(
                at.child("locations").missing(),
                "is required when inventory is enabled",
                'map warehouse codes to locations, e.g. MAIN: "Main warehouse"',
            )
        elif isinstance(given, dict) and not given:
            reader.problem(at.child("locations"), "must map at least one warehouse")


@dataclass(frozen=True)
class FulfillmentsConfig:
    enabled: bool = key(False, Flag(), "send dispatched shipments to Shopify")
    notify_customer: bool = key(False, Flag(), "Shopify emails the customer")


@dataclass(frozen=True)
class ScheduleConfig:
    """Intervals in seconds per job, and the daily full inventory run."""

    orders: int = key(300, Interval(), "orders interval")
    products: int = key(3600, Interval(), "products interval")
    inventory: int = key(900, Interval(), "inventory interval")
    fulfillments: int = key(900, Interval(), "fulfillments interval")
    full_inventory: time | None = key(
        time(3, 30), TimeOfDay(), "daily full inventory sync; null: never", keep_null=True
    )


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = key(None, Text(secret=True, check=_url("https://...")), "webhook")
    ping_url: str | None = key(None, Text(secret=True, check=_url("https://...")), "ping URL")
    on: tuple[str, ...] = key(ALERT_EVENTS, Words(choices=ALERT_EVENTS), "what sends a message")
    max_age: int | None = key(None, Interval(), "status --check age limit in seconds")


@dataclass(frozen=True)
class StateConfig:
    path: Path = key(Path("syncer.db"), FilePath(), "SQLite state and report")

    @staticmethod
    def validate(data: Mapping[str, Any], values: dict[str, Any], at: At, reader: Reader) -> None:
        """A relative path (the default too) is relative to the config file's folder, so cron
        and a shell in another folder open the same database."""
        values["path"] = reader.base / values["path"]


@dataclass(frozen=True)
class ShopConfig:
    """One shop: its own Shopify connection and its sections merged over the top-level ones."""

    name: str
    shopify: ShopifyConfig
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    products: ProductsConfig = field(default_factory=ProductsConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    fulfillments: FulfillmentsConfig = field(default_factory=FulfillmentsConfig)


@dataclass(frozen=True)
class Config:
    """The whole config. `shopify`, `orders`, `products`, `inventory` and `fulfillments` are
    one shop's (the first, unless `for_shop` chose another); `shops` lists every shop."""

    shopify: ShopifyConfig = field(metadata={"kind": Section(ShopifyConfig)})
    unleashed: UnleashedConfig = field(metadata={"kind": Section(UnleashedConfig)})
    master: str = key("unleashed", Text(choices=("unleashed", "shopify")), "product data owner")
    orders: OrdersConfig = section(OrdersConfig)
    products: ProductsConfig = section(ProductsConfig)
    inventory: InventoryConfig = section(InventoryConfig)
    fulfillments: FulfillmentsConfig = section(FulfillmentsConfig)
    schedule: ScheduleConfig = section(ScheduleConfig)
    alerts: AlertsConfig = section(AlertsConfig)
    state: StateConfig = section(StateConfig)
    # Filled from the sections above when not given: a single-shop config is one shop.
    shops: tuple[ShopConfig, ...] = ()
    shop_name: str = ""
    # True when the file has `shops:`: each shop's state is then kept under its name. With a
    # single `shopify:` section there is one shop and its state keys carry no name.
    named_shops: bool = False
    source: Path | None = None
    # Keys whose secret stood in the file in clear rather than as ${ENV}; `check` warns.
    clear_secrets: tuple[str, ...] = ()

    TOP_KEYS: ClassVar[tuple[str, ...]] = (
        "shopify",
        "shops",
        "unleashed",
        "master",
        *SHOP_SECTIONS,
        "schedule",
        "alerts",
        "state",
    )

    def __post_init__(self) -> None:
        if not self.shops:
            only = ShopConfig(
                name=shop_name_of(self.shopify.shop),
                shopify=self.shopify,
                orders=self.orders,
                products=self.products,
                inventory=self.inventory,
                fulfillments=self.fulfillments,
            )
            object.__setattr__(self, "shops", (only,))
        if not self.shop_name:
            object.__setattr__(self, "shop_name", self.shops[0].name)

    def for_shop(self, shop: ShopConfig) -> Config:
        """This config with `shop`'s sections on top, for a job that runs one shop."""
        return replace(
            self,
            shopify=shop.shopify,
            orders=shop.orders,
            products=shop.products,
            inventory=shop.inventory,
            fulfillments=shop.fulfillments,
            shop_name=shop.name,
        )

    def state_namespace(self, shop: ShopConfig) -> str:
        """The namespace of `shop`'s cursors, links, held items and keys in the state file:
        its name under `shops:`, empty for a single `shopify:` shop (a state file written
        before `shops:` existed is read as it is)."""
        return shop.name if self.named_shops else ""

    def shop_named(self, name: str) -> ShopConfig:
        """The shop called `name` (as `--shop` gives it); a usage error lists the names."""
        for shop in self.shops:
            if shop.name == name:
                return shop
        names = ", ".join(shop.name for shop in self.shops)
        raise UsageError(f"no shop named {name!r} in the config; its shops are: {names}")

    def secrets(self) -> list[str]:
        """Every secret value of every shop, for redaction."""
        models: list[Any] = [shop.shopify for shop in self.shops]
        models += [self.shopify, self.unleashed, self.alerts]
        values = [getattr(model, name) for model in models for name in _secret_names(model)]
        return list(dict.fromkeys(v for v in values if v))


def shop_name_of(shop: str) -> str:
    """The report's name for a single `shopify:` shop: its domain or URL without scheme or
    trailing slash."""
    return shop.split("://", 1)[-1].strip("/")


def _secret_names(model: Any) -> list[str]:
    return [
        f.name
        for f in fields(model)
        if isinstance(kind := f.metadata.get("kind"), Kind) and (kind.secret or kind.redact)
    ]


def model_keys(model: type, prefix: str = "") -> Iterator[str]:
    """Every declared key of a section, dotted, nested sections included."""
    for f in fields(model):
        kind = f.metadata.get("kind")
        path = f"{prefix}.{f.name}" if prefix else f.name
        if isinstance(kind, Section):
            yield from model_keys(kind.model, path)
        elif kind is not None:
            yield path


def _key_field(model: type, name: str) -> Field[Any]:
    return next(f for f in fields(model) if f.name == name)


# Secrets warned about when written in clear, as dotted key paths of a single-shop config.
SECRET_KEYS = tuple(
    f"{name}.{f.name}"
    for name, model in (
        ("shopify", ShopifyConfig),
        ("unleashed", UnleashedConfig),
        ("alerts", AlertsConfig),
    )
    for f in fields(model)
    if isinstance(kind := f.metadata.get("kind"), Kind) and kind.secret
)


# -- the walker --------------------------------------------------------------------------------


_ABSENT = object()


@dataclass(frozen=True)
class At:
    """Where a key is, for messages. In a shop of `shops:`, a key the shop sets itself is
    named under the shop (shops.au.orders.warehouse); one it inherits, at the top level."""

    path: str
    shop_path: str = ""
    shop_data: Any = _ABSENT

    def child(self, name: str) -> At:
        inner = self.shop_data.get(name, _ABSENT) if isinstance(self.shop_data, dict) else _ABSENT
        shop_path = _join(self.shop_path, name) if self.shop_path else ""
        return At(_join(self.path, name), shop_path, inner)

    def __str__(self) -> str:
        return self.shop_path if self.shop_data is not _ABSENT else self.path

    def missing(self) -> str:
        """Where to add a key that is missing: in the shop, when there are several."""
        return self.shop_path or self.path


class Reader:
    """Collects every problem while the walker reads the YAML tree."""

    def __init__(self, env: Mapping[str, str], base: Path) -> None:
        self.env = env
        self.base = base
        self.problems: list[Problem] = []
        self.clear_secrets: list[str] = []

    def problem(self, at: At | str, reason: str, fix: str = "") -> None:
        found = Problem(str(at), reason, fix)
        # A top-level key inherited by several shops is wrong once, not once per shop.
        if found not in self.problems:
            self.problems.append(found)

    def mapping(self, data: Any, at: At | str, known: tuple[str, ...]) -> dict[str, Any]:
        """The known keys of a mapping; anything else is a problem with a hint."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(at, f"must be a mapping, got {_kind(data)}", "indent its keys under it")
            return {}
        result: dict[str, Any] = {}
        for raw_key, value in data.items():
            name = _yaml_key(raw_key, known)
            if name in known:
                result[name] = value
                continue
            hint = _closest(name, known)
            fix = f"did you mean '{hint}'?" if hint else f"known keys: {', '.join(known)}"
            where = at.child(name) if isinstance(at, At) else _join(at, name)
            self.problem(where, "unknown key", fix)
        return result

    def expand(self, value: str, at: At) -> str:
        missing: list[str] = []

        def replace_one(match: re.Match[str]) -> str:
            name = match.group(1)
            if not self.env.get(name):
                missing.append(name)
                return ""
            return self.env[name]

        result = ENV_PATTERN.sub(replace_one, value)
        for name in missing:
            self.problem(at, f"environment variable {name} is not set", f"export {name}=...")
        return result


def read_section(model: type, data: Any, at: At, reader: Reader) -> Any:
    """Read one section from its dataclass declarations: each key, then the section's own
    cross-key rule (`validate`), if it has one."""
    declared = tuple(f.name for f in fields(model) if f.metadata.get("kind") is not None)
    known = reader.mapping(data, at, declared)
    values = {
        name: read_key(_key_field(model, name), known, at.child(name), reader) for name in declared
    }
    validate = getattr(model, "validate", None)
    if validate is not None:
        validate(known, values, at, reader)
    return model(**values)


def read_key(declared: Field[Any], data: Mapping[str, Any], at: At, reader: Reader) -> Any:
    kind: Kind = declared.metadata["kind"]
    value = data.get(declared.name)
    if value is None and not isinstance(kind, Section):
        if declared.name in data and declared.metadata.get("keep_null"):
            return None
        if declared.default is MISSING and declared.default_factory is MISSING:
            reader.problem(at.missing(), "is required", "add it to the config")
        return _default(declared)
    try:
        return kind.read(value, at, reader)
    except Invalid as invalid:
        reader.problem(at, invalid.reason, invalid.fix)
        return _default(declared)


def _default(declared: Field[Any]) -> Any:
    """The declared default; "" stands in for a required key, whose problem is reported."""
    if declared.default is not MISSING:
        return declared.default
    if declared.default_factory is not MISSING:
        return declared.default_factory()
    return ""


def merge(base: Any, over: Any) -> Any:
    """A shop's section over the top-level one: mappings merge key by key, the rest replace."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for name, value in over.items():
            merged[name] = merge(base.get(name), value) if name in base else value
        return merged
    return over


# -- loading -----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(
            [
                Problem(
                    str(file),
                    "config file not found",
                    "create one with `syncer init`, or pass --config / set SYNCER_CONFIG",
                )
            ]
        )
    try:
        data = _read_yaml(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            [Problem(str(file), f"is not valid YAML{where}", "fix the syntax")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(file), f"cannot be read: {exc}")]) from None
    return parse_config(data, env=os.environ if env is None else env, source=file)


# An unquoted `${VAR}` where YAML sees flow indicators: `{shop: x, access_token: ${TOKEN}}`.
_BARE_SECRET = re.compile(
    r"(?<=[\s,:{\[])\$\{([A-Za-z_][A-Za-z0-9_]*)\}(?=\s*[,}\]\n#]|\s*$)", re.MULTILINE
)


def _read_yaml(text: str) -> Any:
    """Parse the file; when that fails, try again with bare `${VAR}` references quoted.

    Inside a flow mapping such as `shopify: {shop: x, access_token: ${TOKEN}}`, YAML reads
    `{` and `}` as structure, so the natural way to write a secret there is a syntax error.
    Quoting the reference keeps its meaning; the original error stands if that does not help.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        quoted = _BARE_SECRET.sub(lambda m: f'"${{{m.group(1)}}}"', text)
        if quoted == text:
            raise
        try:
            return yaml.safe_load(quoted)
        except yaml.YAMLError:
            pass
        raise


def parse_config(data: Any, env: Mapping[str, str], source: Path | None = None) -> Config:
    """Validate an already-parsed YAML document."""
    base = source.resolve().parent if source is not None else Path.cwd()
    reader = Reader(env, base)
    top = reader.mapping(data if data is not None else {}, "", Config.TOP_KEYS)
    if data is None:
        reader.problem("config", "the file is empty", "start from `syncer init`")

    connections = _shop_connections(top, reader)
    unleashed = _required_section(top, "unleashed", UnleashedConfig, reader)
    master = read_key(_key_field(Config, "master"), top, At("master"), reader)
    shops = tuple(_read_shop(name, own, shopify, top, reader) for name, own, shopify in connections)
    rest = {
        name: read_key(_key_field(Config, name), top, At(name), reader)
        for name in ("schedule", "alerts", "state")
    }
    _cross_shop_checks(shops, master, top, reader)

    if reader.problems or not shops or unleashed is None:
        raise ConfigError(reader.problems, source=str(source) if source else "")
    first = shops[0]
    return Config(
        shopify=first.shopify,
        unleashed=unleashed,
        master=master,
        orders=first.orders,
        products=first.products,
        inventory=first.inventory,
        fulfillments=first.fulfillments,
        shops=shops,
        named_shops="shops" in top,
        source=source,
        clear_secrets=tuple(dict.fromkeys(reader.clear_secrets)),
        **rest,
    )


def _required_section(top: dict[str, Any], name: str, model: type, reader: Reader) -> Any:
    if name not in top:
        fixes = {
            "shopify": "add a shopify: section with shop and access_token",
            "unleashed": "add an unleashed: section with api_id and api_key",
        }
        reader.problem(name, "is required", fixes[name])
        return None
    return read_section(model, top[name], At(name), reader)


def _shop_connections(
    top: dict[str, Any], reader: Reader
) -> list[tuple[str, dict[str, Any], ShopifyConfig | None]]:
    """Each shop's name, its own raw section overrides and its Shopify connection."""
    if "shops" not in top:
        shopify = _required_section(top, "shopify", ShopifyConfig, reader)
        name = shop_name_of(shopify.shop) if shopify is not None else ""
        return [(name, {}, shopify)]
    if "shopify" in top:
        reader.problem(
            "shopify",
            "cannot stand beside shops:",
            "move the connection into each shop as shops.<name>.shopify, or drop shops:",
        )
    raw = top["shops"]
    if raw is not None and not isinstance(raw, dict):
        reader.problem("shops", f"must be a mapping, got {_kind(raw)}", "indent its keys under it")
        return []
    if not raw:
        reader.problem(
            "shops", "must list at least one shop", "add a shop, or use a single shopify: section"
        )
        return []
    result: list[tuple[str, dict[str, Any], ShopifyConfig | None]] = []
    for raw_name, settings in raw.items():
        name = str(raw_name)
        at = _join("shops", name)
        if isinstance(raw_name, bool) or not SHOP_NAME_PATTERN.fullmatch(name):
            reader.problem(at, f"{_show(name)} is not a shop name", "use letters, digits, - and _")
            continue
        own = reader.mapping(settings, at, ("shopify", *SHOP_SECTIONS))
        shopify = _required_section_at(own, "shopify", ShopifyConfig, at, reader)
        result.append((name, own, shopify))
    return result


def _required_section_at(
    own: dict[str, Any], name: str, model: type, at: str, reader: Reader
) -> Any:
    path = _join(at, name)
    if own.get(name) is None:
        reader.problem(path, "is required", "add shop and access_token under it")
        return None
    return read_section(model, own[name], At(path), reader)


def _read_shop(
    name: str,
    own: dict[str, Any],
    shopify: ShopifyConfig | None,
    top: dict[str, Any],
    reader: Reader,
) -> ShopConfig:
    """A shop's sections: its own keys merged over the top-level ones, each problem named
    where the offending key stands."""
    sections: dict[str, Any] = {}
    for section_name in SHOP_SECTIONS:
        model = _key_field(Config, section_name).metadata["kind"].model
        shared = top.get(section_name)
        if shared is not None and not isinstance(shared, dict):
            reader.problem(
                section_name, f"must be a mapping, got {_kind(shared)}", "indent its keys under it"
            )
            shared = {}
        mine = own.get(section_name, _ABSENT)
        shop_path = _join(f"shops.{name}", section_name) if "shops" in top else ""
        at = At(section_name, shop_path, mine)
        if mine is _ABSENT or mine is None:
            data = shared
        elif not isinstance(mine, dict):
            reader.problem(at, f"must be a mapping, got {_kind(mine)}", "indent its keys under it")
            data = shared
        else:
            data = merge(shared or {}, mine)
        sections[section_name] = read_section(model, data, at, reader)
    placeholder = ShopifyConfig(shop="")
    return ShopConfig(name=name, shopify=shopify or placeholder, **sections)


def _cross_shop_checks(
    shops: tuple[ShopConfig, ...], master: str, top: dict[str, Any], reader: Reader
) -> None:
    """Rules between shops: one product master, and order numbers that cannot collide."""
    if "shops" not in top:
        return
    if master == "shopify" and len(shops) > 1:
        reader.problem(
            "master",
            "must be unleashed when shops: lists more than one shop",
            "set master: unleashed; with several shops Unleashed owns the product data",
        )
    seen: dict[str, str] = {}
    for shop in shops:
        prefix = shop.orders.order_number_prefix
        if prefix in seen:
            reader.problem(
                f"shops.{shop.name}.orders.order_number_prefix",
                f"{prefix!r} is also shop {seen[prefix]}'s prefix",
                "give each shop its own order_number_prefix, e.g. NZ- and AU-",
            )
        else:
            seen[prefix] = shop.name


# -- small helpers -----------------------------------------------------------------------------


def _yaml_key(raw: Any, known: tuple[str, ...]) -> str:
    """YAML 1.1 reads the key `on` as true; give it back its name where `on` is a key."""
    if raw is True and "on" in known:
        return "on"
    return str(raw)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxdict = 6
_SHORT.maxlevel = 2


def _show(value: Any) -> str:
    """A value as it appears in a problem: short, so a huge value or a YAML alias bomb
    cannot turn one message into gigabytes."""
    return _SHORT.repr(value)


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _closest(word: str, known: tuple[str, ...]) -> str | None:
    matches = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return matches[0] if matches else None
