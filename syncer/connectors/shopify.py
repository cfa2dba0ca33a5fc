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
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode
from graphql import parse as parse_graphql

from syncer.connectors import shopify_documents as docs
from syncer.errors import CredentialsError, DataError, NotFound, RetryLater
from syncer.http import CallCounter, HttpClient, Redactor, RetryPolicy, parse_retry_after

log = logging.getLogger("syncer.shopify")

MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
CONNECTION_OVERHEAD = 2
MUTATION_COST = 10
RENEW_MARGIN = 300.0  # seconds before expiry when a client-credentials token is renewed
# Order lines per order in a page of orders; the rest are fetched after, per order. Most
# orders have a few lines: 5 fits 15 orders in a 1,000-point page (10 fitted 10).
LINE_ITEMS_FIRST = 5
SKUS_PER_QUERY = 50  # `sku:A OR sku:B ...` terms per productVariants query
LEVELS_PER_ITEM = 10  # inventory levels read per item (one per location)
QUANTITIES_PER_CALL = 250  # Shopify's input array cap
NODES_PER_CALL = 250
OPEN_ORDER_LINES = 20  # fulfilment order lines per order in iter_open_order_stock
# Bulk operations: the first wait before polling, its cap (doubling in between), how long an
# operation may take before the run gives up, and the userError codes meaning "too many
# bulk queries running right now" (retried with backoff).
BULK_POLL_START = 0.2
BULK_POLL_MAX = 5.0
BULK_TIMEOUT = 3600.0
BULK_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


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


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


# -- query cost estimate --------------------------------------------------------------------

_parsed: dict[str, Any] = {}


def _document(text: str) -> Any:
    document = _parsed.get(text)
    if document is None:
        document = _parsed[text] = parse_graphql(text)
    return document


def estimate_cost(document: str, variables: dict[str, Any] | None = None) -> int:
    """Shopify's requested query cost, from the document alone.

    The documented rules: scalars 0, objects 1, a connection (a field with `first`) costs
    2 + first x (1 + cost of a node), `nodes(ids:)` costs len(ids) x (1 + cost of a node),
    each mutation field 10. A field with a selection set is an object; a leaf is a scalar.
    """
    variables = variables or {}
    parsed = _document(document)
    fragments = {d.name.value: d for d in parsed.definitions if hasattr(d, "type_condition")}

    def value(node: Any) -> Any:
        if node.kind == "variable":
            return variables.get(node.name.value)
        if node.kind == "int_value":
            return int(node.value)
        if node.kind == "list_value":
            return [value(v) for v in node.values]
        return getattr(node, "value", None)

    def arg(field: FieldNode, name: str) -> Any:
        for item in field.arguments or ():
            if item.name.value == name:
                return value(item.value)
        return None

    def selection_cost(selection_set: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        alternatives = []
        for item in selection_set.selections:
            if isinstance(item, FieldNode):
                total += field_cost(item)
            elif isinstance(item, InlineFragmentNode):
                alternatives.append(selection_cost(item.selection_set))
            elif isinstance(item, FragmentSpreadNode):
                total += selection_cost(fragments[item.name.value].selection_set)
        return total + (max(alternatives) if alternatives else 0)

    def connection_child(field: FieldNode) -> int:
        best = 0
        for item in field.selection_set.selections if field.selection_set else ():
            if isinstance(item, FieldNode) and item.name.value == "nodes":
                best = max(best, 1 + selection_cost(item.selection_set))
            elif isinstance(item, FieldNode) and item.name.value == "edges":
                for inner in item.selection_set.selections if item.selection_set else ():
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        best = max(best, 1 + selection_cost(inner.selection_set))
        return best

    def field_cost(field: FieldNode) -> int:
        if field.selection_set is None or field.name.value.startswith("__"):
            return 0
        first = arg(field, "first")
        names = {s.name.value for s in field.selection_set.selections if isinstance(s, FieldNode)}
        if names & {"nodes", "edges", "pageInfo"}:
            # A connection without `first` only appears in bulk queries, which are not
            # costed per node; it is counted as the sandbox counts it (overhead only).
            return CONNECTION_OVERHEAD + int(first or 0) * connection_child(field)
        if first is not None:
            return int(first) * (1 + selection_cost(field.selection_set))
        return 1 + selection_cost(field.selection_set)

    total = 0
    for definition in parsed.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for item in definition.selection_set.selections:
            if not isinstance(item, FieldNode):
                continue
            if definition.operation.value == "mutation":
                total += MUTATION_COST
            elif item.name.value == "nodes" and arg(item, "ids") is not None:
                total += len(arg(item, "ids")) * (1 + selection_cost(item.selection_set))
            else:
                total += field_cost(item)
    return total


def fit_size(
    document: str,
    variables: dict[str, Any],
    name: str,
    wanted: int,
    limit: int = MAX_PAGE_SIZE,
    budget: int = MAX_QUERY_COST,
) -> int:
    """The largest value of the size variable `name` (<= wanted) that keeps the query cost
    under the limit. `name` may also be a list variable (ids), sized by its length."""

    def cost(size: int) -> int:
        sample: Any = size if name != "ids" else ["gid://shopify/Node/0"] * size
        return estimate_cost(document, {**variables, name: sample})

    one, two = cost(1), cost(2)
    per_item = max(1, two - one)
    fixed = one - per_item
    size = min(wanted, limit, (budget - fixed) // per_item)
    if size < 1:
        raise ValueError(f"a single item of this query costs more than {budget} points")
    return size


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


class ShopifyClient:
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
        self._expires_at = time.time() + lifetime
        log.debug("shopify: new access token, valid %.0fs", lifetime)

    def _auth_headers(self) -> dict[str, str]:
        if self.uses_client_credentials:
            with self._lock:
                margin = min(RENEW_MARGIN, (self._lifetime or 0) / 2)
                if self._token is None or (
                    self._expires_at is not None and self._expires_at - time.time() < margin
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
                time.monotonic(),
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
        now_available = min(maximum, available + (time.monotonic() - stamp) * rate)
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
        self, search_query: str, page_size: int = MAX_PAGE_SIZE
    ) -> Generator[dict[str, Any], None, None]:
        """Orders matching a search (e.g. `updated_at:>='2026-11-01T00:00:00Z'`), oldest update
        first, in the `OrderFields` shape of shopify_documents.py: ids and timestamps, status
        fields (displayFinancialStatus, cancelledAt, edited, test), customer, addresses, money
        sets (`{shopMoney {amount currencyCode}}`), shippingLines.nodes, refunds [{id}] and
        lineItems.nodes with every line (pages beyond the first are fetched and appended).
        Pages are as large as the cost limit allows (`page_size` caps them, e.g. for --limit);
        a node that is not an order object is passed on as it is, for the caller to report."""
        variables = {"query": search_query, "lineItemsFirst": LINE_ITEMS_FIRST}
        size = self._fit(docs.ORDERS, variables, "first", page_size)
        for order in self.paginate(
            docs.ORDERS, {**variables, "first": size}, ("orders",), kind="orders.list"
        ):
            yield self._complete_lines(order)

    def _complete_lines(self, order: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(order, dict) or not order.get("id"):
            return order  # unreadable: the caller reports it and keeps its cursor before it
        lines = order.get("lineItems")
        if not lines or not lines["pageInfo"]["hasNextPage"]:
            return order
        size = self._fit(docs.ORDER_LINE_ITEMS, {"id": order["id"]}, "first", MAX_PAGE_SIZE)
        cursor = lines["pageInfo"]["endCursor"]
        nodes = list(lines["nodes"])
        while cursor:
            data = self.execute(
                docs.ORDER_LINE_ITEMS,
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

    def orders_by_ids(self, gids: Sequence[str]) -> list[dict[str, Any]]:
        """Orders by GID (shape as iter_orders), in the order asked; unknown ids are left out."""
        variables = {"lineItemsFirst": LINE_ITEMS_FIRST}
        size = self._fit(docs.ORDERS_BY_IDS, variables, "ids", NODES_PER_CALL)
        found: list[dict[str, Any]] = []
        for batch in chunks(list(gids), size):
            data = self.execute(
                docs.ORDERS_BY_IDS, {**variables, "ids": list(batch)}, kind="orders.by_ids"
            )
            found.extend(self._complete_lines(n) for n in data["nodes"] if n)
        return found

    def refunds_by_ids(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Refunds by GID: {id createdAt updatedAt note order{id name} totalRefundedSet
        refundLineItems{nodes{id quantity restockType restocked location{id} lineItem{id sku}
        priceSet subtotalSet totalTaxSet}} refundShippingLines{nodes{id shippingLine{id title}
        subtotalAmountSet taxAmountSet}}}."""
        size = self._fit(docs.REFUNDS_BY_IDS, {}, "ids", NODES_PER_CALL)
        found: list[dict[str, Any]] = []
        for batch in chunks(list(ids), size):
            data = self.execute(docs.REFUNDS_BY_IDS, {"ids": list(batch)}, kind="refunds.by_ids")
            for refund in data["nodes"]:
                if not refund:
                    continue
                if refund["refundLineItems"]["pageInfo"]["hasNextPage"]:
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
        """Every inventory level at a location: {id updatedAt item{id sku tracked}
        quantities[{name quantity}] available} (`available` added from quantities)."""
        size = self._fit(docs.LOCATION_INVENTORY_LEVELS, {"id": location_id}, "first", 250)
        for level in self.paginate(
            docs.LOCATION_INVENTORY_LEVELS,
            {"id": location_id, "first": size},
            ("location", "inventoryLevels"),
            kind="inventory.levels",
        ):
            yield _with_quantities(level)

    def inventory_levels_for_items(
        self, item_ids: Sequence[str], location_ids: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Levels of the given inventory items, as [{item_id sku tracked location_id available
        on_hand committed}], limited to `location_ids` when given."""
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

    # -- bulk operations ---------------------------------------------------------------------

    def product_variants_count(self) -> int:
        """How many variants the shop has (Shopify stops counting at 10,000 by default)."""
        data = self.execute(docs.PRODUCT_VARIANTS_COUNT, kind="variants.count")
        return int((data.get("productVariantsCount") or {}).get("count") or 0)

    def bulk_query(
        self,
        inner_query: str,
        *,
        kind: str,
        poll_interval: float = BULK_POLL_START,
        max_poll_interval: float = BULK_POLL_MAX,
        timeout: float = BULK_TIMEOUT,
    ) -> Iterator[dict[str, Any]]:
        """Run `inner_query` (a constant of shopify_documents.py) as a bulk operation and
        yield its JSONL objects as the file streams in: one per line, nested connection nodes
        after their parent with `__parentId` (see `nest_bulk_objects`).

        A handful of requests whatever the catalogue size: start (retried while Shopify says
        too many bulk queries are running), polls at doubling intervals, one download through
        the same HttpClient choke point (kind "bulk.download"). A FAILED, CANCELED or EXPIRED
        operation raises RetryLater (CredentialsError for ACCESS_DENIED); so does one still
        running after `timeout` seconds of polling. `kind` names the read in errors."""
        operation = self._start_bulk(inner_query, kind)
        operation = self._await_bulk(operation, kind, poll_interval, max_poll_interval, timeout)
        url = operation.get("url")
        if url:  # else COMPLETED without a file: the query matched nothing
            yield from self._bulk_objects(str(url), kind)
        created = operation.get("createdAt")
        self.bulk_read_at = str(created) if created else None

    def _start_bulk(self, inner_query: str, kind: str) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            # Retry-safe: a second start of a read-only query at worst wastes an operation.
            data = self.execute(
                docs.BULK_OPERATION_RUN_QUERY, {"query": inner_query}, kind="bulk.start"
            )
            payload = data.get("bulkOperationRunQuery") or {}
            errors = payload.get("userErrors") or []
            codes = {e.get("code") for e in errors}
            if not errors and payload.get("bulkOperation"):
                return dict(payload["bulkOperation"])
            text = self.redact("; ".join(str(e.get("message")) for e in errors) or "no operation")
            if codes and codes <= BULK_BUSY_CODES:
                if attempt >= self.http.policy.max_attempts:
                    raise RetryLater(
                        f"shopify {kind}: could not start a bulk query after {attempt} attempts "
                        f"({text}); other bulk queries are running: run again later",
                        api="shopify",
                    )
                self.sleep(self.http.policy.backoff(attempt))
                continue
            raise DataError(
                f"shopify {kind}: the bulk query was rejected: {text}",
                api="shopify",
                errors=errors,
            )

    def _await_bulk(
        self,
        operation: dict[str, Any],
        kind: str,
        interval: float,
        max_interval: float,
        timeout: float,
    ) -> dict[str, Any]:
        """Poll by id until the operation finishes; the waits (not the wall clock) count
        against `timeout`, so an injected sleep keeps tests fast."""
        waited = 0.0
        while operation.get("status") in ("CREATED", "RUNNING", "CANCELING"):
            if waited >= timeout:
                raise RetryLater(
                    f"shopify {kind}: bulk operation {operation.get('id')} is still "
                    f"{operation.get('status')} after {waited:.0f}s ({operation.get('objectCount')}"
                    " objects so far); run again later",
                    api="shopify",
                )
            self.sleep(interval)
            waited += interval
            interval = min(max_interval, interval * 2)
            data = self.execute(docs.BULK_OPERATION, {"id": operation["id"]}, kind="bulk.poll")
            node = data.get("node")
            if not isinstance(node, dict):
                raise DataError(
                    f"shopify {kind}: bulk operation {operation.get('id')} vanished",
                    api="shopify",
                )
            operation = dict(node)
        status = operation.get("status")
        if status == "COMPLETED":
            return operation
        code = operation.get("errorCode")
        detail = f"bulk operation {operation.get('id')} ended {status}" + (
            f" with {code}" if code else ""
        )
        if code == "ACCESS_DENIED":
            raise CredentialsError(
                f"shopify {kind}: {detail}; check the app's access scopes", api="shopify"
            )
        raise RetryLater(f"shopify {kind}: {detail}; run again later", api="shopify")

    def _bulk_objects(self, url: str, kind: str) -> Iterator[dict[str, Any]]:
        """Stream the JSONL file line by line. The URL is signed (no Shopify token is sent);
        a connection lost mid-file restarts the download and skips the lines already given."""
        if "?" in url:
            self.redact.add(url.split("?", 1)[1])  # the signature is a credential
        given = 0
        broken = 0
        while True:
            try:
                response = self.http.request(
                    "GET", url, kind="bulk.download", retry_safe=True, ok_status=(200,), stream=True
                )
            except (CredentialsError, NotFound) as exc:
                # The file's own signed URL, not the Shopify token, was refused: expired.
                raise RetryLater(
                    f"shopify {kind}: the bulk result file was refused ({exc}); the operation "
                    "will be run again next time",
                    api="shopify",
                ) from exc
            seen = 0
            try:
                for raw in response.iter_lines(chunk_size=1 << 16, delimiter=b"\n"):
                    if not raw.strip():
                        continue
                    seen += 1
                    if seen <= given:
                        continue
                    try:
                        item = json.loads(raw)
                    except ValueError as exc:
                        raise DataError(
                            f"shopify {kind}: line {seen} of the bulk result is not JSON",
                            api="shopify",
                        ) from exc
                    given += 1
                    yield item
                return
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                broken += 1
                if broken >= self.http.policy.max_attempts:
                    raise RetryLater(
                        f"shopify {kind}: the bulk result download broke off {broken} times "
                        f"({self.redact(str(exc))}); run again later",
                        api="shopify",
                    ) from exc
                self.sleep(self.http.policy.backoff(broken))
            finally:
                response.close()

    def bulk_variants(self) -> Iterator[dict[str, Any]]:
        """Every variant by one bulk query, in the `VariantFields` shape of iter_variants."""
        yield from self.bulk_query(docs.BULK_VARIANTS, kind="variants.bulk")

    def bulk_inventory_levels(
        self, location_ids: Iterable[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every inventory level (of `location_ids` when given) by one bulk query: {id
        updatedAt item{id sku tracked} location{id} quantities[{name quantity}] available
        __parentId} (`available` added as in iter_inventory_levels)."""
        wanted = set(location_ids) if location_ids is not None else None
        for item in self.bulk_query(docs.BULK_INVENTORY_LEVELS, kind="inventory.levels.bulk"):
            if "__parentId" not in item:
                continue  # a location line; each level names its location itself
            if wanted is not None and item["location"]["id"] not in wanted:
                continue
            yield _with_quantities(item)

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


def nest_bulk_objects(
    objects: Iterable[dict[str, Any]], children_key: str = "__children"
) -> list[dict[str, Any]]:
    """Rebuild the tree of a bulk result: each object with `__parentId` is appended to its
    parent's `children_key` list (a parent always comes first). Returns the top-level
    objects. Holds the whole result in memory: stream `bulk_query` directly when lines can be
    handled one at a time."""
    by_id: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for obj in objects:
        parent_id = obj.get("__parentId")
        if obj.get("id"):
            by_id[str(obj["id"])] = obj
        if parent_id is None:
            roots.append(obj)
            continue
        parent = by_id.get(str(parent_id))
        if parent is None:
            raise DataError(
                f"shopify bulk result: {obj.get('id')} names parent {parent_id}, which did not "
                "come before it",
                api="shopify",
            )
        parent.setdefault(children_key, []).append(obj)
    return roots


def _with_quantities(level: dict[str, Any]) -> dict[str, Any]:
    quantities = {q["name"]: q["quantity"] for q in level.get("quantities") or []}
    return {**level, "available": quantities.get("available")}


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
