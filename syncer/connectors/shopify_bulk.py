"""Shopify bulk operations: a whole catalogue read in a handful of requests.

A bulk query runs on Shopify's side and leaves a JSONL file; the client starts it (retried
while Shopify says too many are running), polls at doubling intervals and streams the file,
restarting a broken download where it stopped. `BulkOperations` holds these calls; the
Shopify client inherits them, so they go through its one HTTP choke point and its pacing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import requests

from syncer.connectors import shopify_documents as docs
from syncer.errors import CredentialsError, DataError, NotFound, RetryLater

if TYPE_CHECKING:
    from syncer.http import HttpClient, Redactor

# Bulk operations: the first wait before polling, its cap (doubling in between), how long an
# operation may take before the run gives up, and the userError codes meaning "too many
# bulk queries running right now" (retried with backoff).
BULK_POLL_START = 0.2
BULK_POLL_MAX = 5.0
BULK_TIMEOUT = 3600.0
BULK_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


class BulkOperations:
    """The bulk-operation calls of the Shopify client (mixed into `ShopifyClient`)."""

    http: HttpClient
    redact: Redactor
    sleep: Callable[[float], None]
    # Shopify's `createdAt` of the last bulk query read to its end: that read saw every
    # record as it stood then (it walks the records, not the search index).
    bulk_read_at: str | None = None

    if TYPE_CHECKING:

        def execute(
            self,
            document: str,
            variables: dict[str, Any] | None = None,
            *,
            kind: str,
            retry_safe: bool = True,
        ) -> dict[str, Any]: ...

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
            yield with_quantities(item)


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


def with_quantities(level: dict[str, Any]) -> dict[str, Any]:
    """A level node with `available` read out of its `quantities` list (None when absent)."""
    quantities = {q["name"]: q["quantity"] for q in level.get("quantities") or []}
    return {**level, "available": quantities.get("available")}
