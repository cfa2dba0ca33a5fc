"""The products job's writers: how a planned write reaches the non-master side.

`ShopifyWriter` (master: unleashed) sends product-level fields with `productUpdate` and
variant fields with one `productVariantsBulkUpdate` per product; it creates products
ledger-first (the link is marked "creating" with a deterministic handle before
`productCreate`), so a crash or a lost reply is resolved by finding the product, never by
creating it twice, and stocks a new product at every mapped location. `UnleashedWriter`
(master: shopify) sends one `POST /Products/{guid}` per product with only the changed fields,
under a deterministic Guid for a create, so a repeat is an update.

What each payload holds is decided in products/projection.py, beside the projection from
the same API; here are the calls, their order, the ledger and the run's bookkeeping.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from syncer.errors import ConfigError, DataError, OutcomeUnknown
from syncer.inventory.locations import resolve_locations
from syncer.links import PRODUCT_LINK
from syncer.products.planner import ProductWrite
from syncer.products.projection import (
    PRODUCT_LEVEL_FIELDS,
    Side,
    shopify_product_fields,
    shopify_variant_input,
    unleashed_product_body,
)

if TYPE_CHECKING:
    from syncer.products.job import ProductsRun

_NAMESPACE = uuid.UUID("0b8f6f0e-3f9c-4a53-9d7e-5c2a1e6b7d42")
_SLUG = re.compile(r"[^a-z0-9]+")


def unleashed_guid(shop: str, sku: str) -> str:
    """The Guid of an Unleashed product syncer creates: stable per shop and SKU."""
    return str(uuid.uuid5(_NAMESPACE, f"{shop}:product:{sku}"))


def planned_handle(title: str, sku: str) -> str:
    """A deterministic Shopify handle for a product syncer creates, so a create whose reply
    was lost can be found again (`handle:<this>`)."""
    slug = _SLUG.sub("-", f"{title} {sku}".lower()).strip("-")
    return slug[:200] or _SLUG.sub("-", sku.lower()).strip("-")


def guard_target(master: Side, writes: Iterable[ProductWrite]) -> None:
    """Nothing is ever written to the master side: refuse the whole plan before any request."""
    for write in writes:
        if write.side == master:
            raise RuntimeError(
                f"refusing to write {write.sku} to {write.side}: it is the master side"
            )


class ShopifyWriter:
    """master: unleashed. Product-level fields by productUpdate (one per product), variant
    fields by one productVariantsBulkUpdate per product, creates ledger-first."""

    side: Side = "shopify"

    def __init__(self, run: ProductsRun) -> None:
        if run.master == self.side:
            raise RuntimeError("the Shopify writer cannot run when Shopify is the master")
        self.run = run
        self.client = run.ctx.shopify
        self.failed: dict[str, str] = {}
        # sku -> where a product created this run was stocked (for its report item).
        self.stocked: dict[str, dict[str, Any]] = {}
        # warehouse code -> location gid, resolved once, on the run's first create.
        self.locations: dict[str, str] | None = None
        self.stock_problem = ""

    def variant_input(
        self, variant_id: str, changes: Mapping[str, tuple[Any, Any]]
    ) -> dict[str, Any]:
        return shopify_variant_input(
            variant_id,
            changes,
            taxes_included=self.run.taxes_included,
            tax_rate=self.run.cfg.tax_rate,
        )

    def apply(self, writes: Sequence[ProductWrite]) -> dict[str, str]:
        by_product: dict[str, list[ProductWrite]] = {}
        for write in writes:
            if write.kind == "create":
                self.create(write)
                self.run.ctx.progress.advance()
            else:
                by_product.setdefault(write.ids["product_id"], []).append(write)
        for product_id, group in by_product.items():
            self.update(product_id, group)
            self.run.ctx.progress.advance(len(group))
        return self.failed

    def update(self, product_id: str, group: Sequence[ProductWrite]) -> None:
        skus = [w.sku for w in group]
        try:
            fields: dict[str, Any] = {}
            for write in group:
                fields.update(shopify_product_fields(write.changes))
            if fields:
                product = self.client.product_update(product_id, **fields)
                for sku in skus:
                    self.run.note_stamps(sku, product=product.get("updatedAt"))
            variants = [
                self.variant_input(w.ids["variant_id"], w.changes)
                for w in group
                if set(w.changes) - PRODUCT_LEVEL_FIELDS - {"status"}
            ]
            if variants:
                self.note_written(self.client.variants_bulk_update(product_id, variants))
        except (DataError, OutcomeUnknown) as exc:
            for sku in skus:
                self.failed[sku] = str(exc)

    def note_written(self, variants: Iterable[Mapping[str, Any]]) -> None:
        """Keep the stamps Shopify gave the records just written, so the next run does not
        take its own writes for changes."""
        for variant in variants:
            if variant.get("sku"):
                self.run.note_stamps(
                    str(variant["sku"]),
                    variant=variant.get("updatedAt"),
                    product=(variant.get("product") or {}).get("updatedAt"),
                )

    def create(self, write: ProductWrite) -> None:
        """productCreate then its default variant, with the ledger marked before and after
        productCreate so no crash or lost reply creates the product twice."""
        run, sku, changes = self.run, write.sku, write.changes
        title = str(changes["title"][1])
        link = run.links.get(sku)
        resumed = link is not None and link["status"] == "creating"
        ledger: dict[str, Any] = dict(link["data"]) if link else {}
        creating = dict(ledger.get("creating") or {})
        creating.setdefault("handle", planned_handle(title, sku))
        ledger["creating"] = creating
        if write.master_ids.get("guid"):
            ledger["unleashed_guid"] = write.master_ids["guid"]
        store = run.store
        remote = ledger.get("unleashed_guid")
        try:
            product = self.find_started(creating) if resumed else None
            if product is None:
                store.put_link(PRODUCT_LINK, sku, status="creating", remote_id=remote, data=ledger)
                try:
                    product = self.client.product_create(
                        title=title,
                        description_html=_new(changes, "description"),
                        product_type=_new(changes, "product_type"),
                        handle=str(creating["handle"]),
                    )
                except OutcomeUnknown:
                    product = self.find_started(creating)
                    if product is None:
                        raise
                creating["product_id"] = product["id"]
                store.put_link(PRODUCT_LINK, sku, status="creating", remote_id=remote, data=ledger)
            variant = ((product.get("variants") or {}).get("nodes") or [None])[0]
            if not variant:
                raise DataError(
                    f"Shopify product {product['id']} for {sku} has no variant", api="shopify"
                )
            body = self.variant_input(variant["id"], changes)
            item = dict(body.get("inventoryItem") or {})
            item.update(sku=sku, tracked=True)
            body["inventoryItem"] = item
            self.note_written(self.client.variants_bulk_update(product["id"], [body]))
        except (DataError, OutcomeUnknown) as exc:
            self.failed[sku] = str(exc)
            return
        item_id = (variant.get("inventoryItem") or {}).get("id")
        run.shopify_ids[sku] = {
            "product_id": product["id"],
            "variant_id": variant["id"],
            "inventory_item_id": item_id,
        }
        if remote:
            run.unleashed_guids[sku] = remote
        if item_id:
            self.stocked[sku] = self.stock(str(item_id))

    def stock(self, inventory_item_id: str) -> dict[str, Any]:
        """Activate a new product's item at every location `inventory.locations` maps (Shopify
        stocks it only at the primary one), so the inventory job can set its stock there.
        Returns what the create item's detail records: locations activated, or why not."""
        inventory = self.run.ctx.config.inventory
        if not inventory.enabled or not inventory.locations:
            return {}
        if self.locations is None:
            try:
                self.locations = resolve_locations(inventory.locations, self.client.locations())
            except ConfigError as exc:
                self.locations = {}
                self.stock_problem = str(exc)
        if self.stock_problem:
            return {"stocked_at": [], "stock_error": self.stock_problem}
        stocked: list[str] = []
        errors: list[str] = []
        for code, location_id in sorted(self.locations.items()):
            try:
                self.client.inventory_activate(inventory_item_id, location_id)
            except (DataError, OutcomeUnknown) as exc:
                errors.append(f"{code}: {exc}")
            else:
                stocked.append(code)
        detail: dict[str, Any] = {"stocked_at": stocked}
        if errors:
            detail["stock_error"] = "; ".join(errors)
        return detail

    def find_started(self, creating: Mapping[str, Any]) -> dict[str, Any] | None:
        """The product an earlier attempt created: by the id stored after productCreate
        answered, else by the planned handle (the reply was lost)."""
        if creating.get("product_id"):
            product = self.client.product(str(creating["product_id"]))
            if product is not None:
                return product
        handle = str(creating["handle"])
        for product in self.client.iter_products(f"handle:{handle}"):
            if product.get("handle") == handle:
                return dict(product)
        return None


def _new(changes: Mapping[str, tuple[Any, Any]], name: str) -> Any:
    return changes[name][1] if name in changes else None


class UnleashedWriter:
    """master: shopify. One `POST /Products/{guid}` per product with ProductCode and only the
    changed fields; the Guid is the existing product's, or uuid5(shop, sku) for a create."""

    side: Side = "unleashed"

    def __init__(self, run: ProductsRun) -> None:
        if run.master == self.side:
            raise RuntimeError("the Unleashed writer cannot run when Unleashed is the master")
        self.run = run
        self.client = run.ctx.unleashed
        self.failed: dict[str, str] = {}

    def body(self, write: ProductWrite) -> dict[str, Any]:
        return unleashed_product_body(
            write.sku,
            write.changes,
            price_tier=self.run.cfg.price_tier,
            tier_name=self.run.tier_names.get(write.sku),
        )

    def apply(self, writes: Sequence[ProductWrite]) -> dict[str, str]:
        run = self.run
        for write in writes:
            guid = write.ids.get("guid") or unleashed_guid(run.shop, write.sku)
            try:
                saved = self.client.upsert_product(guid, self.body(write))
            except (DataError, OutcomeUnknown) as exc:
                self.failed[write.sku] = str(exc)
            else:
                run.unleashed_guids[write.sku] = guid
                # The read stamp is stale now: keep the new one, or none (re-read next run).
                run.stamps.get(write.sku, {}).pop("unleashed", None)
                run.note_stamps(write.sku, unleashed=saved.get("LastModifiedOn"))
            run.ctx.progress.advance()
        return self.failed
