"""Query root fields: single records by gid, the searched and paged connections, counts and
the current bulk operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from syncer.sandbox.shopify.model import InventoryItem, Location, Order, Product, Variant
from syncer.sandbox.shopify.paging import sort_key_value, sorted_connection
from syncer.sandbox.shopify.search import (
    ITEM_FIELDS,
    LOCATION_FIELDS,
    ORDER_FIELDS,
    PRODUCT_FIELDS,
    VARIANT_FIELDS,
    Term,
    matches,
    order_status_match,
    parse_search,
)
from syncer.sandbox.shopify.values import MAX_INPUT_ARRAY, by_gid, parse_gid

if TYPE_CHECKING:
    from syncer.sandbox.shopify.app import ShopifySandbox


COUNT_LIMIT = 10_000  # `*Count` fields stop counting here unless given a higher limit


class Queries:
    """The query root's fields over the shop's state."""

    app: ShopifySandbox

    def gql_shop(self, info: Any) -> dict[str, Any]:
        return self.app.shop

    def gql_order(self, info: Any, id: str) -> Order | None:
        return by_gid(id, "Order", self.app.orders)

    def gql_product(self, info: Any, id: str) -> Product | None:
        return by_gid(id, "Product", self.app.products)

    def gql_productVariant(self, info: Any, id: str) -> Variant | None:
        return by_gid(id, "ProductVariant", self.app.variants)

    def gql_inventoryItem(self, info: Any, id: str) -> InventoryItem | None:
        return by_gid(id, "InventoryItem", self.app.items)

    def gql_location(self, info: Any, id: str | None = None) -> Location | None:
        if id is None:
            return next((loc for loc in self.app.locations.values() if loc.is_primary), None)
        return by_gid(id, "Location", self.app.locations)

    def gql_nodes(self, info: Any, ids: list[str]) -> list[Any]:
        if len(ids) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(ids)} is greater than the maximum allowed of "
                f"{MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        tables: dict[str, dict[int, Any]] = {
            "Order": self.app.orders,
            "Product": self.app.products,
            "ProductVariant": self.app.variants,
            "InventoryItem": self.app.items,
            "Location": self.app.locations,
            "Refund": self.app.refunds,
            "FulfillmentOrder": self.app.fulfillment_orders,
            "LineItem": self.app.line_items,
            "Fulfillment": self.app.fulfillments,
        }
        found = []
        for value in ids:
            parsed = parse_gid(value)
            table = tables.get(parsed[0]) if parsed else None
            found.append(table.get(parsed[1]) if table is not None and parsed else None)
        return found

    def gql_orders(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        status = [t for g in groups for t in g if t.field == "status"]
        others = [[t for t in g if t.field != "status"] for g in groups]
        others = [g for g in others if g]
        items = [
            o
            for o in self.app.orders.values()
            if matches(o, others, ORDER_FIELDS)
            and all(order_status_match(o, t.value) != t.negate for t in status)
        ]
        sort = args.get("sortKey") or "PROCESSED_AT"
        getters = {
            "UPDATED_AT": lambda o: o.updated_at,
            "CREATED_AT": lambda o: o.created_at,
            "PROCESSED_AT": lambda o: o.processed_at,
            "ORDER_NUMBER": lambda o: o.number,
            "ID": lambda o: o.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda o: sort_key_value(getter(o)), sort)

    def gql_products(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v.product) or self.app.products.values()
        items = [p for p in set(pool) if matches(p, groups, PRODUCT_FIELDS)]
        sort = args.get("sortKey") or "ID"
        getters = {
            "UPDATED_AT": lambda p: p.updated_at,
            "CREATED_AT": lambda p: p.created_at,
            "TITLE": lambda p: p.title,
            "PRODUCT_TYPE": lambda p: p.product_type,
            "ID": lambda p: p.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda p: sort_key_value(getter(p)), sort)

    def _sku_pool(self, groups: list[list[Term]], pick: Any) -> list[Any] | None:
        """Candidates from the SKU index when one AND-group is all exact `sku:` terms."""
        for group in groups:
            if group and all(t.field == "sku" and t.op == ":" and not t.negate for t in group):
                found: list[Any] = []
                for term in group:
                    found.extend(pick(v) for v in self.app.by_sku.get(term.value, []))
                return found
        return None

    def gql_productVariants(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v)
        if pool is None:
            pool = list(self.app.variants.values())
        items = [v for v in dict.fromkeys(pool) if matches(v, groups, VARIANT_FIELDS)]
        sort = args.get("sortKey") or "ID"
        getters = {
            "SKU": lambda v: v.sku,
            "TITLE": lambda v: v.title,
            "POSITION": lambda v: v.position,
            "ID": lambda v: v.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda v: sort_key_value(getter(v)), sort)

    def gql_inventoryItems(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v.inventory_item)
        if pool is None:
            pool = list(self.app.items.values())
        items = [i for i in dict.fromkeys(pool) if matches(i, groups, ITEM_FIELDS)]
        return sorted_connection(items, args, lambda i: i.num, "ID")

    def gql_locations(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        items = [
            loc
            for loc in self.app.locations.values()
            if matches(loc, groups, LOCATION_FIELDS)
            and (loc.is_active or args.get("includeInactive"))
        ]
        sort = args.get("sortKey") or "NAME"
        if sort == "NAME":
            return sorted_connection(items, args, lambda loc: loc.name, sort)
        return sorted_connection(items, args, lambda loc: loc.num, "ID")

    def gql_node(self, info: Any, id: str) -> Any:
        parsed = parse_gid(id)
        if parsed and parsed[0] == "BulkOperation":
            return self.app.bulk_operations.get(parsed[1])
        return self.gql_nodes(info, [id])[0]

    def gql_productVariantsCount(self, info: Any, query: str | None = None) -> dict[str, Any]:
        """Shopify counts up to 10,000 by default and says AT_LEAST beyond."""
        groups = parse_search(query)
        pool = self._sku_pool(groups, lambda v: v)
        if pool is None:
            pool = list(self.app.variants.values())
        count = sum(1 for v in dict.fromkeys(pool) if matches(v, groups, VARIANT_FIELDS))
        if count > COUNT_LIMIT:
            return {"count": COUNT_LIMIT, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def gql_productsCount(
        self, info: Any, query: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Products matching `query`, counted up to `limit` (10,000 by default), AT_LEAST
        beyond it."""
        groups = parse_search(query)
        pool = self._sku_pool(groups, lambda v: v.product) or self.app.products.values()
        count = sum(1 for p in set(pool) if matches(p, groups, PRODUCT_FIELDS))
        cap = COUNT_LIMIT if limit is None else max(0, limit)
        if count > cap:
            return {"count": cap, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def gql_currentBulkOperation(self, info: Any, type: str = "QUERY") -> Any:
        return self.app.current_bulk_operation(type)

    def gql_bulkOperationRunQuery(self, info: Any, query: str) -> dict[str, Any]:
        return self.app.start_bulk_query(query)
