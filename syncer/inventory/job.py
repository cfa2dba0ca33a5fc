"""`sync inventory`: Unleashed stock becomes Shopify `available`, minus buffer and in flight.

One run:

1. Resolve `inventory.locations` (warehouse code -> Shopify location name or gid) with one
   `locations` call; an unknown name is a configuration error (exit 2) that lists the
   locations the shop has.
2. Re-send any `inventorySetQuantities` call an earlier run left in doubt (reply lost, crash):
   the same input under the same `@idempotent` key, so Shopify applies it at most once.
3. Read StockOnHand per mapped warehouse: rows modified since that warehouse's cursor minus a
   day (Unleashed's `modifiedSince` may only honour the date), or every row with `--full` or
   when the warehouse has no cursor yet. A row whose AvailableQty is the one an earlier run
   planned and wrote (kept as `stock_seen` links) came back only through that overlap, so it
   is dropped: no clock (ours or Unleashed's `LastModifiedOn`) is trusted for this. Items held
   or failed by earlier runs are retried with the AvailableQty recorded for them, unless the
   window brought a fresher row.
4. Read the Shopify levels of those SKUs: a full read pages through every level of each
   location (250 a page; one bulk operation from BULK_THRESHOLD levels on); an incremental
   one resolves the SKUs' inventory items (cached as `stock_item` links, else `sku:`
   searches of 50) and reads their levels 30 items a call, unless paging the locations is
   estimated to cost fewer calls.
5. In flight, read only for the levels whose target the plan computed (the planner's
   `targeted`; a held level needs none): open, not fully fulfilled Shopify orders (one light
   query, 18 orders a page) that syncer has not sent (held, failed, never sent; paid or not),
   and orders syncer sent whose Unleashed `OrderStatus` is in
   `inventory.unallocated_statuses` (one sales-order list filtered by those statuses, read
   only when such a sent order is among them). Up to IN_FLIGHT_SKU_LIMIT SKUs are searched as
   `status:open ... (sku:A OR sku:B ...)`, 50 a search; more read every open order. Units are
   each open fulfilment order's remaining quantity at its assigned location.
6. Plan (inventory/planner.py), stop for safety before any write, then write changed levels
   250 a call with `changeFromQuantity` (compare-and-swap).

Why an incremental run with nothing changed reads neither in flight nor Shopify's levels
(at most 2 requests per API when nothing changed; here 1 `locations` call and one StockOnHand
call per warehouse): the previous run left every level at its target, and without a StockOnHand
change a target moves only with in flight, which moves in step with Shopify's own
bookkeeping. A new order takes its units off Shopify's `available` by itself while our target
drops by the same in-flight units; a cancellation or edit restocks Shopify and lowers in
flight alike; Unleashed allocating a sent order changes its StockOnHand row, which the next
run reads. What such a run cannot see is a manual edit in Shopify, which `--full` corrects.

Rules decided here:
- A SKU that Unleashed stocks but no Shopify variant carries is reported `unchanged` with the
  note "not in Shopify" (cron must not exit 1 for raw materials or B2B-only products), unless
  the products job linked that SKU: then Shopify lost a product it should have, and the item
  is held.
- Idempotency: the key is stored (with the exact input) before the call and reused only to
  re-send that identical call. On CHANGE_FROM_QUANTITY_STALE the batch's levels are re-read
  and sent once more under a new key; units Shopify took meanwhile are treated as sales (the
  target drops by them, so nothing is oversold), increases are not added (Unleashed, the
  master, overrides manual edits on the next full run). Still stale: the batch's items fail
  and are retried next run.
- An AvailableQty that is not a number, or whose target exceeds Shopify's 32-bit Int, holds
  that level alone (the planner): sent, it would make Shopify refuse its whole batch of 250.
- The cursor is JSON, one timestamp per warehouse (a newly mapped warehouse starts with a full
  read); it becomes the run's start time once the run finishes, because held and failed items
  are kept in the store and retried on every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from syncer.connectors.shopify import chunks, requires_components, sku_query
from syncer.engine import Context, Options
from syncer.errors import ConfigError, DataError, Problem, SafetyStop
from syncer.inventory.assemblies import (
    ASSEMBLED,
    PLAIN,
    PRODUCTS_CURSOR,
    kind_links,
    merge_rows,
    product_kind,
    warehouses_to_reread,
)
from syncer.inventory.locations import resolve_locations
from syncer.inventory.planner import (
    InventoryPlan,
    LevelRow,
    SetQuantity,
    StockKey,
    StockRow,
    after_stale,
    batches,
    in_flight,
    in_flight_lines,
    mutation_input,
    plan_inventory,
    refusal_message,
    refused_rows,
    safety_check,
    sent_order_statuses,
    split_not_in_shopify,
    targeted_levels,
)
from syncer.inventory.shared import add_units, shared_warehouses, translate_units
from syncer.inventory.snapshot import (
    ShopifyView,
    batched,
    level_row,
    overflows,
    parse_cursor,
    stock_row,
)
from syncer.links import (
    ASSEMBLY_LINK,
    ORDER_LINK,
    PRODUCT_LINK,
    SALES_ORDER_LINK,
    STOCK_ITEM_LINK,
    STOCK_SEEN_LINK,
)
from syncer.report import Item, RunReport
from syncer.timeutil import iso

log = logging.getLogger("syncer.inventory")

JOB = "inventory"
# Unleashed may honour only the date of `modifiedSince`: re-read a day (plus clock skew).
OVERLAP = timedelta(days=1, minutes=5)
BULK_THRESHOLD = 1000  # levels per full read above which a bulk operation beats paging
WRITE_SCOPE = "inventory.set"
WRITE_ENTITY = "stock_write"  # pending: an inventorySetQuantities call in doubt
STOCK_ENTITY = "stock"  # pending: a held or failed SKU@WAREHOUSE
STALE = "CHANGE_FROM_QUANTITY_STALE"
# Open orders that may still hold stock: not archived, not fully fulfilled.
OPEN_ORDERS_QUERY = "status:open -fulfillment_status:fulfilled"
REASON = "correction"
SKUS_PER_SEARCH = 50  # ShopifyClient.variants_by_skus; also `sku:` terms per order search
# Up to this many SKUs, in flight is read with `sku:` order searches (4 searches, each
# usually one page); beyond it one listing of every open order costs fewer requests.
IN_FLIGHT_SKU_LIMIT = 4 * SKUS_PER_SEARCH
# Items per ShopifyClient.inventory_levels_for_items call and levels per location page under
# the 1,000-point cost limit, each level carrying its variant's `requiresComponents` (one
# object more per level than the bare level: 249 a page, not 250).
ITEMS_PER_READ = 29
LEVELS_PER_PAGE = 249
LINKS_PER_WRITE = 1000  # link rows per put_links call, so no run builds them all at once


def run(ctx: Context, report: RunReport, options: Options) -> None:
    InventoryRun(ctx, report, options).execute()


def input_digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def stale_codes(exc: DataError) -> bool:
    return any(isinstance(e, Mapping) and e.get("code") == STALE for e in exc.errors)


# -- the run ----------------------------------------------------------------------------------


class InventoryRun:
    def __init__(self, ctx: Context, report: RunReport, options: Options) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.report = report
        self.options = options
        self.config = ctx.config.inventory
        self.reference_uri = f"gid://syncer/InventorySync/{report.run_id or 0}"

    def execute(self) -> None:
        ctx, report = self.ctx, self.report
        started = ctx.now()
        locations = resolve_locations(self.config.locations, ctx.shopify.locations())
        if not locations:
            report.cursor_after = report.cursor_before
            return
        if not report.dry_run:
            self.resend_writes_in_doubt()
        cursors = parse_cursor(report.cursor_before, locations)
        full = {code for code in locations if self.options.full or code not in cursors}
        rows, full_rows = self.read_stock(locations, cursors, full)
        fresh = {(r.sku, r.warehouse_code) for r in rows} if self.config.assemblies else set()
        rows = self.add_retries(rows, locations, full)
        rows = self.drop_settled(rows, full)
        if self.config.assemblies:
            rows = self.add_kits(rows, fresh, locations, cursors, full)
        del fresh
        read_rows = list(rows)

        # Interned: the SKUs the stock rows hold already, not a second copy of each.
        linked = {sys.intern(key) for key in self.store.link_keys(PRODUCT_LINK)}
        view = self.read_shopify(locations, rows, full)
        unknown_items, rows = split_not_in_shopify(rows, view.carries, linked)
        # Plan once without in flight to learn which levels need it (keeping only that);
        # nothing to read when every level in scope is held (or nothing changed).
        targeted = self.targeted(locations, rows, view, full, linked)
        units = self.read_in_flight(locations, targeted) if targeted else {}
        if targeted:
            add_units(units, self.read_shared_in_flight(locations, targeted))
        del targeted
        plan = self.plan(locations, rows, view, units, full, linked, unknown_items)

        if not report.dry_run:
            stop = safety_check(
                plan,
                max_changes=self.config.max_changes,
                force=self.options.force,
                unleashed_rows=full_rows if full == set(locations) else None,
                linked_count=len(linked),
            )
            if stop:
                raise SafetyStop(stop)
        items = {item.key: item for item in plan.items}
        for item in plan.items:
            report.add(item)
        if not report.dry_run:
            self.write(plan.sets, items)
            self.remember_pending(plan.items, rows)
            self.remember_settled(items, read_rows)
        after = {**{c: iso(t) for c, t in cursors.items()}, **{c: iso(started) for c in locations}}
        if self.config.assemblies:
            after[PRODUCTS_CURSOR] = iso(started)
        else:  # turned on again later, the flags are read afresh
            after.pop(PRODUCTS_CURSOR, None)
        report.cursor_after = json.dumps(after, sort_keys=True)

    def per_location(
        self,
        locations: Mapping[str, str],
        rows: Sequence[StockRow],
        view: ShopifyView,
        full: set[str],
        linked: set[str],
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(location gid, planner arguments) for each mapped location: the planner runs one
        location at a time, so a caller keeps only what it needs of one before the next."""
        scope = None if set(locations) <= full else {r.sku for r in rows}
        for code, gid in locations.items():
            yield (
                gid,
                {
                    "unleashed": [r for r in rows if r.warehouse_code == code],
                    "shopify": view.at(gid),
                    "locations": {code: gid},
                    "buffer": self.config.buffer,
                    "scope_skus": None if code in full else scope,
                    "known_unleashed_skus": linked,
                },
            )

    def targeted(
        self,
        locations: Mapping[str, str],
        rows: Sequence[StockRow],
        view: ShopifyView,
        full: set[str],
        linked: set[str],
    ) -> set[str]:
        """The SKUs whose target the plan computes: only their in flight is read."""
        skus: set[str] = set()
        for _, arguments in self.per_location(locations, rows, view, full, linked):
            for at_location in targeted_levels(**arguments).values():
                skus |= at_location
        return skus

    def plan(
        self,
        locations: Mapping[str, str],
        rows: Sequence[StockRow],
        view: ShopifyView,
        units: Mapping[StockKey, int],
        full: set[str],
        linked: set[str],
        unknown_items: Sequence[Item],
    ) -> InventoryPlan:
        """The run's plan, without `targeted` (known already). The view's levels of each
        location are let go once it is planned (nothing after the plan reads them), so its
        items replace them rather than add."""
        plan = InventoryPlan(items=list(unknown_items))
        for gid, arguments in self.per_location(locations, rows, view, full, linked):
            part = plan_inventory(**arguments, in_flight=units)
            del arguments
            view.levels.pop(gid, None)
            plan.sets.extend(part.sets)
            plan.items.extend(part.items)
            plan.unmapped_rows += part.unmapped_rows
            del part
        return plan

    # -- Unleashed stock -----------------------------------------------------------------------

    def read_stock(
        self, locations: Mapping[str, str], cursors: Mapping[str, datetime], full: set[str]
    ) -> tuple[list[StockRow], int]:
        """StockOnHand rows of every mapped warehouse, and how many rows the full reads gave."""
        ctx = self.ctx
        rows: list[StockRow] = []
        decimals: dict[str, Decimal] = {}
        full_rows = 0
        for code in locations:
            since = None if code in full else cursors[code] - OVERLAP
            ctx.progress.start(f"Reading Unleashed stock for {code}")
            try:
                stock = ctx.unleashed.iter_stock_on_hand(
                    code, modified_since=since, assembled=self.config.assemblies
                )
                for raw in stock:
                    row = stock_row(raw, code, decimals)
                    if row is not None:
                        rows.append(row)
                        full_rows += code in full
                    ctx.progress.advance()
            except DataError as exc:
                if exc.status == 400:
                    raise ConfigError(
                        [
                            Problem(
                                f"inventory.locations.{code}",
                                f"Unleashed refused warehouse code {code}: {exc}",
                                "use a warehouse code that exists in Unleashed",
                            )
                        ]
                    ) from exc
                raise
            finally:
                ctx.progress.done()
        return rows, full_rows

    # -- Unleashed assemblies (inventory.assemblies) --------------------------------------------

    def add_kits(
        self,
        rows: list[StockRow],
        fresh: set[tuple[str, str]],
        locations: Mapping[str, str],
        cursors: Mapping[str, datetime],
        full: set[str],
    ) -> list[StockRow]:
        """The rows, plus the kits read again (with `isAssembled=true`, by Guid) in each
        incremental warehouse where a component's row changed, and kits first known in this
        run everywhere: their own rows need not have been re-stamped. `fresh`: the (SKU,
        warehouse) pairs this run's read listed (retried items are not news of a change)."""
        kits, components, new_kits = self.refresh_kinds(cursors.get(PRODUCTS_CURSOR))
        if not kits:
            return rows
        changed = [r for r in rows if (r.sku, r.warehouse_code) in fresh]
        warehouses = warehouses_to_reread(changed, components, full)
        reread: list[StockRow] = []
        for code in locations:
            if code in full:
                continue  # a full read counted every kit already
            wanted = set(kits) if code in warehouses else new_kits
            if not wanted:
                continue
            guids = sorted(kits[c] for c in wanted)
            self.ctx.progress.start(f"Reading Unleashed kits for {code}")
            for raw in self.ctx.unleashed.iter_stock_on_hand(
                code, assembled=True, product_ids=guids
            ):
                row = stock_row(raw, code)
                if row is not None:
                    reread.append(row)
                self.ctx.progress.advance()
            self.ctx.progress.done()
        if not reread:
            return rows
        return merge_rows(rows, self.drop_settled(reread, full))

    def refresh_kinds(self, since: datetime | None) -> tuple[dict[str, str], set[str], set[str]]:
        """(kit code -> Guid, component codes, kits not known before this run), after
        reading the products changed since `since` (every product when None or --full)."""
        links = self.store.links(ASSEMBLY_LINK)
        state = {
            str(link["key"]): (str(link["status"]), link.get("remote_id"), link.get("data") or {})
            for link in links
        }
        known_kits = {code for code, (status, _, _) in state.items() if status == ASSEMBLED}
        remembered = {code for code, (status, _, _) in state.items() if status != PLAIN}
        complete = since is None or self.options.full
        self.ctx.progress.start("Reading Unleashed kits and components")
        products = self.ctx.unleashed.iter_products(
            modified_since=None if since is None or complete else since - OVERLAP
        )
        kinds = (kind for raw in products if (kind := product_kind(raw)) is not None)
        changes = kind_links(kinds, remembered, complete=complete)
        self.ctx.progress.done()
        if not self.report.dry_run:
            for start in range(0, len(changes), LINKS_PER_WRITE):
                self.store.put_links(ASSEMBLY_LINK, changes[start : start + LINKS_PER_WRITE])
        for code, guid, status, data in changes:
            state[code] = (status, guid, data)
        kits = {
            code: str(guid)
            for code, (status, guid, _) in state.items()
            if status == ASSEMBLED and guid
        }
        components = {code for code, (_, _, data) in state.items() if data.get("component")}
        return kits, components, set(kits) - known_kits

    def drop_settled(self, rows: Sequence[StockRow], full: set[str]) -> list[StockRow]:
        """Drop incremental rows whose AvailableQty an earlier run already planned and wrote
        (the overlap re-reads a day of changes on every run); held and failed ones stay."""
        if all(r.warehouse_code in full for r in rows):
            return list(rows)
        seen = {
            str(link["key"]): str((link.get("data") or {}).get("available"))
            for link in self.store.links(STOCK_SEEN_LINK)
        }
        pending = {str(p["key"]) for p in self.store.pending(JOB, STOCK_ENTITY)}
        kept: list[StockRow] = []
        for r in rows:
            key = f"{r.sku}@{r.warehouse_code}"
            settled = seen.get(key) == str(r.available) and r.available.is_finite()
            if r.warehouse_code in full or key in pending or not settled:
                kept.append(r)
        return kept

    def remember_settled(self, items: Mapping[str, Item], rows: Sequence[StockRow]) -> None:
        """The AvailableQty of every level this run left at its target (updated, unchanged or
        reported as not in Shopify), so the overlap's re-read of it costs nothing next run.
        Written LINKS_PER_WRITE at a time straight from the rows: a row read twice is
        written twice and the last one wins (its item is settled only when the two agree)."""
        done = (
            (item.key, None, "planned", {"available": str(row.available)})
            for row in rows
            if (item := items.get(f"{row.sku}@{row.warehouse_code}")) is not None
            and item.action in ("update", "unchanged")
        )
        for batch in batched(done, LINKS_PER_WRITE):
            self.store.put_links(STOCK_SEEN_LINK, batch)

    def add_retries(
        self, rows: list[StockRow], locations: Mapping[str, str], full: set[str]
    ) -> list[StockRow]:
        """Held and failed SKU@WAREHOUSE items of earlier runs, with the AvailableQty read then,
        unless this run read a fresher row (a full read reads every row anyway)."""
        have = {(r.sku, r.warehouse_code) for r in rows}
        extra: list[StockRow] = []
        for pending in self.store.pending(JOB, STOCK_ENTITY):
            data = pending["data"]
            sku, code = str(data.get("sku") or ""), str(data.get("warehouse") or "")
            if not sku or code not in locations or code in full or (sku, code) in have:
                continue
            try:
                extra.append(StockRow(sku, code, Decimal(str(data.get("available")))))
            except InvalidOperation:
                continue
        return rows + extra

    # -- Shopify levels ------------------------------------------------------------------------

    def read_shopify(
        self, locations: Mapping[str, str], rows: Sequence[StockRow], full: set[str]
    ) -> ShopifyView:
        view = ShopifyView()
        paged: set[str] = set(full)
        scoped = sorted({r.sku for r in rows if r.warehouse_code not in full})
        incremental = [code for code in locations if code not in full]
        cached = self.cached_items(scoped) if scoped else {}
        if scoped and incremental:
            catalogue = max(self.store.count_links(STOCK_ITEM_LINK), len(scoped))
            by_location = len(incremental) * math.ceil(catalogue / LEVELS_PER_PAGE)
            uncached = len(scoped) - len(cached)
            by_items = math.ceil(uncached / SKUS_PER_SEARCH) + math.ceil(
                len(scoped) / ITEMS_PER_READ
            )
            if by_location < by_items:
                paged.update(incremental)
        paged_gids = [locations[code] for code in locations if code in paged]
        large = max(len(rows), self.store.count_links(STOCK_ITEM_LINK)) >= BULK_THRESHOLD
        if paged_gids and large:
            # One bulk operation reads every level of these locations in a few requests,
            # where paging would cost one request per 250 levels per location.
            self.read_locations_bulk(paged_gids, view)
        else:
            for gid in paged_gids:
                self.read_location(gid, view)
        rest = [code for code in incremental if code not in paged]
        if rest and scoped:
            self.read_items(scoped, cached, [locations[c] for c in rest], view)
        # SKUs Unleashed lists that no paged location carries: a variant may still have them
        # (not stocked there); ask once so the planner can say which.
        missing = sorted(
            {r.sku for r in rows if r.warehouse_code in paged and not view.carries(r.sku)}
        )
        if missing:
            self.read_items(missing, {}, [locations[c] for c in paged], view)
        return view

    def read_locations_bulk(self, location_gids: Sequence[str], view: ShopifyView) -> None:
        """Every level of these locations through one bulk operation (large catalogues);
        where bulk operations are refused (a token without access to them), by pages."""
        before = view.added
        try:
            levels = self.ctx.shopify.bulk_inventory_levels(location_gids)
            self.take_levels(levels, view, "Reading Shopify levels (bulk operation)")
        except DataError as exc:
            if view.added != before:
                raise  # refused midway: nothing sensible to fall back to
            log.warning("bulk read of Shopify levels refused (%s); reading pages", exc)
            for gid in location_gids:
                self.read_location(gid, view)

    def read_location(self, location_gid: str, view: ShopifyView) -> None:
        """Every level of one location, 250 a page."""
        levels = self.ctx.shopify.iter_inventory_levels(location_gid)
        self.take_levels(levels, view, f"Reading Shopify levels at {location_gid}", location_gid)

    def take_levels(
        self,
        levels: Iterable[Mapping[str, Any]],
        view: ShopifyView,
        task: str,
        location_gid: str = "",
    ) -> None:
        """Add level nodes ({item{id sku tracked} location{id}? available}) to the view and
        remember each SKU's inventory item for incremental runs. Paged levels of one
        location don't repeat it; bulk lines name theirs."""
        ctx = self.ctx
        # SKU -> its one inventory item, or None once a second item carries it.
        items_by_sku: dict[str, str | None] = {}
        ctx.progress.start(task)
        for level in levels:
            item = level.get("item") or {}
            sku = str(item.get("sku") or "")
            if not sku:
                continue
            row = level_row(
                str(item["id"]),
                str((level.get("location") or {}).get("id") or location_gid),
                level.get("available"),
                item.get("tracked"),
                requires_components(item),
            )
            view.add(sku, row)
            known = items_by_sku.setdefault(sku, row.inventory_item_id)
            if known is not None and known != row.inventory_item_id:
                items_by_sku[sku] = None
            ctx.progress.advance()
        ctx.progress.done()
        if not self.report.dry_run:
            # Cache only SKUs carried by exactly one inventory item (duplicates are held).
            unique: Iterator[tuple[str, str | None, str, dict[str, Any]]] = (
                (sku, item_id, "linked", {})
                for sku, item_id in items_by_sku.items()
                if item_id is not None
            )
            for batch in batched(unique, LINKS_PER_WRITE):
                self.store.put_links(STOCK_ITEM_LINK, batch)

    def cached_items(self, skus: Sequence[str]) -> dict[str, str]:
        wanted = set(skus)
        return {
            str(link["key"]): str(link["remote_id"])
            for link in self.store.links(STOCK_ITEM_LINK)
            if link["key"] in wanted and link["remote_id"]
        }

    def read_items(
        self,
        skus: Sequence[str],
        cached: Mapping[str, str],
        location_gids: Sequence[str],
        view: ShopifyView,
    ) -> None:
        """Levels of these SKUs at these locations via their inventory items, in batches."""
        shopify = self.ctx.shopify
        items_by_sku: dict[str, list[str]] = {sku: [item] for sku, item in cached.items()}
        bundles: set[str] = set()  # inventory items of bundle parents

        def resolve(wanted: Sequence[str]) -> None:
            if not wanted:
                return
            variants = shopify.variants_by_skus(wanted)
            for sku in wanted:
                items_by_sku[sku] = [
                    str(v["inventoryItem"]["id"])
                    for v in variants.get(sku, [])
                    if v.get("inventoryItem")
                ]
                bundles.update(
                    str(v["inventoryItem"]["id"])
                    for v in variants.get(sku, [])
                    if v.get("inventoryItem") and requires_components(v)
                )

        resolve([s for s in skus if s not in cached])
        levels = self._item_levels(items_by_sku, location_gids)
        # A cached item that answers with another SKU, or not at all, is stale: look it up.
        stale = [
            sku
            for sku, item in cached.items()
            if not any(level[0] == sku for level in levels.get(item, []))
        ]
        if stale:
            resolve(stale)
            levels.update(self._item_levels({s: items_by_sku[s] for s in stale}, location_gids))
        cache: list[tuple[str, str | None, str, dict[str, Any]]] = []
        for sku, item_ids in items_by_sku.items():
            for item_id in item_ids:
                rows = {
                    gid: (available, tracked)
                    for _, gid, available, tracked, _ in levels.get(item_id, [])
                }
                tracked_any = any(bool(t) for _, t in rows.values()) or not rows
                bundle = item_id in bundles or any(b for *_, b in levels.get(item_id, []))
                for gid in location_gids:
                    if gid in rows:
                        available, tracked = rows[gid]
                        view.add(sku, level_row(item_id, gid, available, tracked, bundle))
                    else:  # the variant exists but is not stocked there
                        view.add(sku, LevelRow(item_id, gid, None, tracked_any, False, bundle))
            if len(item_ids) == 1:
                cache.append((sku, item_ids[0], "linked", {}))
        if not self.report.dry_run and cache:
            self.store.put_links(STOCK_ITEM_LINK, cache)

    def _item_levels(
        self, items_by_sku: Mapping[str, list[str]], location_gids: Sequence[str]
    ) -> dict[str, list[tuple[str, str, Any, Any, bool]]]:
        """item id -> [(sku, location gid, available, tracked, bundle parent)]."""
        item_ids = sorted({item for items in items_by_sku.values() for item in items})
        result: dict[str, list[tuple[str, str, Any, Any, bool]]] = {}
        if not item_ids:
            return result
        for row in self.ctx.shopify.inventory_levels_for_items(item_ids, location_gids):
            result.setdefault(str(row["item_id"]), []).append(
                (
                    str(row.get("sku") or ""),
                    str(row["location_id"]),
                    row.get("available"),
                    row.get("tracked"),
                    bool(row.get("bundle")),
                )
            )
        return result

    # -- in flight -----------------------------------------------------------------------------

    def read_in_flight(self, locations: Mapping[str, str], skus: set[str]) -> dict[StockKey, int]:
        """In-flight units of these SKUs (only they are returned, whichever way they are read)."""
        ctx = self.ctx
        if len(skus) <= IN_FLIGHT_SKU_LIMIT:
            queries = [
                f"{OPEN_ORDERS_QUERY} ({sku_query(batch)})"
                for batch in chunks(sorted(skus), SKUS_PER_SEARCH)
            ]
        else:
            queries = [OPEN_ORDERS_QUERY]
        unallocated = list(self.config.unallocated_statuses)
        default_location_gid = locations.get(ctx.config.orders.warehouse, "")
        units: dict[StockKey, int] = {}

        def count(orders: Sequence[Mapping[str, Any]], sent: Mapping[str, str | None]) -> None:
            lines = in_flight_lines(
                orders,
                sent,
                unallocated_statuses=unallocated,
                default_location_gid=default_location_gid,
            )
            for key, quantity in in_flight(lines).items():
                if key[0] in skus:
                    units[key] = units.get(key, 0) + quantity

        # An order syncer never sent, whose light node carries all its lines, is counted as it
        # arrives and let go; only sent or overflowing orders are kept for what follows, so
        # a large backlog of open orders is never held at once.
        ctx.progress.start("Reading open Shopify orders")
        seen: set[str] = set()
        kept: dict[str, dict[str, Any]] = {}
        sent_links: dict[str, dict[str, Any]] = {}
        for query in queries:
            for order in ctx.shopify.iter_open_order_stock(query):
                gid = str(order["id"])
                if gid not in seen:
                    seen.add(gid)
                    link = self.store.link(ORDER_LINK, gid)
                    if link is not None:
                        sent_links[gid] = link
                    if link is not None or overflows(order):
                        kept[gid] = order
                    else:
                        count([order], {})
                ctx.progress.advance()
        ctx.progress.done()
        status_by_guid: dict[str, str] = {}
        if unallocated and (sent_links or self.store.count_links(ORDER_LINK)):
            # Also orders that no longer look open (a POS sale, an order fulfilled in
            # Shopify): while Unleashed has not allocated them they count in full.
            for sales_order in ctx.unleashed.iter_sales_orders(order_status=unallocated):
                guid = str(sales_order.get("Guid") or "").lower()
                status_by_guid[guid] = str(sales_order.get("OrderStatus") or "")
            sent_links.update(self.unallocated_links(status_by_guid))
        if not seen and not sent_links:
            return {}
        overflow = [gid for gid, order in kept.items() if overflows(order)]
        if overflow:
            complete = ctx.shopify.fulfillment_orders_for(overflow)
            for gid, order in kept.items():
                if gid in complete:
                    order["fulfillmentOrders"] = {"nodes": complete[gid]}
        statuses = sent_order_statuses(sent_links, status_by_guid)
        in_doubt = [gid for gid, status in statuses.items() if status in unallocated]
        if in_doubt:
            for order in ctx.shopify.sent_order_stock(in_doubt):
                kept[str(order["id"])] = order
        count(list(kept.values()), statuses)
        return units

    def read_shared_in_flight(
        self, locations: Mapping[str, str], skus: set[str]
    ) -> dict[StockKey, int]:
        """The in-flight units of the other shops' orders at locations mapped to warehouses
        this shop also maps, as units at this shop's locations. Each shop is read with its
        own client and its own state (which orders it sent, held or never sent); nothing is
        written there. Only called when some level's target is computed, so a run with
        nothing changed reads no other shop."""
        units: dict[StockKey, int] = {}
        for other in self.ctx.siblings():
            configured = other.config.inventory.locations
            if not shared_warehouses(locations, configured):
                continue
            other_locations = resolve_locations(configured, other.shopify.locations())
            shared = {c: g for c, g in other_locations.items() if c in locations}
            other_run = InventoryRun(other, self.report, self.options)
            other_units = other_run.read_in_flight(shared, skus)
            add_units(units, translate_units(locations, shared, other_units))
        return units

    def unallocated_links(self, status_by_guid: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Order links (by Shopify order gid) of the sales orders syncer sent that Unleashed
        still holds unallocated, found by Guid (a split order's sales orders by their own)."""
        found: dict[str, dict[str, Any]] = {}
        for guid in status_by_guid:
            link = self.store.link_by_remote(ORDER_LINK, guid)
            if link is None:
                part = self.store.link_by_remote(SALES_ORDER_LINK, guid)
                gid = str((part or {}).get("data", {}).get("order") or "")
                link = self.store.link(ORDER_LINK, gid) if gid else None
            if link is not None:
                found[str(link["key"])] = link
        return found

    # -- writes --------------------------------------------------------------------------------

    def resend_writes_in_doubt(self) -> None:
        """Calls an earlier run sent without hearing back: the identical input, same key."""
        for pending in self.store.pending(JOB, WRITE_ENTITY):
            key = str(pending["key"])
            payload = pending["data"].get("input") or {}
            if not payload.get("quantities"):
                self._finish_write(key, "abandoned")
                continue
            try:
                self._send(payload, key)
            except DataError as exc:
                # Stale or rejected: nothing of it was applied; this run plans afresh.
                log.info("write %s left by an earlier run was not applied: %s", key, exc)
                self._finish_write(key, "stale" if stale_codes(exc) else "failed")
                continue
            self._finish_write(key, "done")
            log.info("write %s left by an earlier run is applied", key)

    def _send(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        return self.ctx.shopify.set_inventory_quantities(
            payload["quantities"],
            reason=payload["reason"],
            reference_uri=payload.get("referenceDocumentUri"),
            idempotency_key=key,
            name=payload.get("name", "available"),
        )

    def _begin_write(self, payload: Mapping[str, Any]) -> str:
        """The key for this exact input, stored with the input before the call."""
        key = self.store.idempotency_key(WRITE_SCOPE, input_digest(payload), str(uuid.uuid4()))
        self.store.set_pending(
            JOB,
            WRITE_ENTITY,
            key,
            action="sending",
            reason="inventorySetQuantities sent; re-sent with the same key until answered",
            data={"input": payload},
        )
        return key

    def _finish_write(self, key: str, status: str) -> None:
        self.store.finish_idempotency_key(key, status)
        self.store.clear_pending(JOB, WRITE_ENTITY, key)

    def write(self, sets: Sequence[SetQuantity], items: Mapping[str, Item]) -> None:
        if not sets:
            return
        ctx = self.ctx
        ctx.progress.start("Writing Shopify levels", total=len(sets))
        for batch in batches(sets):
            self.write_batch(batch, items, retry_stale=True)
            ctx.progress.advance(len(batch))
        ctx.progress.done()

    def write_batch(
        self, batch: Sequence[SetQuantity], items: Mapping[str, Item], *, retry_stale: bool
    ) -> None:
        payload = mutation_input(batch, reason=REASON, reference_uri=self.reference_uri)
        key = self._begin_write(payload)
        try:
            self._send(payload, key)
        except DataError as exc:
            self._finish_write(key, "stale" if stale_codes(exc) else "failed")
            named = refused_rows(exc.errors, len(batch))
            if named is not None:
                self.write_unrefused(batch, named, items, retry_stale=retry_stale)
                return
            if stale_codes(exc) and retry_stale:
                fresh = self.refresh(batch, items)
                if fresh:
                    self.write_batch(fresh, items, retry_stale=False)
                return
            for quantity in batch:
                self._fail(items[quantity.key], str(exc))
            return
        self._finish_write(key, "done")
        for quantity in batch:
            items[quantity.key].detail["idempotency_key"] = key

    def write_unrefused(
        self,
        batch: Sequence[SetQuantity],
        named: Mapping[int, Mapping[str, Any]],
        items: Mapping[str, Item],
        *,
        retry_stale: bool,
    ) -> None:
        """After Shopify refused a call naming some of its rows: those fail alone with
        Shopify's message (a stale one is re-read and sent once more), and the rest, refused
        only because they shared the call, go again at once under a new key (the old key is
        bound to the old input). Every round drops at least one row, so this ends."""
        again: list[SetQuantity] = []
        stale: list[SetQuantity] = []
        for index, quantity in enumerate(batch):
            error = named.get(index)
            if error is None:
                again.append(quantity)
            elif error.get("code") == STALE and retry_stale:
                stale.append(quantity)
            else:
                self._fail(items[quantity.key], refusal_message(error))
        if stale:
            again.extend(self.refresh(stale, items))
        if again:
            self.write_batch(again, items, retry_stale=retry_stale and not stale)

    def refresh(self, batch: Sequence[SetQuantity], items: Mapping[str, Item]) -> list[SetQuantity]:
        """Re-read the batch's levels after a stale compare-and-swap; the fresh sets to send."""
        item_ids = sorted({q.inventory_item_id for q in batch})
        locations = sorted({q.location_gid for q in batch})
        now = {
            (str(r["item_id"]), str(r["location_id"])): r.get("available")
            for r in self.ctx.shopify.inventory_levels_for_items(item_ids, locations)
        }
        fresh: list[SetQuantity] = []
        for quantity in batch:
            item = items[quantity.key]
            current = now.get((quantity.inventory_item_id, quantity.location_gid))
            if current is None:
                self._fail(item, "the level disappeared from Shopify during the run")
                continue
            current = int(current)
            again, target = after_stale(quantity, current)
            item.detail.update(
                shopify_now=current, target=target, concurrent_change=current - quantity.change_from
            )
            if again is None:
                item.action = "unchanged"
            else:
                fresh.append(again)
        return fresh

    def _fail(self, item: Item, error: str) -> None:
        item.action = "fail"
        item.error = error

    def remember_pending(self, plan_items: Sequence[Item], rows: Sequence[StockRow]) -> None:
        """Held and failed items are retried every run with the AvailableQty read now; the
        others leave the retry list."""
        retried = {item.key for item in plan_items if item.action in ("hold", "fail")}
        available: dict[str, StockRow] = {}
        for r in rows:
            key = f"{r.sku}@{r.warehouse_code}"
            if key in retried:
                available[key] = r
        existing = {str(p["key"]) for p in self.store.pending(JOB, STOCK_ENTITY)}
        for item in plan_items:
            row = available.get(item.key)
            if item.action in ("hold", "fail") and row is not None:
                self.store.set_pending(
                    JOB,
                    STOCK_ENTITY,
                    item.key,
                    action=item.action,
                    reason=item.error or item.action,
                    data={
                        "sku": row.sku,
                        "warehouse": row.warehouse_code,
                        "available": str(row.available),
                    },
                )
            elif item.key in existing:
                self.store.clear_pending(JOB, STOCK_ENTITY, item.key)
