"""A local Unleashed REST API: the resources syncer uses, behaving as the documented API does.

What it enforces like the real API: the HMAC signature of the *decoded* query on every
request (the page number is in the path and not signed), page-number paging with the
`Pagination`/`Items` envelope (default 200, max 1000 a page), `/Date(ms)/` dates,
`modifiedSince` (optionally day-granular), prefix filters (`productCode`, `customerCode`,
`contactEmail`), client-chosen GUIDs on create, and strict sales-order validation including
Unleashed's totals rule.

Choices the notes leave open are marked [unverified] where they are made; the main ones:
- 403 body `{"Description": "Method authentication failed"}`.
- Error bodies `{"Description": ..., "Items": [{"Field": ..., "Description": ...}]}`.
- A second create with an existing GUID is a 400; an unknown GUID on a single GET is a 404.
- Prefix filters ignore case (SQL Server's default collation); exact filters too.
- The monthly quota, when set, answers every call past it with 403 and a Description that
  says the usage limit is reached (no status for it is documented).
- Malformed JSON bodies get 400 (the docs mention 500 for "object could not be parsed").
- Line `DiscountRate` is a fraction (0.1 = 10 %); LineTotal = round(qty x price x (1 - rate)).
- Rounding is half-up to the cent at every step.
- Free credit notes (no public example of the body exists): `CreditLines[{LineNumber,
  LineType, Product, CreditQuantity, CreditPrice, LineTotal, LineTax}]`, reference in
  `CustomerRef`; the reply adds `CreditNoteNumber` and status `Parked`.

Replies carry the quirks captured replies show: decimals written with every digit of their
column's scale (`2.0000`, `20.00000000`), `SellPriceTierN.Value` as a string or null (a
blanked tier as `{"Name": "", "Value": "0.0000"}`), and charge lines whose `Product` has a null
`ProductCode` and the all-zero Guid.
- Shipments: `ShippingCompany` is a plain name.

Tests drive it through Python methods (thread-safe) or `/_control/...` over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from syncer.sandbox.common import Reply, Request
from syncer.sandbox.seed import World, make_world

DEFAULT_API_ID = "sandbox-api-id"
DEFAULT_API_KEY = "sandbox-api-key-0123456789"
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000
DEFAULT_CUSTOMER_CODE = "SHOPIFY"
SHIPPING_PRODUCT_CODE = "SHIPPING"
AUTH_FAILED = "Method authentication failed"
CENT = Decimal("0.01")
# A charge line (freight, fees) is not a product; its `Product.Guid` is the empty Guid.
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# The keys of a free credit note's lines and its reference.
LINES_KEY = "CreditLines"
QUANTITY_KEY = "CreditQuantity"
PRICE_KEY = "CreditPrice"
REFERENCE_KEY = "CustomerRef"
# Unleashed keeps amounts in fixed-scale decimal columns and writes every digit of the scale:
# an order quantity of 2 comes back as 2.0000 and its line total as 20.00000000.
_LINE_SCALES = {
    "OrderQuantity": 4,
    "CreditQuantity": 4,
    "UnitPrice": 4,
    "CreditPrice": 4,
    "DiscountRate": 4,
    "LineTotal": 8,
    "LineTax": 3,
    "TaxRate": 6,
    "ShipmentQty": 4,
}
# Charge lines live in narrower columns: money at two places, quantity and discount as sent.
_CHARGE_SCALES = {"UnitPrice": 2, "LineTotal": 2, "LineTax": 2, "TaxRate": 6}
_SCALES = {
    "SubTotal": 3,
    "TaxTotal": 3,
    "Total": 3,
    "ExchangeRate": 6,
    "DiscountRate": 4,
    "TaxRate": 6,
    "QtyOnHand": 4,
    "AvailableQty": 4,
    "AllocatedQty": 4,
    "OnPurchase": 4,
}
_SCALE_UNITS = {places: Decimal(1).scaleb(-places) for places in range(9)}
_TIER_UNIT = _SCALE_UNITS[4]  # SellPriceTierN.Value: a string with four places
# Sales-order statuses that hold stock for the order's undispatched quantities.
ALLOCATING_STATUSES = frozenset({"Placed", "Backordered", "Open", "Picking", "Picked", "Packed"})
ORDER_STATUSES = frozenset(
    {
        "Parked",
        "Placed",
        "Backordered",
        "Open",
        "Picking",
        "Picked",
        "Packed",
        "Dispatched",
        "Completed",
        "Deleted",
    }
)
CREATE_STATUSES = ("Parked", "Placed")
_NAMESPACE = uuid.UUID("6f1d3c8e-8a4e-4d8b-9a57-2c1f0b7e5d10")
_SEED_EPOCH_MS = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000)
_SINCE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,7})?)?$")
_WIRE_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")

RESOURCES = {
    "products": "Products",
    "stockonhand": "StockOnHand",
    "warehouses": "Warehouses",
    "customers": "Customers",
    "salesorders": "SalesOrders",
    "salesshipments": "SalesShipments",
    "creditnotes": "CreditNotes",
    "taxes": "Taxes",
    "currencies": "Currencies",
}


class Invalid(Exception):
    """A request the API rejects with 400; carries every problem found."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(text for _, text in problems))


def wire_date(ms: int | None) -> str | None:
    return None if ms is None else f"/Date({ms})/"


def _tier_value(price: Decimal) -> str:
    """A sell-price tier's value as Unleashed writes it: text with four places ("15.0000")."""
    return f"{price.quantize(_TIER_UNIT, rounding=ROUND_HALF_UP):f}"


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _guid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}"))


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy without the sandbox's private `_` keys."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key.startswith("_"):
            continue
        out[key] = _copy(value)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return _public(value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, _dumps(_on_the_wire(body)).encode("utf-8"), headers or {})


def _on_the_wire(value: Any, scales: Mapping[str, int] = _SCALES) -> Any:
    """The reply as Unleashed writes it: each decimal at its column's scale (a copy)."""
    if isinstance(value, list):
        return [_on_the_wire(item, scales) for item in value]
    if not isinstance(value, dict):
        return value
    if "LineNumber" in value:  # a line of an order, credit or shipment
        scales = _CHARGE_SCALES if value.get("LineType") == "Charge" else _LINE_SCALES
    out: dict[str, Any] = {}
    for key, item in value.items():
        places = scales.get(key)
        if places is not None and isinstance(item, int | Decimal) and not isinstance(item, bool):
            out[key] = Decimal(item).quantize(_SCALE_UNITS[places], rounding=ROUND_HALF_UP)
        elif isinstance(item, dict | list):
            out[key] = _on_the_wire(item, _SCALES)
        else:
            out[key] = item
    return out


_NUMBER_MARK = "\\u0000#n:"
_NUMBER_MARK_RE = re.compile(r'"\\u0000#n:([-0-9.E+]+)"')


def _dumps(body: Any) -> str:
    """JSON text with each Decimal written digit for digit (`2.0000` stays `2.0000`).

    Decimals leave the fast encoder as marked strings whose quotes are then dropped.
    """
    text = json.dumps(body, default=_mark_number, ensure_ascii=False)
    return _NUMBER_MARK_RE.sub(r"\1", text) if _NUMBER_MARK in text else text


def _mark_number(value: Any) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return f"\x00#n:{value:f}"
    raise TypeError(f"the Unleashed sandbox cannot write {type(value).__name__} {value!r}")


def _error(status: int, description: str, items: list[dict[str, str]] | None = None) -> Reply:
    body: dict[str, Any] = {"Description": description}
    if items:
        body["Items"] = items
    return _json_reply(status, body)


def _number(value: Any, where: str, problems: list[tuple[str, str]]) -> Decimal | None:
    """A JSON number as Decimal; strings and booleans are rejected like a typed API would."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        problems.append((where, f"{where} must be a number, got {value!r}"))
        return None
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass
class StockRow:
    qty: Decimal
    modified: int
    avg_cost: Decimal = Decimal("0")


@dataclass
class Seen:
    """One request as the app saw it (the server's own log has the raw details)."""

    method: str
    path: str
    signed_query: str
    client_type: str | None
    status: int
    at: float = field(default_factory=time.time)


class UnleashedSandbox:
    """In-memory Unleashed account served by `SandboxServer`."""

    name = "unleashed"

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 1,
        api_id: str = DEFAULT_API_ID,
        api_key: str = DEFAULT_API_KEY,
        day_granular: bool | Iterable[str] = False,
        quota: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world if world is not None else make_world(seed)
        self.api_id = api_id
        self.api_key = api_key
        self.quota = quota
        self.clock = clock
        self.calls = 0
        self.missing_client_type = 0
        self.seen: list[Seen] = []
        self.writes: list[dict[str, Any]] = []  # every accepted POST: method, path, body, reply
        self._lock = threading.RLock()
        self._last_ms = 0
        self._serial = 0
        self._day_granular: set[str] = set()
        self.set_day_granular(day_granular)
        self._products: dict[str, dict[str, Any]] = {}
        self._product_codes: dict[str, str] = {}  # upper code -> guid
        self._groups: dict[str, dict[str, Any]] = {}
        self._warehouses: dict[str, dict[str, Any]] = {}  # upper code -> record
        self._stock: dict[tuple[str, str], StockRow] = {}  # (product guid, WH code) -> row
        self._allocated: dict[tuple[str, str], Decimal] = {}
        # Bills of materials: assembled product guid -> [(component guid, quantity per kit)].
        self._boms: dict[str, list[tuple[str, Decimal]]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._customer_codes: dict[str, str] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._order_numbers: dict[str, str] = {}
        self._shipments: dict[str, dict[str, Any]] = {}
        self._credits: dict[str, dict[str, Any]] = {}
        self._taxes: dict[str, dict[str, Any]] = {}
        self._currencies: dict[str, dict[str, Any]] = {}
        self._counters = {"SO": 0, "SS": 0, "CN": 0}
        self._load(self.world)

    # -- seed ------------------------------------------------------------------------------

    def _load(self, world: World) -> None:
        ms = _SEED_EPOCH_MS
        for code, description, rate in (
            ("G.S.T.", "Goods and Services Tax", world.tax_rate),
            ("NONE", "No tax", Decimal("0")),
        ):
            self._taxes[code.upper()] = {
                "Guid": _guid("tax", code),
                "TaxCode": code,
                "Description": description,
                "TaxRate": rate,
                "CanApplyToExpenses": True,
                "CanApplyToRevenue": True,
                "Obsolete": False,
            }
        # The account's base currency has no rates (and is not "in use"); AUD and USD carry
        # the sell rates of the API doc's own NZD-based example; the rest are listed, unset.
        for code, description, sell, buy in (
            (world.currency, "New Zealand Dollar", None, None),
            ("AUD", "Australia, Dollars", "0.893300", "0.893300"),
            ("USD", "United States of America, Dollars", "0.672500", "0.672500"),
            ("GBP", "United Kingdom, Pounds", None, None),
            ("EUR", "Euro Member Countries, Euro", None, None),
            ("JPY", "Japan, Yen", None, None),
        ):
            self._currencies.setdefault(
                code.upper(),
                {
                    "Guid": _guid("currency", code),
                    "CurrencyCode": code,
                    "Description": description,
                    "LastModifiedOn": wire_date(ms) if sell is not None else None,
                    "_sell": Decimal(sell) if sell is not None else None,
                    "_buy": Decimal(buy) if buy is not None else None,
                },
            )
        for index, (code, name) in enumerate(world.warehouses):
            self._warehouses[code.upper()] = {
                "Guid": _guid("warehouse", code),
                "WarehouseCode": code,
                "WarehouseName": name,
                "IsDefault": index == 0,
                "Obsolete": False,
                "StreetNo": None,
                "AddressLine1": None,
                "City": None,
                "Country": "New Zealand",
                "CreatedOn": wire_date(ms),
                "LastModifiedOn": wire_date(ms),
                "_mod": ms,
            }
        for index, product in enumerate(world.products):
            several = len(product.variants) > 1
            for variant in product.variants:
                title = f"{product.title} - {variant.title}" if several else product.title
                record = self._new_product_record(
                    _guid("product", variant.sku),
                    {
                        "ProductCode": variant.sku,
                        "ProductDescription": title,
                        "DefaultSellPrice": variant.price,
                        "SellPriceTier1": {
                            "Name": "Sell Price Tier 1",
                            "Value": _tier_value(variant.price),
                        },
                        "Barcode": variant.barcode,
                        "Weight": variant.weight_kg,
                        "ProductGroup": {"GroupName": product.product_type},
                        "Notes": product.description_html,
                    },
                    ms + index,
                )
                self._store_product(record)
        shipping = self._new_product_record(
            _guid("product", SHIPPING_PRODUCT_CODE),
            {
                "ProductCode": SHIPPING_PRODUCT_CODE,
                "ProductDescription": "Shipping",
                "DefaultSellPrice": Decimal("0"),
                "NeverDiminishing": True,
                "ProductGroup": {"GroupName": "Services"},
            },
            ms,
        )
        self._store_product(shipping)
        for (sku, warehouse), qty in world.stock.items():
            guid = self._product_codes.get(sku.upper())
            if guid is not None and qty > 0:  # a zero in the seed = never transacted: absent
                self._stock[(guid, warehouse.upper())] = StockRow(
                    Decimal(qty), ms, self._products[guid].get("DefaultPurchasePrice") or Decimal(0)
                )
        customers = [(c.code, c.name, c.email) for c in world.customers]
        customers.append((DEFAULT_CUSTOMER_CODE, "Shopify web orders", ""))
        for code, name, email in customers:
            record = self._new_customer_record(
                _guid("customer", code),
                {"CustomerCode": code, "CustomerName": name, "Email": email or None},
                ms,
            )
            self._customers[record["Guid"]] = record
            self._customer_codes[code.upper()] = record["Guid"]

    def _group(self, name: str) -> dict[str, Any]:
        key = name.upper()
        if key not in self._groups:
            self._groups[key] = {"Guid": _guid("group", name), "GroupName": name}
        return dict(self._groups[key])

    def _new_product_record(self, guid: str, fields: Mapping[str, Any], ms: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "Guid": guid,
            "ProductCode": None,
            "ProductDescription": None,
            "Barcode": None,
            "PackSize": None,
            "Width": None,
            "Height": None,
            "Depth": None,
            "Weight": None,
            "UnitOfMeasure": {"Guid": _guid("uom", "EA"), "Name": "EA"},
            "NeverDiminishing": False,
            "DefaultPurchasePrice": None,
            "DefaultSellPrice": None,
            "Obsolete": False,
            "Notes": None,
            "ProductGroup": None,
            "TaxableSales": True,
            "IsSellable": True,
            "IsComponent": False,
            "IsAssembledProduct": False,
            "CreatedBy": "sandbox",
            "CreatedOn": wire_date(ms),
            "LastModifiedOn": wire_date(ms),
            "_mod": ms,
            "_created": ms,
        }
        for tier in range(1, 11):
            record[f"SellPriceTier{tier}"] = {"Name": f"Sell Price Tier {tier}", "Value": None}
        # The company blanked tier 2's name: Unleashed then sends it as an empty name at zero.
        record["SellPriceTier2"] = {"Name": "", "Value": _tier_value(Decimal(0))}
        for key, value in fields.items():
            if key == "ProductGroup" and isinstance(value, Mapping) and value.get("GroupName"):
                record[key] = self._group(str(value["GroupName"]))
            else:
                record[key] = value
        return record

    def _new_customer_record(self, guid: str, fields: Mapping[str, Any], ms: int) -> dict[str, Any]:
        name = str(fields.get("CustomerName") or "")
        first, _, last = name.partition(" ")
        record: dict[str, Any] = {
            "Guid": guid,
            "CustomerCode": None,
            "CustomerName": None,
            "Email": None,
            "EmailCC": None,
            "ContactFirstName": first or None,
            "ContactLastName": last or None,
            "PhoneNumber": None,
            "MobileNumber": None,
            "Currency": self._currency_ref(self.world.currency),
            "CustomerType": None,
            "TaxCode": "G.S.T.",
            "Taxable": True,
            "Obsolete": False,
            "StopCredit": False,
            "Notes": None,
            "SourceId": None,
            "Addresses": [],
            "CreatedBy": "sandbox",
            "CreatedOn": wire_date(ms),
            "LastModifiedOn": wire_date(ms),
            "_mod": ms,
            "_created": ms,
        }
        record.update(fields)
        return record

    def _store_product(self, record: dict[str, Any]) -> None:
        self._products[record["Guid"]] = record
        self._product_codes[str(record["ProductCode"]).upper()] = record["Guid"]

    def _currency_ref(self, code: str) -> dict[str, Any]:
        return _public(self._currencies[code.upper()])

    # -- time ------------------------------------------------------------------------------

    def _tick(self) -> int:
        """Now in ms, strictly increasing so every change has its own LastModifiedOn."""
        ms = max(int(self.clock() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return ms

    def _next_number(self, prefix: str, taken: Mapping[str, str] | None = None) -> str:
        while True:
            self._counters[prefix] += 1
            number = f"{prefix}-{self._counters[prefix]:08d}"
            if taken is None or number.upper() not in taken:
                return number

    def _new_guid(self) -> str:
        self._serial += 1
        return _guid("generated", str(self._serial))

    # -- SandboxApp -------------------------------------------------------------------------

    def describe(self, request: Request) -> str:
        query = f"?{unquote_plus(request.query)}" if request.query else ""
        return f"{request.method} {request.path}{query}"

    def throttled_reply(self) -> Reply:
        return _error(429, "Too many requests, please slow down")

    def handle(self, request: Request) -> Reply:
        with self._lock:
            signed = unquote_plus(request.query)
            client_type = request.headers.get("client-type")
            if not client_type:
                self.missing_client_type += 1
            reply = self._handle(request, signed)
            self.seen.append(Seen(request.method, request.path, signed, client_type, reply.status))
            return reply

    def _handle(self, request: Request, signed: str) -> Reply:
        self.calls += 1
        if self.quota is not None and self.calls > self.quota:
            return _error(
                403,
                "API usage limit reached: requests are blocked until the quota resets on the "
                "1st of the month (UTC)",
            )
        if not self._authorised(request, signed):
            return _error(403, AUTH_FAILED)
        segments = [unquote(s) for s in request.path.split("/") if s]
        if not segments or segments[0].lower() not in RESOURCES:
            return _error(404, f"The endpoint {request.path} does not exist")
        resource = RESOURCES[segments[0].lower()]
        try:
            params = {k.lower(): v for k, v in parse_qsl(request.query, keep_blank_values=True)}
        except ValueError:
            return _error(400, "The query string could not be read")
        try:
            if request.method == "GET":
                return self._get(resource, segments[1:], params)
            if request.method == "POST":
                return self._post(resource, segments[1:], request)
        except Invalid as exc:
            items = [{"Field": where, "Description": text} for where, text in exc.problems]
            return _error(400, str(exc), items)
        return _error(405, f"{request.method} is not allowed on {request.path}")

    def _authorised(self, request: Request, signed: str) -> bool:
        if request.headers.get("api-auth-id") != self.api_id:
            return False
        given = request.headers.get("api-auth-signature", "")
        digest = hmac.new(self.api_key.encode(), signed.encode("utf-8"), hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode("ascii")
        return hmac.compare_digest(given.encode(), expected.encode())

    # -- GET -------------------------------------------------------------------------------

    def _get(self, resource: str, rest: list[str], params: dict[str, str]) -> Reply:
        page = 1
        if rest and rest[0].lower() == "page" and len(rest) == 2:
            rest = rest[1:]
        if len(rest) == 1 and rest[0].isdigit():
            page = int(rest[0])
            if page < 1:
                raise Invalid([("page", "Page number must be 1 or more")])
            rest = []
        if rest:
            if len(rest) != 1:
                return _error(404, f"The endpoint /{resource}/{'/'.join(rest)} does not exist")
            return self._get_one(resource, rest[0], params)
        items = self._list(resource, params)
        return self._page(items, page, params)

    def _page(self, items: list[dict[str, Any]], page: int, params: dict[str, str]) -> Reply:
        raw = params.get("pagesize", str(DEFAULT_PAGE_SIZE))
        try:
            size = int(raw)
        except ValueError:
            raise Invalid([("pageSize", f"pageSize must be a whole number, got {raw!r}")]) from None
        if size < 0 or size > MAX_PAGE_SIZE:
            raise Invalid(
                [("pageSize", f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")]
            )
        count = len(items)
        pages = math.ceil(count / size) if size else 0
        start = (page - 1) * size
        chunk = items[start : start + size] if size else []
        return _json_reply(
            200,
            {
                "Pagination": {
                    "NumberOfItems": count,
                    "PageSize": size,
                    "PageNumber": page,
                    "NumberOfPages": pages,
                },
                "Items": [self._render(resource_item) for resource_item in chunk],
            },
        )

    def _render(self, record: dict[str, Any]) -> dict[str, Any]:
        render = record.get("_render")
        return render() if callable(render) else _public(record)

    def _get_one(self, resource: str, key: str, params: dict[str, str]) -> Reply:
        store: dict[str, dict[str, Any]] | None = {
            "Products": self._products,
            "Customers": self._customers,
            "SalesOrders": self._orders,
            "SalesShipments": self._shipments,
            "CreditNotes": self._credits,
        }.get(resource)
        guid = key.lower()
        if store is not None:
            record = store.get(guid)
            if record is None:
                return _error(404, f"No {resource} record with Guid {key}")
            return _json_reply(200, self._render(record))
        if resource == "Warehouses":
            for warehouse in self._warehouses.values():
                if warehouse["Guid"] == guid:
                    return _json_reply(200, _public(warehouse))
            return _error(404, f"No warehouse with Guid {key}")
        if resource == "StockOnHand":
            if guid not in self._products:
                return _error(404, f"No product with Guid {key}")
            code = params.get("warehousecode")
            assembled = params.get("isassembled", "").lower() == "true"
            if code:
                self._warehouse(code)
                row = self._stock_row(guid, code.upper())
                extra = self._assemblable(guid, code.upper()) if assembled else Decimal(0)
            else:
                row = self._stock_total(guid)
                extra = self._assemblable(guid, None) if assembled else Decimal(0)
            row["AvailableQty"] += extra
            return _json_reply(200, row)
        return _error(404, f"The endpoint /{resource}/{key} does not exist")

    def _list(self, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
        since = self._since(resource, params)
        if resource == "Products":
            return self._list_products(params, since)
        if resource == "StockOnHand":
            return self._list_stock(params, since)
        if resource == "Warehouses":
            return [w for w in self._warehouses.values() if since is None or w["_mod"] >= since]
        if resource == "Customers":
            return self._list_customers(params, since)
        if resource == "SalesOrders":
            return self._list_orders(params, since)
        if resource == "SalesShipments":
            return self._list_shipments(params, since)
        if resource == "CreditNotes":
            return self._list_credits(params, since)
        if resource == "Taxes":
            return list(self._taxes.values())
        return self._list_currencies(params)

    def _list_currencies(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """`inUse=true`: only currencies with a buy rate set, which leaves the base out."""
        in_use = params.get("inuse", "").lower() == "true"
        return [
            {
                **_public(record),
                "DefaultBuyRate": record["_buy"],
                "DefaultSellRate": record["_sell"],
            }
            for record in self._currencies.values()
            if not in_use or record["_buy"] is not None
        ]

    def _since(self, resource: str, params: dict[str, str]) -> int | None:
        raw = params.get("modifiedsince")
        if raw is None or raw == "":
            return None
        match = _SINCE_RE.match(raw.strip())
        if match is None:
            raise Invalid(
                [
                    (
                        "modifiedSince",
                        f"modifiedSince {raw!r} is not a date; use yyyy-MM-dd or "
                        "yyyy-MM-ddTHH:mm:ss (UTC)",
                    )
                ]
            )
        try:
            moment = _utc(match)
        except ValueError:
            raise Invalid([("modifiedSince", f"modifiedSince {raw!r} is not a date")]) from None
        if resource in self._day_granular or "*" in self._day_granular:
            moment = moment.replace(hour=0, minute=0, second=0)
        return int(moment.timestamp() * 1000)

    def _list_products(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        include_obsolete = params.get("includeobsolete", "").lower() == "true"
        code = params.get("productcode", "").upper()
        description = params.get("productdescription", "").upper()
        contains = params.get("product", "").upper()
        group = params.get("productgroup", "").upper()
        barcode = params.get("productbarcode")
        ids = {g.strip().lower() for g in params.get("productid", "").split(",") if g.strip()}
        candidates = (
            [self._products[g] for g in ids if g in self._products]
            if ids
            else list(self._products.values())
        )
        items = []
        for p in candidates:
            if p["Obsolete"] and not include_obsolete:
                continue
            if since is not None and p["_mod"] < since:
                continue
            if code and not str(p["ProductCode"]).upper().startswith(code):
                continue
            if description and not str(p["ProductDescription"]).upper().startswith(description):
                continue
            if contains and contains not in (
                f"{p['ProductCode']}\n{p['ProductDescription']}".upper()
            ):
                continue
            if group and str((p.get("ProductGroup") or {}).get("GroupName", "")).upper() != group:
                continue
            if barcode is not None and p.get("Barcode") != barcode:
                continue
            items.append(p)
        return self._order_by(items, params.get("orderby"), "ProductCode")

    def _order_by(
        self, items: list[dict[str, Any]], order_by: str | None, default: str
    ) -> list[dict[str, Any]]:
        key = (order_by or "").lower()
        if key == "lastmodifiedon":
            return sorted(items, key=lambda r: r["_mod"])
        if key == "createdon":
            return sorted(items, key=lambda r: r["_created"])
        return sorted(items, key=lambda r: str(r[default]).upper())

    def _warehouse(self, code: str) -> dict[str, Any]:
        warehouse = self._warehouses.get(code.upper())
        if warehouse is None:
            raise Invalid([("warehouseCode", f"Warehouse code '{code}' does not exist")])
        return warehouse

    def _stock_row(self, guid: str, warehouse_code: str) -> dict[str, Any]:
        return self._stock_record(
            self._products[guid],
            self._warehouses[warehouse_code],
            *self._figures(guid, warehouse_code),
        )

    def _figures(self, guid: str, warehouse_code: str) -> tuple[Decimal, Decimal, Decimal, int]:
        """(on hand, allocated, average cost, last modified) of one product in one warehouse."""
        row = self._stock.get((guid, warehouse_code))
        allocated = self._allocated.get((guid, warehouse_code), Decimal(0))
        if row is None:
            return Decimal(0), allocated, Decimal(0), self._products[guid]["_mod"]
        return row.qty, allocated, row.avg_cost, row.modified

    def _stock_total(self, guid: str) -> dict[str, Any]:
        figures = self._total_figures({guid})[guid]
        return self._stock_record(self._products[guid], None, *figures)

    def _total_figures(self, guids: set[str]) -> dict[str, tuple[Decimal, Decimal, Decimal, int]]:
        """Company-wide figures (summed over warehouses) for these products, in one pass."""
        qty: dict[str, Decimal] = {g: Decimal(0) for g in guids}
        allocated: dict[str, Decimal] = {g: Decimal(0) for g in guids}
        modified: dict[str, int] = {}
        avg: dict[str, Decimal] = {}
        for (g, _), row in self._stock.items():
            if g in qty:
                qty[g] += row.qty
                modified[g] = max(modified.get(g, row.modified), row.modified)
                avg.setdefault(g, row.avg_cost)
        for (g, _), amount in self._allocated.items():
            if g in allocated:
                allocated[g] += amount
        return {
            g: (
                qty[g],
                allocated[g],
                avg.get(g, Decimal(0)),
                modified.get(g, self._products[g]["_mod"]),
            )
            for g in guids
        }

    def _available(self, guid: str, warehouse_code: str | None) -> Decimal:
        """On hand less allocated, in one warehouse or company-wide."""
        if warehouse_code is not None:
            qty, allocated, _, _ = self._figures(guid, warehouse_code)
        else:
            qty, allocated, _, _ = self._total_figures({guid})[guid]
        return qty - allocated

    def _assemblable(self, guid: str, warehouse_code: str | None) -> Decimal:
        """Whole kits the components on hand can build (`isAssembled=true`): for a product
        with a bill of materials, the least over its components of floor(component available
        / quantity per kit); 0 for any other product. [unverified: the documentation says
        only that AvailableQty then "also counts what can be auto-assembled".]"""
        bom = self._boms.get(guid)
        if not bom:
            return Decimal(0)
        kits = min(
            max(Decimal(0), self._available(component, warehouse_code)) // per_kit
            for component, per_kit in bom
        )
        return Decimal(int(kits))

    def _stock_record(
        self,
        product: Mapping[str, Any],
        warehouse: Mapping[str, Any] | None,
        qty: Decimal,
        allocated: Decimal,
        avg_cost: Decimal,
        modified: int,
        assemblable: Decimal = Decimal(0),
    ) -> dict[str, Any]:
        group = product.get("ProductGroup") or {}
        return {
            "Guid": product["Guid"],
            "ProductGuid": product["Guid"],
            "ProductCode": product["ProductCode"],
            "ProductDescription": product["ProductDescription"],
            "ProductGroupName": group.get("GroupName"),
            "Warehouse": warehouse["WarehouseName"] if warehouse else None,
            "WarehouseId": warehouse["Guid"] if warehouse else None,
            "WarehouseCode": warehouse["WarehouseCode"] if warehouse else None,
            "DaysSinceLastSale": None,
            "OnPurchase": Decimal(0),
            "AllocatedQty": allocated,
            "AvailableQty": qty - allocated + assemblable,
            "QtyOnHand": qty,
            "AvgCost": avg_cost,
            "TotalCost": round_money(qty * avg_cost),
            "LastModifiedOn": wire_date(modified),
        }

    def _list_stock(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        """Rows of one warehouse, or company-wide rows; only the page asked for is rendered."""
        code = params.get("warehousecode")
        ids = {g.strip().lower() for g in params.get("productid", "").split(",") if g.strip()}
        prefix = params.get("productcode", "").upper()
        keys = set(self._stock) | {k for k, q in self._allocated.items() if q}
        assembled = params.get("isassembled", "").lower() == "true"
        warehouse: dict[str, Any] | None = None
        wanted: str | None = None
        if code:
            warehouse = self._warehouse(code)
            wanted = warehouse["WarehouseCode"].upper()
            figures = {g: self._figures(g, wanted) for g, w in keys if w == wanted}
        else:
            figures = self._total_figures({g for g, _ in keys})
        extra: dict[str, Decimal] = {}
        if assembled:
            for guid in self._boms:
                extra[guid] = self._assemblable(guid, wanted)
                # A kit with no stock transaction of its own is listed once it can be built.
                # [unverified] Its row's LastModifiedOn stays its own: a component's stock
                # change does not re-stamp it.
                if guid not in figures and extra[guid] > 0:
                    figures[guid] = (
                        self._figures(guid, wanted) if wanted else self._total_figures({guid})[guid]
                    )
        entries: list[dict[str, Any]] = []
        for guid, numbers in figures.items():
            product = self._products[guid]
            if ids and guid not in ids:
                continue
            if prefix and not str(product["ProductCode"]).upper().startswith(prefix):
                continue
            if since is not None and numbers[3] < since:
                continue
            entries.append(
                {
                    "_code": str(product["ProductCode"]).upper(),
                    "_render": _deferred(
                        self._stock_record,
                        product,
                        warehouse,
                        *numbers,
                        extra.get(guid, Decimal(0)),
                    ),
                }
            )
        entries.sort(key=lambda e: e["_code"])
        return entries

    def _list_customers(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        email = params.get("contactemail", "").upper()
        code = params.get("customercode", "").upper()
        name = params.get("customername", "").upper()
        include_obsolete = params.get("includeobsolete", "").lower() == "true"
        items = []
        for c in self._customers.values():
            if c["Obsolete"] and not include_obsolete:
                continue
            if since is not None and c["_mod"] < since:
                continue
            if email and not str(c.get("Email") or "").upper().startswith(email):
                continue
            if code and not str(c["CustomerCode"]).upper().startswith(code):
                continue
            if name and not str(c["CustomerName"]).upper().startswith(name):
                continue
            items.append(c)
        return self._order_by(items, params.get("orderby"), "CustomerCode")

    def _list_orders(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        number = params.get("ordernumber")
        if number is not None:  # overrides every other filter
            guid = self._order_numbers.get(number.upper())
            return [self._orders[guid]] if guid else []
        statuses = {
            s.strip().upper() for s in params.get("orderstatus", "").split(",") if s.strip()
        }
        customer = params.get("customercode", "").upper()
        warehouse = params.get("warehousecode", "").upper()
        items = []
        for order in self._orders.values():
            status = order["OrderStatus"].upper()
            if statuses and status not in statuses:
                continue
            if not statuses and status == "DELETED":
                continue
            if since is not None and order["_mod"] < since:
                continue
            if customer and not order["Customer"]["CustomerCode"].upper().startswith(customer):
                continue
            if warehouse and order["Warehouse"]["WarehouseCode"].upper() != warehouse:
                continue
            items.append(order)
        return items

    def _list_shipments(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        number = params.get("ordernumber")
        status = params.get("shipmentstatus", "").upper()
        warehouse = params.get("warehousecode", "").upper()
        items = []
        for shipment in self._shipments.values():
            if number is not None:
                if str(shipment["OrderNumber"]).upper() == number.upper():
                    items.append(shipment)
                continue
            if status and shipment["ShipmentStatus"].upper() != status:
                continue
            if warehouse and shipment["Warehouse"]["WarehouseCode"].upper() != warehouse:
                continue
            if since is not None and shipment["_mod"] < since:
                continue
            items.append(shipment)
        if params.get("orderby", "").lower() == "shipmentnumber":
            items.sort(key=lambda s: s["ShipmentNumber"])
            if params.get("sort", "asc").lower() == "desc":
                items.reverse()
            return items
        items.sort(key=lambda s: s["_mod"])
        if params.get("sort", "desc").lower() == "desc":  # documented default: newest first
            items.reverse()
        return items

    def _list_credits(self, params: dict[str, str], since: int | None) -> list[dict[str, Any]]:
        number = params.get("creditnumber", "").upper()
        status = params.get("creditstatus", "").upper()
        items = [
            c
            for c in self._credits.values()
            if (since is None or c["_mod"] >= since)
            and (not number or c["CreditNoteNumber"].upper() == number)
            and (not status or c["Status"].upper() == status)
        ]
        items.sort(key=lambda c: c["_mod"], reverse=True)  # documented default: newest first
        return items

    # -- POST ------------------------------------------------------------------------------

    def _post(self, resource: str, rest: list[str], request: Request) -> Reply:
        if resource == "Products" and len(rest) == 2 and rest[0].lower() == "obsolete":
            reply = self._obsolete_http(rest[1])
        elif resource == "CreditNotes" and len(rest) == 1 and rest[0].lower() == "freecredit":
            reply = self._create_credit(self._body(request))
        elif len(rest) != 1:
            return _error(405, f"POST /{resource} needs the record's Guid in the path")
        elif resource == "Products":
            reply = self._upsert_product(rest[0], self._body(request))
        elif resource == "Customers":
            reply = self._upsert_customer(rest[0], self._body(request))
        elif resource == "SalesOrders":
            reply = self._create_order(rest[0], self._body(request))
        else:
            return _error(405, f"POST is not allowed on /{resource}")
        if reply.status < 300:
            self.writes.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "body": request.body.decode("utf-8", "replace"),
                    "status": reply.status,
                }
            )
        return reply

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body.decode("utf-8") or "null", parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise Invalid([("body", "The request body is not valid JSON")]) from None
        if not isinstance(body, dict):
            raise Invalid([("body", "The request body must be a JSON object")])
        return body

    def _check_path_guid(self, path_guid: str, body: Mapping[str, Any]) -> str:
        if not _is_uuid(path_guid):
            raise Invalid([("Guid", f"'{path_guid}' in the path is not a GUID")])
        given = body.get("Guid")
        if given not in (None, "") and str(given).lower() != path_guid.lower():
            raise Invalid(
                [("Guid", f"The Guid in the body ({given}) does not match the path ({path_guid})")]
            )
        return path_guid.lower()

    def _obsolete_http(self, guid: str) -> Reply:
        product = self._products.get(guid.lower())
        if product is None:
            return _error(404, f"No product with Guid {guid}")
        product["Obsolete"] = True
        self._touch(product)
        return _json_reply(200, _public(product))

    def _touch(self, record: dict[str, Any]) -> int:
        ms = self._tick()
        record["_mod"] = ms
        record["LastModifiedOn"] = wire_date(ms)
        return ms

    _PRODUCT_NUMBERS = (
        "DefaultSellPrice",
        "DefaultPurchasePrice",
        "Weight",
        "Width",
        "Height",
        "Depth",
        "PackSize",
        "MinStockAlertLevel",
        "MaxStockAlertLevel",
        "ReOrderPoint",
    )
    _READ_ONLY = frozenset({"Guid", "CreatedOn", "CreatedBy", "LastModifiedOn", "LastModifiedBy"})

    def _upsert_product(self, path_guid: str, body: dict[str, Any]) -> Reply:
        guid = self._check_path_guid(path_guid, body)
        existing = self._products.get(guid)
        problems: list[tuple[str, str]] = []
        fields = {k: v for k, v in body.items() if k not in self._READ_ONLY}
        code = fields.get("ProductCode", existing["ProductCode"] if existing else None)
        description = fields.get(
            "ProductDescription", existing["ProductDescription"] if existing else None
        )
        if not isinstance(code, str) or not code.strip():
            problems.append(("ProductCode", "ProductCode is required"))
        elif len(code) > 100:
            problems.append(("ProductCode", "ProductCode must be 100 characters or fewer"))
        else:
            owner = self._product_codes.get(code.upper())
            if owner is not None and owner != guid:
                problems.append(("ProductCode", f"Product code '{code}' is already in use"))
        if not isinstance(description, str) or not description.strip():
            problems.append(("ProductDescription", "ProductDescription is required"))
        elif len(description) > 500:
            problems.append(
                ("ProductDescription", "ProductDescription must be 500 characters or fewer")
            )
        for name in self._PRODUCT_NUMBERS:
            if fields.get(name) is not None:
                fields[name] = _number(fields[name], name, problems)
        for tier in range(1, 11):
            name = f"SellPriceTier{tier}"
            if name in fields:
                fields[name] = self._tier(name, fields[name], problems)
        if "ProductGroup" in fields:
            group = fields["ProductGroup"]
            if group is None:
                pass
            elif isinstance(group, dict) and isinstance(group.get("GroupName"), str):
                fields["ProductGroup"] = self._group(group["GroupName"])
            else:
                problems.append(("ProductGroup", 'ProductGroup must be {"GroupName": ...}'))
        for flag in ("Obsolete", "NeverDiminishing"):
            if flag in fields and not isinstance(fields[flag], bool):
                problems.append((flag, f"{flag} must be true or false"))
        if problems:
            raise Invalid(problems)
        ms = self._tick()
        if existing is None:
            record = self._new_product_record(guid, fields, ms)
            record["Guid"] = guid
            self._store_product(record)
            return _json_reply(201, _public(record))
        old_code = str(existing["ProductCode"]).upper()
        existing.update(fields)
        existing["_mod"] = ms
        existing["LastModifiedOn"] = wire_date(ms)
        if old_code != str(existing["ProductCode"]).upper():
            del self._product_codes[old_code]
            self._product_codes[str(existing["ProductCode"]).upper()] = guid
        return _json_reply(200, _public(existing))

    def _tier(self, name: str, value: Any, problems: list[tuple[str, str]]) -> Any:
        if value is None:
            return {"Name": name, "Value": None}
        if not isinstance(value, dict):
            problems.append((name, f'{name} must be {{"Name": ..., "Value": "..."}}'))
            return value
        raw = value.get("Value")
        if raw is not None and not isinstance(raw, str):
            number = _number(raw, f"{name}.Value", problems)  # coerced like Json.NET would
            raw = None if number is None else _tier_value(number)
        elif isinstance(raw, str) and raw.strip():
            try:
                raw = _tier_value(Decimal(raw))
            except InvalidOperation:
                problems.append((f"{name}.Value", f"{name}.Value {raw!r} is not a price"))
        return {"Name": value.get("Name") or name, "Value": raw}

    def _upsert_customer(self, path_guid: str, body: dict[str, Any]) -> Reply:
        guid = self._check_path_guid(path_guid, body)
        existing = self._customers.get(guid)
        fields = {k: v for k, v in body.items() if k not in self._READ_ONLY}
        problems: list[tuple[str, str]] = []
        code = fields.get("CustomerCode", existing["CustomerCode"] if existing else None)
        name = fields.get("CustomerName", existing["CustomerName"] if existing else None)
        if not isinstance(code, str) or not code.strip():
            problems.append(("CustomerCode", "CustomerCode is required"))
        else:
            owner = self._customer_codes.get(code.upper())
            if owner is not None and owner != guid:
                problems.append(("CustomerCode", f"Customer code '{code}' is already in use"))
        if not isinstance(name, str) or not name.strip():
            problems.append(("CustomerName", "CustomerName is required"))
        currency = fields.get("Currency")
        if isinstance(currency, dict) and currency.get("CurrencyCode"):
            if str(currency["CurrencyCode"]).upper() not in self._currencies:
                problems.append(
                    ("Currency", f"Currency code '{currency['CurrencyCode']}' does not exist")
                )
            else:
                fields["Currency"] = self._currency_ref(str(currency["CurrencyCode"]))
        if problems:
            raise Invalid(problems)
        ms = self._tick()
        if existing is None:
            record = self._new_customer_record(guid, fields, ms)
            record["Guid"] = guid
            self._customers[guid] = record
            self._customer_codes[str(code).upper()] = guid
            return _json_reply(201, _public(record))
        old_code = str(existing["CustomerCode"]).upper()
        existing.update(fields)
        existing["_mod"] = ms
        existing["LastModifiedOn"] = wire_date(ms)
        if old_code != str(code).upper():
            del self._customer_codes[old_code]
            self._customer_codes[str(code).upper()] = guid
        return _json_reply(200, _public(existing))

    # -- sales orders ----------------------------------------------------------------------

    _ORDER_TEXT_FIELDS = (
        ("CustomerRef", 500),
        ("Comments", 2048),
        ("SourceId", 500),
        ("SalesOrderGroup", 50),
        ("DeliveryMethod", 50),
        ("DeliveryName", 500),
        ("DeliveryStreetAddress", 500),
        ("DeliveryStreetAddress2", 500),
        ("DeliverySuburb", 500),
        ("DeliveryCity", 500),
        ("DeliveryRegion", 500),
        ("DeliveryPostCode", 50),
        ("DeliveryCountry", 500),
        ("DeliveryInstruction", 500),
        ("CustomOrderStatus", 15),
    )

    def _create_order(self, path_guid: str, body: dict[str, Any]) -> Reply:
        guid = self._check_path_guid(path_guid, body)
        if guid in self._orders:
            raise Invalid([("Guid", f"A sales order with Guid {guid} already exists")])
        problems: list[tuple[str, str]] = []
        number = body.get("OrderNumber")
        if number not in (None, ""):
            if not isinstance(number, str):
                problems.append(("OrderNumber", "OrderNumber must be text"))
            elif len(number) > 20:
                problems.append(
                    ("OrderNumber", f"OrderNumber '{number}' is longer than 20 characters")
                )
            elif number.upper() in self._order_numbers:
                problems.append(("OrderNumber", f"Order number '{number}' already exists"))
        status = body.get("OrderStatus")
        if status not in CREATE_STATUSES:
            problems.append(
                (
                    "OrderStatus",
                    f"OrderStatus must be one of {', '.join(CREATE_STATUSES)}, got {status!r}",
                )
            )
        customer = self._customer_ref(body.get("Customer"), problems)
        warehouse = self._warehouse_ref(body.get("Warehouse"), problems)
        currency = self._currency_of(body.get("Currency"), customer, problems)
        tax, rate = self._order_tax(body, problems)
        exchange = body.get("ExchangeRate", 1)
        exchange_rate = _number(exchange, "ExchangeRate", problems)
        lines = self._lines(
            body.get("SalesOrderLines"),
            "SalesOrderLines",
            "OrderQuantity",
            "UnitPrice",
            rate,
            problems,
        )
        self._check_totals(body, lines, problems)
        texts = self._texts(body, problems)
        dates = {
            name: self._body_date(body.get(name), name, problems)
            for name in ("OrderDate", "RequiredDate", "PaymentDueDate", "ReceivedDate")
        }
        if problems:
            raise Invalid(problems)
        ms = self._tick()
        if number in (None, ""):
            number = self._next_number("SO", self._order_numbers)
        assert customer is not None
        assert warehouse is not None
        assert tax is not None
        order: dict[str, Any] = {
            "Guid": guid,
            "OrderNumber": number,
            "OrderDate": wire_date(dates["OrderDate"] or ms),
            "RequiredDate": wire_date(dates["RequiredDate"]),
            "CompletedDate": None,
            "ReceivedDate": wire_date(dates["ReceivedDate"]),
            "PaymentDueDate": wire_date(dates["PaymentDueDate"]),
            "OrderStatus": status,
            "Customer": customer,
            "Warehouse": warehouse,
            "Currency": currency,
            "ExchangeRate": exchange_rate,
            "DiscountRate": body.get("DiscountRate", Decimal(0)),
            "Tax": tax,
            "TaxRate": rate,
            "SubTotal": body["SubTotal"],
            "TaxTotal": body["TaxTotal"],
            "Total": body["Total"],
            **texts,
            "SalesOrderLines": [self._stored_line(line, ms) for line in lines],
            "CreatedBy": "api",
            "CreatedOn": wire_date(ms),
            "LastModifiedBy": "api",
            "LastModifiedOn": wire_date(ms),
            "_mod": ms,
            "_created": ms,
            "_outstanding": {
                line["LineNumber"]: line["OrderQuantity"] for line in lines if line.get("_stocked")
            },
            "_applied": {},
        }
        self._orders[guid] = order
        self._order_numbers[str(number).upper()] = guid
        self._reallocate(order)
        return _json_reply(201, _public(order))

    def _customer_ref(self, value: Any, problems: list[tuple[str, str]]) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not (value.get("CustomerCode") or value.get("Guid")):
            problems.append(("Customer", "Customer.CustomerCode (or Customer.Guid) is required"))
            return None
        if value.get("CustomerCode"):
            guid = self._customer_codes.get(str(value["CustomerCode"]).upper())
            label = f"code '{value['CustomerCode']}'"
        else:
            guid = str(value["Guid"]).lower()
            label = f"Guid {value['Guid']}"
        record = self._customers.get(guid or "")
        if record is None:
            problems.append(("Customer", f"Customer with {label} does not exist"))
            return None
        return {
            "Guid": record["Guid"],
            "CustomerCode": record["CustomerCode"],
            "CustomerName": record["CustomerName"],
            "CurrencyId": None,
            "LastModifiedOn": record["LastModifiedOn"],
        }

    def _warehouse_ref(
        self, value: Any, problems: list[tuple[str, str]], required: bool = True
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not value.get("WarehouseCode"):
            if required:
                problems.append(("Warehouse", "Warehouse.WarehouseCode is required"))
                return None
            value = {"WarehouseCode": self.world.warehouses[0][0]}
        record = self._warehouses.get(str(value["WarehouseCode"]).upper())
        if record is None:
            problems.append(
                ("Warehouse", f"Warehouse code '{value['WarehouseCode']}' does not exist")
            )
            return None
        return {
            "Guid": record["Guid"],
            "WarehouseCode": record["WarehouseCode"],
            "WarehouseName": record["WarehouseName"],
        }

    def _currency_of(
        self, value: Any, customer: Mapping[str, Any] | None, problems: list[tuple[str, str]]
    ) -> dict[str, Any] | None:
        if isinstance(value, dict) and value.get("CurrencyCode"):
            code = str(value["CurrencyCode"])
            record = self._currencies.get(code.upper())
            if record is None:
                problems.append(("Currency", f"Currency code '{code}' does not exist"))
                return None
            if code.upper() != self.world.currency.upper() and record["_sell"] is None:
                problems.append(
                    ("Currency", f"Currency '{code}' has no exchange rate set in Currency Rates")
                )
                return None
            return self._currency_ref(code)
        if customer is not None:
            return dict(self._customers[customer["Guid"]]["Currency"])
        return self._currency_ref(self.world.currency)

    def _tax(self, code: Any, where: str, problems: list[tuple[str, str]]) -> dict[str, Any] | None:
        record = self._taxes.get(str(code).upper()) if isinstance(code, str) else None
        if record is None:
            problems.append((where, f"Tax code {code!r} does not exist"))
        return record

    def _order_tax(
        self, body: Mapping[str, Any], problems: list[tuple[str, str]]
    ) -> tuple[dict[str, Any] | None, Decimal | None]:
        tax_value = body.get("Tax")
        if not isinstance(tax_value, dict) or not tax_value.get("TaxCode"):
            problems.append(("Tax", "Tax.TaxCode is required"))
            return None, None
        record = self._tax(tax_value["TaxCode"], "Tax.TaxCode", problems)
        if record is None:
            return None, None
        rates = [
            _number(v, where, problems)
            for v, where in (
                (body.get("TaxRate"), "TaxRate"),
                (tax_value.get("TaxRate"), "Tax.TaxRate"),
            )
            if v is not None
        ]
        if not rates:
            problems.append(("TaxRate", "TaxRate is required"))
            return None, None
        for rate in rates:
            if rate is not None and rate != record["TaxRate"]:
                problems.append(
                    (
                        "TaxRate",
                        f"TaxRate {rate} does not match tax code {record['TaxCode']} "
                        f"({record['TaxRate']})",
                    )
                )
        return (
            {
                "Guid": record["Guid"],
                "TaxCode": record["TaxCode"],
                "Description": record["Description"],
                "TaxRate": record["TaxRate"],
            },
            record["TaxRate"],
        )

    def _lines(
        self,
        value: Any,
        field_name: str,
        qty_name: str,
        price_name: str,
        order_rate: Decimal | None,
        problems: list[tuple[str, str]],
    ) -> list[dict[str, Any]]:
        """Validated lines (with `_stocked` and `_rate`), each line's totals checked."""
        if not isinstance(value, list) or not value:
            problems.append((field_name, f"{field_name} must list at least one line"))
            return []
        lines: list[dict[str, Any]] = []
        numbers: set[int] = set()
        for index, raw in enumerate(value, start=1):
            where = f"{field_name}[{index}]"
            if not isinstance(raw, dict):
                problems.append((where, f"{where} must be an object"))
                continue
            count = len(problems)
            line_number = raw.get("LineNumber")
            if isinstance(line_number, bool) or not isinstance(line_number, int):
                problems.append(
                    (f"{where}.LineNumber", f"{where}.LineNumber must be a whole number")
                )
            elif line_number in numbers:
                problems.append((f"{where}.LineNumber", f"Line number {line_number} is repeated"))
            else:
                numbers.add(line_number)
            line_type = raw.get("LineType") or None
            product_value = raw.get("Product")
            product: dict[str, Any] | None = None
            stocked = False
            if line_type not in (None, "Charge"):
                problems.append((f"{where}.LineType", f"Unknown LineType {line_type!r}"))
            elif line_type == "Charge":
                text = (
                    product_value.get("ProductDescription")
                    if isinstance(product_value, dict)
                    else None
                )
                if not isinstance(text, str) or not text.strip():
                    problems.append(
                        (
                            f"{where}.Product",
                            f"{where}: a charge line needs Product.ProductDescription",
                        )
                    )
                else:
                    product = {
                        "Guid": EMPTY_GUID,
                        "ProductCode": None,
                        "ProductDescription": text,
                    }
            else:
                record = self._product_of(product_value)
                if record is None:
                    code = (
                        product_value.get("ProductCode")
                        if isinstance(product_value, dict)
                        else None
                    )
                    problems.append(
                        (f"{where}.Product", f"Product with code {code!r} does not exist")
                        if code
                        else (f"{where}.Product", f"{where}: Product.ProductCode is required")
                    )
                elif record["Obsolete"]:
                    problems.append(
                        (f"{where}.Product", f"Product '{record['ProductCode']}' is obsolete")
                    )
                else:
                    product = {
                        "Guid": record["Guid"],
                        "ProductCode": record["ProductCode"],
                        "ProductDescription": record["ProductDescription"],
                    }
                    stocked = not record.get("NeverDiminishing")
            qty = self._required_number(raw, qty_name, where, problems)
            price = self._required_number(raw, price_name, where, problems)
            total = self._required_number(raw, "LineTotal", where, problems)
            tax = self._required_number(raw, "LineTax", where, problems)
            discount = Decimal(0)
            if raw.get("DiscountRate") is not None:
                discount = _number(
                    raw["DiscountRate"], f"{where}.DiscountRate", problems
                ) or Decimal(0)
            if qty is not None and qty <= 0:
                problems.append((f"{where}.{qty_name}", f"{where}.{qty_name} must be more than 0"))
            rate = order_rate
            line_code = raw.get("LineTaxCode")
            if line_code:
                record_tax = self._tax(line_code, f"{where}.LineTaxCode", problems)
                rate = record_tax["TaxRate"] if record_tax else None
            if raw.get("TaxRate") is not None:
                rate = _number(raw["TaxRate"], f"{where}.TaxRate", problems)
            if len(problems) == count and None not in (qty, price, total, tax, rate):
                assert qty is not None
                assert price is not None
                assert total is not None
                assert tax is not None
                assert rate is not None
                expected_total = round_money(qty * price * (1 - discount))
                if total != expected_total:
                    problems.append(
                        (
                            f"{where}.LineTotal",
                            f"Line {line_number}: LineTotal {total} should be {expected_total} "
                            f"({qty_name} {qty} x {price_name} {price}, rounded to the cent)",
                        )
                    )
                expected_tax = round_money(total * rate)
                if tax != expected_tax:
                    problems.append(
                        (
                            f"{where}.LineTax",
                            f"Line {line_number}: LineTax {tax} should be {expected_tax} "
                            f"(LineTotal {total} x TaxRate {rate}, rounded to the cent)",
                        )
                    )
            lines.append(
                {
                    **raw,
                    "LineNumber": line_number,
                    "LineType": line_type,
                    "Product": product,
                    qty_name: qty,
                    price_name: price,
                    "LineTotal": total,
                    "LineTax": tax,
                    "DiscountRate": discount,
                    "TaxRate": rate,
                    "_stocked": stocked,
                }
            )
        return lines

    def _product_of(self, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            return None
        if value.get("ProductCode"):
            guid = self._product_codes.get(str(value["ProductCode"]).upper())
            return self._products.get(guid or "")
        if value.get("Guid"):
            return self._products.get(str(value["Guid"]).lower())
        return None

    def _required_number(
        self, raw: Mapping[str, Any], name: str, where: str, problems: list[tuple[str, str]]
    ) -> Decimal | None:
        if raw.get(name) is None:
            problems.append((f"{where}.{name}", f"{where}.{name} is required"))
            return None
        return _number(raw[name], f"{where}.{name}", problems)

    def _check_totals(
        self, body: Mapping[str, Any], lines: list[dict[str, Any]], problems: list[tuple[str, str]]
    ) -> None:
        """SubTotal = sum of LineTotal, TaxTotal = sum of LineTax, Total = SubTotal + TaxTotal."""
        values = {
            name: self._required_number(body, name, "order", problems)
            for name in ("SubTotal", "TaxTotal", "Total")
        }
        if problems or None in values.values():
            return
        sub = sum((line["LineTotal"] for line in lines), Decimal(0))
        tax = sum((line["LineTax"] for line in lines), Decimal(0))
        for name, expected in (("SubTotal", sub), ("TaxTotal", tax)):
            if values[name] != expected:
                problems.append(
                    (name, f"{name} {values[name]} should be {expected} (the sum of the lines)")
                )
        sub_total, tax_total = values["SubTotal"], values["TaxTotal"]
        assert sub_total is not None
        assert tax_total is not None
        if values["Total"] != sub_total + tax_total:
            problems.append(
                (
                    "Total",
                    f"Total {values['Total']} should be {sub_total + tax_total} "
                    "(SubTotal + TaxTotal)",
                )
            )

    def _texts(self, body: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
        texts: dict[str, Any] = {}
        for name, limit in self._ORDER_TEXT_FIELDS:
            value = body.get(name)
            if value is None:
                texts[name] = None
            elif not isinstance(value, str):
                problems.append((name, f"{name} must be text"))
            elif len(value) > limit:
                problems.append((name, f"{name} must be {limit} characters or fewer"))
            else:
                texts[name] = value
        return texts

    def _body_date(self, value: Any, name: str, problems: list[tuple[str, str]]) -> int | None:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            wire = _WIRE_DATE_RE.match(value)
            if wire:
                return int(wire.group(1))
            match = _SINCE_RE.match(value)
            if match:
                try:
                    return int(_utc(match).timestamp() * 1000)
                except ValueError:
                    pass
        problems.append((name, f"{name} {value!r} is not a date (use yyyy-MM-ddTHH:mm:ss)"))
        return None

    def _stored_line(self, line: Mapping[str, Any], ms: int) -> dict[str, Any]:
        stored = {k: v for k, v in line.items() if not k.startswith("_")}
        given = stored.get("Guid")
        stored["Guid"] = str(given).lower() if given and _is_uuid(str(given)) else self._new_guid()
        stored.setdefault("Comments", None)
        stored.setdefault("DueDate", None)
        stored["LastModifiedOn"] = wire_date(ms)
        return stored

    # -- allocation ------------------------------------------------------------------------

    def _reallocate(self, order: dict[str, Any]) -> None:
        """Make the order's allocation match its status and undispatched quantities."""
        warehouse = order["Warehouse"]["WarehouseCode"].upper()
        wanted: dict[tuple[str, str], Decimal] = {}
        if order["OrderStatus"] in ALLOCATING_STATUSES:
            by_number = {line["LineNumber"]: line for line in order["SalesOrderLines"]}
            for number, qty in order["_outstanding"].items():
                if qty > 0:
                    key = (by_number[number]["Product"]["Guid"], warehouse)
                    wanted[key] = wanted.get(key, Decimal(0)) + qty
        applied: dict[tuple[str, str], Decimal] = order["_applied"]
        ms = None
        for key in set(applied) | set(wanted):
            delta = wanted.get(key, Decimal(0)) - applied.get(key, Decimal(0))
            if delta:
                self._allocated[key] = self._allocated.get(key, Decimal(0)) + delta
                ms = ms or self._tick()
                row = self._stock.get(key)
                if row is not None:
                    row.modified = ms
                else:  # the allocation makes it a transacted product in that warehouse
                    self._stock[key] = StockRow(Decimal(0), ms)
        order["_applied"] = wanted

    # -- credit notes ----------------------------------------------------------------------

    def _create_credit(self, body: dict[str, Any]) -> Reply:
        given = body.get("Guid")
        if not isinstance(given, str) or not _is_uuid(given):
            raise Invalid([("Guid", "Guid is required and must be a GUID")])
        guid = given.lower()
        if guid in self._credits:
            raise Invalid([("Guid", f"A credit note with Guid {guid} already exists")])
        problems: list[tuple[str, str]] = []
        customer = self._customer_ref(body.get("Customer"), problems)
        warehouse = self._warehouse_ref(body.get("Warehouse"), problems, required=False)
        currency = self._currency_of(body.get("Currency"), customer, problems)
        tax, rate = self._order_tax(body, problems)
        lines = self._lines(body.get(LINES_KEY), LINES_KEY, QUANTITY_KEY, PRICE_KEY, rate, problems)
        self._check_totals(body, lines, problems)
        texts = {}
        for name, limit in ((REFERENCE_KEY, 500), ("Reference", 500), ("Comments", 2048)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                problems.append((name, f"{name} must be text of {limit} characters or fewer"))
            texts[name] = value
        credit_date = self._body_date(body.get("CreditDate"), "CreditDate", problems)
        if problems:
            raise Invalid(problems)
        ms = self._tick()
        credit = {
            "Guid": guid,
            "CreditNoteNumber": self._next_number("CN"),
            "Status": "Parked",
            "CreditDate": wire_date(credit_date or ms),
            "Customer": customer,
            "Warehouse": warehouse,
            "Currency": currency,
            "ExchangeRate": body.get("ExchangeRate", 1),
            "Tax": tax,
            "TaxRate": rate,
            **texts,
            LINES_KEY: [self._stored_line(line, ms) for line in lines],
            "SubTotal": body["SubTotal"],
            "TaxTotal": body["TaxTotal"],
            "Total": body["Total"],
            "CreatedBy": "api",
            "CreatedOn": wire_date(ms),
            "LastModifiedOn": wire_date(ms),
            "_mod": ms,
            "_created": ms,
        }
        self._credits[guid] = credit
        return _json_reply(201, _public(credit))

    # -- control: Python -------------------------------------------------------------------

    def set_day_granular(self, enabled: bool | Iterable[str] = True) -> None:
        """Truncate `modifiedSince` to the day: True for every endpoint, or resource names
        such as ["SalesOrders", "StockOnHand"] for those only."""
        with self._lock:
            if isinstance(enabled, bool):
                self._day_granular = {"*"} if enabled else set()
            else:
                self._day_granular = set(enabled)

    def set_currency_rate(self, code: str, sell: Decimal | None) -> None:
        """Set (or with None clear) a currency's rates, as under Currency Rates in Unleashed."""
        with self._lock:
            record = self._currencies.setdefault(
                code.upper(),
                {
                    "Guid": _guid("currency", code),
                    "CurrencyCode": code.upper(),
                    "Description": code,
                },
            )
            record["_sell"] = record["_buy"] = sell
            record["LastModifiedOn"] = wire_date(self._tick()) if sell is not None else None

    def set_quota(self, limit: int | None) -> None:
        with self._lock:
            self.quota = limit

    def product(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            guid = self._product_codes.get(code.upper())
            return _public(self._products[guid]) if guid else None

    def products(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(p) for p in self._products.values()]

    def update_product(self, code: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a product as a user in Unleashed would (bumps LastModifiedOn)."""
        with self._lock:
            guid = self._product_codes.get(code.upper())
            if guid is None:
                raise KeyError(f"no product with code {code!r}")
            record = self._products[guid]
            for key, value in fields.items():
                if key == "ProductGroup" and isinstance(value, str):
                    value = self._group(value)
                record[key] = value
            if "ProductCode" in fields and str(fields["ProductCode"]).upper() != code.upper():
                del self._product_codes[code.upper()]
                self._product_codes[str(fields["ProductCode"]).upper()] = guid
            self._touch(record)
            return _public(record)

    def add_product(self, code: str, description: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            if code.upper() in self._product_codes:
                raise ValueError(f"product code {code!r} exists")
            ms = self._tick()
            record = self._new_product_record(
                _guid("product", code),
                {"ProductCode": code, "ProductDescription": description, **fields},
                ms,
            )
            self._store_product(record)
            return _public(record)

    def obsolete_product(self, code: str, obsolete: bool = True) -> dict[str, Any]:
        return self.update_product(code, Obsolete=obsolete)

    def set_stock(self, code: str, warehouse: str, qty: int | Decimal) -> dict[str, Any]:
        """Set quantity on hand (a stock adjustment) and return the stock row."""
        with self._lock:
            guid = self._product_codes.get(code.upper())
            if guid is None:
                raise KeyError(f"no product with code {code!r}")
            key = (guid, warehouse.upper())
            if warehouse.upper() not in self._warehouses:
                raise KeyError(f"no warehouse {warehouse!r}")
            ms = self._tick()
            row = self._stock.setdefault(key, StockRow(Decimal(0), ms))
            row.qty = Decimal(qty)
            row.modified = ms
            return self._stock_row(guid, warehouse.upper())

    def set_bill_of_materials(self, code: str, components: Mapping[str, int | Decimal]) -> None:
        """Give product `code` a bill of materials (component code -> quantity per kit), as
        a user in Unleashed would: the product becomes an assembled product and each
        component a component (both records' LastModifiedOn move)."""
        with self._lock:
            guid = self._product_codes.get(code.upper())
            if guid is None:
                raise KeyError(f"no product with code {code!r}")
            bom: list[tuple[str, Decimal]] = []
            for component, per_kit in components.items():
                part = self._product_codes.get(component.upper())
                if part is None:
                    raise KeyError(f"no product with code {component!r}")
                if Decimal(per_kit) <= 0:
                    raise ValueError(f"quantity per kit of {component!r} must be above 0")
                bom.append((part, Decimal(per_kit)))
                self._products[part]["IsComponent"] = True
                self._touch(self._products[part])
            self._boms[guid] = bom
            self._products[guid]["IsAssembledProduct"] = True
            self._touch(self._products[guid])

    def stock(self, code: str, warehouse: str) -> dict[str, Any] | None:
        """The stock row, or None when the product never had a transaction there."""
        with self._lock:
            guid = self._product_codes.get(code.upper())
            if guid is None:
                raise KeyError(f"no product with code {code!r}")
            key = (guid, warehouse.upper())
            if key not in self._stock:
                return None
            return self._stock_row(guid, warehouse.upper())

    def _order(self, guid_or_number: str) -> dict[str, Any]:
        guid = self._order_numbers.get(guid_or_number.upper(), guid_or_number.lower())
        order = self._orders.get(guid)
        if order is None:
            raise KeyError(f"no sales order {guid_or_number!r}")
        return order

    def sales_orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(o) for o in self._orders.values()]

    def sales_order(self, guid_or_number: str) -> dict[str, Any]:
        with self._lock:
            return _public(self._order(guid_or_number))

    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(c) for c in self._customers.values()]

    def credit_notes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(c) for c in self._credits.values()]

    def shipments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(s) for s in self._shipments.values()]

    def set_order_status(self, guid_or_number: str, status: str) -> dict[str, Any]:
        """Move an order along (e.g. Parked -> Placed), re-allocating its stock."""
        if status not in ORDER_STATUSES:
            raise ValueError(
                f"unknown order status {status!r}; use one of {sorted(ORDER_STATUSES)}"
            )
        with self._lock:
            order = self._order(guid_or_number)
            order["OrderStatus"] = status
            ms = self._touch(order)
            if status == "Completed":
                order["CompletedDate"] = wire_date(ms)
            self._reallocate(order)
            return _public(order)

    def create_shipment(
        self,
        order: str,
        lines: Mapping[int, int | Decimal] | None = None,
        status: str = "Packed",
    ) -> dict[str, Any]:
        """A shipment of an order's undispatched quantities (all, or {LineNumber: qty})."""
        with self._lock:
            record = self._order(order)
            if record["OrderStatus"] in ("Parked", "Deleted", "Completed"):
                raise ValueError(
                    f"order {record['OrderNumber']} is {record['OrderStatus']}; "
                    "only placed orders can be shipped"
                )
            outstanding: dict[int, Decimal] = record["_outstanding"]
            wanted = (
                {n: q for n, q in outstanding.items() if q > 0}
                if lines is None
                else {n: Decimal(q) for n, q in lines.items()}
            )
            by_number = {line["LineNumber"]: line for line in record["SalesOrderLines"]}
            for number, qty in wanted.items():
                if number not in outstanding:
                    raise ValueError(f"order line {number} is not a stocked product line")
                if qty <= 0 or qty > outstanding[number] - self._pending(record["Guid"], number):
                    raise ValueError(f"line {number}: {qty} is more than is left to ship")
            if not wanted:
                raise ValueError(f"order {record['OrderNumber']} has nothing left to ship")
            ms = self._tick()
            guid = self._new_guid()
            shipment = {
                "Guid": guid,
                "ShipmentNumber": self._next_number("SS"),
                "OrderNumber": record["OrderNumber"],
                "OrderGuid": record["Guid"],
                "ShipmentStatus": status,
                "DispatchDate": None,
                "ShippingCompany": None,
                "TrackingNumber": None,
                "Warehouse": dict(record["Warehouse"]),
                "DeliveryName": record.get("DeliveryName"),
                "SalesShipmentLines": [
                    {
                        "Guid": self._new_guid(),
                        "LineNumber": index,
                        "SalesOrderLineNumber": number,
                        "Product": dict(by_number[number]["Product"]),
                        "ShipmentQty": qty,
                    }
                    for index, (number, qty) in enumerate(sorted(wanted.items()), start=1)
                ],
                "CreatedOn": wire_date(ms),
                "LastModifiedOn": wire_date(ms),
                "_mod": ms,
                "_created": ms,
            }
            self._shipments[guid] = shipment
            return _public(shipment)

    def _pending(self, order_guid: str, line_number: int) -> Decimal:
        """Quantity of a line in shipments not yet dispatched."""
        return sum(
            (
                line["ShipmentQty"]
                for s in self._shipments.values()
                if s["OrderGuid"] == order_guid and s["ShipmentStatus"] != "Dispatched"
                for line in s["SalesShipmentLines"]
                if line["SalesOrderLineNumber"] == line_number
            ),
            Decimal(0),
        )

    def dispatch_shipment(
        self,
        shipment_guid: str,
        tracking_number: str | None = None,
        shipping_company: str | None = None,
        dispatch_date: datetime | date | None = None,
    ) -> dict[str, Any]:
        """Dispatch: stock leaves the warehouse (QtyOnHand and the allocation go down)."""
        with self._lock:
            shipment = self._shipments.get(shipment_guid.lower())
            if shipment is None:
                raise KeyError(f"no shipment {shipment_guid!r}")
            if shipment["ShipmentStatus"] == "Dispatched":
                raise ValueError(f"shipment {shipment['ShipmentNumber']} is already dispatched")
            order = self._orders[shipment["OrderGuid"]]
            ms = self._tick()
            warehouse = shipment["Warehouse"]["WarehouseCode"].upper()
            for line in shipment["SalesShipmentLines"]:
                key = (line["Product"]["Guid"], warehouse)
                row = self._stock.setdefault(key, StockRow(Decimal(0), ms))
                row.qty -= line["ShipmentQty"]
                row.modified = ms
                order["_outstanding"][line["SalesOrderLineNumber"]] -= line["ShipmentQty"]
            if isinstance(dispatch_date, datetime):
                when = int(dispatch_date.timestamp() * 1000)
            elif isinstance(dispatch_date, date):
                when = int(datetime(*dispatch_date.timetuple()[:3], tzinfo=UTC).timestamp() * 1000)
            else:
                when = ms
            shipment.update(
                ShipmentStatus="Dispatched",
                DispatchDate=wire_date(when),
                TrackingNumber=tracking_number,
                ShippingCompany=shipping_company,
            )
            self._touch(shipment)
            if all(q <= 0 for q in order["_outstanding"].values()):
                order["OrderStatus"] = "Dispatched"
            self._touch(order)
            self._reallocate(order)
            return _public(shipment)

    def ship_order(
        self,
        order: str,
        tracking_number: str | None = None,
        shipping_company: str | None = None,
        lines: Mapping[int, int | Decimal] | None = None,
    ) -> dict[str, Any]:
        """Create and dispatch a shipment in one step (placing a Parked order first)."""
        with self._lock:
            if self._order(order)["OrderStatus"] == "Parked":
                self.set_order_status(order, "Placed")
            shipment = self.create_shipment(order, lines)
            return self.dispatch_shipment(shipment["Guid"], tracking_number, shipping_company)

    # -- control: HTTP ---------------------------------------------------------------------

    def control(self, method: str, path: str, body: Any) -> Reply:
        """`/_control/...` endpoints for tests and demos in another process."""
        body = body or {}
        with self._lock:
            return self._control(method, path, body)

    def _control(self, method: str, path: str, body: Any) -> Reply:
        try:
            if method == "GET":
                readers: dict[str, Callable[[], Any]] = {
                    "/sales_orders": self.sales_orders,
                    "/customers": self.customers,
                    "/credit_notes": self.credit_notes,
                    "/products": self.products,
                    "/shipments": self.shipments,
                    "/writes": lambda: list(self.writes),
                    "/stats": lambda: {
                        "calls": self.calls,
                        "missing_client_type": self.missing_client_type,
                    },
                }
                if path in readers:
                    return _json_reply(200, readers[path]())
            elif method == "POST":
                result = self._control_post(path, body)
                if result is not None:
                    return _json_reply(200, result)
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, f"control {path}: {exc}")
        return _error(404, f"unknown control path {method} {path}")

    def _control_post(self, path: str, body: Mapping[str, Any]) -> Any:
        fields = {k: _exact(v) for k, v in (body.get("fields") or {}).items()}
        if path == "/products":
            if self.product(body["code"]) is None:
                return self.add_product(body["code"], body["description"], **fields)
            return self.update_product(body["code"], **fields)
        if path == "/obsolete":
            return self.obsolete_product(body["code"], bool(body.get("obsolete", True)))
        if path == "/stock":
            return self.set_stock(body["code"], body["warehouse"], _exact(body["qty"]))
        if path == "/bill_of_materials":
            components = {str(k): _exact(v) for k, v in body["components"].items()}
            self.set_bill_of_materials(body["code"], components)
            return {"code": body["code"], "components": body["components"]}
        if path == "/order_status":
            return self.set_order_status(body["order"], body["status"])
        if path == "/shipments":
            lines = body.get("lines")
            return self.create_shipment(
                body["order"],
                {int(k): _exact(v) for k, v in lines.items()} if lines else None,
                body.get("status", "Packed"),
            )
        if path == "/dispatch":
            return self.dispatch_shipment(
                body["shipment"], body.get("tracking_number"), body.get("shipping_company")
            )
        if path == "/ship_order":
            return self.ship_order(
                body["order"], body.get("tracking_number"), body.get("shipping_company")
            )
        if path == "/day_granular":
            self.set_day_granular(body.get("resources") or bool(body.get("enabled", True)))
            return {"day_granular": sorted(self._day_granular)}
        if path == "/quota":
            self.set_quota(body.get("limit"))
            return {"quota": self.quota, "calls": self.calls}
        return None


def _utc(match: re.Match[str]) -> datetime:
    """A UTC datetime from a `_SINCE_RE` match (the time part defaults to midnight)."""
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _exact(value: Any) -> Any:
    """Control bodies arrive through json.loads: turn floats back into exact Decimals."""
    return Decimal(str(value)) if isinstance(value, float) else value


def _wire_ms(value: str) -> int:
    match = _WIRE_DATE_RE.match(value)
    return int(match.group(1)) if match else 0


def _deferred(build: Callable[..., dict[str, Any]], *args: Any) -> Callable[[], dict[str, Any]]:
    """Build a record only when its page is served (a stock listing can hold 20,000 rows)."""
    return lambda: build(*args)
