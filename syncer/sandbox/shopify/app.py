"""The HTTP face of the sandbox: access tokens (static or client credentials, with expiry),
API-version fall-forward, the GraphQL endpoint (parse, validate, cost, execute), THROTTLED
replies, the bulk-operation result files, and the `/_control/shopify/...` endpoints.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)

from syncer.sandbox.common import Reply, Request
from syncer.sandbox.seed import World
from syncer.sandbox.shopify import bulk
from syncer.sandbox.shopify.cost import MAX_QUERY_COST, Bucket, CostCalculator
from syncer.sandbox.shopify.mutations import bulk_error, idempotency_key
from syncer.sandbox.shopify.resolvers import Root, resolve_field, resolve_type
from syncer.sandbox.shopify.schema import served_schema
from syncer.sandbox.shopify.shop import Shop

SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10", "2027-01")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
IDEMPOTENT_MUTATIONS = frozenset({"inventorySetQuantities"})


class GraphQLFailure(Exception):
    """A top-level GraphQL error reply (validation, cost, missing directive, ...)."""

    def __init__(self, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"message": message, "extensions": {"code": code, **extra}}


@dataclass
class Token:
    value: str
    expires_at: float | None  # time.time(); None: never
    bucket_key: str


class ShopifySandbox(Shop):
    """The Shopify app for `SandboxServer`, and the control API tests call directly."""

    name = "shopify"

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 1,
        access_token: str | None = "shpat_sandbox",
        client_id: str | None = "sandbox-client",
        client_secret: str | None = "sandbox-secret",
        token_ttl: float = 86399,
        taxes_included: bool = True,
        drift: bool = True,
        maximum_available: float = 2000,
        restore_rate: float = 100,
        throttle_status: int = 200,
        shop_domain: str = "syncer-sandbox.myshopify.com",
    ) -> None:
        super().__init__(
            world, seed=seed, taxes_included=taxes_included, drift=drift, shop_domain=shop_domain
        )
        self.schema = served_schema()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.throttle_status = throttle_status
        self.tokens: dict[str, Token] = {}
        if access_token:
            self.tokens[access_token] = Token(access_token, None, access_token)
        self.buckets: dict[str, Bucket] = {}
        self._last_bucket: Bucket | None = None
        # Totals for the benchmark: sum of actualQueryCost, points the bucket really kept
        # (never more than requested) and THROTTLED replies.
        self.cost_spent = 0
        self.cost_charged = 0
        self.throttled = 0
        self.writes: list[dict[str, Any]] = []
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self._doc_cache: dict[str, Any] = {}
        self._variables: dict[str, Any] = {}
        # Bulk query operations (bulk.py): seconds until one completes, how many may run at
        # once, an errorCode the next one fails with, and the host the client called (the
        # result URL points back at this server).
        self.bulk_operations: dict[int, bulk.BulkOperation] = {}
        self.bulk_delay = bulk.DEFAULT_DELAY
        self.bulk_limit = bulk.CONCURRENT_QUERIES
        self.bulk_fail_next: str | None = None
        self.bulk_clock: Callable[[], float] = time.monotonic
        self._request_host = "127.0.0.1"

    def set_bucket(self, maximum: float | None = None, restore_rate: float | None = None) -> None:
        """Change the throttle for every token, starting each bucket full."""
        with self.lock:
            if maximum is not None:
                self.maximum_available = maximum
            if restore_rate is not None:
                self.restore_rate = restore_rate
            self.buckets.clear()

    # -- bulk query operations ----------------------------------------------------------------

    def set_bulk(
        self,
        *,
        delay: float | None = None,
        limit: int | None = None,
        fail_next: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Tune bulk operations for a test: seconds from creation to completion, how many
        may run at once, an errorCode (ACCESS_DENIED, INTERNAL_SERVER_ERROR, TIMEOUT) the
        next operation fails with, and the steady clock (seconds) their progress is read
        from, so a test moves time instead of sleeping."""
        with self.lock:
            if clock is not None:
                self.bulk_clock = clock
            if delay is not None:
                self.bulk_delay = float(delay)
            if limit is not None:
                self.bulk_limit = int(limit)
            if fail_next is not None:
                self.bulk_fail_next = fail_next

    def start_bulk_query(self, text: str) -> dict[str, Any]:
        """`bulkOperationRunQuery`: check the query, refuse past the concurrency limit, then
        run it over the whole data set (connections un-paged) into JSONL served later."""
        with self.lock:
            try:
                document = bulk.check_query(self.schema, text)
            except bulk.InvalidBulkQuery as exc:
                return {
                    "bulkOperation": None,
                    "userErrors": [bulk_error(["query"], str(exc), "INVALID")],
                }
            running = [op for op in self.bulk_operations.values() if not op.finished]
            if len(running) >= self.bulk_limit:
                message = (
                    f"A maximum of {self.bulk_limit} bulk query operations can run at the same "
                    f"time; {', '.join(op.id for op in running)} are still running."
                )
                return {
                    "bulkOperation": None,
                    "userErrors": [bulk_error(["query"], message, "LIMIT_REACHED")],
                }
            with bulk.bulk_mode():
                result = execute_sync(
                    self.schema,
                    document,
                    root_value=Root(self),
                    field_resolver=resolve_field,
                    type_resolver=resolve_type,
                )
            failure, self.bulk_fail_next = self.bulk_fail_next, None
            objects: list[dict[str, Any]] = []
            if result.errors:
                failure = failure or "INTERNAL_SERVER_ERROR"
            if result.data is not None:
                objects = bulk.jsonl_objects(self.schema, document, result.data)
            op = bulk.BulkOperation(
                self._next("BulkOperation"),
                self.now(),
                text,
                bulk.encode_lines(objects),
                delay=self.bulk_delay,
                base_url=f"http://{self._request_host}",
                failure=failure,
                clock=self.bulk_clock,
            )
            self.bulk_operations[op.num] = op
            return {"bulkOperation": op, "userErrors": []}

    def current_bulk_operation(self, type_: str = "QUERY") -> bulk.BulkOperation | None:
        with self.lock:
            ops = [op for op in self.bulk_operations.values() if op.type == type_]
            return ops[-1] if ops else None

    def _bulk_download(self, num: int, partial: bool, query: str) -> Reply:
        """The result file; the signature in the URL stands in for Shopify's signed URL."""
        with self.lock:
            op = self.bulk_operations.get(num)
            signature = (parse_qs(query).get("sig") or [""])[0]
            if op is None or not secrets.compare_digest(signature, op.signature):
                return Reply(403, "<Error><Code>AccessDenied</Code></Error>")
            body = op.partial_body() if partial else op.body
            if (op.status != "FAILED") if partial else (op.url is None):
                return Reply(404, "<Error><Code>NoSuchKey</Code></Error>")
        return Reply(200, body, {"Content-Type": "application/jsonl"})

    def written(self, mutation: str | None = None) -> list[dict[str, Any]]:
        """Every mutation applied (not replays or rejected calls), oldest first."""
        with self.lock:
            return [dict(w) for w in self.writes if mutation in (None, w["mutation"])]

    def control(self, method: str, path: str, body: Any) -> Reply:
        """HTTP control endpoints under /_control/shopify/..."""
        body = body or {}
        try:
            if path == "/shopify/writes" and method == "GET":
                return Reply(200, {"writes": self.written()})
            if path == "/shopify/bucket" and method == "POST":
                self.set_bucket(body.get("maximum"), body.get("restore_rate"))
                return Reply(200, {"maximum": self.maximum_available, "rate": self.restore_rate})
            if path == "/shopify/available" and method == "POST":
                level = self.set_available(body["sku"], body["location"], int(body["quantity"]))
                return Reply(200, {"quantities": level.quantities})
            if path == "/shopify/token_ttl" and method == "POST":
                self.token_ttl = float(body["seconds"])
                return Reply(200, {"token_ttl": self.token_ttl})
            if path == "/shopify/bulk" and method == "POST":
                self.set_bulk(
                    delay=body.get("delay"),
                    limit=body.get("limit"),
                    fail_next=body.get("fail_next"),
                )
                return Reply(200, {"delay": self.bulk_delay, "limit": self.bulk_limit})
            match = re.fullmatch(r"/shopify/orders/([^/]+)/(paid|cancel)", path)
            if match and method == "POST":
                raw = match.group(1)
                ref: str | int = int(raw) if raw.isdigit() else f"#{raw.lstrip('#')}"
                order = (self.mark_paid if match.group(2) == "paid" else self.cancel_order)(ref)
                return Reply(200, {"id": order.id, "name": order.name})
        except (KeyError, ValueError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(404, {"error": f"unknown control path {path}"})

    # -- HTTP ---------------------------------------------------------------------------------

    def describe(self, request: Request) -> str:
        text = f"{request.method} {request.path}"
        if request.path.endswith("/graphql.json"):
            try:
                document = self._parse(json.loads(request.body or b"{}").get("query") or "")
                names = [
                    f.name.value
                    for op in document.definitions
                    if isinstance(op, OperationDefinitionNode)
                    for f in op.selection_set.selections
                    if isinstance(f, FieldNode)
                ]
                text += " " + " ".join(names)
            except Exception:
                pass
        return text

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/admin/oauth/access_token":
            return self._grant(request)
        download = re.fullmatch(r"/_bulk/(\d+)(\.partial)?\.jsonl", request.path)
        if download and request.method == "GET":
            return self._bulk_download(
                int(download.group(1)), bool(download.group(2)), request.query
            )
        match = re.fullmatch(r"/admin/api/([\w-]+)/graphql\.json", request.path)
        if match is None or request.method != "POST":
            return Reply(404, {"errors": "Not Found"})
        token = self._authenticate(request.headers.get("x-shopify-access-token"))
        if token is None:
            return Reply(401, {"errors": INVALID_TOKEN})
        headers = {"X-Shopify-API-Version": self._version(match.group(1))}
        try:
            body = request.json() or {}
        except ValueError:
            return Reply(400, {"errors": "Invalid JSON in request body"}, headers)
        with self.lock:
            self._request_host = request.headers.get("host") or self._request_host
            status, payload = self._graphql(token, body)
        return Reply(status, payload, headers)

    def throttled_reply(self) -> Reply:
        """Shopify's THROTTLED answer for an injected fault: a nominal 10-point request
        meeting an empty bucket (the client should wait 10 / restoreRate seconds)."""
        bucket = self._last_bucket or Bucket(self.maximum_available, self.restore_rate, 0)
        status = {**bucket.status(), "currentlyAvailable": 0}
        cost = {"requestedQueryCost": 10, "actualQueryCost": None, "throttleStatus": status}
        return Reply(self.throttle_status, self._throttled_body(cost))

    @staticmethod
    def _throttled_body(cost: dict[str, Any]) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
                }
            ],
            "extensions": {"cost": cost},
        }

    def _version(self, requested: str) -> str:
        if requested in SUPPORTED_VERSIONS or requested == "unstable":
            return requested
        return SUPPORTED_VERSIONS[0]  # Shopify falls forward to the oldest supported version

    def _authenticate(self, value: str | None) -> Token | None:
        with self.lock:
            token = self.tokens.get(value or "")
            if token is None:
                return None
            if token.expires_at is not None and time.time() >= token.expires_at:
                return None
            return token

    def _grant(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if not self.client_id or (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Reply(
                400,
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed.",
                },
            )
        value = "shpca_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[value] = Token(value, time.time() + self.token_ttl, f"app:{self.client_id}")
        return Reply(
            200,
            {
                "access_token": value,
                "scope": "read_orders,write_products,write_inventory,"
                "write_merchant_managed_fulfillment_orders",
                "expires_in": int(self.token_ttl) if self.token_ttl >= 1 else self.token_ttl,
            },
        )

    def _bucket(self, token: Token) -> Bucket:
        bucket = self.buckets.get(token.bucket_key)
        if bucket is None:
            bucket = Bucket(self.maximum_available, self.restore_rate, self.maximum_available)
            self.buckets[token.bucket_key] = bucket
        bucket.refill()
        self._last_bucket = bucket
        return bucket

    def _parse(self, text: str) -> Any:
        document = self._doc_cache.get(text)
        if document is None:
            document = parse(text)
            if len(self._doc_cache) > 256:
                self._doc_cache.clear()
            self._doc_cache[text] = document
        return document

    def _graphql(self, token: Token, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = body.get("query")
        variables = body.get("variables") or {}
        if not isinstance(text, str) or not text.strip():
            return 200, {"errors": [{"message": "No query string was present"}]}
        try:
            document = self._parse(text)
        except GraphQLError as exc:
            return 200, {"errors": [_error(exc, "parseError")]}
        problems = validate(self.schema, document)
        if problems:
            return 200, {"errors": [_error(p, _validation_code(p.message)) for p in problems]}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        wanted = body.get("operationName")
        operation = next(
            (o for o in operations if wanted is None or (o.name and o.name.value == wanted)), None
        )
        if operation is None or (wanted is None and len(operations) > 1):
            message = "An operation name is required" if operation else "Unknown operation"
            return 200, {"errors": [{"message": message}]}
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root = (
            self.schema.mutation_type
            if operation.operation.value == "mutation"
            else self.schema.query_type
        )
        calculator = CostCalculator(self.schema, fragments, variables)
        requested = calculator.requested(root, operation.selection_set)
        bucket = self._bucket(token)
        if requested > MAX_QUERY_COST:
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).\n\nSee {RATE_LIMIT_DOCS} for more information on how the "
                "cost of a query is calculated.\n\nTo query larger amounts of data with fewer "
                "limits, bulk operations should be used instead."
            )
            return 200, {
                "errors": [
                    {
                        "message": message,
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": MAX_QUERY_COST,
                            "documentation": RATE_LIMIT_DOCS,
                        },
                    }
                ]
            }
        cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": None}
        if requested > bucket.available:
            cost["throttleStatus"] = bucket.status()
            self.throttled += 1
            return self.throttle_status, self._throttled_body(cost)
        bucket.available -= requested
        try:
            self._check_operation(operation, variables)
        except GraphQLFailure as failure:
            bucket.available = min(bucket.maximum, bucket.available + requested)
            cost["actualQueryCost"] = 0
            cost["throttleStatus"] = bucket.status()
            return 200, {"errors": [failure.error], "extensions": {"cost": cost}}
        self._variables = variables
        result = execute_sync(
            self.schema,
            document,
            root_value=Root(self),
            variable_values=variables,
            operation_name=wanted,
            field_resolver=resolve_field,
            type_resolver=resolve_type,
        )
        # Shopify refunds the difference down to the actual cost; it never charges more than
        # it asked for (the estimate is an upper bound).
        actual = min(requested, calculator.actual(root, operation.selection_set, result.data))
        bucket.available = min(bucket.maximum, bucket.available + max(0, requested - actual))
        cost["actualQueryCost"] = actual
        cost["throttleStatus"] = bucket.status()
        self.cost_spent += actual
        self.cost_charged += min(requested, actual)
        payload: dict[str, Any] = {}
        if result.errors:
            code = "INVALID_VARIABLE" if result.data is None else "INTERNAL_SERVER_ERROR"
            payload["errors"] = [_error(e, _execution_code(e, code)) for e in result.errors]
        payload["data"] = result.data
        payload["extensions"] = {"cost": cost}
        return 200, payload

    def _check_operation(
        self, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> None:
        """Runtime rules the schema cannot express (Shopify checks them before executing)."""
        for selection in operation.selection_set.selections:
            if not isinstance(selection, FieldNode):
                continue
            name = selection.name.value
            if name in IDEMPOTENT_MUTATIONS and idempotency_key(selection, variables) is None:
                raise GraphQLFailure(
                    f"The @idempotent directive is required for the {name} mutation. "
                    'Add @idempotent(key: "<uuid>") to the field.',
                    "BAD_REQUEST",
                )


def _error(exc: GraphQLError, code: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": exc.message}
    if exc.locations:
        error["locations"] = [{"line": loc.line, "column": loc.column} for loc in exc.locations]
    if exc.path:
        error["path"] = list(exc.path)
    extensions = dict(exc.extensions or {})
    extensions.setdefault("code", code)
    error["extensions"] = extensions
    return error


def _validation_code(message: str) -> str:
    for marker, code in (
        ("Cannot query field", "undefinedField"),
        ("Unknown argument", "argumentNotAccepted"),
        ("is required, but it was not provided", "missingRequiredArguments"),
        ("Unknown type", "undefinedType"),
        ("Variable", "variableMismatch"),
        ("must have a selection of subfields", "selectionMismatch"),
    ):
        if marker in message:
            return code
    return "GRAPHQL_VALIDATION_FAILED"


def _execution_code(exc: GraphQLError, default: str) -> str:
    original = exc.original_error
    if original is None or isinstance(original, GraphQLError):
        return "BAD_REQUEST" if default != "INVALID_VARIABLE" else default
    return default


def serve(port: int = 0, seed: int = 1, **options: Any) -> Any:
    """Start a Shopify sandbox server (for `syncer sandbox serve` and the demo)."""
    from syncer.sandbox.common import SandboxServer

    return SandboxServer(ShopifySandbox(seed=seed, **options), port=port).start()
