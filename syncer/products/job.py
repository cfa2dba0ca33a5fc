"""`sync products`: keep product data in step in the direction `master:` sets.

One run:
1. reads what changed on BOTH sides since their cursors (one JSON cursor holds both), or both
   whole catalogues with `--full` or on the first run;
2. fetches, in batches, both sides' current records for the changed SKUs (plus SKUs held,
   failed or left mid-create by earlier runs), so the three-way planner sees each SKU whole;
3. plans (products/planner.py, pure), applies the safety stop, then writes only the changed
   fields to the non-master side (products/writers.py), and stores the values synced per SKU
   in the product links.

Creates in Shopify are ledger-first: the link is marked "creating" with a deterministic handle
before `productCreate`, and the product id is stored as soon as Shopify answers, so a crash or
a lost reply is resolved next run by looking the product up, never by creating it twice.
Unleashed creates use a deterministic Guid (uuid5 of shop and SKU), so a repeat is an update.
A product created in Shopify is then stocked (inventoryActivate) at every location mapped in
`inventory.locations` when inventory is enabled, so the inventory job can set its stock there.

Requests: a run with nothing to do costs Shopify 2 requests and Unleashed 1 (2 with held
SKUs). Shopify: `shop` first (taxesIncluded, and the cost bucket's size, which development
stores keep small), then ONE request (`PRODUCT_CHANGES`) holding both `updated_at` searches
(variants and products, aliased) and the `sku:` look-up of the SKUs already known to be
needed (changed in Unleashed, held, failed, mid-create); further pages and look-ups follow
only when there are real changes. taxesIncluded is read every run, not cached, so a changed
shop setting can never price a run wrongly.

Cursors follow each API's own clock, never this machine's: Shopify's is the newest `updatedAt`
its searches returned, Unleashed's the newest `LastModifiedOn`; each only moves forward and
is re-read with an overlap (5 minutes, one day for Unleashed's date-only `modifiedSince`). A
record re-read by the overlap whose stamp equals the one stored on its link when it was last
synced has nothing new and is skipped, so the overlap costs no look-ups.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from syncer.connectors.shopify import SKUS_PER_QUERY
from syncer.connectors.unleashed import parse_date
from syncer.engine import Context, Options, shop_key
from syncer.errors import DataError, SafetyStop
from syncer.links import PRODUCT_LINK
from syncer.products.planner import (
    ProductPlan,
    other_side,
    outside_groups,
    plan,
    safety_check,
)
from syncer.products.projection import (
    SIDES,
    Projection,
    Side,
    from_shopify,
    from_unleashed,
)
from syncer.products.writers import ShopifyWriter, UnleashedWriter, guard_target
from syncer.report import Item, RunReport
from syncer.timeutil import iso, parse_iso

log = logging.getLogger("syncer.products")

JOB = "products"
# Unleashed may honour only the date part of modifiedSince: re-read a whole day.
UNLEASHED_OVERLAP = timedelta(days=1)
SHOPIFY_OVERLAP = timedelta(minutes=5)
# `product_id:A OR product_id:B ...` terms per productVariants query.
PRODUCT_IDS_PER_QUERY = 50
# Above this many SKUs to look up in Shopify, one paged read of every variant is cheaper than
# `sku:` batches of 50 (250 variants a page).
SHOPIFY_SCAN_THRESHOLD = 1250
# From this many variants a whole-catalogue read of Shopify is one bulk query (a count, a
# start, a few polls and one download) instead of pages: a page of VariantFields holds only
# ~166 variants under the 1,000-point cost limit, so 1,000 variants already take 7 pages, and
# the bulk read's fixed ~5 requests and polling delay stop mattering.
SHOPIFY_BULK_THRESHOLD = 1000
# Above this many changed products (a catalogue import, a bulk edit) an incremental run reads
# Shopify's changes from one bulk query of the catalogue instead of paging both `updated_at`
# searches. The first request holds ~80 of each; every further page ~166 for ~1,000 points.
# 250 changed products (~2 variants each) take ~4 more pages, ~4,000 points: past the standard
# plan's 2,000-point bucket that is ~20 s of waiting for it to refill, and each further 166
# records ~10 s more. A bulk query costs ~5 requests and a few points whatever the size, plus
# the time Shopify takes to run it.
CHANGES_BULK_THRESHOLD = 250
# Links are stored in batches of this many rows, so their JSON is never all in memory at once
# (a batch's rows and their JSON coexist: ~1.6 KB a row; 250 keeps that well under 1 MB).
LINKS_PER_WRITE = 250


def run(ctx: Context, report: RunReport, options: Options) -> None:
    ProductsRun(ctx, report, options).execute()


def read_cursor(text: str | None) -> dict[Side, datetime]:
    """The stored cursor: {"unleashed": iso, "shopify": iso}; a bare ISO time counts for
    both sides; anything else means no cursor (a whole-catalogue read)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    try:
        if isinstance(value, str):
            moment = parse_iso(value)
            return {"unleashed": moment, "shopify": moment}
        if isinstance(value, dict):
            return {side: parse_iso(str(value[side])) for side in SIDES if value.get(side)}
    except ValueError:
        log.warning("products cursor %r is not readable; reading both catalogues whole", text)
    return {}


def write_cursor(
    moments: Mapping[Side, datetime | None], *, read_at: datetime | None = None
) -> str | None:
    """The cursor to store; a side with no moment (an empty catalogue) is left out, so the
    next run reads both sides whole. None when neither side has one. `read_at` (kept as
    "shopify_read_at"): Shopify's time of the last whole-catalogue bulk read, see
    `read_bulk_read_at`."""
    known: dict[str, str] = {
        side: iso(moment) for side in SIDES if (moment := moments.get(side)) is not None
    }
    if known and read_at is not None:
        known["shopify_read_at"] = iso(read_at)
    return json.dumps(known, sort_keys=True) if known else None


def read_bulk_read_at(text: str | None) -> datetime | None:
    """When the last whole-catalogue bulk read of Shopify started (Shopify's clock), from the
    stored cursor; None when there was none or it is unreadable. That read saw every record
    as it stood then, so a later search need not reach back before it: after a catalogue
    import the overlap would otherwise re-read the whole import on every run."""
    try:
        value = json.loads(text) if text else None
        if isinstance(value, dict) and value.get("shopify_read_at"):
            return parse_iso(str(value["shopify_read_at"]))
    except ValueError:
        pass
    return None


def later(current: datetime | None, stamp: datetime | None) -> datetime | None:
    if stamp is None:
        return current
    return stamp if current is None or stamp > current else current


def shopify_stamp(value: object) -> datetime | None:
    """A Shopify `updatedAt` as a datetime; None when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def unleashed_stamp(value: object) -> datetime | None:
    """An Unleashed `LastModifiedOn` as a datetime; None when missing or unreadable."""
    try:
        return parse_date(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass
class SideRead:
    """What one side returned: records for the planner and whether it was a whole read."""

    records: list[Projection] = field(default_factory=list)
    full: bool = False


class ProductsRun:
    """One products run; state lives here only for the duration of the run."""

    def __init__(self, ctx: Context, report: RunReport, options: Options) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.report = report
        self.options = options
        self.cfg = ctx.config.products
        master = ctx.config.master
        if master not in SIDES:
            raise ValueError(f"master is {master!r}; use 'unleashed' or 'shopify'")
        self.master: Side = master
        self.target: Side = other_side(self.master)
        self.shop = shop_key(ctx)
        self.taxes_included = False
        self.excluded = {ctx.config.orders.shipping.product_code}
        self.links: dict[str, dict[str, Any]] = {}
        # Records are projected as they stream in and their raw payloads dropped, so a whole
        # catalogue costs a compact Projection per SKU. Kept besides: what the writers and the
        # links need. sku -> the Unleashed `SellPriceTierN.Name` of the configured tier (an
        # update sends it back), when a tier is configured and named.
        self.tier_names: dict[str, str] = {}
        # sku -> {product_id, variant_id, inventory_item_id} of its Shopify variant, and
        # sku -> the Guid of its Unleashed product: from the records read, then the creates.
        self.shopify_ids: dict[str, Mapping[str, Any]] = {}
        self.unleashed_guids: dict[str, str] = {}
        # field -> {value: the one equal value kept}: both catalogues repeat most values (in
        # step they hold the same titles, barcodes, prices; variants share their product's
        # fields and stamps), so each distinct value is held once per run, not once per record.
        self.pools: dict[str, dict[Any, Any]] = {}
        # sku -> the stamps of its records ({"unleashed", "variant", "product"}), kept on the
        # link as "seen" so a re-read of the same record is skipped.
        self.stamps: dict[str, dict[str, str]] = {}
        # Each side's newest stamp read by a search: where its cursor moves.
        self.newest: dict[Side, datetime | None] = {"shopify": None, "unleashed": None}
        # When the last whole-catalogue bulk read of Shopify started (kept in the cursor).
        self.bulk_read_at: datetime | None = read_bulk_read_at(report.cursor_before)
        # Retried every run until they go through: held, failed and interrupted creates.
        self.retry: set[str] = set()
        self.scope: set[str] = set()
        # sku -> where a product created in Shopify this run was stocked.
        self.stocked: dict[str, dict[str, Any]] = {}

    # -- projections -----------------------------------------------------------------------

    def project_unleashed(self, products: Iterable[Mapping[str, Any]]) -> list[Projection]:
        """Project Unleashed products one at a time (a stream stays a stream): only the
        projection, its stamp and its price tier's name outlive the raw product."""
        tier = self.cfg.price_tier
        tier_field = None if tier == "default" else f"SellPriceTier{tier}"
        out = []
        for product in products:
            code = product.get("ProductCode")
            if code in self.excluded:
                continue
            if code:
                self.note_stamps(str(code), unleashed=product.get("LastModifiedOn"))
                named = product.get(tier_field) if tier_field else None
                if isinstance(named, Mapping) and named.get("Name"):
                    self.tier_names[str(code)] = str(named["Name"])
            out.append(self.shared(from_unleashed(product, price_tier=tier)))
        return out

    def project_shopify(self, variants: Iterable[Mapping[str, Any]]) -> list[Projection]:
        out = []
        for variant in variants:
            sku = variant.get("sku")
            if sku in self.excluded:
                continue
            if sku:
                self.note_stamps(
                    str(sku),
                    variant=variant.get("updatedAt"),
                    product=(variant.get("product") or {}).get("updatedAt"),
                )
            record = from_shopify(
                variant, taxes_included=self.taxes_included, tax_rate=self.cfg.tax_rate
            )
            out.append(self.shared(record))
        return out

    def share(self, name: str, value: Any) -> Any:
        """An equal value already held for field `name`, else `value` (now held). A zero
        Decimal is never pooled: 0.00 and -0.00 are equal but stored differently."""
        if value is None or (isinstance(value, Decimal) and not value):
            return value
        return self.pools.setdefault(name, {}).setdefault(value, value)

    def shared(self, record: Projection) -> Projection:
        """`record` holding pooled values (prices and weights are quantized per field, so
        equal values there are also equal in form)."""
        ids = record.ids
        if "product_id" in ids:
            ids = {**ids, "product_id": self.share("product_id", ids["product_id"])}
        return replace(
            record,
            sku=self.share("sku", record.sku),
            title=self.share("title", record.title),
            description=self.share("description", record.description),
            price=self.share("price", record.price),
            barcode=self.share("barcode", record.barcode),
            weight=self.share("weight", record.weight),
            product_type=self.share("product_type", record.product_type),
            status=self.share("status", record.status),
            ids=ids,
        )

    def newest_unleashed(
        self, products: Iterable[Mapping[str, Any]], scope: set[str] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Pass products through, moving the Unleashed cursor to the newest `LastModifiedOn`
        and adding to `scope` the codes with something new (not re-reads of a link)."""
        for product in products:
            stamp = product.get("LastModifiedOn")
            self.newest["unleashed"] = later(self.newest["unleashed"], unleashed_stamp(stamp))
            code = product.get("ProductCode")
            if scope is not None and code and not self.seen_before(str(code), unleashed=stamp):
                scope.add(str(code))
            yield product

    def unleashed_read_at(self, before: datetime | None) -> None:
        """A read returned everything modified up to the moment Unleashed answered it, so the
        cursor may move to that moment (Unleashed's clock, from its Date header) even when
        nothing changed; otherwise a quiet catalogue would be re-read from its last change on
        every run. `before` (an earlier reply's time, when there is one) is the safer bound."""
        answered = before or self.ctx.unleashed.server_time
        self.newest["unleashed"] = later(self.newest["unleashed"], answered)

    def newest_shopify(self, variants: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Pass variants through, moving the Shopify cursor to the newest `updatedAt` of a
        variant or its product."""
        for variant in variants:
            for stamp in (
                variant.get("updatedAt"),
                (variant.get("product") or {}).get("updatedAt"),
            ):
                self.newest["shopify"] = later(self.newest["shopify"], shopify_stamp(stamp))
            yield variant

    def note_stamps(self, sku: str, **stamps: Any) -> None:
        """Remember the stamps a SKU's records carry, stored on its link once it is synced."""
        entry = self.stamps.setdefault(sku, {})
        entry.update(
            {name: self.share("stamp", str(value)) for name, value in stamps.items() if value}
        )

    def seen_before(self, sku: str, **stamps: Any) -> bool:
        """Whether the link of `sku` was synced from records with exactly these stamps (a
        re-read by the cursor overlap: nothing new to plan)."""
        link = self.links.get(sku)
        if link is None or link["status"] != "linked" or sku in self.retry:
            return False
        seen = link["data"].get("seen") or {}
        return all(value and seen.get(name) == str(value) for name, value in stamps.items())

    # -- reading ---------------------------------------------------------------------------

    def shopify_by_skus(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        """Every Shopify variant whose SKU is one of `skus` (duplicates included)."""
        if not skus:
            return []
        if len(skus) > SHOPIFY_SCAN_THRESHOLD:
            wanted = set(skus)
            return [v for v in self.all_shopify_variants(len(skus)) if v.get("sku") in wanted]
        found = self.ctx.shopify.variants_by_skus(skus)
        return [variant for sku in skus for variant in found.get(sku, [])]

    def all_shopify_variants(
        self, expected: int, *, sees_all: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every Shopify variant: one bulk query when about `expected` (what the other side
        or the links say) is large, pages otherwise. Where bulk operations are refused
        (a token without access to them), the pages serve instead."""
        if max(expected, len(self.links)) < SHOPIFY_BULK_THRESHOLD:
            yield from self.ctx.shopify.iter_variants(None)
            return
        yield from self.bulk_shopify_variants(sees_all=sees_all)

    def bulk_shopify_variants(self, *, sees_all: bool = False) -> Iterator[dict[str, Any]]:
        """Every Shopify variant by one bulk query, or by pages where bulk operations are
        refused (a token without access to them). `sees_all`: the run plans every change the
        read shows, so once read to its end the bulk read's start bounds the next search."""
        shopify = self.ctx.shopify
        started = False
        try:
            for variant in shopify.bulk_variants():
                started = True
                yield variant
        except DataError as exc:
            if started:
                raise
            log.warning("bulk read of the Shopify catalogue refused (%s); reading pages", exc)
            yield from shopify.iter_variants(None)
            return
        if sees_all:
            self.bulk_read_at = later(self.bulk_read_at, shopify_stamp(shopify.bulk_read_at))

    def unleashed_by_codes(self, codes: Sequence[str]) -> list[dict[str, Any]]:
        if not codes:
            return []
        wanted = set(codes)
        guids = {
            sku: str(link["data"].get("unleashed_guid"))
            for sku, link in self.links.items()
            if sku in wanted and link["data"].get("unleashed_guid")
        }
        found = self.ctx.unleashed.products_by_codes(
            codes, known_guids=guids, catalogue_size=len(self.links)
        )
        return list(found.values())

    def read(self) -> tuple[dict[Side, SideRead], set[str] | None]:
        """Both sides' records and the planning scope (None: every SKU seen)."""
        ctx, progress = self.ctx, self.ctx.progress
        cursors = read_cursor(self.report.cursor_before)
        whole = self.options.full or any(side not in cursors for side in SIDES)
        reads: dict[Side, SideRead] = {side: SideRead() for side in SIDES}
        if whole:
            progress.start("Reading the Unleashed catalogue")
            before = ctx.unleashed.server_time
            products = self.newest_unleashed(ctx.unleashed.iter_products(include_obsolete=True))
            reads["unleashed"] = SideRead(self.project_unleashed(products), full=True)
            self.unleashed_read_at(before)
            progress.done()
            progress.start("Reading the Shopify catalogue")
            expected = len(reads["unleashed"].records)
            variants = self.newest_shopify(self.all_shopify_variants(expected, sees_all=True))
            reads["shopify"] = SideRead(self.project_shopify(variants), full=True)
            progress.done()
            return reads, None
        return self.read_changes(cursors), self.scope

    def read_changes(self, cursors: Mapping[Side, datetime]) -> dict[Side, SideRead]:
        """An incremental read: what changed on each side since its cursor, then both sides'
        records of every SKU to plan (see the module docstring for the request count)."""
        ctx, progress = self.ctx, self.ctx.progress
        progress.start("Reading product changes since the cursors")
        self.newest = {side: cursors[side] for side in SIDES}
        scope: set[str] = set(self.retry)
        before = ctx.unleashed.server_time
        unleashed_changed = ctx.unleashed.iter_products(
            modified_since=cursors["unleashed"] - UNLEASHED_OVERLAP, include_obsolete=True
        )
        unleashed_records = self.project_unleashed(self.newest_unleashed(unleashed_changed, scope))
        self.unleashed_read_at(before)
        scope -= self.excluded

        known = sorted(scope)
        first_batch, rest = known[:SKUS_PER_QUERY], known[SKUS_PER_QUERY:]
        since = cursors["shopify"] - SHOPIFY_OVERLAP
        if self.bulk_read_at is not None and self.bulk_read_at > since:
            since = self.bulk_read_at  # everything older was seen whole by that bulk read
        stamp_query = f"updated_at:>='{iso(since)}'"
        changes = ctx.shopify.product_changes(
            stamp_query, first_batch, bulk_above=CHANGES_BULK_THRESHOLD
        )
        catalogue: list[dict[str, Any]] | None = None
        if changes.complete:
            shopify_scope = self.shopify_changed_skus(changes.variants, changes.products)
        else:
            log.info(
                "%s products changed in Shopify since %s: reading them by one bulk query",
                changes.changed_count,
                iso(since),
            )
            shopify_scope, catalogue = self.changed_in_catalogue(since, set(known))
        shopify_scope -= self.excluded
        progress.done()

        scope |= shopify_scope
        self.scope = scope
        progress.start(f"Fetching {len(scope)} changed products from both sides")
        if catalogue is not None:
            variants = catalogue
        else:
            looked_up = set(first_batch)
            variants = [v for sku in first_batch for v in changes.sku_variants.get(sku, [])]
            variants += self.shopify_by_skus(sorted((set(rest) | shopify_scope) - looked_up))
        have = {r.sku for r in unleashed_records if r.sku}
        unleashed_records += self.project_unleashed(self.unleashed_by_codes(sorted(scope - have)))
        progress.done()
        return {
            "unleashed": SideRead(unleashed_records),
            "shopify": SideRead(self.project_shopify(variants)),
        }

    def changed_in_catalogue(
        self, since: datetime, wanted: set[str]
    ) -> tuple[set[str], list[dict[str, Any]]]:
        """The bulk form of `shopify_changed_skus` for a large change set: read the whole
        catalogue in one bulk query and pick out the variants updated since `since` (their
        own stamp or their product's), less re-reads of what the links already hold. Returns
        those SKUs and the variants of every SKU to plan (them and `wanted`), so no look-up
        follows. Moves the Shopify cursor to the newest `updatedAt` seen."""
        skus: set[str] = set()
        kept: list[dict[str, Any]] = []
        passed: set[str] = set()  # SKUs with a variant not kept
        missed: set[str] = set()  # ... that later turned out changed (a duplicate SKU)
        for variant in self.bulk_shopify_variants(sees_all=True):
            stamp = variant.get("updatedAt")
            product_stamp = (variant.get("product") or {}).get("updatedAt")
            changed = False
            for value in (stamp, product_stamp):
                moment = shopify_stamp(value)
                self.newest["shopify"] = later(self.newest["shopify"], moment)
                changed = changed or (moment is not None and moment >= since)
            sku = variant.get("sku")
            if not sku:
                continue
            if changed and not self.seen_before(str(sku), variant=stamp, product=product_stamp):
                skus.add(str(sku))
                if str(sku) in passed:
                    missed.add(str(sku))
            if str(sku) in skus or str(sku) in wanted:
                kept.append(variant)
            else:
                passed.add(str(sku))
        if missed:
            kept = [v for v in kept if v.get("sku") not in missed]
            kept += self.shopify_by_skus(sorted(missed))
        return skus, kept

    def shopify_changed_skus(
        self, variants: Sequence[Mapping[str, Any]], products: Sequence[Mapping[str, Any]]
    ) -> set[str]:
        """SKUs with something new in Shopify: changed variants, and every variant of a changed
        product (a title edit changes the product, not its variants), less re-reads of what
        the links already hold. Moves the Shopify cursor to the newest `updatedAt` seen."""
        skus: set[str] = set()
        for variant in variants:
            stamp = variant.get("updatedAt")
            product_stamp = (variant.get("product") or {}).get("updatedAt")
            for value in (stamp, product_stamp):
                self.newest["shopify"] = later(self.newest["shopify"], shopify_stamp(value))
            sku = variant.get("sku")
            if sku and not self.seen_before(str(sku), variant=stamp, product=product_stamp):
                skus.add(str(sku))
        skus_of_product: dict[str, list[str]] = {}
        for sku, link in self.links.items():
            product_id = (link["data"].get("shopify") or {}).get("product_id")
            if product_id:
                skus_of_product.setdefault(str(product_id), []).append(sku)
        changed_products: list[str] = []
        for product in products:
            stamp = product.get("updatedAt")
            self.newest["shopify"] = later(self.newest["shopify"], shopify_stamp(stamp))
            count = (product.get("variantsCount") or {}).get("count") or 0
            first = ((product.get("variants") or {}).get("nodes") or [None])[0]
            if count <= 1 and first is not None:
                sku = first.get("sku")
                if sku and not self.seen_before(str(sku), product=stamp):
                    skus.add(str(sku))
                continue
            linked = skus_of_product.get(str(product["id"]), [])
            if linked and all(self.seen_before(sku, product=stamp) for sku in linked):
                continue
            changed_products.append(str(product["id"]).rsplit("/", 1)[-1])
        for start in range(0, len(changed_products), PRODUCT_IDS_PER_QUERY):
            batch = changed_products[start : start + PRODUCT_IDS_PER_QUERY]
            query = " OR ".join(f"product_id:{num}" for num in batch)
            for variant in self.ctx.shopify.iter_variants(query):
                if variant.get("sku"):
                    skus.add(str(variant["sku"]))
        return skus

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> None:
        ctx, report = self.ctx, self.report
        shop = ctx.shopify.shop_info()
        self.taxes_included = bool(shop.get("taxesIncluded"))
        self.links = {str(link["key"]): link for link in self.store.links(PRODUCT_LINK)}
        self.retry = {str(row["key"]) for row in self.store.pending(JOB, "product")}
        self.retry |= {sku for sku, link in self.links.items() if link["status"] == "creating"}
        reads, scope = self.read()
        if self.master == "unleashed":
            # A shop limited to some product groups: the other groups' products are neither
            # created nor updated there, and their drift is not this shop's to report.
            outside = outside_groups(reads["unleashed"].records, self.cfg.groups)
            if outside:
                for side in SIDES:
                    kept = [r for r in reads[side].records if r.sku not in outside]
                    reads[side] = replace(reads[side], records=kept)
                if scope is not None:
                    scope = scope - outside
        for side in SIDES:
            self.note_ids(reads[side].records)
        last_synced = {
            sku: link["data"]["synced"]
            for sku, link in self.links.items()
            if isinstance(link["data"].get("synced"), dict)
        }
        product_plan = plan(
            self.master,
            reads[self.master].records,
            reads[self.target].records,
            last_synced,
            fields=self.cfg.fields,
            create_missing=self.cfg.create_missing,
            overwrite_drift=self.options.overwrite_drift,
            scope=scope,
        )
        linked = sum(1 for link in self.links.values() if link["status"] == "linked")

        def listed(side: Side) -> int:
            # Emptiness is only known from a whole-catalogue read.
            return len(reads[side].records) if reads[side].full else max(1, linked)

        stop = safety_check(
            product_plan,
            max_changes=self.cfg.max_changes,
            force=self.options.force,
            master_count=listed(self.master),
            other_count=listed(self.target),
            linked_count=linked,
        )
        if report.dry_run:
            report.items.extend(product_plan.items)
            if stop:
                raise SafetyStop(stop)
            report.cursor_after = write_cursor(self.newest, read_at=self.bulk_read_at)
            return
        if stop:
            raise SafetyStop(stop)

        failed = self.apply(product_plan)
        self.record(product_plan, failed)
        report.cursor_after = write_cursor(self.newest, read_at=self.bulk_read_at)

    # -- writing ---------------------------------------------------------------------------

    def apply(self, product_plan: ProductPlan) -> dict[str, str]:
        """Write the plan to the non-master side; returns {sku: error} for failed writes."""
        if not product_plan.writes:
            return {}
        guard_target(self.master, product_plan.writes)
        self.ctx.progress.start(
            f"Writing {len(product_plan.writes)} products", total=len(product_plan.writes)
        )
        try:
            if self.target == "shopify":
                writer = ShopifyWriter(self)
                failed = writer.apply(product_plan.writes)
                self.stocked = writer.stocked
                return failed
            return UnleashedWriter(self).apply(product_plan.writes)
        finally:
            self.ctx.progress.done()

    def record(self, product_plan: ProductPlan, failed: Mapping[str, str]) -> None:
        """Items, retry list and links: failed SKUs keep their old last-synced values."""
        report = self.report
        for item in product_plan.items:
            if item.key in failed and item.action in ("create", "update"):
                report.add(Item("product", item.key, "fail", item.detail, error=failed[item.key]))
            elif item.action == "create" and self.stocked.get(item.key):
                detail = {**item.detail, **self.stocked[item.key]}
                report.add(Item("product", item.key, "create", detail, error=item.error))
            else:
                report.add(item)
        retry: set[str] = set()
        for item in report.items:
            # A record without a SKU ("ids" in the hold) cannot be looked up again by key.
            if item.action == "hold" and "ids" not in item.detail:
                retry.add(item.key)
                self.store.set_pending(
                    JOB, "product", item.key, action="hold", reason=item.error or "held"
                )
        for sku, error in failed.items():
            retry.add(sku)
            self.store.set_pending(JOB, "product", sku, action="fail", reason=error)
        for row in self.store.pending(JOB, "product"):
            if row["key"] not in retry:  # planned this run (or gone from both sides)
                self.store.clear_pending(JOB, "product", str(row["key"]))
        unsettled = retry | {item.key for item in report.items if item.action == "drift"}
        rows: list[tuple[str, str | None, str, dict[str, Any]]] = []
        for sku, synced in product_plan.synced.items():
            if sku in failed:
                continue
            data = self.link_data(sku)
            data["synced"] = dict(synced)
            # Only a SKU left in step may skip its re-reads; drift is planned again each time.
            if sku in self.stamps and sku not in unsettled:
                data["seen"] = {**(data.get("seen") or {}), **self.stamps[sku]}
            else:
                data.pop("seen", None)
            # remote_id is the Unleashed Guid, as the orders job reads it.
            rows.append((sku, data.get("unleashed_guid"), "linked", data))
            if len(rows) >= LINKS_PER_WRITE:
                self.store.put_links(PRODUCT_LINK, rows)
                rows = []
        if rows:
            self.store.put_links(PRODUCT_LINK, rows)

    def link_data(self, sku: str) -> dict[str, Any]:
        """The link's ids as they are after this run (records just read, creates just made)."""
        link = self.links.get(sku)
        data: dict[str, Any] = dict(link["data"]) if link else {}
        data.pop("creating", None)
        shopify = self.shopify_ids.get(sku)
        if shopify:
            data["shopify"] = dict(shopify)
        guid = self.unleashed_guids.get(sku)
        if guid:
            data["unleashed_guid"] = guid
        return data

    def note_ids(self, records: Iterable[Projection]) -> None:
        """Index the records' ids by SKU (shared with the records, not copied)."""
        for record in records:
            if record.sku is None:
                continue
            if record.side == "shopify":
                self.shopify_ids[record.sku] = record.ids
            elif record.ids.get("guid"):
                self.unleashed_guids[record.sku] = record.ids["guid"]
