"""Mutation root fields: product and variant writes, inventory activation and quantities
(with `@idempotent` replays and compare-and-swap), fulfilments. Every applied write is logged
for tests; rejected input comes back as `userErrors` the way Shopify words them."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from graphql import FieldNode, GraphQLError

from syncer.sandbox.shopify.cost import ast_value
from syncer.sandbox.shopify.model import (
    AdjustmentGroup,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryItem,
    Location,
    Variant,
)
from syncer.sandbox.shopify.values import MAX_INPUT_ARRAY, by_gid, iso, money

if TYPE_CHECKING:
    from syncer.sandbox.shopify.app import ShopifySandbox


# The values Shopify accepts for `reason` on an inventory quantity change; anything else is a
# user error on the mutation.
INVENTORY_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)


class Mutations:
    """The mutation root's fields over the shop's state."""

    app: ShopifySandbox

    def _log(self, mutation: str, arguments: dict[str, Any], **extra: Any) -> None:
        self.app.writes.append(
            {"mutation": mutation, "input": _plain(arguments), "at": iso(self.app.now()), **extra}
        )

    def gql_productCreate(self, info: Any, product: dict[str, Any] | None = None, **_: Any) -> Any:
        app = self.app
        product = product or {}
        title = (product.get("title") or "").strip()
        if not title:
            return {"product": None, "userErrors": [user_error(["title"], "Title can't be blank")]}
        at = app.now()
        handle = product.get("handle") or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        if any(p.handle == handle for p in app.products.values()):
            handle = f"{handle}-{app._counters.get('Product', 0) + 1}"
        record = app._new_product(title, handle, at, product.get("productType") or "")
        record.description_html = product.get("descriptionHtml") or ""
        record.vendor = product.get("vendor") or record.vendor
        record.status = product.get("status") or "ACTIVE"
        record.tags = list(product.get("tags") or [])
        variant = app._new_variant(record, "", "Default Title", at)
        primary = next(loc for loc in app.locations.values() if loc.is_primary)
        app._level(variant.inventory_item, primary, at)
        self._log("productCreate", {"product": product}, id=record.id)
        return {"product": record, "userErrors": []}

    def gql_productUpdate(self, info: Any, product: dict[str, Any] | None = None, **_: Any) -> Any:
        app = self.app
        product = product or {}
        record = by_gid(product.get("id"), "Product", app.products)
        if record is None:
            return {"product": None, "userErrors": [user_error(["id"], "Product does not exist")]}
        if "title" in product and not (product["title"] or "").strip():
            return {"product": None, "userErrors": [user_error(["title"], "Title can't be blank")]}
        for key, attr in (
            ("title", "title"),
            ("handle", "handle"),
            ("descriptionHtml", "description_html"),
            ("productType", "product_type"),
            ("vendor", "vendor"),
            ("status", "status"),
            ("tags", "tags"),
        ):
            if key in product and product[key] is not None:
                setattr(record, attr, product[key])
        record.updated_at = app.now()
        self._log("productUpdate", {"product": product}, id=record.id)
        return {"product": record, "userErrors": []}

    def gql_productVariantsBulkUpdate(
        self,
        info: Any,
        productId: str,
        variants: list[dict[str, Any]],
        allowPartialUpdates: bool = False,
    ) -> Any:
        app = self.app
        record = by_gid(productId, "Product", app.products)
        if record is None:
            return {
                "product": None,
                "productVariants": None,
                "userErrors": [
                    bulk_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
                ],
            }
        if len(variants) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(variants)} is greater than the maximum allowed "
                f"of {MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        errors: list[dict[str, Any]] = []
        plan: list[tuple[Variant, dict[str, Any]]] = []
        for index, change in enumerate(variants):
            path = ["variants", str(index)]
            if not change.get("id"):
                errors.append(
                    bulk_error(
                        [*path, "id"],
                        "Product variant is missing ID attribute",
                        "PRODUCT_VARIANT_ID_MISSING",
                    )
                )
                continue
            variant = by_gid(change["id"], "ProductVariant", app.variants)
            if variant is None or variant.product is not record:
                errors.append(
                    bulk_error(
                        [*path, "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
                continue
            if change.get("price") is not None and Decimal(str(change["price"])) < 0:
                errors.append(
                    bulk_error(
                        [*path, "price"],
                        "Price must be greater than or equal to 0",
                        "GREATER_THAN_OR_EQUAL_TO",
                    )
                )
                continue
            plan.append((variant, change))
        if errors and not allowPartialUpdates:
            return {"product": record, "productVariants": None, "userErrors": errors}
        at = app.now()
        for variant, change in plan:
            if change.get("price") is not None:
                variant.price = money(Decimal(str(change["price"])))
            if "compareAtPrice" in change:
                value = change["compareAtPrice"]
                variant.compare_at_price = money(Decimal(str(value))) if value else None
            if "barcode" in change:
                variant.barcode = change["barcode"] or None
            if change.get("taxable") is not None:
                variant.taxable = change["taxable"]
            item_input = change.get("inventoryItem") or {}
            item = variant.inventory_item
            if "sku" in item_input:
                app._set_sku(variant, item_input["sku"] or "")
            if item_input.get("tracked") is not None:
                item.tracked = item_input["tracked"]
            if item_input.get("requiresShipping") is not None:
                item.requires_shipping = item_input["requiresShipping"]
            weight = (item_input.get("measurement") or {}).get("weight")
            if weight:
                item.weight_unit = weight["unit"]
                item.weight_value = Decimal(str(weight["value"]))
            variant.updated_at = item.updated_at = at
        record.updated_at = at
        self._log(
            "productVariantsBulkUpdate",
            {"productId": productId, "variants": variants},
            id=record.id,
        )
        return {
            "product": record,
            "productVariants": [v for v, _ in plan],
            "userErrors": errors,
        }

    def gql_inventoryActivate(
        self,
        info: Any,
        inventoryItemId: str,
        locationId: str,
        available: int | None = None,
    ) -> Any:
        app = self.app
        item = by_gid(inventoryItemId, "InventoryItem", app.items)
        loc = by_gid(locationId, "Location", app.locations)
        if item is None or loc is None:
            field_name = "inventoryItemId" if item is None else "locationId"
            return {
                "inventoryLevel": None,
                "userErrors": [user_error([field_name], "The record could not be found")],
            }
        at = app.now()
        existed = loc.num in item.levels
        level = app._level(item, loc, at)
        if available is not None and not existed:
            level.change("available", available, at)
            level.change("on_hand", available, at)
        if not existed:
            self._log(
                "inventoryActivate",
                {
                    "inventoryItemId": inventoryItemId,
                    "locationId": locationId,
                    "available": available,
                },
            )
        return {"inventoryLevel": level, "userErrors": []}

    def gql_inventorySetQuantities(self, info: Any, input: dict[str, Any]) -> Any:
        app = self.app
        key = idempotency_key(info.field_nodes[0], app._variables)
        assert key is not None  # checked before execution
        fingerprint = json.dumps(_plain(input), sort_keys=True)
        previous = app.idempotency.get(key)
        if previous is not None:
            if previous[0] != fingerprint:
                return {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [
                        inv_error(
                            ["input"],
                            "The same idempotency key was used with different parameters.",
                            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        )
                    ],
                }
            return previous[1]
        result = self._set_quantities(input)
        app.idempotency[key] = (fingerprint, result)
        if result["inventoryAdjustmentGroup"] is not None:
            self._log("inventorySetQuantities", {"input": input}, idempotency_key=key)
        return result

    def _set_quantities(self, data: dict[str, Any]) -> dict[str, Any]:
        app = self.app
        quantities = data["quantities"]
        if len(quantities) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than the maximum allowed "
                f"of {MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        for index, quantity in enumerate(quantities):
            if "changeFromQuantity" not in quantity:
                raise GraphQLError(
                    f"InventoryQuantityInput.changeFromQuantity is required (input.quantities."
                    f"{index}); pass null to skip the compare-and-swap check.",
                    extensions={"code": "BAD_REQUEST"},
                )
        errors: list[dict[str, Any]] = []
        name = data["name"]
        if name not in ("available", "on_hand"):
            errors.append(
                inv_error(
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if data["reason"] not in INVENTORY_REASONS:
            errors.append(
                inv_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
            )
        uri = data.get("referenceDocumentUri")
        if uri is not None and not re.match(r"^[a-z][a-z0-9+.-]*://", uri):
            errors.append(
                inv_error(
                    ["input", "referenceDocumentUri"],
                    "The reference document URI is invalid.",
                    "INVALID_REFERENCE_DOCUMENT",
                )
            )
        plan: list[tuple[InventoryItem, Location, int]] = []
        seen: set[tuple[int, int]] = set()
        for index, quantity in enumerate(quantities):
            path = ["input", "quantities", str(index)]
            item = by_gid(quantity["inventoryItemId"], "InventoryItem", app.items)
            loc = by_gid(quantity["locationId"], "Location", app.locations)
            if item is None:
                errors.append(
                    inv_error(
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                        "INVALID_INVENTORY_ITEM",
                    )
                )
                continue
            if loc is None:
                errors.append(
                    inv_error(
                        [*path, "locationId"],
                        "The specified location could not be found.",
                        "INVALID_LOCATION",
                    )
                )
                continue
            if (item.num, loc.num) in seen:
                errors.append(
                    inv_error(
                        [*path],
                        "The combination of inventoryItemId and locationId must be unique.",
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    )
                )
                continue
            seen.add((item.num, loc.num))
            if item.non_mutable or (item.variant is not None and item.variant.requires_components):
                # A bundle parent's stock is derived from its components; Shopify refuses the
                # whole call and names the row.
                errors.append(
                    inv_error(
                        [*path, "inventoryItemId"],
                        "The specified inventory item is not allowed to be adjusted via API. "
                        "Example: if the inventory item is a parent bundle.",
                        "NON_MUTABLE_INVENTORY_ITEM",
                    )
                )
                continue
            if quantity["quantity"] > 1_000_000_000:
                errors.append(
                    inv_error(
                        [*path, "quantity"],
                        "The quantity can't be higher than 1,000,000,000.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    )
                )
                continue
            level = item.levels.get(loc.num)
            current = level.quantities.get(name, 0) if level else 0
            expected = quantity.get("changeFromQuantity")
            if expected is not None and expected != current and name in ("available", "on_hand"):
                errors.append(
                    inv_error(
                        [*path, "changeFromQuantity"],
                        f"The specified compare quantity does not match the current quantity "
                        f"({current}).",
                        "CHANGE_FROM_QUANTITY_STALE",
                    )
                )
                continue
            plan.append((item, loc, quantity["quantity"]))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        at = app.now()
        group = AdjustmentGroup(app._next("InventoryAdjustmentGroup"), at, data["reason"], uri)
        other = "on_hand" if name == "available" else "available"
        for item, loc, target in plan:
            level = app._level(item, loc, at)
            delta = target - level.quantities.get(name, 0)
            if not delta:
                continue
            level.change(name, delta, at)
            level.change(other, delta, at)
            for changed in (name, other):
                group.change_list.append(
                    {
                        "name": changed,
                        "delta": delta,
                        "quantityAfterChange": level.quantities[changed],
                        "ledgerDocumentUri": None,
                        "item": item,
                        "location": loc,
                    }
                )
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def gql_fulfillmentCreate(
        self, info: Any, fulfillment: dict[str, Any], message: str | None = None
    ) -> Any:
        app = self.app
        groups = fulfillment["lineItemsByFulfillmentOrder"]
        errors: list[dict[str, Any]] = []
        plan: list[tuple[FulfillmentOrderLineItem, int]] = []
        orders: set[int] = set()
        locations: set[int] = set()
        fos: list[FulfillmentOrder] = []
        for index, group in enumerate(groups):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            fo = by_gid(group["fulfillmentOrderId"], "FulfillmentOrder", app.fulfillment_orders)
            if fo is None:
                errors.append(
                    user_error([*path, "fulfillmentOrderId"], "Fulfillment order does not exist.")
                )
                continue
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                errors.append(
                    user_error(
                        [*path, "fulfillmentOrderId"],
                        f"Fulfillment order {fo.id} has an unfulfillable status= "
                        f"{fo.status.lower()}.",
                    )
                )
                continue
            fos.append(fo)
            orders.add(fo.order.num)
            locations.add(fo.location.num)
            wanted = group.get("fulfillmentOrderLineItems")
            if wanted is None:
                plan.extend((li, li.remaining_quantity) for li in fo.lines if li.remaining_quantity)
                continue
            for line_index, requested in enumerate(wanted):
                line = next((li for li in fo.lines if li.id == requested["id"]), None)
                line_path = [*path, "fulfillmentOrderLineItems", str(line_index)]
                if line is None:
                    errors.append(
                        user_error(
                            [*line_path, "id"], "Fulfillment order line item does not exist."
                        )
                    )
                elif requested["quantity"] <= 0 or requested["quantity"] > line.remaining_quantity:
                    errors.append(
                        user_error(
                            [*line_path, "quantity"],
                            "Invalid fulfillment order line item quantity requested.",
                        )
                    )
                else:
                    plan.append((line, requested["quantity"]))
        if len(orders) > 1 or len(locations) > 1:
            errors.append(
                user_error(
                    ["fulfillment"],
                    "All fulfillment orders must belong to the "
                    "same order and be assigned to the same location.",
                )
            )
        if not errors and not plan:
            errors.append(user_error(["fulfillment"], "Nothing left to fulfill."))
        if errors:
            return {"fulfillment": None, "userErrors": errors}
        at = app.now()
        order = fos[0].order
        record = Fulfillment(app._next("Fulfillment"), at, order, fos[0].location)
        tracking = fulfillment.get("trackingInfo")
        if tracking:
            record.tracking.append({k: tracking.get(k) for k in ("company", "number", "url")})
        for line, quantity in plan:
            line.remaining_quantity -= quantity
            line.line_item.fulfilled += quantity
            record.total_quantity += quantity
            variant = line.line_item.variant
            if variant is not None and variant.inventory_item.tracked:
                level = app._level(variant.inventory_item, fos[0].location, at)
                level.change("committed", -quantity, at)
                level.change("on_hand", -quantity, at)
        for fo in fos:
            fo.status = (
                "CLOSED" if all(li.remaining_quantity == 0 for li in fo.lines) else ("IN_PROGRESS")
            )
            fo.updated_at = at
        order.fulfillments.append(record)
        app.fulfillments[record.num] = record
        order.updated_at = at
        self._log(
            "fulfillmentCreate", {"fulfillment": fulfillment, "message": message}, id=record.id
        )
        return {"fulfillment": record, "userErrors": []}


def idempotency_key(node: FieldNode, variables: dict[str, Any]) -> str | None:
    for directive in node.directives or ():
        if directive.name.value == "idempotent":
            for arg in directive.arguments or ():
                if arg.name.value == "key":
                    value = ast_value(arg.value, variables)
                    return str(value) if value else None
    return None


def user_error(path: list[str], message: str) -> dict[str, Any]:
    return {"field": path, "message": message}


def bulk_error(path: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": path, "message": message, "code": code}


inv_error = bulk_error


def _plain(value: Any) -> Any:
    """Coerced GraphQL input as JSON-ready data (for logs and idempotency fingerprints)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
