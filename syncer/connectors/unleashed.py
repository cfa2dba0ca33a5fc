"""The Unleashed REST client: request signing, page-number paging, .NET dates, and the
resources syncer reads and writes.

Every request goes through `syncer.http.HttpClient("unleashed", ...)`. URLs are built here,
never with `requests`' `params=`: Unleashed checks the HMAC signature against the *decoded*
query string, so the signed text and the sent text must be derived from the same ordered pairs
(a different encoding of the same query is refused as a bad signature).

Returned records are plain dicts in Unleashed's own JSON shape. Numbers with a fraction are
`Decimal` (the JSON is parsed with `parse_float=Decimal`), whole numbers are `int`, and dates
are left raw (`"/Date(1586833770780)/"`) so a record can be sent back unchanged; use
`parse_date` to read them.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from syncer.errors import (
    ApiError,
    CredentialsError,
    DataError,
    NotFound,
    RetryLater,
)
from syncer.http import CallCounter, HttpClient, Redactor, RetryPolicy, error_text

API = "unleashed"
MAX_PAGE_SIZE = 1000
# Characters sent unencoded in a query value besides letters, digits and "-._~": legal in an
# RFC 3986 query and without meaning to a form decoder. "&", "=", "+", "#", "%", space and
# everything non-ASCII are percent-encoded.
_QUERY_SAFE = ":@,/"
# Up to this many codes, one prefix-filtered request per code is cheaper than a full scan.
PER_CODE_LOOKUP_LIMIT = 3
# GUIDs per `productId=` request: keeps the URL near 2 KB.
GUIDS_PER_REQUEST = 50

_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- pure helpers ----------------------------------------------------------------------------


def build_query(params: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Return (signed, sent) for ordered query pairs.

    `signed` is the decoded `k=v&k=v` text the signature covers; `sent` is the same pairs
    percent-encoded where a query needs it. They are equal for plain values such as dates
    (`2024-04-17T23:11:05`), lists (`Parked,Placed`) and emails.
    """
    signed = "&".join(f"{key}={value}" for key, value in params)
    sent = "&".join(
        f"{quote(key, safe=_QUERY_SAFE)}={quote(value, safe=_QUERY_SAFE)}" for key, value in params
    )
    return signed, sent


def sign(key: str, signed_query: str) -> str:
    """Base64 HMAC-SHA256 of the decoded query (the empty string when there is none)."""
    digest = hmac.new(key.encode("utf-8"), signed_query.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def parse_date(value: str | None) -> datetime | None:
    """Read a .NET JSON date such as `/Date(1586833770780)/` as an aware UTC datetime.

    The milliseconds are UTC; an offset suffix (`/Date(700000+0500)/`) only says which zone
    the value was displayed in, so it does not change the instant. None stays None.
    """
    if value is None:
        return None
    match = _DATE_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"not an Unleashed date: {value!r}; expected '/Date(<milliseconds>)/' "
            "optionally with an offset such as '/Date(700000+0500)/'"
        )
    return _EPOCH + timedelta(milliseconds=int(match.group(1)))


def format_since(moment: datetime) -> str:
    """A `modifiedSince` value: `yyyy-MM-ddTHH:mm:ss` in UTC without a zone designator."""
    if moment.tzinfo is None:
        raise ValueError(
            f"modifiedSince needs a timezone-aware datetime, got naive {moment.isoformat()}; "
            "pass one with tzinfo=UTC"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def dumps_json(value: Any) -> str:
    """JSON text with `Decimal` written as an exact number (json.dumps would need floats).

    Decimals go through the fast C encoder as marked strings that are then unquoted.
    """
    text = json.dumps(value, default=_decimal_marker, ensure_ascii=False)
    return _DECIMAL_MARK_RE.sub(r"\1", text) if _DECIMAL_MARK in text else text


_DECIMAL_MARK = "\\u0000#dec:"
_DECIMAL_MARK_RE = re.compile(r'"\\u0000#dec:([-0-9.E+]+)"')


def _decimal_marker(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send the non-finite number {value} to Unleashed")
        return f"\x00#dec:{value:f}"
    if isinstance(value, datetime):
        raise TypeError(
            "datetime in a request body: format it first (e.g. format_since) "
            "so the zone is explicit"
        )
    raise TypeError(f"cannot send {type(value).__name__} as JSON: {value!r}")


def loads_json(text: str) -> Any:
    """Parse an Unleashed reply keeping money exact."""
    return json.loads(text, parse_float=Decimal)


def shipping_company_name(shipment: Mapping[str, Any]) -> str | None:
    """The carrier of a shipment, whether Unleashed sends a name or a {ShippingCompanyName}
    object (the shape is unverified, so read both)."""
    company = shipment.get("ShippingCompany")
    if isinstance(company, Mapping):
        name = company.get("ShippingCompanyName") or company.get("Name")
        return str(name) if name else None
    return str(company) if company else None


# -- client ----------------------------------------------------------------------------------


class UnleashedClient:
    """One Unleashed account. Reads are retried freely; creates are not (see each method)."""

    def __init__(
        self,
        base_url: str,
        api_id: str,
        api_key: str,
        client_type: str,
        *,
        counter: CallCounter,
        redactor: Redactor,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.api_id = api_id
        self.api_key = api_key
        self.client_type = client_type
        self.page_size = page_size
        self.server_time: datetime | None = None  # Unleashed's clock at the last reply
        self._server_date: str | None = None  # the Date header server_time was read from
        redactor.add(api_key)
        redactor.add(api_id)
        self.http = HttpClient(
            API,
            counter=counter,
            redactor=redactor,
            policy=policy,
            sleep=sleep,
            session=session,
        )

    # -- transport -----------------------------------------------------------------------

    def _note_server_time(self, header: str | None) -> None:
        """Remember Unleashed's clock (the reply's Date header): a cursor kept on the
        server's clock cannot be pushed ahead by a machine clock that runs fast."""
        if not header or header == self._server_date:
            return  # it changes once a second: most replies repeat the one already parsed
        try:
            moment = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        self.server_time = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._server_date = header

    def request(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        *,
        kind: str,
        retry_safe: bool,
    ) -> Any:
        """Send one signed request and return the parsed JSON (None for an empty body).

        400 raises DataError carrying the body's Description/Message and its parsed items;
        403 CredentialsError (or RetryLater when the body says the usage quota is spent);
        404 NotFound; an ambiguous failure of an unsafe write OutcomeUnknown.
        """
        signed, sent = build_query(params)
        url = f"{self.base_url}/{path.lstrip('/')}"
        if sent:
            url = f"{url}?{sent}"
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "api-auth-id": self.api_id,
            "api-auth-signature": sign(self.api_key, signed),
            "client-type": self.client_type,
        }
        data = dumps_json(body).encode("utf-8") if body is not None else None
        try:
            response = self.http.request(
                method,
                url,
                kind=kind,
                headers=headers,
                data=data,
                retry_safe=retry_safe,
                ok_status=(200, 201, 400),
            )
        except CredentialsError as exc:
            if _is_quota_message(exc.body):
                raise RetryLater(
                    f"unleashed refused {kind}: the monthly API usage quota is used up "
                    f"({error_text_of(exc.body)}); requests resume when the quota resets",
                    api=API,
                    status=exc.status,
                    body=exc.body,
                ) from exc
            raise
        self._note_server_time(response.headers.get("Date"))
        if response.status_code == 400:
            raise self._data_error(response, kind)
        if not response.content.strip():
            return None
        try:
            return loads_json(response.text)
        except ValueError as exc:
            excerpt = self.http.redact(response.text[:200])
            raise ApiError(
                f"unleashed {kind}: the reply is not JSON ({excerpt!r})",
                api=API,
                status=response.status_code,
            ) from exc

    def _data_error(self, response: requests.Response, kind: str) -> DataError:
        text = self.http.redact(error_text(response))
        body_text = self.http.redact(response.text[:4000])
        errors: list[dict[str, object]] = []
        try:
            parsed = loads_json(response.text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            items = parsed.get("Items")
            if isinstance(items, list) and items:
                errors = [i if isinstance(i, dict) else {"Description": str(i)} for i in items]
            else:
                errors = [parsed]
        return DataError(
            f"unleashed rejected {kind} (HTTP 400: {text})",
            api=API,
            status=400,
            body=body_text,
            errors=errors,
        )

    def get(self, path: str, params: Sequence[tuple[str, str]] = (), *, kind: str) -> Any:
        return self.request("GET", path, params, kind=kind, retry_safe=True)

    def iter_pages(
        self, resource: str, params: Sequence[tuple[str, str]] = (), *, kind: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a paged list: `/{resource}/{page}?...&pageSize=N`.

        Stops when PageNumber >= NumberOfPages; a reply for another page than asked, or a page
        repeating the previous one, stops with ApiError rather than looping for ever.
        """
        kind = kind or f"{resource.lower()}.list"
        query = [*params, ("pageSize", str(self.page_size))]
        page = 1
        previous_ids: list[object] | None = None
        while True:
            reply = self.get(f"{resource}/{page}", query, kind=kind)
            if not isinstance(reply, dict) or "Items" not in reply:
                raise ApiError(
                    f"unleashed {kind}: page {page} has no Items/Pagination envelope",
                    api=API,
                )
            items = reply.get("Items") or []
            pagination = reply.get("Pagination") or {}
            number = int(pagination.get("PageNumber", page))
            pages = int(pagination.get("NumberOfPages", 0))
            if number != page:
                raise ApiError(
                    f"unleashed {kind}: asked for page {page} but got page {number}; "
                    "stopped paging to avoid a loop",
                    api=API,
                )
            ids = [item.get("Guid") for item in items if isinstance(item, dict)]
            if previous_ids is not None and ids and ids == previous_ids:
                raise ApiError(
                    f"unleashed {kind}: page {page} repeats page {page - 1}; stopped paging",
                    api=API,
                )
            previous_ids = ids
            yield from items
            if number >= pages or not items:
                return
            page += 1

    # -- products --------------------------------------------------------------------------

    def iter_products(
        self,
        modified_since: datetime | None = None,
        include_obsolete: bool = False,
        product_codes: Iterable[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Products in code order; `product_codes` keeps only those exact codes."""
        params: list[tuple[str, str]] = []
        if modified_since is not None:
            params.append(("modifiedSince", format_since(modified_since)))
        if include_obsolete:
            params.append(("includeObsolete", "true"))
        wanted = set(product_codes) if product_codes is not None else None
        if wanted is not None and len(wanted) == 1:
            params.append(("productCode", next(iter(wanted))))
        for product in self.iter_pages("Products", params):
            if wanted is None or product.get("ProductCode") in wanted:
                yield product

    def product_scan_calls(self, catalogue_size: int) -> int:
        """Calls one paged scan of a catalogue of this many products takes."""
        return max(1, -(-catalogue_size // self.page_size))

    @staticmethod
    def product_lookup_calls(codes: Iterable[str], known_guids: Mapping[str, str]) -> int:
        """Calls a targeted look-up of these codes takes: one per batch of known GUIDs plus
        one `productCode=` request per code without a GUID."""
        wanted = list(dict.fromkeys(codes))
        by_guid = sum(1 for code in wanted if code in known_guids)
        return -(-by_guid // GUIDS_PER_REQUEST) + (len(wanted) - by_guid)

    def products_by_codes(
        self,
        codes: Iterable[str],
        *,
        known_guids: Mapping[str, str] | None = None,
        include_obsolete: bool = True,
        scan: bool | None = None,
        catalogue_size: int | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Products by exact code; codes Unleashed does not have are absent from the result.

        Two ways, each page one call against the monthly quota: targeted (codes whose GUID is
        known by `productId=` in batches of 50, the rest one `productCode=` prefix request
        each) or one paged scan of the catalogue filtered here. `scan=None` picks: a scan when
        more than PER_CODE_LOOKUP_LIMIT codes lack a GUID, or when the caller's estimate of the
        catalogue size (`catalogue_size`, e.g. its number of product links) makes a scan take
        fewer calls than the targeted way. `productCode` is a prefix filter, so every match is
        compared exactly.
        """
        wanted = list(dict.fromkeys(codes))
        guids = known_guids or {}
        if scan is None:
            without_guid = sum(1 for code in wanted if code not in guids)
            targeted = self.product_lookup_calls(wanted, guids)
            scan = without_guid > PER_CODE_LOOKUP_LIMIT or (
                catalogue_size is not None and self.product_scan_calls(catalogue_size) < targeted
            )
        flags = [("includeObsolete", "true")] if include_obsolete else []
        found: dict[str, dict[str, Any]] = {}
        if scan:
            remaining = set(wanted)
            for product in self.iter_pages("Products", flags):
                code = product.get("ProductCode")
                if code in remaining:
                    found[str(code)] = product
            return found
        asked = set(wanted)
        by_guid = [guids[c] for c in wanted if c in guids]
        for start in range(0, len(by_guid), GUIDS_PER_REQUEST):
            batch = ",".join(by_guid[start : start + GUIDS_PER_REQUEST])
            for product in self.iter_pages("Products", [("productId", batch), *flags]):
                code = product.get("ProductCode")
                if code in asked:
                    found[str(code)] = product
        rest = [code for code in wanted if code not in found]  # no GUID, or a stale one
        if len(rest) > PER_CODE_LOOKUP_LIMIT and len(rest) > len(wanted) - len(by_guid):
            return {
                **found,
                **self.products_by_codes(rest, include_obsolete=include_obsolete, scan=True),
            }
        for code in rest:
            for product in self.iter_pages("Products", [("productCode", code), *flags]):
                if product.get("ProductCode") == code:
                    found[code] = product
        return found

    def get_product(self, guid: str) -> dict[str, Any] | None:
        return self._get_one("Products", guid, "products.get")

    def upsert_product(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update the product with this GUID (`POST /Products/{guid}`).

        Retried after an ambiguous failure: a second POST to the same GUID with the same
        fields leaves the same record, so repeating it is harmless.
        """
        payload = _with_guid(guid, body)
        reply = self.request(
            "POST", f"Products/{guid}", body=payload, kind="products.upsert", retry_safe=True
        )
        return dict(reply or {})

    # -- stock and warehouses -------------------------------------------------------------

    def iter_stock_on_hand(
        self,
        warehouse_code: str | None,
        modified_since: datetime | None = None,
        *,
        assembled: bool = False,
        product_ids: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stock rows of one warehouse (or company-wide rows when warehouse_code is None).

        Products that never had a stock transaction are absent: treat absent as zero.
        `assembled` (`isAssembled=true`): a product with a bill of materials also counts in
        AvailableQty what its components can build. `product_ids`: only these products (by
        Guid), GUIDS_PER_REQUEST a request.
        """
        params: list[tuple[str, str]] = []
        if warehouse_code:
            params.append(("warehouseCode", warehouse_code))
        if modified_since is not None:
            params.append(("modifiedSince", format_since(modified_since)))
        if assembled:
            params.append(("isAssembled", "true"))
        if product_ids is None:
            yield from self.iter_pages("StockOnHand", params, kind="stockonhand.list")
            return
        guids = list(dict.fromkeys(product_ids))
        for start in range(0, len(guids), GUIDS_PER_REQUEST):
            batch = ",".join(guids[start : start + GUIDS_PER_REQUEST])
            yield from self.iter_pages(
                "StockOnHand", [*params, ("productId", batch)], kind="stockonhand.list"
            )

    def warehouses(self) -> list[dict[str, Any]]:
        return list(self.iter_pages("Warehouses"))

    def tax_codes(self) -> list[dict[str, Any]]:
        """Tax codes and rates (for `check`: the configured tax code must exist)."""
        return list(self.iter_pages("Taxes"))

    def currencies(self, *, in_use: bool = False) -> list[dict[str, Any]]:
        """Currencies with `DefaultSellRate`/`DefaultBuyRate` (decimals, null when unset).
        `in_use`: only those with rates set, which leaves the account's base currency out.
        One request for any account (a page holds far more currencies than exist)."""
        params = [("inUse", "true")] if in_use else []
        # `/Currencies` without a page number is page 1: every client of the resource reads it
        # that way, so ask for the plain path and page on only if a second page is announced.
        kind = "currencies.list"
        reply = self.get("Currencies", [*params, ("pageSize", str(self.page_size))], kind=kind)
        if isinstance(reply, list):
            return [item for item in reply if isinstance(item, dict)]
        if not isinstance(reply, dict) or not isinstance(reply.get("Items"), list):
            raise ApiError(f"unleashed {kind}: the reply has no Items list", api=API)
        pages = (reply.get("Pagination") or {}).get("NumberOfPages") or 1
        if int(pages) > 1:
            return list(self.iter_pages("Currencies", params, kind=kind))
        return [item for item in reply["Items"] if isinstance(item, dict)]

    # -- customers -------------------------------------------------------------------------

    def find_customers_by_email(self, email: str) -> list[dict[str, Any]]:
        """Customers whose Email equals `email` ignoring case (`contactEmail` is a prefix
        filter, so `ann@example.com` also returns `ann@example.com.au`)."""
        target = email.strip().casefold()
        return [
            customer
            for customer in self.iter_pages("Customers", [("contactEmail", email.strip())])
            if str(customer.get("Email") or "").strip().casefold() == target
        ]

    def get_customer_by_code(self, code: str) -> dict[str, Any] | None:
        """The customer with exactly this code (`customerCode` is a prefix filter)."""
        for customer in self.iter_pages("Customers", [("customerCode", code)]):
            if customer.get("CustomerCode") == code:
                return customer
        return None

    def create_customer(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /Customers/{guid}`. Not retried after an ambiguous failure (OutcomeUnknown):
        look the code up first, the code must stay unique."""
        payload = _with_guid(guid, body)
        reply = self.request(
            "POST", f"Customers/{guid}", body=payload, kind="customers.create", retry_safe=False
        )
        return dict(reply or {})

    # -- sales orders and shipments -------------------------------------------------------

    def get_sales_order(self, guid: str) -> dict[str, Any] | None:
        """The sales order, or None when Unleashed has none with this GUID (404 or empty)."""
        return self._get_one("SalesOrders", guid, "salesorders.get")

    def create_sales_order(self, guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /SalesOrders/{guid}`. Never re-sent blindly: an ambiguous failure raises
        OutcomeUnknown, and the caller runs get_sales_order(guid) before sending again."""
        payload = _with_guid(guid, body)
        reply = self.request(
            "POST",
            f"SalesOrders/{guid}",
            body=payload,
            kind="salesorders.create",
            retry_safe=False,
        )
        return dict(reply or {})

    def iter_sales_orders(
        self,
        modified_since: datetime | None = None,
        order_status: str | Sequence[str] | None = None,
        order_number: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Sales orders. `order_number` is exact and overrides the other filters in Unleashed;
        Deleted orders come back only when asked for by status."""
        params: list[tuple[str, str]] = []
        if order_number is not None:
            params.append(("orderNumber", order_number))
        if modified_since is not None:
            params.append(("modifiedSince", format_since(modified_since)))
        if order_status:
            statuses = [order_status] if isinstance(order_status, str) else list(order_status)
            params.append(("orderStatus", ",".join(statuses)))
        for order in self.iter_pages("SalesOrders", params):
            if order_number is None or order.get("OrderNumber") == order_number:
                yield order

    def sales_orders_by_guids(
        self, guids: Iterable[str], modified_since: datetime | None = None
    ) -> dict[str, dict[str, Any]]:
        """Sales orders by GUID (there is no GUID-list filter for orders).

        Up to PER_CODE_LOOKUP_LIMIT GUIDs use one GET each; more use one paged list
        (narrowed by `modified_since` when the caller knows a lower bound) filtered here.
        Unknown GUIDs are absent.
        """
        wanted = list(dict.fromkeys(guids))
        if len(wanted) <= PER_CODE_LOOKUP_LIMIT:
            found = {g: self.get_sales_order(g) for g in wanted}
            return {g: o for g, o in found.items() if o is not None}
        remaining = {g.lower() for g in wanted}
        result: dict[str, dict[str, Any]] = {}
        for order in self.iter_sales_orders(modified_since=modified_since):
            guid = str(order.get("Guid", "")).lower()
            if guid in remaining:
                result[guid] = order
        return {g: result[g.lower()] for g in wanted if g.lower() in result}

    def iter_sales_shipments(
        self,
        modified_since: datetime | None = None,
        shipment_status: str | None = None,
        order_number: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        params: list[tuple[str, str]] = []
        if order_number is not None:
            params.append(("orderNumber", order_number))
        if modified_since is not None:
            params.append(("modifiedSince", format_since(modified_since)))
        if shipment_status:
            params.append(("shipmentStatus", shipment_status))
        yield from self.iter_pages("SalesShipments", params)

    # -- credit notes -------------------------------------------------------------------

    def get_credit_note(self, guid: str) -> dict[str, Any] | None:
        return self._get_one("CreditNotes", guid, "creditnotes.get")

    def create_free_credit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /CreditNotes/FreeCredit`; the body must carry the client-chosen Guid so that
        after OutcomeUnknown the caller can run get_credit_note(guid) before re-sending."""
        if not body.get("Guid"):
            raise ValueError("a free credit body needs a Guid chosen by the caller")
        reply = self.request(
            "POST",
            "CreditNotes/FreeCredit",
            body=dict(body),
            kind="creditnotes.create",
            retry_safe=False,
        )
        return dict(reply or {})

    def iter_credit_notes(self, modified_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        params: list[tuple[str, str]] = []
        if modified_since is not None:
            params.append(("modifiedSince", format_since(modified_since)))
        yield from self.iter_pages("CreditNotes", params)

    # -- internals ------------------------------------------------------------------------

    def _get_one(self, resource: str, guid: str, kind: str) -> dict[str, Any] | None:
        try:
            reply = self.get(f"{resource}/{guid}", kind=kind)
        except NotFound:
            return None
        if not reply:
            return None
        if not isinstance(reply, dict):
            raise ApiError(f"unleashed {kind}: expected one record, got {type(reply).__name__}")
        return reply


def _with_guid(guid: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with its Guid set to the path's; a different Guid in the body is a bug."""
    existing = body.get("Guid")
    if existing and str(existing).lower() != guid.lower():
        raise ValueError(f"body Guid {existing} does not match the GUID in the path {guid}")
    return {**body, "Guid": guid}


def _is_quota_message(body: str) -> bool:
    lowered = body.lower()
    return "quota" in lowered or "usage limit" in lowered


def error_text_of(body: str) -> str:
    """Description/Message of a JSON error body kept as text (exceptions keep the raw body)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:300]
    if isinstance(parsed, dict):
        for key in ("Description", "Message", "description", "message"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return body[:300]
