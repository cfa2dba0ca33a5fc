"""The kinds of row in the store's `links` table, each named once.

A link ties a record on one side to its counterpart (or to what syncer remembers of it). Jobs
write some kinds and read kinds other jobs write, so the kind strings live here rather than in
any one job: the fulfilments job reads the orders job's order links, the inventory job reads
the orders job's order links and the products job's product links. The strings are stored in
every state file, so they never change.
"""

from __future__ import annotations

from typing import Final

# Orders job: Shopify order gid -> Unleashed sales order Guid (data: order number, customer,
# what was sent). Read by the fulfilments job (by order number) and the inventory job (sent
# orders whose units are still in flight).
ORDER_LINK: Final = "order"
# Orders job, for an order split over warehouses (orders.warehouse_by_location): one ledger row
# per sales order, keyed "<order gid>|<warehouse code>" -> that sales order's Guid, written
# "sending" before its POST. The order's own "order" row lists them in data.sales_orders.
SALES_ORDER_LINK: Final = "sales_order"
# Orders job: customer email -> Unleashed customer code.
CUSTOMER_LINK: Final = "customer"
# Orders job: Shopify refund gid -> Unleashed free credit note Guid.
CREDIT_NOTE_LINK: Final = "credit_note"
# Products job: SKU -> the Shopify and Unleashed ids and the values last synced. Read by the
# orders job (SKU -> product Guid) and the inventory job (the SKUs syncer manages).
PRODUCT_LINK: Final = "product"
# Inventory job: SKU -> Shopify inventory item gid (a cache of a look-up).
STOCK_ITEM_LINK: Final = "stock_item"
# Inventory job: SKU@WAREHOUSE -> the AvailableQty last planned and written.
STOCK_SEEN_LINK: Final = "stock_seen"
# Inventory job (with inventory.assemblies): Unleashed product code -> its Guid, and whether
# it is an assembled product (a kit with a bill of materials) or a component of one.
ASSEMBLY_LINK: Final = "assembly"
# Fulfilments job: one ledger row per fulfillmentCreate, written before the call.
FULFILLMENT_LINK: Final = "fulfillment"
# Fulfilments job: one row per Unleashed shipment done with (fulfilled or reported).
SHIPMENT_LINK: Final = "shipment"
