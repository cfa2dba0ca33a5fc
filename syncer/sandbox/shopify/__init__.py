"""A local Shopify Admin GraphQL API (2026-10) for the demo, the tests and the benchmarks.

Documents are parsed, validated and executed with graphql-core against `shopify_schema.graphql`,
a faithful subset of Shopify's Admin schema. Around the executor sits what the real API does
and the client must cope with: access tokens (static or client-credentials, with expiry),
API-version fall-forward, query cost with a leaky bucket per token and `THROTTLED` replies,
cursor pagination, the search syntax in `query:` arguments, and the 2026-04+ inventory rules
(`@idempotent` required, `changeFromQuantity` required, compare-and-swap).

Where to change one behaviour:
- `app.py`: HTTP, tokens, API versions, the GraphQL endpoint's order of checks, THROTTLED
  replies, bulk result files, `/_control/shopify/...`.
- `cost.py`: requested and actual query cost, the bucket each token draws on.
- `schema.py`: the served schema and scalar formats.
- `resolvers.py` (how fields resolve), `queries.py` and `mutations.py` (the root fields).
- `model.py`: the records and what each field of them reports.
- `shop.py`: the shop's state, seeding, and the Python control API tests use.
- `paging.py`: cursors and page limits; `search.py`: the `query:` search syntax.
- `bulk.py`: bulk query operations and their JSONL results.
- `values.py`: gids, money and timestamps as Shopify writes them.
"""

from syncer.sandbox.shopify.app import (
    INVALID_TOKEN,
    RATE_LIMIT_DOCS,
    SUPPORTED_VERSIONS,
    GraphQLFailure,
    ShopifySandbox,
    Token,
    serve,
)
from syncer.sandbox.shopify.cost import MAX_QUERY_COST, Bucket, CostCalculator
from syncer.sandbox.shopify.model import (
    AdjustmentGroup,
    Customer,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    Node,
    Order,
    Product,
    Refund,
    RefundLineItem,
    RefundShippingLine,
    ShippingLine,
    Variant,
)
from syncer.sandbox.shopify.mutations import INVENTORY_REASONS
from syncer.sandbox.shopify.paging import MAX_PAGE_SIZE
from syncer.sandbox.shopify.resolvers import Root
from syncer.sandbox.shopify.schema import SCHEMA_PATH, served_schema
from syncer.sandbox.shopify.search import Term, parse_search
from syncer.sandbox.shopify.shop import Shop
from syncer.sandbox.shopify.values import MAX_INPUT_ARRAY, gid, parse_gid

__all__ = [
    "INVALID_TOKEN",
    "INVENTORY_REASONS",
    "MAX_INPUT_ARRAY",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "RATE_LIMIT_DOCS",
    "SCHEMA_PATH",
    "SUPPORTED_VERSIONS",
    "AdjustmentGroup",
    "Bucket",
    "CostCalculator",
    "Customer",
    "Fulfillment",
    "FulfillmentOrder",
    "FulfillmentOrderLineItem",
    "GraphQLFailure",
    "InventoryItem",
    "InventoryLevel",
    "LineItem",
    "Location",
    "Node",
    "Order",
    "Product",
    "Refund",
    "RefundLineItem",
    "RefundShippingLine",
    "Root",
    "ShippingLine",
    "Shop",
    "ShopifySandbox",
    "Term",
    "Token",
    "Variant",
    "gid",
    "parse_gid",
    "parse_search",
    "serve",
    "served_schema",
]
