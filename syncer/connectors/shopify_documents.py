"""Every GraphQL document the Shopify client sends, as module-level constants.

Keeping them here, and never building documents at run time, lets a test parse and validate
each one against Shopify's real Admin schema (tests/test_shopify_schema.py). Page sizes are
variables so the client can fit each request under Shopify's 1,000-point query cost limit.
"""

from __future__ import annotations

import re

MONEY = "shopMoney { amount currencyCode }"
# With `orders.currency: presentment` the order documents read both halves of each MoneyBag:
# the customer's currency for what is sent, the shop's for comparing after import. Separate
# documents, so shops that send in their own currency do not pay for the extra objects.
MONEY_BOTH = MONEY + " presentmentMoney { amount currencyCode }"


def _with_presentment(document: str) -> str:
    return document.replace(MONEY, MONEY_BOTH)


_ADDRESS_FRAGMENT = """
fragment AddressFields on MailingAddress {
  name firstName lastName company address1 address2 city province provinceCode zip
  country countryCodeV2 phone
}
"""

_LINE_ITEM_FRAGMENT = f"""
fragment LineItemFields on LineItem {{
  id sku name title quantity currentQuantity taxable isGiftCard
  lineItemGroup {{ id title quantity }}
  discountedUnitPriceAfterAllDiscountsSet {{ {MONEY} }}
  taxLines {{ rate title priceSet {{ {MONEY} }} }}
}}
"""

_ORDER_FRAGMENT = (
    f"""
fragment OrderFields on Order {{
  id name createdAt updatedAt processedAt cancelledAt cancelReason
  edited test displayFinancialStatus displayFulfillmentStatus currencyCode taxesIncluded
  presentmentCurrencyCode email phone note
  totalTipReceivedSet {{ {MONEY} }}
  customer {{ id firstName lastName displayName defaultEmailAddress {{ emailAddress }} }}
  shippingAddress {{ ...AddressFields }}
  billingAddress {{ ...AddressFields }}
  currentTotalPriceSet {{ {MONEY} }}
  shippingLines(first: 3) {{
    pageInfo {{ hasNextPage }}
    nodes {{
      id title code isRemoved
      discountedPriceSet {{ {MONEY} }}
      taxLines {{ rate title priceSet {{ {MONEY} }} }}
    }}
  }}
  lineItems(first: $lineItemsFirst) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...LineItemFields }}
  }}
  refunds(first: 10) {{ id createdAt updatedAt }}
}}
"""
    + _ADDRESS_FRAGMENT
    + _LINE_ITEM_FRAGMENT
)

_VARIANT_FRAGMENT = """
fragment VariantFields on ProductVariant {
  id title sku barcode price position updatedAt requiresComponents
  product {
    id title handle descriptionHtml productType status updatedAt variantsCount { count }
  }
  inventoryItem { id tracked measurement { weight { unit value } } }
}
"""

_PRODUCT_FRAGMENT = """
fragment ProductFields on Product {
  id title handle descriptionHtml productType status updatedAt variantsCount { count }
}
"""

SHOP = """
query Shop {
  shop { id name myshopifyDomain currencyCode taxesIncluded }
}
"""

# The cheapest possible call: its reply's throttleStatus tells the bucket size.
SHOP_PROBE = """
query ShopProbe {
  shop { id }
}
"""

ORDERS = (
    """
query Orders($query: String, $first: Int!, $after: String, $lineItemsFirst: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { ...OrderFields }
  }
}
"""
    + _ORDER_FRAGMENT
)

ORDER_LINE_ITEMS = (
    """
query OrderLineItems($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    id
    lineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...LineItemFields }
    }
  }
}
"""
    + _LINE_ITEM_FRAGMENT
)

ORDERS_BY_IDS = (
    """
query OrdersByIds($ids: [ID!]!, $lineItemsFirst: Int!) {
  nodes(ids: $ids) { ... on Order { ...OrderFields } }
}
"""
    + _ORDER_FRAGMENT
)

REFUNDS_BY_IDS = f"""
query RefundsByIds($ids: [ID!]!) {{
  nodes(ids: $ids) {{
    ... on Refund {{
      id createdAt updatedAt note
      order {{ id name }}
      totalRefundedSet {{ {MONEY} }}
      refundLineItems(first: 50) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{
          id quantity restockType restocked
          location {{ id }}
          lineItem {{ id sku title }}
          priceSet {{ {MONEY} }}
          subtotalSet {{ {MONEY} }}
          totalTaxSet {{ {MONEY} }}
        }}
      }}
      refundShippingLines(first: 5) {{
        nodes {{
          id
          shippingLine {{ id title }}
          subtotalAmountSet {{ {MONEY} }}
          taxAmountSet {{ {MONEY} }}
        }}
      }}
    }}
  }}
}}
"""


# With `orders.warehouse_by_location` the order documents also read where each line ships
# from: the fulfilment orders' assigned locations and lines, and a POS order's retail location.
# Separate documents, so shops without the option do not pay the extra cost per order.
_ORDER_LOCATIONS = """
  retailLocation { id }
  fulfillmentOrders(first: 3) {
    pageInfo { hasNextPage }
    nodes {
      status
      assignedLocation { location { id } }
      lineItems(first: $lineItemsFirst) {
        pageInfo { hasNextPage }
        nodes { totalQuantity lineItem { id } }
      }
    }
  }
"""
_REFUNDS_FIELD = "  refunds(first: 10) { id createdAt updatedAt }\n"


def _with_locations(document: str) -> str:
    if _REFUNDS_FIELD not in document:
        raise ValueError("the order document has no refunds field to add the locations after")
    return document.replace(_REFUNDS_FIELD, _REFUNDS_FIELD + _ORDER_LOCATIONS.lstrip("\n"))


ORDERS_PRESENTMENT = _with_presentment(ORDERS)
ORDER_LINE_ITEMS_PRESENTMENT = _with_presentment(ORDER_LINE_ITEMS)
ORDERS_BY_IDS_PRESENTMENT = _with_presentment(ORDERS_BY_IDS)
ORDERS_LOCATIONS = _with_locations(ORDERS)
ORDERS_LOCATIONS_PRESENTMENT = _with_locations(ORDERS_PRESENTMENT)
ORDERS_BY_IDS_LOCATIONS = _with_locations(ORDERS_BY_IDS)
ORDERS_BY_IDS_LOCATIONS_PRESENTMENT = _with_locations(ORDERS_BY_IDS_PRESENTMENT)
REFUNDS_BY_IDS_PRESENTMENT = _with_presentment(REFUNDS_BY_IDS)

LOCATIONS = """
query Locations($first: Int!, $after: String) {
  locations(first: $first, after: $after, sortKey: NAME) {
    pageInfo { hasNextPage endCursor }
    nodes { id name isActive isPrimary fulfillsOnlineOrders }
  }
}
"""

VARIANTS = (
    """
query Variants($query: String, $first: Int!, $after: String) {
  productVariants(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { ...VariantFields }
  }
}
"""
    + _VARIANT_FRAGMENT
)

PRODUCT = (
    """
query Product($id: ID!, $variantsFirst: Int!) {
  product(id: $id) {
    ...ProductFields
    variants(first: $variantsFirst) {
      pageInfo { hasNextPage endCursor }
      nodes { id title sku barcode price inventoryItem { id tracked } }
    }
  }
}
"""
    + _PRODUCT_FRAGMENT
)

PRODUCTS = (
    """
query Products($query: String, $first: Int!, $after: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      ...ProductFields
      variants(first: 1) { nodes { id sku inventoryItem { id } } }
    }
  }
}
"""
    + _PRODUCT_FRAGMENT
)

# One request for an incremental products run: variants and products changed since the
# cursor (aliased searches of the same connections), plus the variants of up to one batch of
# SKUs the run already knows it needs (changed in Unleashed, held, mid-create). Further pages
# of a connection are read with VARIANTS / PRODUCTS from its endCursor, only when needed.
# `changedCount` (one point, no extra request) says how many products the search matches, so
# a large change set (a catalogue import) can be read by a bulk query instead of pages.
PRODUCT_CHANGES = (
    """
query ProductChanges(
  $changed: String!, $skus: String!, $withSkus: Boolean!,
  $variantsFirst: Int!, $productsFirst: Int!, $skusFirst: Int!
) {
  changedVariants: productVariants(first: $variantsFirst, query: $changed, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { ...VariantFields }
  }
  changedCount: productsCount(query: $changed) { count precision }
  changedProducts: products(first: $productsFirst, query: $changed, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      ...ProductFields
      variants(first: 1) { nodes { id sku inventoryItem { id } } }
    }
  }
  skuVariants: productVariants(first: $skusFirst, query: $skus, sortKey: ID)
    @include(if: $withSkus) {
    pageInfo { hasNextPage endCursor }
    nodes { ...VariantFields }
  }
}
"""
    + _VARIANT_FRAGMENT
    + _PRODUCT_FRAGMENT
)

LOCATION_INVENTORY_LEVELS = """
query LocationInventoryLevels($id: ID!, $first: Int!, $after: String) {
  location(id: $id) {
    id
    inventoryLevels(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id updatedAt
        item { id sku tracked variant { requiresComponents } }
        quantities(names: ["available", "on_hand", "committed"]) { name quantity }
      }
    }
  }
}
"""

ITEM_INVENTORY_LEVELS = """
query ItemInventoryLevels($ids: [ID!]!, $levelsFirst: Int!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id sku tracked
      variant { requiresComponents }
      inventoryLevels(first: $levelsFirst) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          location { id }
          quantities(names: ["available", "on_hand", "committed"]) { name quantity }
        }
      }
    }
  }
}
"""

OPEN_ORDER_STOCK = """
query OpenOrderStock($query: String, $first: Int!, $after: String, $lineItemsFirst: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name cancelledAt displayFinancialStatus
      fulfillmentOrders(first: 2) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id status
          assignedLocation { location { id } }
          lineItems(first: $lineItemsFirst) {
            pageInfo { hasNextPage endCursor }
            nodes { sku remainingQuantity }
          }
        }
      }
    }
  }
}
"""

# Sent orders still unallocated in Unleashed count every unit in flight, fulfilled in Shopify or
# not (a POS sale, a 3PL's fulfilment): all lines, where each was assigned or sold.
SENT_ORDER_STOCK = """
query SentOrderStock($ids: [ID!]!, $lineItemsFirst: Int!) {
  nodes(ids: $ids) {
    ... on Order {
      id name cancelledAt displayFinancialStatus
      retailLocation { id }
      lineItems(first: $lineItemsFirst) {
        pageInfo { hasNextPage }
        nodes { id sku currentQuantity }
      }
      fulfillmentOrders(first: 3) {
        pageInfo { hasNextPage }
        nodes {
          status
          assignedLocation { location { id } }
          lineItems(first: $lineItemsFirst) {
            pageInfo { hasNextPage }
            nodes { totalQuantity lineItem { id } }
          }
        }
      }
    }
  }
}
"""

# Shopify's documentation only shows the idempotency key as an inline string literal, so the
# key is written into the document (a UUID: hex digits and dashes, nothing to escape) rather
# than passed as a variable. `inventory_set_quantities(key)` renders it; this sample renders
# one so the schema test validates the exact text the client sends.
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_INVENTORY_SET_QUANTITIES_TEMPLATE = """
mutation InventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%(key)s") {
    inventoryAdjustmentGroup {
      id createdAt reason referenceDocumentUri
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { code field message }
  }
}
"""


def inventory_set_quantities(key: str) -> str:
    """The inventorySetQuantities mutation carrying `key` in its @idempotent directive."""
    if not _UUID.fullmatch(key):
        raise ValueError(f"idempotency key {key!r} must be a UUID")
    return _INVENTORY_SET_QUANTITIES_TEMPLATE % {"key": key}


INVENTORY_SET_QUANTITIES = inventory_set_quantities("00000000-0000-4000-8000-000000000000")

INVENTORY_ACTIVATE = """
mutation InventoryActivate($inventoryItemId: ID!, $locationId: ID!) {
  inventoryActivate(inventoryItemId: $inventoryItemId, locationId: $locationId) {
    inventoryLevel { id location { id } item { id } }
    userErrors { field message }
  }
}
"""

PRODUCT_CREATE = (
    """
mutation ProductCreate($product: ProductCreateInput!) {
  productCreate(product: $product) {
    product {
      ...ProductFields
      variants(first: 1) { nodes { id inventoryItem { id } } }
    }
    userErrors { field message }
  }
}
"""
    + _PRODUCT_FRAGMENT
)

PRODUCT_UPDATE = (
    """
mutation ProductUpdate($product: ProductUpdateInput!) {
  productUpdate(product: $product) {
    product { ...ProductFields }
    userErrors { field message }
  }
}
"""
    + _PRODUCT_FRAGMENT
)

VARIANTS_BULK_UPDATE = (
    """
mutation VariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { ...VariantFields }
    userErrors { code field message }
  }
}
"""
    + _VARIANT_FRAGMENT
)

FULFILLMENT_ORDERS_BY_ORDER_IDS = """
query FulfillmentOrdersByOrderIds($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Order {
      id name
      fulfillmentOrders(first: 5) {
        nodes {
          id status updatedAt
          assignedLocation { name location { id name } }
          lineItems(first: 20) {
            pageInfo { hasNextPage endCursor }
            nodes { id sku totalQuantity remainingQuantity lineItem { id sku } }
          }
        }
      }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation FulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment {
      id name status createdAt totalQuantity
      trackingInfo { company number url }
    }
    userErrors { field message }
  }
}
"""

# -- bulk operations --------------------------------------------------------------------------
# A bulk query is an ordinary query document sent as a string to bulkOperationRunQuery. It
# takes no variables, and Shopify ignores `first` and cursors in it: every connection is read
# whole. It needs 1-5 connections, nested at most two deep, and no top-level node/nodes.
# Connections use edges { node } as Shopify's bulk guide does. The result is JSONL: one object
# per line, nested connection nodes as their own lines with `__parentId` (groupObjects is
# false by default from 2026-01, and the argument is not in the reference SDL, so it is not
# sent).

PRODUCT_VARIANTS_COUNT = """
query ProductVariantsCount {
  productVariantsCount { count precision }
}
"""

# The same fields as the VariantFields fragment (tests/test_shopify_bulk.py compares them), so
# each line projects exactly like a node of VARIANTS.
BULK_VARIANTS = """
{
  productVariants {
    edges {
      node {
        id title sku barcode price position updatedAt requiresComponents
        product {
          id title handle descriptionHtml productType status updatedAt variantsCount { count }
        }
        inventoryItem { id tracked measurement { weight { unit value } } }
      }
    }
  }
}
"""

# Every location, then each of its levels on its own line (`__parentId` = the location). A
# level line carries its item and location inline, so it maps to (sku, location, available)
# without regrouping.
BULK_INVENTORY_LEVELS = """
{
  locations {
    edges {
      node {
        id name isActive
        inventoryLevels {
          edges {
            node {
              id updatedAt
              item { id sku tracked variant { requiresComponents } }
              location { id }
              quantities(names: ["available", "on_hand", "committed"]) { name quantity }
            }
          }
        }
      }
    }
  }
}
"""

_BULK_OPERATION_FIELDS = """
fragment BulkOperationFields on BulkOperation {
  id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt
  completedAt
}
"""

BULK_OPERATION_RUN_QUERY = (
    """
mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { ...BulkOperationFields }
    userErrors { code field message }
  }
}
"""
    + _BULK_OPERATION_FIELDS
)

# Polled by id (node(id:) works in every version; 2026-01+ allows five concurrent bulk
# queries, so currentBulkOperation may name another one).
BULK_OPERATION = (
    """
query BulkOperation($id: ID!) {
  node(id: $id) { ... on BulkOperation { ...BulkOperationFields } }
}
"""
    + _BULK_OPERATION_FIELDS
)

CURRENT_BULK_OPERATION = (
    """
query CurrentBulkOperation {
  currentBulkOperation(type: QUERY) { ...BulkOperationFields }
}
"""
    + _BULK_OPERATION_FIELDS
)

ALL_DOCUMENTS: dict[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper()
    and not name.startswith("_")
    and isinstance(value, str)
    and not name.startswith("MONEY")
}
