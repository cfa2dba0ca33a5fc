"""The Shopify Admin GraphQL client.

Every request goes through `syncer.http.HttpClient("shopify")`. On top of it this client
paces itself from the `extensions.cost.throttleStatus` of each reply (so it rarely meets
`THROTTLED`), retries `THROTTLED` replies (HTTP 200 or 429) after the computed wait, keeps
each query under Shopify's 1,000-point cost limit by fitting page sizes, renews
client-credentials tokens before they expire, and warns once when Shopify answers with a
different API version than the one configured (version fall-forward).

Helpers return plain dicts in the GraphQL node shape of the documents in
`shopify_documents.py`; money amounts stay strings for the caller to read as `Decimal`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from syncer.connectors import shopify_documents as docs
from syncer.connectors.shopify_bulk import BulkOperations, with_quantities
from syncer.connectors.shopify_cost import MAX_PAGE_SIZE, MAX_QUERY_COST, estimate_cost, fit_size
from syncer.errors import CredentialsError, DataError
from syncer.http import CallCounter, HttpClient, Redactor, RetryPolicy, parse_retry_after

log = logging.getLogger("syncer.shopify")

RENEW_MARGIN = 300.0  # seconds before expiry when a client-credentials token is renewed
# Order lines per order in a page of orders; the rest are fetched after, per order. Most
# orders have a few lines: 5 fits 14 orders in a 1,000-point page (10 fitted 10).
LINE_ITEMS_FIRST = 5
SENT_LINES_FIRST = 20  # lines per order (and per fulfilment order) of sent_order_stock
SKUS_PER_QUERY = 50  # `sku:A OR sku:B ...` terms per productVariants query
LEVELS_PER_ITEM = 10  # inventory levels read per item (one per location)
QUANTITIES_PER_CALL = 250  # Shopify's input array cap
NODES_PER_CALL = 250
OPEN_ORDER_LINES = 20  # fulfilment order lines per order in iter_open_order_stock


def shop_base_url(shop: str) -> str:
    """`x.myshopify.com` or `x` -> https://x.myshopify.com; a URL is used as given."""
    shop = shop.strip().rstrip("/")
    if not shop:
        raise ValueError("shopify.shop is empty: give the shop domain, e.g. x.myshopify.com")
    if re.match(r"^https?://", shop):
        return shop
    if "." not in shop:
        shop = f"{shop}.myshopify.com"
    return f"https://{shop}"


def search_value(value: str) -> str:
    """A value for Shopify search syntax, quoted when it holds anything but safe characters."""
    if re.fullmatch(r"[\w.\-/]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sku_query(skus: Iterable[str]) -> str:
    return " OR ".join(f"sku:{search_value(s)}" for s in skus)


def requires_components(item: Mapping[str, Any] | None) -> bool:
    """Whether an inventory item node ({variant{requiresComponents}}) or a variant node
    ({requiresComponents}) is a Shopify Bundles parent, whose stock Shopify derives from its
    components and refuses to take from an API."""
    if not item:
        return False
    if "requiresComponents" in item:
        return bool(item["requiresComponents"])
    return bool((item.get("variant") or {}).get("requiresComponents"))


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


@dataclass
class ProductChanges:
    """What `ShopifyClient.product_changes` read: changed variants (`VariantFields`), changed
    products (`ProductFields` + variants.nodes[0] {id sku inventoryItem{id}}) and the
    variants of the SKUs asked for, by SKU (SKUs without a variant are absent).

    `changed_count` is how many products the search matched (`productsCount`, a lower bound
    past Shopify's counting limit). `complete` is False when that count was above the caller's
    `bulk_above`: then only the first page of each search was read, and the caller is to read
    the changes another way (a bulk query) instead of paging on."""

    variants: list[dict[str, Any]] = dataclass_field(default_factory=list)
    products: list[dict[str, Any]] = dataclass_field(default_factory=list)
    sku_variants: dict[str, list[dict[str, Any]]] = dataclass_field(default_factory=dict)
    changed_count: int = 0
    complete: bool = True


# -- the client -----------------------------------------------------------------------------


class ShopifyClient(BulkOperations):
    """A client for one shop, one API version and one set of credentials."""

    def __init__(
        self,
        shop: str,
        api_version: str,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        counter: CallCounter,
        redactor: Redactor,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        if not access_token and not (client_id and client_secret):
            raise ValueError(
                "Shopify needs shopify.access_token, or shopify.client_id and "
                "shopify.client_secret for the client-credentials grant"
            )
        self.base_url = shop_base_url(shop)
        self.api_version = api_version
        self.endpoint = f"{self.base_url}/admin/api/{api_version}/graphql.json"
        self.client_id = client_id
        self.client_secret = client_secret
        self.redact = redactor
        for secret in (access_token, client_secret):
            redactor.add(secret)
        self.http = HttpClient(
            "shopify",
            counter=counter,
            redactor=redactor,
            policy=policy,
            session=session,
            sleep=sleep,
        )
        self.sleep = sleep
        # Seconds on a steady clock, for the cost bucket's refill and the token's lifetime;
        # injected so tests can move time without waiting for it.
        self.clock = clock
        self._static_token = access_token
        self._token: str | None = access_token
        self._expires_at: float | None = None
        self._lifetime: float | None = None
        self._lock = threading.Lock()
        # Shopify's `createdAt` of the last bulk query read to its end: that read saw every
        # record as it stood then (it walks the records, not the search index).
        self.bulk_read_at: str | None = None
        # One request at a time, pacing included: the orders job reads the next pages in a
        # thread (syncer/readahead.py) while its own thread may look refunds up, and both
        # draw on the one cost bucket that `_throttle` tracks.
        self._one_at_a_time = threading.RLock()
        # pacing state from the last reply: (maximum, available, rate, monotonic time)
        self._throttle: tuple[float, float, float, float] | None = None
        self._version_warned = False
        self.answered_version: str | None = None

    # -- credentials -------------------------------------------------------------------------

    @property
    def uses_client_credentials(self) -> bool:
        return not self._static_token

    def _renew_token(self) -> None:
        """Client-credentials grant: a fresh token (Shopify's expire after about 24 h)."""
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id or "",
                "client_secret": self.client_secret or "",
            }
        )
        response = self.http.request(
            "POST",
            f"{self.base_url}/admin/oauth/access_token",
            kind="oauth.token",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            data=form,
            retry_safe=True,
            ok_status=(200,),
        )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(
                "Shopify's token endpoint answered without an access_token; check "
                "shopify.client_id and shopify.client_secret",
                api="shopify",
                status=response.status_code,
            ) from exc
        self.redact.add(token)
        lifetime = float(body.get("expires_in") or 86399)
        self._token = token
        self._lifetime = lifetime
        self._expires_at = self.clock() + lifetime
        log.debug("shopify: new access token, valid %.0fs", lifetime)

    def _auth_headers(self) -> dict[str, str]:
        if self.uses_client_credentials:
            with self._lock:
                margin = min(RENEW_MARGIN, (self._lifetime or 0) / 2)
                if self._token is None or (
                    self._expires_at is not None and self._expires_at - self.clock() < margin
                ):
                    self._renew_token()
        return {"X-Shopify-Access-Token": self._token or ""}

    # -- pacing ------------------------------------------------------------------------------

    def _note_cost(self, body: Any) -> None:
        try:
            status = body["extensions"]["cost"]["throttleStatus"]
            self._throttle = (
                float(status["maximumAvailable"]),
                float(status["currentlyAvailable"]),
                float(status["restoreRate"]),
                self.clock(),
            )
        except (KeyError, TypeError, ValueError):
            return

    def _pace(self, cost: int) -> None:
        """Sleep until the bucket holds `cost` points, as the last reply's status predicts."""
        if self._throttle is None:
            return
        maximum, available, rate, stamp = self._throttle
        if rate <= 0:
            return
        now_available = min(maximum, available + (self.clock() - stamp) * rate)
        needed = min(cost, maximum)
        if needed > now_available:
            self.sleep((needed - now_available) / rate)

    def cost_limit(self) -> int:
        """The most one query may cost: Shopify's 1,000, or less when the bucket is smaller
        (development stores), since a query costing more than the bucket never runs."""
        if self._throttle is None:
            self.execute(docs.SHOP_PROBE, kind="shop.probe")  # its reply tells the bucket size
        maximum = self._throttle[0] if self._throttle else MAX_QUERY_COST
        return int(min(MAX_QUERY_COST, maximum))

    def _fit(self, document: str, variables: dict[str, Any], name: str, wanted: int) -> int:
        return fit_size(document, variables, name, wanted, budget=self.cost_limit())

    def _classify(self, response: requests.Response) -> float | None:
        """Wait in seconds when the reply says THROTTLED (HTTP 200 or 429), else None."""
        try:
            body = response.json()
        except ValueError:
            body = None
        throttled = isinstance(body, dict) and any(
            isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
            for e in body.get("errors") or []
            if isinstance(body.get("errors"), list)
        )
        if response.status_code != 429 and not throttled:
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = 0.0
        if isinstance(body, dict):
            self._note_cost(body)
            try:
                cost = body["extensions"]["cost"]
                status = cost["throttleStatus"]
                deficit = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
                wait = max(0.0, deficit / float(status["restoreRate"]))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                wait = 0.0
        if retry_after is not None:
            wait = max(wait, retry_after)
        elif wait == 0.0:
            wait = self.http.policy.backoff(1)
        return wait + 0.05 * min(1.0, wait)  # a little slack so the bucket has refilled

    # -- execute -----------------------------------------------------------------------------

    def execute(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        kind: str,
        retry_safe: bool = True,
    ) -> dict[str, Any]:
        """Send one document; return its `data`. Top-level errors raise DataError (or
        CredentialsError for ACCESS_DENIED); THROTTLED and 5xx are retried by HttpClient."""
        with self._one_at_a_time:
            return self._execute(document, variables or {}, kind=kind, retry_safe=retry_safe)

    def _execute(
        self, document: str, variables: dict[str, Any], *, kind: str, retry_safe: bool
    ) -> dict[str, Any]:
        self._pace(estimate_cost(document, variables))
        payload = json.dumps({"query": document, "variables": variables})
        renewed = False
        while True:
            try:
                response = self.http.request(
                    "POST",
                    self.endpoint,
                    kind=kind,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    data=payload,
                    retry_safe=retry_safe,
                    ok_status=(200, 429),
                    prepare=self._auth_headers,
                    classify=self._classify,
                )
                break
            except CredentialsError as exc:
                # A token revoked or expired early: renew once, then give up.
                if not self.uses_client_credentials or renewed or exc.status != 401:
                    raise
                renewed = True
                with self._lock:
                    self._token = None
        self._check_version(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise DataError(
                f"shopify {kind}: the reply was not JSON ({self.redact(response.text[:200])})",
                api="shopify",
                status=response.status_code,
            ) from exc
        self._note_cost(body)
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            self._raise_errors(kind, errors, response.status_code)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise DataError(f"shopify {kind}: the reply had no data", api="shopify")
        return data

    def _raise_errors(self, kind: str, errors: Any, status: int) -> None:
        items: list[dict[str, object]] = [
            e if isinstance(e, dict) else {"message": str(e)}
            for e in (errors if isinstance(errors, list) else [errors])
        ]
        codes = [(e.get("extensions") or {}).get("code") for e in items]  # type: ignore[attr-defined]
        text = "; ".join(str(e.get("message", e)) for e in items)
        text = self.redact(text[:1000])
        if "ACCESS_DENIED" in codes:
            raise CredentialsError(
                f"shopify {kind}: access denied ({text}); check the app's access scopes",
                api="shopify",
                status=status,
            )
        raise DataError(f"shopify {kind}: {text}", api="shopify", status=status, errors=items)

    def _check_version(self, response: requests.Response) -> None:
        answered = response.headers.get("X-Shopify-API-Version")
        if not answered:
            return
        self.answered_version = answered
        if answered != self.api_version and not self._version_warned:
            self._version_warned = True
            log.warning(
                "Shopify answered with API version %s, not the configured %s: the configured "
                "version is unsupported and Shopify fell forward; update shopify.api_version",
                answered,
                self.api_version,
            )

    def paginate(
        self,
        document: str,
        variables: dict[str, Any],
        connection_path: Sequence[str],
        *,
        kind: str,
    ) -> Iterator[dict[str, Any]]:
        """Yield the nodes of a connection across all pages (the document takes `$after`)."""
        cursor: str | None = None
        while True:
            data = self.execute(document, {**variables, "after": cursor}, kind=kind)
            conn: Any = data
            for key in connection_path:
                conn = conn.get(key) if isinstance(conn, dict) else None
            if conn is None:
                raise DataError(
                    f"shopify {kind}: {'.'.join(connection_path)} not found", api="shopify"
                )
            yield from conn["nodes"]
            page = conn["pageInfo"]
            if not page["hasNextPage"]:
                return
            cursor = page["endCursor"]

    def _mutate(
        self, document: str, variables: dict[str, Any], field: str, *, kind: str, retry_safe: bool
    ) -> dict[str, Any]:
        data = self.execute(document, variables, kind=kind, retry_safe=retry_safe)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise DataError(f"shopify {kind}: {field} returned nothing", api="shopify")
        user_errors = payload.get("userErrors") or []
        if user_errors:
            text = "; ".join(
                f"{'.'.join(map(str, e.get('field') or []))}: {e.get('message')}"
                + (f" [{e['code']}]" if e.get("code") else "")
                for e in user_errors
            )
            raise DataError(
                f"shopify {kind} rejected: {self.redact(text)}", api="shopify", errors=user_errors
            )
        return payload

    # -- typed reads -------------------------------------------------------------------------

    def shop_info(self) -> dict[str, Any]:
        """{id name myshopifyDomain currencyCode taxesIncluded}"""
        return dict(self.execute(docs.SHOP, kind="shop")["shop"])

    def iter_orders(
        self,
        search_query: str,
        page_size: int = MAX_PAGE_SIZE,
        *,
        presentment: bool = False,
        locations: bool = False,
    ) -> Generator[dict[str, Any], None, None]:
        """Orders matching a search (e.g. `updated_at:>='2026-11-01T00:00:00Z'`), oldest update
        first, in the `OrderFields` shape of shopify_documents.py: ids and timestamps, status
        fields (displayFinancialStatus, cancelledAt, edited, test), customer, addresses, money
        sets (`{shopMoney {amount currencyCode}}`), shippingLines.nodes, refunds [{id}] and
        lineItems.nodes with every line (pages beyond the first are fetched and appended).
        Pages are as large as the cost limit allows (`page_size` caps them, e.g. for --limit);
        a node that is not an order object is passed on as it is, for the caller to report.
        With `presentment`, money sets also carry `presentmentMoney`. With `locations`, each
        order also has `retailLocation{id}` and every fulfilment order's `status`,
        `assignedLocation{location{id}}` and `lineItems.nodes[{totalQuantity lineItem{id}}]`."""
        document = _order_document(False, presentment, locations)
        variables = {"query": search_query, "lineItemsFirst": LINE_ITEMS_FIRST}
        size = self._fit(document, variables, "first", page_size)
        for order in self.paginate(
            document, {**variables, "first": size}, ("orders",), kind="orders.list"
        ):
            yield self._complete_locations(self._complete_lines(order, presentment))

    def _complete_lines(self, order: dict[str, Any], presentment: bool = False) -> dict[str, Any]:
        if not isinstance(order, dict) or not order.get("id"):
            return order  # unreadable: the caller reports it and keeps its cursor before it
        lines = order.get("lineItems")
        if not lines or not lines["pageInfo"]["hasNextPage"]:
            return order
        document = docs.ORDER_LINE_ITEMS_PRESENTMENT if presentment else docs.ORDER_LINE_ITEMS
        size = self._fit(document, {"id": order["id"]}, "first", MAX_PAGE_SIZE)
        cursor = lines["pageInfo"]["endCursor"]
        nodes = list(lines["nodes"])
        while cursor:
            data = self.execute(
                document,
                {"id": order["id"], "first": size, "after": cursor},
                kind="orders.lines",
            )
            more = (data.get("order") or {}).get("lineItems")
            if not more:
                raise DataError(
                    f"shopify orders.lines: order {order['id']} vanished while reading its lines",
                    api="shopify",
                )
            nodes.extend(more["nodes"])
            cursor = more["pageInfo"]["endCursor"] if more["pageInfo"]["hasNextPage"] else None
        order["lineItems"] = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}
        return order

    def orders_by_ids(
        self, gids: Sequence[str], *, presentment: bool = False, locations: bool = False
    ) -> list[dict[str, Any]]:
        """Orders by GID (shape as iter_orders), in the order asked; unknown ids are left out."""
        document = _order_document(True, presentment, locations)
        variables = {"lineItemsFirst": LINE_ITEMS_FIRST}
        size = self._fit(document, variables, "ids", NODES_PER_CALL)
        found: list[dict[str, Any]] = []
        for batch in chunks(list(gids), size):
            data = self.execute(document, {**variables, "ids": list(batch)}, kind="orders.by_ids")
            found.extend(
                self._complete_locations(self._complete_lines(n, presentment))
                for n in data["nodes"]
                if n
            )
        return found

    def sent_order_stock(self, gids: Sequence[str]) -> list[dict[str, Any]]:
        """Orders by GID with every line (`id sku currentQuantity`, up to SENT_LINES_FIRST;
        `lineItems.pageInfo.hasNextPage` says when there are more), `retailLocation{id}` and
        the fulfilment orders' status, assigned location and lines (`lineItem{id}`)."""
        document = docs.SENT_ORDER_STOCK
        variables = {"lineItemsFirst": SENT_LINES_FIRST}
        size = self._fit(document, variables, "ids", NODES_PER_CALL)
        found: list[dict[str, Any]] = []
        for batch in chunks(list(gids), size):
            data = self.execute(
                document, {**variables, "ids": list(batch)}, kind="orders.sent_stock"
            )
            found.extend(n for n in data["nodes"] if n)
        return found

    def _complete_locations(self, order: dict[str, Any]) -> dict[str, Any]:
        """An order whose fulfilment orders (or their lines) did not fit the order page gets
        them whole from one more call, so no line is sent to the wrong warehouse."""
        if not isinstance(order, dict) or not order.get("id"):
            return order
        connection = order.get("fulfillmentOrders")
        if not isinstance(connection, dict):
            return order
        overflow = (connection.get("pageInfo") or {}).get("hasNextPage") or any(
            ((fo.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage")
            for fo in connection.get("nodes") or []
            if isinstance(fo, dict)
        )
        if overflow:
            complete = self.fulfillment_orders_for([str(order["id"])])
            order["fulfillmentOrders"] = {"nodes": complete.get(str(order["id"]), [])}
        return order

    def refunds_by_ids(
        self, ids: Sequence[str], *, presentment: bool = False
    ) -> list[dict[str, Any]]:
        """Refunds by GID: {id createdAt updatedAt note order{id name} totalRefundedSet
        refundLineItems{nodes{id quantity restockType restocked location{id} lineItem{id sku}
        priceSet subtotalSet totalTaxSet}} refundShippingLines{nodes{id shippingLine{id title}
        subtotalAmountSet taxAmountSet}}}."""
        document = docs.REFUNDS_BY_IDS_PRESENTMENT if presentment else docs.REFUNDS_BY_IDS
        size = self._fit(document, {}, "ids", NODES_PER_CALL)
        found: list[dict[str, Any]] = []
        for batch in chunks(list(ids), size):
            data = self.execute(document, {"ids": list(batch)}, kind="refunds.by_ids")
            for refund in data["nodes"]:
                if not refund:
                    continue
                # A refund without its lines connection reads as a refund of no units.
                line_items = refund.get("refundLineItems") or {}
                if (line_items.get("pageInfo") or {}).get("hasNextPage"):
                    raise DataError(
                        f"shopify refunds.by_ids: refund {refund['id']} has more than 50 lines",
                        api="shopify",
                    )
                found.append(refund)
        return found

    def locations(self) -> list[dict[str, Any]]:
        """Active locations: [{id name isActive isPrimary fulfillsOnlineOrders}]."""
        return list(
            self.paginate(
                docs.LOCATIONS, {"first": MAX_PAGE_SIZE}, ("locations",), kind="locations.list"
            )
        )

    def iter_variants(
        self, search_query: str | None = None, page_size: int = 250
    ) -> Iterator[dict[str, Any]]:
        """Variants (all, or matching a search) in the `VariantFields` shape: {id title sku
        barcode price position updatedAt product{id title handle descriptionHtml productType
        status updatedAt variantsCount{count}} inventoryItem{id tracked measurement{weight{unit
        value}}}}. The page size is lowered as needed to stay under the cost limit."""
        variables: dict[str, Any] = {"query": search_query}
        size = self._fit(docs.VARIANTS, variables, "first", page_size)
        yield from self.paginate(
            docs.VARIANTS, {**variables, "first": size}, ("productVariants",), kind="variants.list"
        )

    def variants_by_skus(self, skus: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Variants whose SKU is exactly one of `skus`, by SKU (a list: SKUs can repeat in
        Shopify). SKUs without a variant are absent from the result."""
        wanted = sorted({s for s in skus if s})
        found: dict[str, list[dict[str, Any]]] = {}
        for batch in chunks(wanted, SKUS_PER_QUERY):
            exact = set(batch)
            for variant in self.iter_variants(sku_query(batch)):
                if variant.get("sku") in exact:
                    found.setdefault(variant["sku"], []).append(variant)
        return found

    def iter_products(
        self, search_query: str | None = None, page_size: int = 250
    ) -> Iterator[dict[str, Any]]:
        """Products (all, or matching a search such as `updated_at:>='...'` or `handle:x`) in
        the `ProductFields` shape plus variants.nodes[0] {id sku inventoryItem{id}}."""
        variables: dict[str, Any] = {"query": search_query}
        size = self._fit(docs.PRODUCTS, variables, "first", page_size)
        yield from self.paginate(
            docs.PRODUCTS, {**variables, "first": size}, ("products",), kind="products.list"
        )

    def product_changes(
        self, changed_query: str, skus: Sequence[str] = (), *, bulk_above: int | None = None
    ) -> ProductChanges:
        """Variants and products matching `changed_query` (e.g. `updated_at:>='...'`) and the
        variants whose SKU is exactly one of `skus` (at most SKUS_PER_QUERY), read together
        in one request (`PRODUCT_CHANGES`, which also counts the matching products); a
        connection with more pages is then followed on its own, except the two searches when
        more than `bulk_above` products match (the result is then marked incomplete)."""
        if len(skus) > SKUS_PER_QUERY:
            raise ValueError(f"at most {SKUS_PER_QUERY} SKUs per product_changes call")
        wanted = sorted(set(skus))
        document = docs.PRODUCT_CHANGES
        variables: dict[str, Any] = {
            "changed": changed_query,
            "skus": sku_query(wanted) if wanted else "",
            "withSkus": bool(wanted),
            "variantsFirst": 0,
            "productsFirst": 0,
            "skusFirst": 0,
        }
        budget = self.cost_limit()
        fixed = estimate_cost(document, variables)
        unit = {
            name: estimate_cost(document, {**variables, name: 1}) - fixed
            for name in ("variantsFirst", "productsFirst", "skusFirst")
        }
        # Room for each SKU's variant (and a duplicate or two), the rest shared by the searches.
        sku_room = min(MAX_PAGE_SIZE, 2 * len(wanted), (budget - fixed) // 3 // unit["skusFirst"])
        variables["skusFirst"] = max(1, sku_room)
        left = budget - estimate_cost(document, variables)
        for name in ("variantsFirst", "productsFirst"):
            variables[name] = max(1, min(MAX_PAGE_SIZE, left // 2 // unit[name]))
        data = self.execute(document, variables, kind="products.changes")
        counted = int((data.get("changedCount") or {}).get("count") or 0)
        complete = bulk_above is None or counted <= bulk_above
        found: dict[str, list[dict[str, Any]]] = {}
        for alias, follow_doc, path, key in (
            ("changedVariants", docs.VARIANTS, "productVariants", "variants"),
            ("changedProducts", docs.PRODUCTS, "products", "products"),
            ("skuVariants", docs.VARIANTS, "productVariants", "sku_variants"),
        ):
            conn = data.get(alias)
            if conn is None:
                found[key] = []
                continue
            found[key] = list(conn["nodes"])
            if not complete and alias != "skuVariants":
                continue  # the caller reads this change set by a bulk query instead
            query = variables["skus"] if alias == "skuVariants" else changed_query
            found[key] += self._pages_after(
                follow_doc, query, path, conn["pageInfo"], kind=f"products.changes.{key}"
            )
        exact = set(wanted)
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for variant in found.pop("sku_variants"):
            if variant.get("sku") in exact:
                by_sku.setdefault(str(variant["sku"]), []).append(variant)
        return ProductChanges(found["variants"], found["products"], by_sku, counted, complete)

    def _pages_after(
        self, document: str, query: str, path: str, page: dict[str, Any], *, kind: str
    ) -> list[dict[str, Any]]:
        """The nodes of the pages after `page` of a connection (`document` takes $query,
        $first, $after), or none when it was the last."""
        nodes: list[dict[str, Any]] = []
        if not page.get("hasNextPage"):
            return nodes
        variables: dict[str, Any] = {"query": query}
        size = self._fit(document, variables, "first", MAX_PAGE_SIZE)
        cursor = page.get("endCursor")
        while cursor:
            data = self.execute(document, {**variables, "first": size, "after": cursor}, kind=kind)
            conn = data.get(path)
            if not isinstance(conn, dict):
                raise DataError(f"shopify {kind}: {path} not found", api="shopify")
            nodes.extend(conn["nodes"])
            more = conn["pageInfo"]
            cursor = more["endCursor"] if more["hasNextPage"] else None
        return nodes

    def product(self, product_id: str) -> dict[str, Any] | None:
        """One product: `ProductFields` plus variants.nodes [{id title sku barcode price
        inventoryItem{id tracked}}] (up to 250)."""
        data = self.execute(
            docs.PRODUCT, {"id": product_id, "variantsFirst": 100}, kind="products.get"
        )
        product = data.get("product")
        return dict(product) if product else None

    def iter_inventory_levels(self, location_id: str) -> Iterator[dict[str, Any]]:
        """Every inventory level at a location: {id updatedAt item{id sku tracked
        variant{requiresComponents}} quantities[{name quantity}] available} (`available`
        added from quantities)."""
        size = self._fit(docs.LOCATION_INVENTORY_LEVELS, {"id": location_id}, "first", 250)
        for level in self.paginate(
            docs.LOCATION_INVENTORY_LEVELS,
            {"id": location_id, "first": size},
            ("location", "inventoryLevels"),
            kind="inventory.levels",
        ):
            yield with_quantities(level)

    def inventory_levels_for_items(
        self, item_ids: Sequence[str], location_ids: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Levels of the given inventory items, as [{item_id sku tracked bundle location_id
        available on_hand committed}] (`bundle`: the item's variant is a bundle parent),
        limited to `location_ids` when given."""
        wanted = set(location_ids) if location_ids is not None else None
        variables = {"levelsFirst": LEVELS_PER_ITEM}
        size = self._fit(docs.ITEM_INVENTORY_LEVELS, variables, "ids", NODES_PER_CALL)
        rows: list[dict[str, Any]] = []
        for batch in chunks(list(item_ids), size):
            data = self.execute(
                docs.ITEM_INVENTORY_LEVELS,
                {**variables, "ids": list(batch)},
                kind="inventory.items",
            )
            for item in data["nodes"]:
                if not item:
                    continue
                if item["inventoryLevels"]["pageInfo"]["hasNextPage"]:
                    raise DataError(
                        f"shopify inventory.items: {item['id']} is stocked at more than "
                        f"{LEVELS_PER_ITEM} locations",
                        api="shopify",
                    )
                for level in item["inventoryLevels"]["nodes"]:
                    if wanted is not None and level["location"]["id"] not in wanted:
                        continue
                    quantities = {q["name"]: q["quantity"] for q in level["quantities"]}
                    rows.append(
                        {
                            "item_id": item["id"],
                            "sku": item["sku"],
                            "tracked": item["tracked"],
                            "bundle": requires_components(item),
                            "location_id": level["location"]["id"],
                            **quantities,
                        }
                    )
        return rows

    def iter_open_order_stock(
        self, search_query: str, page_size: int = MAX_PAGE_SIZE
    ) -> Generator[dict[str, Any], None, None]:
        """Orders matching a search with only what stock needs, much cheaper per order than
        iter_orders: {id name cancelledAt displayFinancialStatus fulfillmentOrders{pageInfo
        nodes[{id status assignedLocation{location{id}} lineItems{pageInfo nodes[{sku
        remainingQuantity}]}}]}}. Up to 2 fulfilment orders of OPEN_ORDER_LINES lines each;
        `pageInfo.hasNextPage` says when the caller must read the rest with
        fulfillment_orders_for."""
        variables: dict[str, Any] = {"query": search_query, "lineItemsFirst": OPEN_ORDER_LINES}
        size = self._fit(docs.OPEN_ORDER_STOCK, variables, "first", page_size)
        yield from self.paginate(
            docs.OPEN_ORDER_STOCK,
            {**variables, "first": size},
            ("orders",),
            kind="orders.open_stock",
        )

    def fulfillment_orders_for(self, order_gids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Fulfillment orders by order GID: [{id status updatedAt assignedLocation{name
        location{id name}} lineItems{nodes[{id sku totalQuantity remainingQuantity
        lineItem{id sku}}]}}]."""
        size = self._fit(docs.FULFILLMENT_ORDERS_BY_ORDER_IDS, {}, "ids", NODES_PER_CALL)
        found: dict[str, list[dict[str, Any]]] = {}
        for batch in chunks(list(order_gids), size):
            data = self.execute(
                docs.FULFILLMENT_ORDERS_BY_ORDER_IDS,
                {"ids": list(batch)},
                kind="fulfillment_orders.by_order",
            )
            for order in data["nodes"]:
                if not order:
                    continue
                fos = order["fulfillmentOrders"]["nodes"]
                for fo in fos:
                    if fo["lineItems"]["pageInfo"]["hasNextPage"]:
                        raise DataError(
                            f"shopify fulfillment_orders.by_order: {fo['id']} has more than 20 "
                            "lines",
                            api="shopify",
                        )
                found[order["id"]] = fos
        return found

    # -- writes ------------------------------------------------------------------------------

    def set_inventory_quantities(
        self,
        quantities: Sequence[dict[str, Any]],
        *,
        reason: str,
        reference_uri: str | None,
        idempotency_key: str,
        name: str = "available",
    ) -> dict[str, Any]:
        """`inventorySetQuantities` for up to 250 quantities, each {inventoryItemId locationId
        quantity changeFromQuantity} (changeFromQuantity is sent as given, null included).

        Idempotent by key, so it is retried after a lost reply: send the same key only with
        the same quantities. Returns the payload ({inventoryAdjustmentGroup, userErrors: []});
        userErrors raise DataError with `.errors` holding them (codes such as
        CHANGE_FROM_QUANTITY_STALE kept)."""
        if len(quantities) > QUANTITIES_PER_CALL:
            raise ValueError(f"at most {QUANTITIES_PER_CALL} quantities per call")
        if not idempotency_key:
            raise ValueError("inventorySetQuantities needs an idempotency key")
        items = []
        for quantity in quantities:
            if "changeFromQuantity" not in quantity:
                raise ValueError("each quantity needs changeFromQuantity (None to skip the check)")
            items.append(
                {
                    "inventoryItemId": quantity["inventoryItemId"],
                    "locationId": quantity["locationId"],
                    "quantity": int(quantity["quantity"]),
                    "changeFromQuantity": quantity["changeFromQuantity"],
                }
            )
        variables = {
            "input": {
                "name": name,
                "reason": reason,
                "referenceDocumentUri": reference_uri,
                "quantities": items,
            },
        }
        return self._mutate(
            docs.inventory_set_quantities(idempotency_key),
            variables,
            "inventorySetQuantities",
            kind="inventory.set",
            retry_safe=True,
        )

    def inventory_activate(self, inventory_item_id: str, location_id: str) -> dict[str, Any]:
        """Stock an item at a location (keeps existing quantities, 2026-04+)."""
        return self._mutate(
            docs.INVENTORY_ACTIVATE,
            {"inventoryItemId": inventory_item_id, "locationId": location_id},
            "inventoryActivate",
            kind="inventory.activate",
            retry_safe=True,
        )

    def product_create(
        self,
        *,
        title: str,
        description_html: str | None = None,
        product_type: str | None = None,
        status: str = "ACTIVE",
        vendor: str | None = None,
        handle: str | None = None,
    ) -> dict[str, Any]:
        """Create a single-variant product; returns `ProductFields` plus
        variants.nodes[0] {id inventoryItem{id}} for the follow-up variants_bulk_update.
        Not retry-safe: an ambiguous failure raises OutcomeUnknown (look it up by SKU)."""
        product: dict[str, Any] = {"title": title, "status": status}
        if description_html is not None:
            product["descriptionHtml"] = description_html
        if product_type is not None:
            product["productType"] = product_type
        if vendor is not None:
            product["vendor"] = vendor
        if handle is not None:
            product["handle"] = handle
        payload = self._mutate(
            docs.PRODUCT_CREATE,
            {"product": product},
            "productCreate",
            kind="products.create",
            retry_safe=False,
        )
        return dict(payload["product"])

    def product_update(self, product_id: str, **fields: Any) -> dict[str, Any]:
        """Update product fields given in GraphQL names (title, descriptionHtml, productType,
        status, vendor); returns `ProductFields`. Setting values is idempotent."""
        allowed = {"title", "descriptionHtml", "productType", "status", "vendor", "handle"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"product_update got unknown fields {sorted(unknown)}")
        payload = self._mutate(
            docs.PRODUCT_UPDATE,
            {"product": {"id": product_id, **fields}},
            "productUpdate",
            kind="products.update",
            retry_safe=True,
        )
        return dict(payload["product"])

    def variants_bulk_update(
        self, product_id: str, variants: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Set variant fields, each a `ProductVariantsBulkInput` dict ({id price barcode
        inventoryItem{sku tracked measurement{weight{unit value}}}}); returns the variants in
        the `VariantFields` shape. Setting values is idempotent."""
        payload = self._mutate(
            docs.VARIANTS_BULK_UPDATE,
            {"productId": product_id, "variants": [_jsonable(v) for v in variants]},
            "productVariantsBulkUpdate",
            kind="variants.update",
            retry_safe=True,
        )
        return list(payload.get("productVariants") or [])

    def fulfillment_create(
        self, fulfillment_input: dict[str, Any], message: str | None = None
    ) -> dict[str, Any]:
        """Create a fulfillment ({lineItemsByFulfillmentOrder, trackingInfo, notifyCustomer});
        returns {id name status createdAt totalQuantity trackingInfo}. Not retry-safe: an
        ambiguous failure raises OutcomeUnknown so the caller reads the fulfillment orders."""
        payload = self._mutate(
            docs.FULFILLMENT_CREATE,
            {"fulfillment": fulfillment_input, "message": message},
            "fulfillmentCreate",
            kind="fulfillments.create",
            retry_safe=False,
        )
        return dict(payload["fulfillment"])


def _jsonable(value: Any, key: str = "") -> Any:
    """Decimals as GraphQL takes them: Money/Decimal fields as strings, a weight (Float!)
    as a number."""
    if isinstance(value, dict):
        return {k: _jsonable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, key) for v in value]
    if isinstance(value, Decimal):
        return float(value) if key == "value" else str(value)
    return value


def _order_document(by_ids: bool, presentment: bool, locations: bool) -> str:
    """The order document for a listing or an id look-up, with the optional parts asked."""
    if by_ids:
        if locations:
            return (
                docs.ORDERS_BY_IDS_LOCATIONS_PRESENTMENT
                if presentment
                else docs.ORDERS_BY_IDS_LOCATIONS
            )
        return docs.ORDERS_BY_IDS_PRESENTMENT if presentment else docs.ORDERS_BY_IDS
    if locations:
        return docs.ORDERS_LOCATIONS_PRESENTMENT if presentment else docs.ORDERS_LOCATIONS
    return docs.ORDERS_PRESENTMENT if presentment else docs.ORDERS
