"""Load and validate the YAML config (SPEC section 3) into frozen dataclasses.

Every problem is collected (key path, reason, fix) and raised together as one `ConfigError`,
so a merchant fixes the file in one pass. Unknown keys are errors: a typo must not pass
silently. Secrets are written as `${ENV_VAR}` and read from the environment.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from syncer.errors import ConfigError, Problem

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
INTERVAL_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
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
SECRET_KEYS = ("shopify.access_token", "shopify.client_secret", "unleashed.api_key")


@dataclass(frozen=True)
class ShopifyConfig:
    shop: str
    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    api_version: str = "2026-10"

    @property
    def base_url(self) -> str:
        """`example.myshopify.com` -> https URL; a full URL (a sandbox) is kept as is."""
        if "://" in self.shop:
            return self.shop.rstrip("/")
        return f"https://{self.shop.strip('/')}"


@dataclass(frozen=True)
class UnleashedConfig:
    api_id: str
    api_key: str
    base_url: str = "https://api.unleashedsoftware.com"
    client_type: str = "syncer/syncer"
    base_currency: str | None = None


@dataclass(frozen=True)
class CustomerConfig:
    mode: str = "per_email"
    code: str = "SHOPIFY"


@dataclass(frozen=True)
class ShippingConfig:
    mode: str = "charge"
    product_code: str = "SHIPPING"


@dataclass(frozen=True)
class OrdersConfig:
    enabled: bool = True
    financial_statuses: tuple[str, ...] = ("paid",)
    start: datetime | None = None
    include_test_orders: bool = False
    order_number_prefix: str = "SH-"
    order_status: str = "Parked"
    warehouse: str = "MAIN"
    tax_code: str = "G.S.T."
    customer: CustomerConfig = field(default_factory=CustomerConfig)
    shipping: ShippingConfig = field(default_factory=ShippingConfig)
    refunds: str = "report"
    lines_without_sku: str = "hold"
    currency: str = "shop"


@dataclass(frozen=True)
class ProductsConfig:
    enabled: bool = True
    fields: tuple[str, ...] = FIELDS
    price_tier: str | int = "default"
    tax_rate: Decimal = Decimal("0.15")
    create_missing: bool = True
    max_changes: int = 500


@dataclass(frozen=True)
class InventoryConfig:
    enabled: bool = True
    buffer: int = 0
    unallocated_statuses: tuple[str, ...] = ("Parked",)
    locations: Mapping[str, str] = field(default_factory=dict)
    max_changes: int = 5000


@dataclass(frozen=True)
class FulfillmentsConfig:
    enabled: bool = False
    notify_customer: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    """Intervals in seconds per job."""

    orders: int = 300
    products: int = 3600
    inventory: int = 900
    fulfillments: int = 900


@dataclass(frozen=True)
class StateConfig:
    path: Path = Path("syncer.db")


@dataclass(frozen=True)
class Config:
    shopify: ShopifyConfig
    unleashed: UnleashedConfig
    master: str = "unleashed"
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    products: ProductsConfig = field(default_factory=ProductsConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    fulfillments: FulfillmentsConfig = field(default_factory=FulfillmentsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    state: StateConfig = field(default_factory=StateConfig)
    source: Path | None = None
    # Keys whose secret stood in the file in clear rather than as ${ENV}; `check` warns.
    clear_secrets: tuple[str, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        values = [
            self.shopify.access_token,
            self.shopify.client_secret,
            self.unleashed.api_key,
            self.unleashed.api_id,
        ]
        return [v for v in values if v]


# ---------------------------------------------------------------------------------------------


class _Reader:
    """Walk the YAML tree, convert values, and collect every problem on the way."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.clear_secrets: list[str] = []

    def problem(self, path: str, reason: str, fix: str = "") -> None:
        self.problems.append(Problem(path, reason, fix))

    def section(self, data: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(path, f"must be a mapping, got {_kind(data)}", "indent its keys under it")
            return {}
        for key in data:
            if key not in known:
                hint = _closest(str(key), known)
                fix = f"did you mean '{hint}'?" if hint else f"known keys: {', '.join(known)}"
                self.problem(_join(path, str(key)), "unknown key", fix)
        return {k: v for k, v in data.items() if k in known}

    def expand(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            return value
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env or self.env[name] == "":
                missing.append(name)
                return ""
            return self.env[name]

        result = ENV_PATTERN.sub(replace, value)
        for name in missing:
            self.problem(path, f"environment variable {name} is not set", f"export {name}=...")
        return result

    def string(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: str | None = None,
        *,
        required: bool = False,
        secret: bool = False,
        choices: tuple[str, ...] = (),
        max_len: int | None = None,
    ) -> str | None:
        full = _join(path, key)
        if key not in data or data[key] is None:
            if required:
                self.problem(full, "is required", "add it to the config")
            return default
        raw = data[key]
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.problem(full, f"must be a string, got {_kind(raw)}")
            return default
        raw = str(raw)
        if secret and raw and not ENV_PATTERN.search(raw):
            self.clear_secrets.append(full)
        value = self.expand(raw, full)
        if required and value == "" and not ENV_PATTERN.search(raw):
            self.problem(full, "must not be empty")
        if choices and value not in choices:
            self.problem(full, f"must be one of {', '.join(choices)}, got {_show(value)}")
            return default
        if max_len is not None and value and len(value) > max_len:
            self.problem(full, f"must be at most {max_len} characters, got {len(value)}")
        return str(value)

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"must be true or false, got {_show(value)}")
            return default
        return value

    def integer(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: int,
        *,
        minimum: int = 0,
        maximum: int = 10**9,
    ) -> int:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(_join(path, key), f"must be a whole number, got {_show(value)}")
            return default
        if value < minimum:
            self.problem(_join(path, key), f"must be at least {minimum}, got {value}")
            return default
        if value > maximum:
            self.problem(_join(path, key), f"must be at most {maximum}, got {_show(value)}")
            return default
        return value

    def string_list(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: tuple[str, ...],
        *,
        choices: tuple[str, ...] = (),
        allow_empty: bool = True,
    ) -> tuple[str, ...]:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        full = _join(path, key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(full, f"must be a list of strings, got {_show(value)}", "e.g. [a, b]")
            return default
        if not value and not allow_empty:
            self.problem(full, "must not be empty")
            return default
        bad = [v for v in value if choices and v not in choices]
        if bad:
            self.problem(full, f"unknown value(s) {', '.join(bad)}", f"use {', '.join(choices)}")
            return default
        return tuple(value)


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
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            [Problem(str(file), f"is not valid YAML{where}", "fix the syntax")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(file), f"cannot be read: {exc}")]) from None
    return parse_config(data, env=os.environ if env is None else env, source=file)


def parse_config(data: Any, env: Mapping[str, str], source: Path | None = None) -> Config:
    """Validate an already-parsed YAML document."""
    r = _Reader(env)
    top = r.section(
        data if data is not None else {},
        "",
        (
            "shopify",
            "unleashed",
            "master",
            "orders",
            "products",
            "inventory",
            "fulfillments",
            "schedule",
            "state",
        ),
    )
    if data is None:
        r.problem("config", "the file is empty", "start from `syncer init`")

    if "shopify" not in top:
        r.problem("shopify", "is required", "add a shopify: section with shop and access_token")
    s = r.section(
        top.get("shopify"),
        "shopify",
        ("shop", "access_token", "client_id", "client_secret", "api_version"),
    )
    shop = r.string(s, "shop", "shopify", required="shopify" in top) or ""
    token = r.string(s, "access_token", "shopify", secret=True)
    client_id = r.string(s, "client_id", "shopify")
    client_secret = r.string(s, "client_secret", "shopify", secret=True)
    api_version = r.string(s, "api_version", "shopify", "2026-10") or "2026-10"
    if not re.fullmatch(r"\d{4}-(01|04|07|10)|unstable", api_version):
        r.problem(
            "shopify.api_version",
            f"{api_version!r} is not a Shopify API version",
            'use a quarterly version such as "2026-10"',
        )
    already = any(p.path.startswith("shopify.") for p in r.problems)
    if "shopify" in top and not token and not (client_id and client_secret) and not already:
        r.problem(
            "shopify.access_token",
            "is required (or client_id and client_secret)",
            "add access_token: ${SHOPIFY_ACCESS_TOKEN}",
        )
    if bool(client_id) != bool(client_secret):
        r.problem(
            "shopify.client_secret" if client_id else "shopify.client_id",
            "client_id and client_secret go together",
            "set both or neither",
        )
    if shop and "://" not in shop and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", shop):
        r.problem(
            "shopify.shop",
            f"{shop!r} is not a shop domain",
            "use example-store.myshopify.com or a base URL",
        )

    if "unleashed" not in top:
        r.problem("unleashed", "is required", "add an unleashed: section with api_id and api_key")
    u = r.section(
        top.get("unleashed"),
        "unleashed",
        ("base_url", "api_id", "api_key", "client_type", "base_currency"),
    )
    base_currency = r.string(u, "base_currency", "unleashed")
    if base_currency is not None and not re.fullmatch(r"[A-Z]{3}", base_currency):
        r.problem(
            "unleashed.base_currency",
            f"{base_currency!r} is not a currency code",
            "use the 3 upper-case letters of Unleashed's base currency, e.g. NZD",
        )
        base_currency = None
    unleashed = UnleashedConfig(
        api_id=r.string(u, "api_id", "unleashed", required="unleashed" in top) or "",
        api_key=r.string(u, "api_key", "unleashed", required="unleashed" in top, secret=True) or "",
        base_url=(
            r.string(u, "base_url", "unleashed", "https://api.unleashedsoftware.com") or ""
        ).rstrip("/"),
        client_type=r.string(u, "client_type", "unleashed", "syncer/syncer") or "syncer/syncer",
        base_currency=base_currency,
    )
    if not unleashed.base_url.startswith(("http://", "https://")):
        r.problem(
            "unleashed.base_url",
            f"{unleashed.base_url!r} is not a URL",
            "use https://api.unleashedsoftware.com",
        )

    master = r.string(top, "master", "", "unleashed", choices=("unleashed", "shopify"))

    o = r.section(
        top.get("orders"),
        "orders",
        (
            "enabled",
            "financial_statuses",
            "start",
            "include_test_orders",
            "order_number_prefix",
            "order_status",
            "warehouse",
            "tax_code",
            "customer",
            "shipping",
            "refunds",
            "lines_without_sku",
            "currency",
        ),
    )
    c = r.section(o.get("customer"), "orders.customer", ("mode", "code"))
    sh = r.section(o.get("shipping"), "orders.shipping", ("mode", "product_code"))
    start = _timestamp(r, o, "start", "orders")
    prefix = r.string(o, "order_number_prefix", "orders", "SH-", max_len=10) or ""
    orders = OrdersConfig(
        enabled=r.boolean(o, "enabled", "orders", True),
        financial_statuses=_statuses(r, o),
        start=start,
        include_test_orders=r.boolean(o, "include_test_orders", "orders", False),
        order_number_prefix=prefix,
        order_status=r.string(o, "order_status", "orders", "Parked", choices=("Parked", "Placed"))
        or "Parked",
        warehouse=r.string(o, "warehouse", "orders", "MAIN", max_len=15) or "MAIN",
        tax_code=r.string(o, "tax_code", "orders", "G.S.T.") or "G.S.T.",
        customer=CustomerConfig(
            mode=r.string(
                c, "mode", "orders.customer", "per_email", choices=("per_email", "single")
            )
            or "per_email",
            code=r.string(c, "code", "orders.customer", "SHOPIFY") or "SHOPIFY",
        ),
        shipping=ShippingConfig(
            mode=r.string(sh, "mode", "orders.shipping", "charge", choices=("charge", "product"))
            or "charge",
            product_code=r.string(sh, "product_code", "orders.shipping", "SHIPPING") or "SHIPPING",
        ),
        refunds=r.string(o, "refunds", "orders", "report", choices=("report", "credit_note"))
        or "report",
        lines_without_sku=r.string(
            o, "lines_without_sku", "orders", "hold", choices=("hold", "charge")
        )
        or "hold",
        currency=r.string(o, "currency", "orders", "shop", choices=("shop", "presentment"))
        or "shop",
    )

    p = r.section(
        top.get("products"),
        "products",
        ("enabled", "fields", "price_tier", "tax_rate", "create_missing", "max_changes"),
    )
    products = ProductsConfig(
        enabled=r.boolean(p, "enabled", "products", True),
        fields=r.string_list(p, "fields", "products", FIELDS, choices=FIELDS, allow_empty=False),
        price_tier=_price_tier(r, p),
        tax_rate=_rate(r, p, "tax_rate", "products", Decimal("0.15")),
        create_missing=r.boolean(p, "create_missing", "products", True),
        max_changes=r.integer(p, "max_changes", "products", 500, minimum=1),
    )

    i = r.section(
        top.get("inventory"),
        "inventory",
        ("enabled", "buffer", "unallocated_statuses", "locations", "max_changes"),
    )
    inventory_enabled = r.boolean(i, "enabled", "inventory", True)
    locations = _locations(r, i.get("locations"), required=inventory_enabled)
    inventory = InventoryConfig(
        enabled=inventory_enabled,
        # More than a million units held back per SKU is a typo, and would zero the shop.
        buffer=r.integer(i, "buffer", "inventory", 0, maximum=1_000_000),
        unallocated_statuses=r.string_list(i, "unallocated_statuses", "inventory", ("Parked",)),
        locations=locations,
        max_changes=r.integer(i, "max_changes", "inventory", 5000, minimum=1),
    )

    f = r.section(top.get("fulfillments"), "fulfillments", ("enabled", "notify_customer"))
    fulfillments = FulfillmentsConfig(
        enabled=r.boolean(f, "enabled", "fulfillments", False),
        notify_customer=r.boolean(f, "notify_customer", "fulfillments", False),
    )

    sc = r.section(
        top.get("schedule"), "schedule", ("orders", "products", "inventory", "fulfillments")
    )
    schedule = ScheduleConfig(
        **{
            job: _interval(r, sc, job, default)
            for job, default in (
                ("orders", 300),
                ("products", 3600),
                ("inventory", 900),
                ("fulfillments", 900),
            )
        }
    )

    st = r.section(top.get("state"), "state", ("path",))
    state_path = Path(r.string(st, "path", "state", "syncer.db") or "syncer.db").expanduser()
    if not state_path.is_absolute():
        base = source.resolve().parent if source is not None else Path.cwd()
        state_path = base / state_path

    if r.problems:
        raise ConfigError(r.problems, source=str(source) if source else "")
    return Config(
        shopify=ShopifyConfig(
            shop=shop,
            access_token=token or None,
            client_id=client_id or None,
            client_secret=client_secret or None,
            api_version=api_version,
        ),
        unleashed=unleashed,
        master=master or "unleashed",
        orders=orders,
        products=products,
        inventory=inventory,
        fulfillments=fulfillments,
        schedule=schedule,
        state=StateConfig(path=state_path),
        source=source,
        clear_secrets=tuple(r.clear_secrets),
    )


def _timestamp(r: _Reader, data: dict[str, Any], key: str, path: str) -> datetime | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            r.problem(
                _join(path, key),
                f"{_show(value)} is not an ISO-8601 time",
                'e.g. "2026-01-01T00:00:00Z"',
            )
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _statuses(r: _Reader, data: dict[str, Any]) -> tuple[str, ...]:
    """Shopify's displayFinancialStatus values, compared lower-case (PAID == paid)."""
    values = r.string_list(data, "financial_statuses", "orders", ("paid",), allow_empty=False)
    lowered = tuple(v.strip().lower() for v in values)
    bad = [v for v in lowered if v not in FINANCIAL_STATUSES]
    if bad:
        r.problem(
            "orders.financial_statuses",
            f"unknown value(s) {', '.join(bad)}",
            f"use {', '.join(FINANCIAL_STATUSES)}",
        )
        return ("paid",)
    return lowered


def _price_tier(r: _Reader, data: dict[str, Any]) -> str | int:
    value = data.get("price_tier", "default")
    if value == "default" or value is None:
        return "default"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
        return value
    r.problem(
        "products.price_tier",
        f"must be default or 1..10, got {_show(value)}",
        "default uses DefaultSellPrice, N uses SellPriceTierN",
    )
    return "default"


def _rate(r: _Reader, data: dict[str, Any], key: str, path: str, default: Decimal) -> Decimal:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        rate = Decimal(str(value))
    except InvalidOperation:
        r.problem(_join(path, key), f"must be a number, got {_show(value)}", "e.g. 0.15 for 15%")
        return default
    if not rate.is_finite() or rate < 0 or rate >= 1:
        r.problem(
            _join(path, key),
            f"must be a fraction from 0 to below 1, got {_show(value)}",
            "e.g. 0.15 for 15%",
        )
        return default
    return rate


def _locations(r: _Reader, value: Any, *, required: bool) -> dict[str, str]:
    path = "inventory.locations"
    if value is None:
        if required:
            r.problem(
                path,
                "is required when inventory is enabled",
                'map warehouse codes to locations, e.g. MAIN: "Main warehouse"',
            )
        return {}
    if not isinstance(value, dict):
        r.problem(path, f"must be a mapping of warehouse code to location, got {_kind(value)}")
        return {}
    result: dict[str, str] = {}
    for code, location in value.items():
        if not isinstance(location, str) or not location.strip():
            r.problem(f"{path}.{code}", "must be a Shopify location name or gid")
            continue
        result[str(code)] = location.strip()
    if required and not value:
        r.problem(path, "must map at least one warehouse")
    return result


def _interval(r: _Reader, data: dict[str, Any], key: str, default: int) -> int:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value * 60
    match = INTERVAL_PATTERN.match(str(value))
    if not match or int(match.group(1)) == 0:
        r.problem(
            _join("schedule", key),
            f"{_show(value)} is not an interval",
            "use a number with s, m, h or d, e.g. 15m",
        )
        return default
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * factor


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
    import difflib

    matches = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return matches[0] if matches else None
