"""`syncer check`: is this config ready to sync? Config hygiene, credentials, mappings, SKUs.

Every check is one `(status, name, detail)` line whose detail says what to do next. A broken
mapping is a failure (exit 1): a sync would fail or send stock or orders to the wrong place.
Products on one side only are warnings: merchants legitimately sell some products in one
system only. Duplicate SKUs are failures: syncer cannot tell the records apart.

A refused credential or an API that stays unreachable raises `CredentialsError` / `RetryLater`
(exit 3 through the CLI's error boundary) once both APIs have been tried, so one run names
both bad credentials; the lines already produced reach the user first through `emit`.

Calls: Shopify shop, locations and one paged read of variants (250 a page); Unleashed
warehouses, tax codes, one customer and one paged read of products (1000 a page).
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar

from syncer.config import Config
from syncer.engine import Context
from syncer.errors import ApiError, CredentialsError, RetryLater
from syncer.locations import find_location
from syncer.orders.currency import CurrencyRates
from syncer.products.projection import unset_tier_reason

Status = Literal["ok", "warn", "fail"]
CheckResult = tuple[Status, str, str]
Emit = Callable[[CheckResult], None]
T = TypeVar("T")

EXAMPLES = 10  # how many SKUs or names a line lists before "and N more"
LOCATION_PAGE_SIZE = 250

# `locations()` of the client lists active locations only; this one also lists inactive ones,
# so a mapping to a deactivated location is reported as such rather than as unknown.
LOCATIONS_WITH_INACTIVE = """
query CheckLocations($first: Int!, $after: String) {
  locations(first: $first, after: $after, includeInactive: true, sortKey: NAME) {
    pageInfo { hasNextPage endCursor }
    nodes { id name isActive }
  }
}
"""


class _Results:
    """Collects the lines and hands each to `emit` at once, so they show while work goes on."""

    def __init__(self, emit: Emit | None) -> None:
        self.lines: list[CheckResult] = []
        self.emit = emit

    def add(self, status: Status, name: str, detail: str) -> None:
        self.extend([(status, name, detail)])

    def extend(self, lines: Iterable[CheckResult]) -> None:
        for line in lines:
            self.lines.append(line)
            if self.emit is not None:
                self.emit(line)


def run_all_checks(root: Context, emit: Emit | None = None) -> list[CheckResult]:
    """Every check for every shop of the config: the config and state file once, then each
    shop's credentials, currency, location mapping and SKU coverage (its lines named after
    the shop when there are several), then the warehouses that feed several shops. A
    refused credential or an unreachable API in one shop does not stop the others' checks:
    it is raised once they are done."""
    out = _Results(emit)
    config = root.config
    out.extend(config_checks(config))
    out.extend(state_file_checks(config.state.path))
    several = len(config.shops) > 1
    raised: list[ApiError] = []
    for ctx in root.shop_contexts():
        name = ctx.shop_name

        def named(line: CheckResult, name: str = name) -> None:
            status, check, detail = line
            out.add(status, f"{name}: {check}" if several else check, detail)

        try:
            run_checks(ctx, named, local=False)
        except (CredentialsError, RetryLater) as exc:
            raised.append(exc)
    out.extend(shared_warehouse_checks(config))
    if len(raised) == 1:
        raise raised[0]
    if raised:
        first = raised[0]
        raise type(first)("\n".join(str(e) for e in raised), api=first.api, status=first.status)
    return out.lines


def shared_warehouse_checks(config: Config) -> list[CheckResult]:
    """A warning for each Unleashed warehouse that feeds locations in more than one shop,
    saying what that means for stock: its in-flight units are shared."""
    feeds: dict[str, list[str]] = {}
    for shop in config.shops:
        if not shop.inventory.enabled:
            continue
        for code, location in shop.inventory.locations.items():
            feeds.setdefault(code, []).append(f"{shop.name} ({location})")
    lines: list[CheckResult] = []
    for code, shops in feeds.items():
        if len(shops) < 2:
            continue
        lines.append(
            (
                "warn",
                "inventory.locations",
                f"warehouse {code} feeds {len(shops)} shops: {', '.join(shops)}. They share its "
                f"stock: an order in any of them that Unleashed has not allocated yet (unsent, "
                f"held or still {'/'.join(config.inventory.unallocated_statuses) or 'unallocated'})"
                f" lowers what every one of them shows for {code}; each shop's buffer is its own",
            )
        )
    return lines


def run_checks(ctx: Context, emit: Emit | None = None, *, local: bool = True) -> list[CheckResult]:
    """Run every check of one shop in order; `emit` receives each line as soon as it is
    known. `local=False` leaves out the config and state file checks (done once)."""
    out = _Results(emit)
    config = ctx.config
    if local:
        out.extend(config_checks(config))
        out.extend(state_file_checks(config.state.path))

    shop, warehouses = _reach_apis(ctx, out)
    if shop is None or warehouses is None:
        return out.lines  # an API answered with an error: reported; nothing more to compare

    if config.inventory.enabled or config.fulfillments.enabled:
        locations = _read(
            out,
            "shopify locations",
            lambda: list(
                ctx.shopify.paginate(
                    LOCATIONS_WITH_INACTIVE,
                    {"first": LOCATION_PAGE_SIZE},
                    ("locations",),
                    kind="locations.list",
                )
            ),
        )
        if locations is not None:
            out.extend(location_checks(config, warehouses, locations))

    if config.orders.enabled:
        out.extend(orders_warehouse_checks(config, warehouses))
        taxes = _read(out, "orders.tax_code", ctx.unleashed.tax_codes)
        if taxes is not None:
            out.extend(tax_code_checks(config, taxes, bool(shop.get("taxesIncluded"))))
        code = config.orders.customer.code
        try:
            customer = ctx.unleashed.get_customer_by_code(code)
        except (CredentialsError, RetryLater):
            raise
        except ApiError as exc:
            out.add("fail", "orders.customer.code", f"could not be checked: {exc}")
        else:
            out.extend(customer_checks(config, customer))
        currencies = _read(out, "orders.currency", lambda: ctx.unleashed.currencies(in_use=True))
        if currencies is not None:
            out.extend(currency_checks(config, str(shop.get("currencyCode") or ""), currencies))

    variants = _read(
        out,
        "shopify variants",
        lambda: _counted(ctx, "Reading Shopify variants", ctx.shopify.iter_variants()),
    )
    products = _read(
        out,
        "unleashed products",
        lambda: _counted(ctx, "Reading Unleashed products", ctx.unleashed.iter_products()),
    )
    if products is not None:
        out.extend(product_setting_checks(config, products))
    if variants is not None and products is not None:
        out.extend(sku_coverage_checks(config, variants, products))
    return out.lines


# -- local checks ------------------------------------------------------------------------------


def config_checks(config: Config) -> list[CheckResult]:
    """The config loaded (or we would not be here); warn about secrets written in clear."""
    where = str(config.source) if config.source else "the config"
    lines: list[CheckResult] = [("ok", "config", f"{where} is valid")]
    if config.clear_secrets:
        keys = ", ".join(config.clear_secrets)
        example = config.clear_secrets[0]
        env = example.replace(".", "_").upper()
        lines.append(
            (
                "warn",
                "secrets",
                f"{keys} stand in the config file in clear; write them as ${{ENV_VAR}} "
                f"(e.g. {example.split('.')[-1]}: ${{{env}}}) and export the variable, "
                "so the file can be shared and backed up safely",
            )
        )
    else:
        lines.append(("ok", "secrets", "read from the environment"))
    return lines


def state_file_checks(path: Path) -> list[CheckResult]:
    """Warn when others can read the state database (it holds customer emails and order
    data) or its folder."""
    if str(path) == ":memory:":
        return []
    problems: list[str] = []
    readable = [
        (candidate, mode)
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if (mode := _mode(candidate)) is not None and mode & 0o077
    ]
    if readable:
        names = " ".join(str(candidate) for candidate, _ in readable)
        modes = ", ".join(f"{candidate.name} {mode:o}" for candidate, mode in readable)
        problems.append(f"others can read it (mode {modes}); run `chmod 600 {names}`")
    folder = path.parent if str(path.parent) else Path(".")
    mode = _mode(folder)
    # An ordinary 755 folder is fine (the file itself is private); one that others can
    # write to lets them replace the database.
    if mode is not None and mode & 0o022:
        problems.append(
            f"others can write to its folder {folder} (mode {mode:o}); run "
            f"`chmod go-w {folder}` or move state.path to a private folder"
        )
    if not problems:
        return [("ok", "state file", f"{path} is private")]
    return [
        ("warn", "state file", f"{path} holds order and customer data but " + "; ".join(problems))
    ]


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


# -- reaching the APIs -------------------------------------------------------------------------


def _reach_apis(
    ctx: Context, out: _Results
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None]:
    """One cheap call per API. Credentials and reachability errors are raised after both
    APIs were tried; other API errors become failed lines."""
    refused: list[ApiError] = []
    shop: dict[str, Any] | None = None
    warehouses: list[dict[str, Any]] | None = None
    config = ctx.config
    try:
        shop = ctx.shopify.shop_info()
    except (CredentialsError, RetryLater) as exc:
        refused.append(exc)
    except ApiError as exc:
        out.add("fail", "shopify", f"{exc}; check shopify.shop and shopify.api_version")
    else:
        out.extend(shop_checks(shop, config.shopify.api_version, ctx.shopify.answered_version))
    try:
        warehouses = ctx.unleashed.warehouses()
    except (CredentialsError, RetryLater) as exc:
        refused.append(exc)
    except ApiError as exc:
        out.add("fail", "unleashed", f"{exc}; check unleashed.base_url")
    else:
        names = ", ".join(_warehouse_label(w) for w in warehouses[:EXAMPLES])
        out.add("ok", "unleashed", f"{len(warehouses)} warehouse(s): {names}")
    if len(refused) == 1:
        raise refused[0]
    if refused:
        first = refused[0]
        raise type(first)("\n".join(str(e) for e in refused), api=first.api, status=first.status)
    return shop, warehouses


def shop_checks(
    shop: Mapping[str, Any], configured_version: str, answered_version: str | None
) -> list[CheckResult]:
    pricing = "include" if shop.get("taxesIncluded") else "exclude"
    detail = (
        f"{shop.get('name')} ({shop.get('myshopifyDomain')}), currency "
        f"{shop.get('currencyCode')}, prices {pricing} tax"
    )
    if answered_version is None:
        return [("ok", "shopify", f"{detail}; API version not confirmed by Shopify")]
    if answered_version != configured_version:
        return [
            ("ok", "shopify", detail),
            (
                "warn",
                "shopify.api_version",
                f"Shopify answered with API version {answered_version}, not {configured_version}:"
                f" the configured version is not supported; set shopify.api_version to "
                f"{answered_version} after checking the release notes",
            ),
        ]
    return [("ok", "shopify", f"{detail}, API {answered_version}")]


def _read(out: _Results, name: str, read: Callable[[], T]) -> T | None:
    """Run one read; an API error other than credentials/reachability becomes a failed line."""
    try:
        return read()
    except (CredentialsError, RetryLater):
        raise
    except ApiError as exc:
        out.add("fail", name, f"could not be checked: {exc}")
        return None


def _counted(ctx: Context, task: str, rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx.progress.start(task)
    found: list[dict[str, Any]] = []
    try:
        for row in rows:
            found.append(row)
            ctx.progress.advance()
    finally:
        ctx.progress.done()
    return found


# -- mappings (pure) ---------------------------------------------------------------------------


def _warehouse_label(warehouse: Mapping[str, Any]) -> str:
    return f"{warehouse.get('WarehouseCode')} ({warehouse.get('WarehouseName')})"


def _warehouse_problem(code: str, warehouses: Sequence[Mapping[str, Any]]) -> str | None:
    by_code = {str(w.get("WarehouseCode")): w for w in warehouses}
    found = by_code.get(code)
    if found is None:
        close = [c for c in by_code if c.casefold() == code.casefold()]
        hint = f"did you mean {close[0]}? " if close else ""
        return (
            f"Unleashed has no warehouse with code {code}; {hint}codes: {_sample(sorted(by_code))}"
        )
    if found.get("Obsolete"):
        return f"Unleashed warehouse {code} is obsolete; map an active warehouse"
    return None


def location_checks(
    config: Config,
    warehouses: Sequence[Mapping[str, Any]],
    locations: Sequence[Mapping[str, Any]],
) -> list[CheckResult]:
    """Each `inventory.locations` entry: the warehouse exists, the location exists and is
    active (by name or gid)."""
    mapping = config.inventory.locations
    if not mapping:
        return [
            (
                "warn",
                "inventory.locations",
                "maps no warehouse, so no stock is pushed; add WAREHOUSE_CODE: Shopify location",
            )
        ]
    active = [str(loc.get("name")) for loc in locations if loc.get("isActive")]
    lines: list[CheckResult] = []
    for code, target in mapping.items():
        name = f"inventory.locations.{code}"
        problems: list[str] = []
        warehouse_problem = _warehouse_problem(code, warehouses)
        if warehouse_problem:
            problems.append(warehouse_problem + "; fix the key under inventory.locations")
        location, reason = find_location(target, locations)
        if location is None:
            problems.append(
                f"{reason}; use one of these names (or its gid): "
                f"{_sample([repr(n) for n in active])}"
            )
        elif not location.get("isActive"):
            problems.append(
                f"Shopify location {target!r} is deactivated; reactivate it in Shopify or map "
                f"one of: {_sample([repr(n) for n in active])}"
            )
        if problems:
            lines.append(("fail", name, "; ".join(problems)))
        else:
            assert location is not None
            lines.append(
                (
                    "ok",
                    name,
                    f"Unleashed warehouse {code} -> Shopify location {location.get('name')!r} "
                    f"({location.get('id')})",
                )
            )
    return lines


def orders_warehouse_checks(
    config: Config, warehouses: Sequence[Mapping[str, Any]]
) -> list[CheckResult]:
    code = config.orders.warehouse
    problem = _warehouse_problem(code, warehouses)
    if problem:
        return [("fail", "orders.warehouse", f"{problem}; set orders.warehouse to one of them")]
    found = next(w for w in warehouses if w.get("WarehouseCode") == code)
    return [("ok", "orders.warehouse", f"new sales orders go to {_warehouse_label(found)}")]


def tax_code_checks(
    config: Config, taxes: Sequence[Mapping[str, Any]], taxes_included: bool
) -> list[CheckResult]:
    """The tax code exists and is usable for sales; warn when products.tax_rate, used to
    convert tax-inclusive Shopify prices, disagrees with its rate."""
    code = config.orders.tax_code
    found = next((t for t in taxes if t.get("TaxCode") == code), None)
    if found is None:
        codes = sorted(str(t.get("TaxCode")) for t in taxes if not t.get("Obsolete"))
        return [
            (
                "fail",
                "orders.tax_code",
                f"Unleashed has no tax code {code!r}; set orders.tax_code to one of: "
                f"{_sample(codes)}",
            )
        ]
    if found.get("Obsolete") or found.get("CanApplyToRevenue") is False:
        return [
            (
                "fail",
                "orders.tax_code",
                f"Unleashed tax code {code!r} is obsolete or not for sales; pick a sales tax code",
            )
        ]
    rate = _decimal(found.get("TaxRate"))
    lines: list[CheckResult] = [
        ("ok", "orders.tax_code", f"{code} ({found.get('Description')}), rate {rate}")
    ]
    products = config.products
    if (
        rate is not None
        and products.enabled
        and taxes_included
        and "price" in products.fields
        and rate != products.tax_rate
    ):
        lines.append(
            (
                "warn",
                "products.tax_rate",
                f"is {products.tax_rate} but the rate of {code} in Unleashed is {rate}; the "
                f"shop's prices include tax and are converted with products.tax_rate, so set "
                f"it to {rate}",
            )
        )
    return lines


def currency_checks(
    config: Config, shop_currency: str, currencies: Sequence[Mapping[str, Any]]
) -> list[CheckResult]:
    """The shop's currency and how its orders will be sent: at Unleashed's rate, at 1 as the
    base (stated or assumed), or held because Unleashed has no rate for it."""
    rates = CurrencyRates.from_records(currencies, config.unleashed.base_currency)
    code = shop_currency.upper()
    how = rates.describe(code)
    if code in rates.sell_rates or code == rates.base:
        status: Status = "ok"
    elif rates.base is None:
        status = "warn"
    else:
        status = "fail"
    lines: list[CheckResult] = [(status, "orders.currency", f"shop currency {code}, {how}")]
    if config.orders.currency == "presentment":
        in_use = ", ".join(sorted(rates.sell_rates)) or "none"
        fallback = (
            "are held until they are added under Currency Rates"
            if rates.base
            else "are sent at rate 1 as if they were the base currency"
        )
        lines.append(
            (
                "ok",
                "presentment currencies",
                f"each order is sent in the customer's currency; Unleashed has "
                f"rates for {in_use}; other currencies {fallback}",
            )
        )
    return lines


def customer_checks(config: Config, customer: Mapping[str, Any] | None) -> list[CheckResult]:
    """The fixed customer: every order in single mode, orders without email in per_email."""
    cfg = config.orders.customer
    single = cfg.mode == "single"
    usage = "every order" if single else "orders without an email"
    if customer is None or customer.get("Obsolete"):
        state = "is obsolete" if customer is not None else "does not exist"
        fix = (
            f"create customer {cfg.code} in Unleashed or set orders.customer.code to an "
            "existing customer"
        )
        if single:
            return [("fail", "orders.customer.code", f"customer {cfg.code} {state}; {fix}")]
        return [
            (
                "warn",
                "orders.customer.code",
                f"customer {cfg.code} {state}, so orders without an email will fail; {fix}",
            )
        ]
    return [
        (
            "ok",
            "orders.customer.code",
            f"{cfg.code} ({customer.get('CustomerName')}) is used for {usage}",
        )
    ]


def product_setting_checks(
    config: Config, products: Sequence[Mapping[str, Any]]
) -> list[CheckResult]:
    """The shipping product (product mode) and the sell price tier (1..10) exist."""
    lines: list[CheckResult] = []
    shipping = config.orders.shipping
    if config.orders.enabled and shipping.mode == "product":
        codes = {str(p.get("ProductCode")) for p in products}
        if shipping.product_code in codes:
            lines.append(
                (
                    "ok",
                    "orders.shipping.product_code",
                    f"shipping is sent as product {shipping.product_code}",
                )
            )
        else:
            lines.append(
                (
                    "fail",
                    "orders.shipping.product_code",
                    f"Unleashed has no active product {shipping.product_code}; create it (a "
                    "service product) or use orders.shipping.mode: charge",
                )
            )
    tier = config.products.price_tier
    if config.products.enabled and "price" in config.products.fields and tier != "default":
        key = f"SellPriceTier{tier}"
        names = Counter(
            str(p[key].get("Name"))
            for p in products
            if isinstance(p.get(key), Mapping) and p[key].get("Name")
        )
        # Counted as the products run reads a tier: "0.0000" is a tier nobody filled in.
        priced = sum(1 for p in products if unset_tier_reason(p, tier) is None)
        label = names.most_common(1)[0][0] if names else key
        if products and not priced:
            lines.append(
                (
                    "warn",
                    "products.price_tier",
                    f"no Unleashed product has a {label!r} ({key}) price; fill the tier in "
                    "Unleashed or use products.price_tier: default",
                )
            )
        elif products:
            lines.append(
                (
                    "ok",
                    "products.price_tier",
                    f"{label!r} ({key}): {priced} of {len(products)} products have a price",
                )
            )
    return lines


# -- SKU coverage (pure) -----------------------------------------------------------------------


def _variant_label(variant: Mapping[str, Any]) -> str:
    product = variant.get("product") or {}
    title = str(variant.get("title") or "")
    name = str(product.get("title") or variant.get("id"))
    return name if title in ("", "Default Title") else f"{name} / {title}"


def sku_coverage_checks(
    config: Config,
    variants: Sequence[Mapping[str, Any]],
    products: Sequence[Mapping[str, Any]],
) -> list[CheckResult]:
    """SKUs in both directions, duplicates on either side and variants without a SKU.

    SKUs match exactly, as the jobs match them. The configured shipping product is left out
    of "only in Unleashed": it is a service product no shop sells.
    """
    shopify: dict[str, list[str]] = {}
    without_sku: list[str] = []
    for variant in variants:
        sku = str(variant.get("sku") or "")
        if not sku.strip():
            without_sku.append(_variant_label(variant))
            continue
        shopify.setdefault(sku, []).append(_variant_label(variant))
    codes = Counter(str(p.get("ProductCode")) for p in products if p.get("ProductCode"))
    codes.pop(config.orders.shipping.product_code, None)

    only_shopify = sorted(set(shopify) - set(codes))
    only_unleashed = sorted(set(codes) - set(shopify))
    matched = len(set(shopify) & set(codes))
    lines: list[CheckResult] = [
        (
            "ok",
            "SKU coverage",
            f"{len(variants)} Shopify variants, {sum(codes.values())} Unleashed products, "
            f"{matched} SKUs on both sides",
        )
    ]
    master_unleashed = config.master == "unleashed"
    create = config.products.enabled and config.products.create_missing
    if only_shopify:
        upper = {c.upper(): c for c in codes}
        case_only = [s for s in only_shopify if s.upper() in upper]
        action = (
            "the products job creates them in Unleashed"
            if create and not master_unleashed
            else "orders with them are held and their stock is not synced; add them to "
            "Unleashed if they should sync"
        )
        detail = f"{len(only_shopify)} ({_sample(only_shopify)}); {action}"
        if case_only:
            pairs = [f"{s} vs {upper[s.upper()]}" for s in case_only]
            detail += (
                f"; {len(case_only)} differ only in letter case ({_sample(pairs)}): "
                "make them identical"
            )
        lines.append(("warn", "SKUs only in Shopify", detail))
    if only_unleashed:
        action = (
            "the products job creates them in Shopify"
            if create and master_unleashed
            else "they are not sold in Shopify; add them there if they should be"
        )
        lines.append(
            (
                "warn",
                "SKUs only in Unleashed",
                f"{len(only_unleashed)} ({_sample(only_unleashed)}); {action}",
            )
        )
    duplicates = {sku: labels for sku, labels in shopify.items() if len(labels) > 1}
    if duplicates:
        examples = [
            f"{sku} on {len(labels)} variants ({', '.join(labels[:3])})"
            for sku, labels in sorted(duplicates.items())
        ]
        lines.append(
            (
                "fail",
                "duplicate SKUs in Shopify",
                f"{len(duplicates)}: {_sample(examples, sep='; ')}; "
                "syncer holds these products, orders and stock: give each variant its own SKU",
            )
        )
    repeated = sorted(code for code, count in codes.items() if count > 1)
    if repeated:
        lines.append(
            (
                "fail",
                "duplicate product codes in Unleashed",
                f"{len(repeated)}: {_sample(repeated)}; "
                "syncer holds these products: make each product code unique in Unleashed",
            )
        )
    if without_sku:
        lines.append(
            (
                "warn",
                "variants without SKU",
                f"{len(without_sku)} Shopify variant(s) have no SKU and are never synced: "
                f"{_sample(without_sku)}; give them the Unleashed product code as SKU",
            )
        )
    return lines


# -- helpers -----------------------------------------------------------------------------------


def _sample(values: Sequence[str], limit: int = EXAMPLES, sep: str = ", ") -> str:
    """Up to `limit` values, then how many more."""
    if not values:
        return "none"
    shown = sep.join(values[:limit])
    rest = len(values) - limit
    return f"{shown}{sep}and {rest} more" if rest > 0 else shown


def _decimal(value: Any) -> Decimal | None:
    """The number without the trailing zeros Unleashed pads to its column scale (0.150000)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return Decimal(f"{number.normalize():f}") if number.is_finite() else number
