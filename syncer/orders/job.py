"""`sync orders`: paid Shopify orders become Unleashed sales orders, exactly once.

The run reads every order updated in the window [cursor - overlap, run start] (plus orders held
or left unresolved by earlier runs), decides per order, and records each outcome:

- a new selected order is mapped (pure, orders/mapping.py); unknown SKUs hold it whole;
- its ledger row ("sending", with the deterministic Guid) is committed BEFORE the POST, so a
  crash or a lost reply is resolved next time by `GET /SalesOrders/{guid}`, never by a blind
  re-post;
- an order already sent is never sent again; its edits, cancellation and refunds are reported
  once each (orders/events.py) and, with `refunds: credit_note`, each refund becomes one free
  credit note under the same ledger discipline.

The window is handled in chunks of CHUNK orders as the pages arrive (refund details and SKU
look-ups are batched per chunk), so memory does not grow with the size of a backfill. The
cursor moves to the newest `updatedAt` handled (Shopify's clock, not this machine's) once every
order of the window has been created, held or recorded as failed, never past an order node that
could not be read; held and failed orders are retried on every run regardless, from the retry
list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from syncer.connectors.unleashed import PER_CODE_LOOKUP_LIMIT
from syncer.engine import Context, Options, shop_key
from syncer.errors import DataError, NotFound, OutcomeUnknown
from syncer.links import (
    CREDIT_NOTE_LINK,
    CUSTOMER_LINK,
    ORDER_LINK,
    PRODUCT_LINK,
    SALES_ORDER_LINK,
)
from syncer.locations import find_location
from syncer.orders.credit import credit_reference, map_free_credit, with_shipping_tax
from syncer.orders.currency import CurrencyHold, CurrencyRates
from syncer.orders.events import SentSnapshot, detect_events
from syncer.orders.mapping import (
    MappedOrder,
    MappingError,
    OrderSettings,
    credit_note_guid,
    customer_code_for,
    customer_guid,
    customer_request,
    is_selected,
    map_sales_order,
    new_customer_payload,
    order_currency,
    order_detail,
    sales_order_guid,
)
from syncer.orders.split import (
    WarehouseRules,
    line_warehouses,
    refund_warehouse,
    split_sales_order,
)
from syncer.readahead import read_ahead
from syncer.report import Item, RunReport
from syncer.timeutil import iso, parse_iso

log = logging.getLogger("syncer.orders")

JOB = "orders"
OVERLAP = timedelta(minutes=5)  # re-read a little: records stamped at a window edge show late
CHUNK = 250  # orders handled together: one refund look-up and one SKU look-up per chunk


def settings_from(ctx: Context) -> OrderSettings:
    o = ctx.config.orders
    return OrderSettings(
        order_number_prefix=o.order_number_prefix,
        order_status=o.order_status,  # type: ignore[arg-type]
        warehouse=o.warehouse,
        tax_code=o.tax_code,
        shipping_mode=o.shipping.mode,  # type: ignore[arg-type]
        shipping_product_code=o.shipping.product_code,
        financial_statuses=o.financial_statuses,
        include_test_orders=o.include_test_orders,
        lines_without_sku=o.lines_without_sku,  # type: ignore[arg-type]
        currency=o.currency,  # type: ignore[arg-type]
    )


def window_start(ctx: Context, report: RunReport, options: Options) -> datetime | None:
    """Where this run starts reading: --since, else cursor minus overlap, never before
    `orders.start`. None (no cursor, no start) reads every order Shopify returns."""
    start = ctx.config.orders.start
    if options.since is not None:
        return options.since
    if report.cursor_before:
        since = parse_iso(report.cursor_before) - OVERLAP
        return max(since, start) if start else since
    return start


def search_query(since: datetime | None, until: datetime) -> str:
    """Shopify search syntax; dates must be quoted or the time part is ignored."""
    terms = [f"updated_at:<='{iso(until)}'"]
    if since is not None:
        terms.insert(0, f"updated_at:>='{iso(since)}'")
    return " ".join(terms)


def run(ctx: Context, report: RunReport, options: Options) -> None:
    OrdersRun(ctx, report, options).execute()


class OrdersRun:
    """One orders run; state lives here only for the duration of the run."""

    def __init__(self, ctx: Context, report: RunReport, options: Options) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.report = report
        self.options = options
        self.settings = settings_from(ctx)
        self.shop = shop_key(ctx)
        self.currency: str | None = None
        self.customer_codes: dict[str, str] = {}
        self.newest = ""  # newest updatedAt of the window before any unreadable node
        self.unreadable = False
        self.pending_keys: set[str] = set()  # orders on the retry list, read once per run
        self.product_codes: dict[str, bool] = {}  # SKU -> sellable in Unleashed, per run
        self.catalogue_read = False  # every Unleashed product is in product_codes
        self.lookup_calls = 0  # Unleashed calls spent on targeted product look-ups
        self.presentment = self.settings.currency == "presentment"
        self.rates: CurrencyRates | None = None  # Unleashed's rates, read once when needed
        self.by_location = bool(ctx.config.orders.warehouse_by_location)
        self.rules: WarehouseRules | None = None  # read once, when an order is first sent

    # -- reading ---------------------------------------------------------------------------

    def window_chunks(self, since: datetime | None, until: datetime) -> Iterator[list[Any]]:
        """The window's order nodes (oldest change first, at most --limit of them) in chunks
        of CHUNK, as Shopify's pages arrive. Notes the cursor candidate as it goes."""
        limit = self.options.limit
        page_size = min(limit, CHUNK) if limit is not None else CHUNK
        chunk: list[Any] = []
        nodes = self.ctx.shopify.iter_orders(
            search_query(since, until),
            page_size,
            presentment=self.presentment,
            locations=self.by_location,
        )
        if limit is None:
            # The next chunk's pages are read while this one is sent (readahead.py); with
            # --limit the run stops early, and a page read ahead would be a wasted call.
            nodes = read_ahead(nodes, CHUNK, name="shopify-orders")
        with contextlib.closing(nodes):  # stops the read-ahead thread if the run stops
            for read, node in enumerate(nodes, start=1):
                self.note_cursor(node)
                chunk.append(node)
                if len(chunk) >= CHUNK:
                    yield chunk
                    chunk = []
                if limit is not None and read >= limit:
                    break  # Shopify sorts by updatedAt: no need to page further
        if chunk:
            yield chunk

    def note_cursor(self, node: Any) -> None:
        """Keep the newest `updatedAt` read before the first unreadable node: Shopify sorts by
        updatedAt, so the cursor then stays at or before that node and the next run reads it
        again (a cursor never moves past a record that could not be read)."""
        if not readable(node):
            self.unreadable = True
            return
        stamp = node.get("updatedAt")
        if not self.unreadable and isinstance(stamp, str) and stamp > self.newest:
            self.newest = stamp

    def retry_ids(self) -> dict[str, None]:
        """Orders left unresolved by earlier runs (held, failed, left "sending"), in order."""
        retry: dict[str, None] = dict.fromkeys(self.pending_keys)
        for link in self.store.links(ORDER_LINK, status="sending"):
            retry.setdefault(str(link["key"]), None)
        return retry

    def needs_refund_details(
        self, order: Mapping[str, Any], link: Mapping[str, Any] | None
    ) -> bool:
        """Refund lines matter for an order about to be sent (the snapshot counts refunded
        units) and for a sent order with a refund it has not seen (events, credit notes);
        for the rest the ids are enough, which keeps a backfill free of refund look-ups."""
        refund_ids = {
            str(r.get("id")) for r in order.get("refunds") or [] if isinstance(r, Mapping)
        }
        if not refund_ids:
            return False
        if link is not None and link["status"] == "created":
            sent = (link["data"].get("sent") or {}).get("refund_ids") or []
            return bool(refund_ids - {str(r) for r in sent})
        return is_selected(order, self.settings)[0]

    def add_refund_details(
        self, orders: list[dict[str, Any]], links: Mapping[str, dict[str, Any] | None]
    ) -> None:
        """The order list carries refund ids only (cheap); fetch the lines of the refunds that
        are needed, in batches, and put them in place."""
        wanted = [o for o in orders if self.needs_refund_details(o, links.get(str(o["id"])))]
        ids = [
            str(refund["id"])
            for order in wanted
            for refund in order.get("refunds") or []
            if isinstance(refund, Mapping) and refund.get("id")
        ]
        if not ids:
            return
        details = {
            str(r["id"]): r
            for r in self.ctx.shopify.refunds_by_ids(ids, presentment=self.presentment)
        }
        for order in wanted:
            refunds = order.get("refunds") or []
            order["refunds"] = [details.get(str(r.get("id")), r) for r in refunds]
            with_shipping_tax(order)

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> None:
        ctx, report = self.ctx, self.report
        until = ctx.now()
        since = window_start(ctx, report, self.options)
        self.pending_keys = {
            str(row["ref"] or row["key"]) for row in self.store.pending(JOB, "order")
        }
        retry = self.retry_ids()
        ctx.progress.start("Syncing Shopify orders to Unleashed")
        for chunk in self.window_chunks(since, until):
            for node in chunk:
                if readable(node):
                    retry.pop(str(node["id"]), None)
            self.handle(chunk)
        retry_ids = list(retry)
        for start in range(0, len(retry_ids), CHUNK):
            batch = retry_ids[start : start + CHUNK]
            self.handle(
                ctx.shopify.orders_by_ids(
                    batch, presentment=self.presentment, locations=self.by_location
                )
            )
        ctx.progress.done()
        report.cursor_after = self.cursor_after(since)

    def handle(self, nodes: list[Any]) -> None:
        """Decide and act on one chunk of order nodes: report the unreadable, look up refund
        details and SKUs for the chunk at once, then send, hold or follow up each order."""
        report = self.report
        orders: list[dict[str, Any]] = []
        for node in nodes:
            if readable(node):
                orders.append(node)
                continue
            name = str(node.get("name") or "?") if isinstance(node, dict) else "?"
            report.add(
                Item(
                    "order",
                    name,
                    "fail",
                    error="Shopify returned an order without an id (or not an object); it "
                    "was skipped and the cursor stays before it, so the next run reads it again",
                )
            )
        orders.sort(key=lambda o: (str(o.get("updatedAt") or ""), str(o["id"])))
        links = {str(o["id"]): self.store.link(ORDER_LINK, str(o["id"])) for o in orders}
        self.add_refund_details(orders, links)
        to_send: list[dict[str, Any]] = []
        for order in orders:
            gid = str(order["id"])
            link = links[gid]
            if link is not None and link["status"] == "sending":
                link = self.resolve_sending(order, link)
            if link is not None and link["status"] == "created":
                self.after_import(order, link)
                continue
            selected, reason = is_selected(order, self.settings)
            if not selected:
                self.forget_pending(order, reason)
                continue
            to_send.append(order)
        if to_send:
            known = self.known_product_codes(to_send)
            for order in to_send:
                self.send(order, known)
        self.ctx.progress.advance(len(nodes))

    def cursor_after(self, since: datetime | None) -> str | None:
        """Where the next run starts: the newest `updatedAt` handled from the window (before
        any unreadable node), i.e. Shopify's clock, never this machine's (a local clock ahead
        of Shopify's would skip orders updated just after the run). An empty window keeps the
        cursor. It never moves backwards, and a --since later than the stored cursor leaves it
        where it is, so the orders in between (never read) are not skipped."""
        before = self.report.cursor_before
        after = iso(parse_iso(self.newest)) if self.newest else None
        if before is None:
            return after
        skipped_gap = since is not None and since > parse_iso(before) - OVERLAP
        if self.options.since is not None and skipped_gap:
            return before
        if after is None or parse_iso(after) < parse_iso(before):
            return before
        return after

    # -- sending one order -----------------------------------------------------------------

    def known_product_codes(self, orders: Iterable[Mapping[str, Any]]) -> set[str]:
        """Which SKUs of these orders exist (not obsolete) in Unleashed. Answers are kept for
        the run, so a chunk looks up only SKUs no earlier chunk asked about."""
        skus: set[str] = set()
        for order in orders:
            for line in (order.get("lineItems") or {}).get("nodes") or []:
                if isinstance(line, Mapping) and line.get("sku"):
                    skus.add(str(line["sku"]))
        if self.settings.shipping_mode == "product":
            skus.add(self.settings.shipping_product_code)
        unknown = sorted(skus - self.product_codes.keys())
        if unknown and not self.catalogue_read:
            self.look_up_products(unknown)
        return {sku for sku in skus if self.product_codes.get(sku)}

    def look_up_products(self, codes: list[str]) -> None:
        """Targeted look-ups (GUID batches, codes) until what they have cost plus what the next
        would cost reaches one scan of the catalogue; then scan once and know every SKU for the
        rest of the run. Like renting until the rent paid reaches the price of buying, this
        never spends more than about twice the cheaper way in hindsight, without knowing up
        front how many SKUs the window holds. The catalogue's size is estimated, for free, by
        the number of product links (no links: codes without a GUID, so a scan anyway)."""
        unleashed = self.ctx.unleashed
        guids = self.product_guids(codes)
        targeted = unleashed.product_lookup_calls(codes, guids)
        scan_calls = unleashed.product_scan_calls(self.store.count_links(PRODUCT_LINK))
        without_guid = len(codes) - len(guids)
        if without_guid > PER_CODE_LOOKUP_LIMIT or self.lookup_calls + targeted >= scan_calls:
            for product in unleashed.iter_products(include_obsolete=True):
                code = str(product.get("ProductCode") or "")
                self.product_codes[code] = not product.get("Obsolete")
            self.catalogue_read = True
            return
        found = unleashed.products_by_codes(codes, known_guids=guids, scan=False)
        self.lookup_calls += targeted
        for code in codes:
            self.product_codes[code] = code in found and not found[code].get("Obsolete")

    def product_guids(self, codes: Iterable[str]) -> dict[str, str]:
        """SKU -> Unleashed product Guid from the product links of these SKUs only (one
        indexed read each): loading every link would make memory grow with the catalogue."""
        guids: dict[str, str] = {}
        for code in codes:
            link = self.store.link(PRODUCT_LINK, code)
            guid = link and (link["data"].get("unleashed_guid") or link["remote_id"])
            if guid:
                guids[code] = str(guid)
        return guids

    def set_pending(self, gid: str, **fields: Any) -> None:
        self.store.set_pending(JOB, "order", gid, ref=gid, **fields)
        self.pending_keys.add(gid)

    def clear_pending(self, gid: str) -> None:
        """Off the retry list; no store write when it was not on it (the common case)."""
        if gid in self.pending_keys:
            self.store.clear_pending(JOB, "order", gid)
            self.pending_keys.discard(gid)

    def currency_rates(self) -> CurrencyRates:
        """Unleashed's exchange rates, read once a run (one request), when first needed."""
        if self.rates is None:
            self.rates = CurrencyRates.from_records(
                self.ctx.unleashed.currencies(in_use=True),
                self.ctx.config.unleashed.base_currency,
            )
        return self.rates

    def exchange_rate(self, order: Mapping[str, Any]) -> Decimal:
        """Unleashed's rate for the order's currency; CurrencyHold when it has none."""
        return self.currency_rates().rate_for(order_currency(order, self.settings))

    def hold(self, order: Mapping[str, Any], reason: str, detail: dict[str, Any]) -> None:
        gid = str(order["id"])
        name = str(order.get("name") or gid)
        self.report.add(Item("order", name, "hold", {**detail, "reason": reason}, error=reason))
        if not self.report.dry_run:
            self.set_pending(gid, action="hold", reason=reason, data={"name": name, **detail})

    def send(self, order: Mapping[str, Any], known: set[str]) -> None:
        report = self.report
        gid = str(order["id"])
        name = str(order.get("name") or gid)
        guid = sales_order_guid(self.shop, gid)
        try:
            rate = self.exchange_rate(order)
            draft = map_sales_order(
                order, self.settings, guid=guid, customer_code="?", exchange_rate=rate
            )
        except MappingError as exc:
            self.fail(order, f"cannot map the order: {exc}")
            return
        except CurrencyHold as exc:
            self.hold(order, str(exc), {"currency": order_currency(order, self.settings)})
            return
        try:
            drafts, warehouses = self.split(order, draft)
        except MappingError as exc:
            self.fail(order, f"cannot map the order: {exc}")
            return
        missing = draft.missing_from(known)
        if missing:
            unknown = [sku for sku in missing if sku not in draft.missing_skus]
            reasons = []
            if draft.missing_skus:
                titles = ", ".join(sku.removeprefix("<no sku: ")[:-1] for sku in draft.missing_skus)
                reasons.append(
                    f"lines without a SKU: {titles} (orders.lines_without_sku: charge sends "
                    "them as charge lines)"
                )
            if unknown:
                reasons.append("no Unleashed product for SKU " + ", ".join(unknown))
            detail: dict[str, Any] = {"missing_skus": missing}
            if "lines_without_sku" in draft.notes:
                detail["lines_without_sku"] = draft.notes["lines_without_sku"]
            self.hold(order, "; ".join(reasons), detail)
            return
        try:
            customer = self.customer_for(order)
        except MappingError as exc:
            self.fail(order, f"cannot map the order: {exc}")
            return
        except (DataError, OutcomeUnknown) as exc:
            self.fail(order, f"cannot find or create its customer: {exc}")
            return
        # The customer code is the only part of the payload that depends on the customer.
        mapped = with_customer(draft, customer)
        parts = [with_customer(part, customer) for part in drafts]
        detail = {**order_detail(mapped, customer), **mapped.notes}
        if self.by_location:
            detail["sales_orders"] = [sales_order_entry(part) for part in parts]
        if report.dry_run:
            report.add(Item("order", name, "create", detail))
            return
        first = parts[0]
        ledger: dict[str, Any] = {
            "name": name,
            "order_number": first.payload.get("OrderNumber"),
            "sent": SentSnapshot.from_mapped(mapped).to_json(),
            "customer": customer,
            "warehouse": first.warehouse,
        }
        if len(parts) > 1:
            ledger["sales_orders"] = [sales_order_entry(part) for part in parts]
            ledger["line_warehouses"] = warehouses
        self.store.put_link(ORDER_LINK, gid, status="sending", remote_id=first.guid, data=ledger)
        try:
            for part in parts:
                self.send_part(gid, name, part, split=len(parts) > 1)
        except (OutcomeUnknown, DataError) as exc:
            status = "sending" if isinstance(exc, OutcomeUnknown) else "failed"
            self.store.put_link(ORDER_LINK, gid, status=status, remote_id=first.guid, data=ledger)
            self.fail(order, str(exc), detail)
            return
        self.store.put_link(ORDER_LINK, gid, status="created", remote_id=first.guid, data=ledger)
        self.clear_pending(gid)
        report.add(Item("order", name, "create", detail))

    def split(
        self, order: Mapping[str, Any], draft: MappedOrder
    ) -> tuple[list[MappedOrder], dict[str, str]]:
        """The sales orders to send (one, or one per warehouse with warehouse_by_location)
        and which warehouse ships each Shopify line."""
        if not self.by_location:
            return [draft], {}
        rules = self.warehouse_rules()
        warehouses = line_warehouses(order, rules)
        parts = split_sales_order(
            draft, warehouses, rules, shop=self.shop, order_gid=str(order["id"])
        )
        return parts, warehouses

    def warehouse_rules(self) -> WarehouseRules:
        """inventory.locations as Shopify location gid -> warehouse code, read once a run
        (one request). A location Shopify does not have maps nothing: its lines fall back to
        orders.warehouse (`check` reports the unknown location)."""
        if self.rules is None:
            configured = dict(self.ctx.config.inventory.locations)
            known = self.ctx.shopify.locations() if configured else []
            by_location: dict[str, str] = {}
            for code, wanted in configured.items():
                location, _why = find_location(str(wanted), known)
                if location is not None:
                    by_location.setdefault(str(location["id"]), code)
            self.rules = WarehouseRules(
                by_location=by_location,
                default=self.settings.warehouse,
                order=tuple(configured),
            )
        return self.rules

    def send_part(self, gid: str, name: str, part: MappedOrder, *, split: bool) -> None:
        """POST one sales order. A split order's sales orders each have their own ledger row,
        written "sending" before the POST; one already created is not sent again."""
        if not split:
            self.post_sales_order(part.guid, part.payload)
            return
        key = f"{gid}|{part.warehouse}"
        row = self.store.link(SALES_ORDER_LINK, key)
        if row is not None and row["status"] == "created":
            return
        data = {
            "order": gid,
            "name": name,
            "warehouse": part.warehouse,
            "order_number": part.payload.get("OrderNumber"),
        }
        self.store.put_link(SALES_ORDER_LINK, key, status="sending", remote_id=part.guid, data=data)
        try:
            self.post_sales_order(part.guid, part.payload)
        except DataError:
            self.store.put_link(
                SALES_ORDER_LINK, key, status="failed", remote_id=part.guid, data=data
            )
            raise
        self.store.put_link(SALES_ORDER_LINK, key, status="created", remote_id=part.guid, data=data)

    def post_sales_order(self, guid: str, payload: Mapping[str, Any]) -> None:
        """POST once; after an ambiguous failure or a rejection, look the Guid up before
        anything is sent again (a lost reply may have created it)."""
        unleashed = self.ctx.unleashed
        try:
            unleashed.create_sales_order(guid, payload)
            return
        except OutcomeUnknown:
            if unleashed.get_sales_order(guid) is not None:
                return
            log.info("sales order %s not found after a lost reply; sending it again", guid)
        except DataError:
            if unleashed.get_sales_order(guid) is not None:
                return  # "duplicate Guid": an earlier attempt went through
            raise
        unleashed.create_sales_order(guid, payload)

    def resolve_sending(self, order: Mapping[str, Any], link: dict[str, Any]) -> dict[str, Any]:
        """A ledger row left "sending" by a crash or a lost reply: ask Unleashed."""
        if self.report.dry_run:
            return link
        guid = str(link["remote_id"])
        if link["data"].get("sales_orders"):
            found = self.resolve_parts(str(link["key"]), link["data"]["sales_orders"])
        else:
            found = self.ctx.unleashed.get_sales_order(guid) is not None
        if found:
            self.store.put_link(
                ORDER_LINK, link["key"], status="created", remote_id=guid, data=link["data"]
            )
            self.clear_pending(str(link["key"]))
            self.report.add(
                Item(
                    "order",
                    str(order.get("name") or link["key"]),
                    "create",
                    {
                        "order_number": link["data"].get("order_number"),
                        "note": "found in Unleashed after an interrupted run",
                    },
                )
            )
            link = dict(link, status="created")
        return link

    def resolve_parts(self, gid: str, sales_orders: list[dict[str, Any]]) -> bool:
        """Whether every sales order of a split order is in Unleashed; each found is marked
        created, so a later send posts only the ones still missing."""
        complete = True
        for entry in sales_orders:
            key = f"{gid}|{entry['warehouse']}"
            row = self.store.link(SALES_ORDER_LINK, key)
            if row is not None and row["status"] == "created":
                continue
            if self.ctx.unleashed.get_sales_order(str(entry["guid"])) is None:
                complete = False
                continue
            data = dict(row["data"]) if row is not None else {"order": gid, **entry}
            self.store.put_link(
                SALES_ORDER_LINK, key, status="created", remote_id=str(entry["guid"]), data=data
            )
        return complete

    def fail(
        self, order: Mapping[str, Any], error: str, detail: dict[str, Any] | None = None
    ) -> None:
        gid = str(order.get("id"))
        name = str(order.get("name") or gid)
        self.report.add(Item("order", name, "fail", detail or {}, error=error))
        if not self.report.dry_run:
            self.set_pending(gid, action="fail", reason=error, data={"name": name})

    def forget_pending(self, order: Mapping[str, Any], reason: str) -> None:
        """A held or failed order that is no longer selected (cancelled, refunded): stop
        retrying it."""
        gid = str(order.get("id"))
        if not self.report.dry_run and gid in self.pending_keys:
            self.clear_pending(gid)
            log.info(
                "%s is no longer sent (%s); dropped from the retry list", order.get("name"), reason
            )

    # -- customers -------------------------------------------------------------------------

    def customer_for(self, order: Mapping[str, Any]) -> str:
        """The Unleashed customer code for an order, per `orders.customer.mode`."""
        cfg = self.ctx.config.orders.customer
        if cfg.mode == "single":
            return cfg.code
        request = customer_request(order)
        if not request.email:
            return cfg.code
        email = request.email
        if email in self.customer_codes:
            return self.customer_codes[email]
        link = self.store.link(CUSTOMER_LINK, email)
        if link is not None:
            self.customer_codes[email] = str(link["remote_id"])
            return self.customer_codes[email]
        unleashed = self.ctx.unleashed
        matches = unleashed.find_customers_by_email(email)
        if matches:
            code = str(matches[0]["CustomerCode"])
        else:
            code = customer_code_for(email)
            if not self.report.dry_run:
                self.create_customer(order, email, code)
        if not self.report.dry_run:
            self.store.put_link(CUSTOMER_LINK, email, status="linked", remote_id=code)
        self.customer_codes[email] = code
        return code

    def create_customer(self, order: Mapping[str, Any], email: str, code: str) -> None:
        """POST the customer under its deterministic Guid. After an ambiguous failure or a
        rejection the code is looked up first: a lost reply may have created it, and a
        rejected code may belong to this very customer. Sent again only when it is absent."""
        unleashed = self.ctx.unleashed
        guid = customer_guid(self.shop, email)
        currency = str(order.get("currencyCode") or "")
        body = new_customer_payload(guid, code, customer_request(order), currency)
        try:
            unleashed.create_customer(guid, body)
            return
        except (OutcomeUnknown, DataError) as exc:
            existing = unleashed.get_customer_by_code(code)
            if existing is None and isinstance(exc, DataError):
                raise
        if existing is None:
            log.info("customer %s not found after a lost reply; sending it again", code)
            unleashed.create_customer(guid, body)
            return
        if str(existing.get("Email") or "").strip().lower() != email:
            raise DataError(
                f"customer code {code} is taken by another customer in Unleashed; "
                "create this customer by hand or use orders.customer.mode: single",
                api="unleashed",
            )

    # -- after import ----------------------------------------------------------------------

    def after_import(self, order: Mapping[str, Any], link: dict[str, Any]) -> None:
        """Report edits, cancellation and refunds of an order already sent, once each."""
        gid = str(link["key"])
        name = str(order.get("name") or link["data"].get("name") or gid)
        try:
            sent = SentSnapshot.from_json(link["data"].get("sent") or {})
            events = detect_events(order, sent, self.store.seen_events(gid))
        except (MappingError, ValueError) as exc:
            self.report.add(
                Item("order", name, "fail", error=f"cannot compare with what was sent: {exc}")
            )
            return
        unfinished = 0
        for event in events:
            item = event.to_item(name)
            credit = event.action == "refund" and self.ctx.config.orders.refunds == "credit_note"
            if credit and not self.credit(order, link, event.key.split(":", 1)[1], item):
                unfinished += 1  # not marked: the credit note is retried next run
                continue
            self.report.add(item)
            if not self.report.dry_run:
                self.report.events.append((gid, event.key))
        if self.report.dry_run:
            return
        if unfinished:
            # On the retry list, so the order is read again even once the cursor has moved
            # past its last change (failed items are retried on every run).
            self.set_pending(
                gid,
                action="fail",
                reason=f"{unfinished} credit note(s) not created yet; retried next run",
                data={"name": name},
            )
        else:
            self.clear_pending(gid)

    def credit(
        self, order: Mapping[str, Any], link: dict[str, Any], refund_id: str, item: Item
    ) -> bool:
        """One free credit note per refund, ledger first; False when it must be retried
        (an API failure), True when done or when it can never be made (reported)."""
        name = item.key
        guid = credit_note_guid(self.shop, refund_id)
        refund = next((r for r in order.get("refunds") or [] if r.get("id") == refund_id), None)
        ledger = self.store.link(CREDIT_NOTE_LINK, refund_id)
        if ledger is not None and ledger["status"] == "created":
            item.detail["credit_note"] = guid
            return True
        if refund is None:
            self.report.add(Item("refund", name, "fail", error=f"refund {refund_id} not found"))
            return False
        customer = str(link["data"].get("customer") or self.ctx.config.orders.customer.code)
        settings = self.settings
        shipped_from = link["data"].get("warehouse")
        if shipped_from:
            # Credited in the warehouse that shipped the refunded lines (split orders: the
            # sales order that had most of the refunded units).
            warehouse = refund_warehouse(
                refund, link["data"].get("line_warehouses") or {}, str(shipped_from)
            )
            settings = dataclasses.replace(settings, warehouse=warehouse)
        try:
            payload = map_free_credit(
                refund,
                order,
                settings,
                guid=guid,
                customer_code=customer,
                exchange_rate=self.exchange_rate(order),
            )
        except (MappingError, CurrencyHold) as exc:
            # Permanent (e.g. an amount-only refund): reported once with the refund, not
            # retried; someone credits it by hand.
            error = f"cannot map the refund to a credit note, credit it by hand: {exc}"
            self.report.add(Item("refund", name, "fail", {"refund": refund_id}, error=error))
            item.detail["credit_note"] = None
            return True
        item.detail["credit_note"] = {"guid": guid, "total": payload.get("Total")}
        if self.report.dry_run:
            return True
        self.store.put_link(
            CREDIT_NOTE_LINK,
            refund_id,
            status="sending",
            remote_id=guid,
            data={"order": name, "reference": credit_reference(name, refund_id)},
        )
        unleashed = self.ctx.unleashed
        try:
            if ledger is None or unleashed.get_credit_note(guid) is None:
                try:
                    unleashed.create_free_credit(payload)
                except (OutcomeUnknown, DataError):
                    if unleashed.get_credit_note(guid) is None:
                        raise
        except (OutcomeUnknown, DataError, NotFound) as exc:
            self.report.add(Item("refund", name, "fail", {"refund": refund_id}, error=str(exc)))
            return False
        self.store.put_link(
            CREDIT_NOTE_LINK,
            refund_id,
            status="created",
            remote_id=guid,
            data={"order": name, "reference": credit_reference(name, refund_id)},
        )
        return True


def readable(node: Any) -> bool:
    """An order node the run can act on: an object with an id."""
    return isinstance(node, dict) and bool(node.get("id"))


def with_customer(mapped: MappedOrder, customer: str) -> MappedOrder:
    return dataclasses.replace(
        mapped, payload={**mapped.payload, "Customer": {"CustomerCode": customer}}
    )


def sales_order_entry(part: MappedOrder) -> dict[str, Any]:
    """How the report and the ledger name one sales order made for an order."""
    return {
        "order_number": part.payload.get("OrderNumber"),
        "guid": part.guid,
        "warehouse": part.warehouse,
        "lines": len(part.payload.get("SalesOrderLines") or []),
        "total": str(part.payload.get("Total")),
    }
