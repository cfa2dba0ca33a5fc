"""`sync fulfillments`: dispatched Unleashed shipments become Shopify fulfilments, once each.

The run reads the sales shipments Unleashed changed since the cursor (status Dispatched, with a
day of overlap because `modifiedSince` may be honoured only to the day), keeps those of orders
syncer created (the orders job's "order" links, by OrderNumber), reads those orders' fulfilment
orders and status from Shopify in batches, plans (pure, fulfillments/planner.py) and executes:

- each `fulfillmentCreate` has a ledger row (links kind "fulfillment", key
  `<shipment guid>@<location gid>`) committed as "sending" BEFORE the call, holding the
  fulfilment order line items' remaining quantities as they were and when it was sent; the
  call is not retry-safe, so after an ambiguous failure (OutcomeUnknown) the order's
  fulfilment orders are read again: the remaining quantities dropped by what was sent means
  it was applied and is recorded; unchanged quantities mean not applied, and it is sent again
  in the same run: at once when Shopify replied (an error status: it has finished with the
  request), else only once the call is `SETTLE` old and a second read still finds it missing
  (a request whose connection dropped or timed out may still be running in Shopify);
  quantities changed by other amounts leave the row "sending" for a person;
- a row still "sending" from an earlier run (one killed mid-call) is settled before planning,
  after waiting until it is `SETTLE` old: applied is recorded; not applied is marked
  "unsent" and the shipment planned again; anything else is left for a person. So a shipment
  is never fulfilled twice, and a call in doubt costs seconds, not a later run;
- when every part of a shipment is created, the shipment is recorded (links kind "shipment",
  key shipment Guid, status "fulfilled") and never looked at again; parts created by a run that
  stopped before recording the shipment complete it on the next run.

Shipments of orders Shopify already fulfilled or cancelled are `conflict` items: reported once
(the shipment is recorded with status "reported"), never forced. Like every report-only item
they do not change the exit code, so a run with only conflicts exits 0. Held
(`hold`) and failed (`fail`) shipments exit 1, are kept in the pending list and retried on every
run: the read window reaches back to the oldest of them.

The cursor becomes the run's start time once every shipment of the window is fulfilled,
reported, held or recorded as failed; a run stopped by an API outage does not move it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from syncer.connectors.unleashed import parse_date, shipping_company_name
from syncer.engine import Context, Options
from syncer.errors import DataError, OutcomeUnknown, UsageError
from syncer.fulfillments.planner import (
    DISPATCHED,
    FulfillmentCreate,
    Verdict,
    applied_verdict,
    plan_fulfillments,
    remaining_by_line,
    sent_quantities,
    several_locations,
)
from syncer.links import FULFILLMENT_LINK, ORDER_LINK, SHIPMENT_LINK
from syncer.report import Item, RunReport
from syncer.timeutil import iso, parse_iso

log = logging.getLogger("syncer.fulfillments")

JOB = "fulfillments"
ENTITY: Final = "fulfillment"
# `modifiedSince` may be day-granular (or read in another zone): re-read a day and a bit.
OVERLAP = timedelta(days=1, hours=1)
SHIPPED_STATUS = "Dispatched"
# How old a `fulfillmentCreate` that got no reply (a dropped connection, a timeout, a run
# killed mid-call) must be before "not in Shopify" is trusted as "never will be". Until the
# request is done in Shopify, "not applied" cannot be told from "not applied yet"; a request
# still being handled when its client went away finishes within moments (creating one
# fulfilment takes Shopify well under a second, and by then the client has already waited its
# read timeout). Ten seconds covers that with a wide margin and keeps the run short; a call
# Shopify replied to with an error status is finished and needs no wait.
SETTLE = timedelta(seconds=10)
# How many times one run sends a fulfilment whose calls keep failing ambiguously and keep
# turning out not applied, before it leaves the shipment to the next run.
SENDS = 3


def run(ctx: Context, report: RunReport, options: Options) -> None:
    if not ctx.config.fulfillments.enabled:
        raise UsageError(
            "fulfillments are disabled in the config (fulfillments.enabled: false); nothing done"
        )
    FulfillmentsRun(ctx, report, options).execute()


@dataclass
class ShipmentOutcome:
    """What happened to the creates of one shipment during execution."""

    fulfillments: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class FulfillmentsRun:
    """One fulfilments run; state lives here only for the duration of the run."""

    def __init__(self, ctx: Context, report: RunReport, options: Options) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.report = report
        self.options = options
        self.dry_run = report.dry_run
        # OrderNumber -> (Shopify order gid, Shopify order name) of orders syncer created.
        self.ours: dict[str, tuple[str, str]] = {}
        # Shopify order gid -> its fulfilment orders, as read at the start of the run.
        self.fulfillment_orders: dict[str, list[dict[str, Any]]] = {}
        # Fulfilment order line item id -> units left, kept current as fulfilments are created.
        self.remaining: dict[str, int] = {}
        self.done: set[str] = set()  # shipment Guids and ledger keys done with

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> None:
        ctx, report = self.ctx, self.report
        until = ctx.now()
        self.ours = self.our_orders()
        self.done = self.done_keys()
        sending = self.store.links(FULFILLMENT_LINK, status="sending")
        if not self.ours:
            log.info("no orders created by syncer yet: no shipment can be ours")
            report.cursor_after = self.next_cursor(until)
            return

        shipments = self.read_shipments(self.window_start(sending), until)
        fresh = [s for s in shipments if str(s.get("Guid") or "") not in self.done]
        order_gids = {self.ours[str(s.get("OrderNumber"))][0] for s in fresh}
        order_gids |= {
            str(row["data"]["order_gid"]) for row in sending if row["data"].get("order_gid")
        }
        self.wait_for_settling(sending)
        orders = self.read_orders(sorted(order_gids))
        self.settle_sending(sending)
        fresh = [s for s in fresh if str(s.get("Guid") or "") not in self.done]

        orders_by_number: dict[str, dict[str, Any]] = {}
        for shipment in fresh:
            number = str(shipment.get("OrderNumber"))
            gid, name = self.ours[number]
            order = orders.get(gid)
            if order is None:
                self.report_missing_order(shipment, gid, name)
                continue
            orders_by_number[number] = order
        fresh = [s for s in fresh if str(s.get("OrderNumber")) in orders_by_number]

        plan = plan_fulfillments(
            fresh,
            orders_by_number,
            self.done,
            notify_customer=ctx.config.fulfillments.notify_customer,
            locations=self.location_gids() if several_locations(orders_by_number) else {},
        )
        log.info("fulfilments planned: %d creates; %s", len(plan.creates), plan.detail())
        by_key = {self.item_key(s, orders_by_number): s for s in fresh}
        creates: dict[str, list[FulfillmentCreate]] = {}
        for create in plan.creates:
            creates.setdefault(create.shipment_guid, []).append(create)

        if plan.creates and not self.dry_run:
            ctx.progress.start("Creating Shopify fulfilments", total=len(plan.creates))
        unfulfilled = self.unfulfilled_by_sku(orders_by_number)
        for item in plan.items:
            shipment = by_key.get(item.key, {})
            guid = str(shipment.get("Guid") or "")
            if item.action == "create":
                item.detail["changes"] = self.changes(item, shipment, unfulfilled)
            if item.action == "create" and not self.dry_run:
                outcome = self.fulfil(creates.get(guid, []), shipment)
                self.finish_shipment(item, shipment, outcome)
            else:
                self.record(item, shipment)
                report.add(item)
        if plan.creates and not self.dry_run:
            ctx.progress.done()
        report.cursor_after = self.next_cursor(until)

    @staticmethod
    def unfulfilled_by_sku(orders: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], int]:
        """(OrderNumber, SKU) -> units Shopify has left to fulfil, for the plan table."""
        left: dict[tuple[str, str], int] = {}
        for number, order in orders.items():
            for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
                for line in (fo.get("lineItems") or {}).get("nodes") or []:
                    sku = str(line.get("sku") or (line.get("lineItem") or {}).get("sku") or "")
                    key = (number, sku)
                    left[key] = left.get(key, 0) + int(line.get("remainingQuantity") or 0)
        return left

    @staticmethod
    def changes(
        item: Item, shipment: Mapping[str, Any], unfulfilled: dict[tuple[str, str], int]
    ) -> dict[str, dict[str, Any]]:
        """What the fulfilment changes in Shopify, as the field-level diff the plan table shows:
        units left to fulfil per SKU before and after, and the tracking sent."""
        number = str(shipment.get("OrderNumber") or "")
        changes: dict[str, dict[str, Any]] = {}
        for line in item.detail.get("lines") or []:
            key = (number, str(line["sku"]))
            before = unfulfilled.get(key, 0)
            unfulfilled[key] = before - int(line["quantity"])
            changes[f"{line['sku']} left to fulfil"] = {"current": before, "new": unfulfilled[key]}
        tracking = item.detail.get("tracking") or {}
        if tracking:
            changes["tracking"] = {
                "current": None,
                "new": " ".join(str(tracking[k]) for k in ("company", "number") if k in tracking),
            }
        return changes

    def next_cursor(self, until: datetime) -> str:
        after = iso(until)
        if self.report.cursor_before:
            # --since reads an older window once; it never moves the cursor backwards.
            after = max(after, self.report.cursor_before)
        return after

    # -- reading ---------------------------------------------------------------------------

    def our_orders(self) -> dict[str, tuple[str, str]]:
        """OrderNumber -> (order gid, order name) for every sales order syncer sent."""
        ours: dict[str, tuple[str, str]] = {}
        for link in self.store.links(ORDER_LINK):
            if link["status"] not in ("created", "sending"):
                continue
            name = str(link["data"].get("name") or "")
            # An order split over warehouses has one sales order per warehouse; a shipment of
            # any of them goes back to the same Shopify order.
            numbers = [link["data"].get("order_number")] + [
                entry.get("order_number") for entry in link["data"].get("sales_orders") or []
            ]
            for number in numbers:
                if number:
                    ours[str(number)] = (str(link["key"]), name)
        return ours

    def done_keys(self) -> set[str]:
        """Shipments recorded as fulfilled or reported, and the fulfilment parts created."""
        done = {str(link["key"]) for link in self.store.links(SHIPMENT_LINK)}
        done |= {str(link["key"]) for link in self.store.links(FULFILLMENT_LINK, status="created")}
        return done

    def window_start(self, sending: list[dict[str, Any]]) -> datetime | None:
        """--since, else the cursor, reaching back to the oldest held, failed or unsettled
        shipment so it is read again; minus the overlap. None reads every dispatched shipment
        of our orders' lifetime (first run: from the first order syncer sent)."""
        moments: list[datetime] = []
        if self.options.since is not None:
            moments.append(self.options.since)
        elif self.report.cursor_before:
            moments.append(parse_iso(self.report.cursor_before))
        else:
            first_order = min(
                (str(link["created_at"]) for link in self.store.links(ORDER_LINK)), default=None
            )
            if first_order is None:
                return None
            moments.append(parse_iso(first_order))
        retried = [row["data"] for row in self.store.pending(JOB, ENTITY)]
        retried += [row["data"] for row in sending]
        for data in retried:
            if data.get("modified"):
                moments.append(parse_iso(str(data["modified"])))
        return min(moments) - OVERLAP

    def read_shipments(self, since: datetime | None, until: datetime) -> list[dict[str, Any]]:
        """Dispatched shipments of our orders changed in the window, each once, in shipment
        number order (so earlier shipments of an order take its units first)."""
        ctx = self.ctx
        ctx.progress.start("Reading Unleashed shipments")
        found: dict[str, dict[str, Any]] = {}
        others = 0
        for shipment in ctx.unleashed.iter_sales_shipments(
            modified_since=since, shipment_status=SHIPPED_STATUS
        ):
            ctx.progress.advance()
            if str(shipment.get("OrderNumber") or "") not in self.ours:
                others += 1
                continue
            if str(shipment.get("ShipmentStatus") or "").casefold() != DISPATCHED:
                continue
            shipment = dict(shipment, ShippingCompany=shipping_company_name(shipment))
            found[str(shipment.get("Guid") or shipment.get("ShipmentNumber"))] = shipment
        ctx.progress.done()
        log.info(
            "read %d dispatched shipments of syncer's orders since %s (%d of other orders)",
            len(found),
            iso(since) if since else "the start",
            others,
        )
        return sorted(found.values(), key=lambda s: str(s.get("ShipmentNumber") or ""))

    def read_orders(self, gids: list[str]) -> dict[str, dict[str, Any]]:
        """The orders in the planner's shape: status from one batched read, fulfilment orders
        from another."""
        if not gids:
            return {}
        shopify = self.ctx.shopify
        self.fulfillment_orders = shopify.fulfillment_orders_for(gids)
        self.remaining = {
            line: left
            for fos in self.fulfillment_orders.values()
            for line, left in remaining_by_line(fos).items()
        }
        orders: dict[str, dict[str, Any]] = {}
        for order in shopify.orders_by_ids(gids):
            gid = str(order["id"])
            orders[gid] = {
                "id": gid,
                "name": order.get("name"),
                "cancelledAt": order.get("cancelledAt"),
                "displayFulfillmentStatus": order.get("displayFulfillmentStatus"),
                "fulfillmentOrders": {"nodes": self.fulfillment_orders.get(gid, [])},
            }
        return orders

    def location_gids(self) -> dict[str, str]:
        """inventory.locations (warehouse code -> location name or gid) as gids: the planner
        prefers fulfilment orders at the shipment's warehouse. Unknown names are skipped."""
        configured = dict(self.ctx.config.inventory.locations)
        if not configured:
            return {}
        by_name = {str(loc["name"]): str(loc["id"]) for loc in self.ctx.shopify.locations()}
        gids: dict[str, str] = {}
        for code, target in configured.items():
            gid = target if str(target).startswith("gid://") else by_name.get(str(target))
            if gid:
                gids[code] = gid
        return gids

    # -- settling rows left "sending" --------------------------------------------------------

    def wait_for_settling(self, sending: list[dict[str, Any]]) -> None:
        """Rows left "sending" by a run that died mid-call: wait until the youngest call is
        `SETTLE` old, so one still being handled in Shopify has landed before the fulfilment
        orders are read and the rows are judged by them."""
        if not sending:
            return
        wait = max(sent_at(row) for row in sending) + SETTLE - self.ctx.now()
        if wait > timedelta(0):
            log.info(
                "waiting %.1f s for %d fulfilment(s) sent without a reply to settle",
                wait.total_seconds(),
                len(sending),
            )
            self.ctx.sleep(wait.total_seconds())

    def settle_sending(self, sending: list[dict[str, Any]]) -> None:
        """Decide each unsettled ledger row from Shopify's remaining quantities (read after
        `wait_for_settling`) before anything is planned, so a fulfilment that went through is
        never planned again."""
        for row in sending:
            data = row["data"]
            fos = self.fulfillment_orders.get(str(data.get("order_gid")), [])
            verdict = applied_verdict(
                {k: int(v) for k, v in (data.get("before") or {}).items()},
                {k: int(v) for k, v in (data.get("sent") or {}).items()},
                remaining_by_line(fos),
            )
            if verdict == "applied":
                self.mark_part(
                    row["key"], "created", data, note="found in Shopify after a lost reply"
                )
            elif verdict == "not_applied":
                self.mark_part(row["key"], "unsent", data)
            else:
                self.done.add(str(data.get("shipment_guid")))  # do not plan it on guesswork
                error = (
                    f"cannot tell whether fulfilment {row['key']} of shipment "
                    f"{data.get('shipment_number')} reached Shopify: the remaining quantities "
                    f"of order {data.get('order_name')} changed by other amounts than were "
                    "sent. Fulfil by hand in Shopify whatever of the shipment is still open; "
                    "the next run then finds it fulfilled and records it"
                )
                self.report.add(
                    Item(ENTITY, str(data.get("key") or row["key"]), "fail", error=error)
                )
        self.complete_shipments()

    def complete_shipments(self) -> None:
        """Record the shipments whose every part is created but which are not recorded yet
        (settled above, or a run stopped between a part's reply and the shipment's record)."""
        parts_of: dict[str, dict[str, Any]] = {}
        for link in self.store.links(FULFILLMENT_LINK, status="created"):
            guid = str(link["data"].get("shipment_guid") or "")
            if guid and guid not in self.done:
                parts = link["data"].get("parts") or [link["key"]]
                parts_of.setdefault(guid, dict(link["data"], parts=parts))
        if self.dry_run:  # a dry run records nothing, but what it settled counts as created
            for key in self.done:
                guid = key.partition("@")[0]
                if "@" in key and guid not in self.done:
                    parts_of.setdefault(guid, {"shipment_guid": guid, "parts": [key]})
        for guid, data in parts_of.items():
            parts = [str(p) for p in data.get("parts") or []]
            if not parts or not all(part in self.done for part in parts):
                continue
            self.mark_shipment(guid, data, status="fulfilled")
            self.report.add(
                Item(
                    ENTITY,
                    str(data.get("key") or guid),
                    "create",
                    {
                        "shipment": data.get("shipment_number"),
                        "order": data.get("order_name"),
                        "note": "found in Shopify after an interrupted run",
                    },
                )
            )

    def mark_part(self, key: str, status: str, data: dict[str, Any], note: str = "") -> None:
        if status == "created":
            self.done.add(key)
        if self.dry_run:
            return
        self.store.put_link(
            FULFILLMENT_LINK,
            key,
            status=status,
            remote_id=data.get("fulfillment_id"),
            data=dict(data, note=note) if note else data,
        )

    def shipment_ledger(
        self, shipment: Mapping[str, Any], item: Item, **extra: Any
    ) -> dict[str, Any]:
        """What the shipment ledger keeps of a shipment and its order."""
        return {
            "shipment_number": shipment.get("ShipmentNumber"),
            "order_number": shipment.get("OrderNumber"),
            "order_name": item.detail.get("order"),
            "order_gid": self.ours.get(str(shipment.get("OrderNumber")), ("", ""))[0],
            **extra,
        }

    def mark_shipment(self, guid: str, data: Mapping[str, Any], *, status: str) -> None:
        self.done.add(guid)
        if self.dry_run:
            return
        self.store.put_link(
            SHIPMENT_LINK,
            guid,
            status=status,
            remote_id=str(data.get("order_gid") or ""),
            data={
                "shipment_number": data.get("shipment_number"),
                "order_number": data.get("order_number"),
                "order_name": data.get("order_name"),
                **({"fulfillments": data["fulfillments"]} if data.get("fulfillments") else {}),
                **({"reason": data["reason"]} if data.get("reason") else {}),
            },
        )
        self.store.clear_pending(JOB, ENTITY, guid)

    # -- executing ---------------------------------------------------------------------------

    def fulfil(
        self, creates: list[FulfillmentCreate], shipment: Mapping[str, Any]
    ) -> ShipmentOutcome:
        outcome = ShipmentOutcome()
        parts = [c.ledger_key for c in creates]
        for create in creates:
            try:
                fulfillment_id = self.send(create, parts, shipment)
            except (DataError, OutcomeUnknown) as exc:
                outcome.errors.append(str(exc))
                break  # the rest of the shipment waits: a person sees one clear state
            outcome.fulfillments.append(fulfillment_id)
            self.ctx.progress.advance()
        return outcome

    def send(self, create: FulfillmentCreate, parts: list[str], shipment: Mapping[str, Any]) -> str:
        """One fulfillmentCreate, ledger first; returns the fulfilment id ("" when it was
        found applied after an ambiguous failure). Raises DataError, or OutcomeUnknown when
        it is left to the next run or a person."""
        sent = sent_quantities(create.input)
        before = {line: self.remaining.get(line, 0) for line in sent}
        modified = (
            parse_date(shipment.get("LastModifiedOn")) if shipment.get("LastModifiedOn") else None
        )
        data: dict[str, Any] = {
            "key": create.key,
            "shipment_guid": create.shipment_guid,
            "shipment_number": create.shipment_number,
            "order_number": shipment.get("OrderNumber"),
            "order_gid": create.order_gid,
            "order_name": create.order_name,
            "location_gid": create.location_gid,
            "sent": sent,
            "before": before,
            "parts": parts,
            "tracking": create.input.get("trackingInfo") or {},
            "modified": iso(modified) if modified else None,
            "sent_at": iso(self.ctx.now()),
        }
        self.store.put_link(FULFILLMENT_LINK, create.ledger_key, status="sending", data=data)
        try:
            fulfillment_id = self.create_once(create, data, before, sent)
        except DataError:
            self.store.put_link(FULFILLMENT_LINK, create.ledger_key, status="failed", data=data)
            raise
        for line, qty in sent.items():
            self.remaining[line] = self.remaining.get(line, 0) - qty
        self.store.put_link(
            FULFILLMENT_LINK,
            create.ledger_key,
            status="created",
            remote_id=fulfillment_id or None,
            data=dict(data, fulfillment_id=fulfillment_id or None),
        )
        self.done.add(create.ledger_key)
        return fulfillment_id

    def create_once(
        self,
        create: FulfillmentCreate,
        data: dict[str, Any],
        before: Mapping[str, int],
        sent: Mapping[str, int],
    ) -> str:
        """Send the create until Shopify answers it or has it, at most SENDS times; returns
        the fulfilment id ("" when found applied). After an ambiguous failure it is sent again
        only once Shopify is done with the call and shows it not applied: at once after an
        error reply, after the `SETTLE` wait and a second look when no reply came. `data` is
        the ledger row; its `sent_at` moves to each new send, so a run killed mid-resend is
        judged by the last call."""
        shopify = self.ctx.shopify
        for attempt in range(1, SENDS + 1):
            try:
                return str(shopify.fulfillment_create(create.input).get("id") or "")
            except OutcomeUnknown as exc:
                verdict = self.recheck(create.order_gid, before, sent)
                if verdict == "not_applied" and not exc.replied:
                    wait = parse_iso(str(data["sent_at"])) + SETTLE - self.ctx.now()
                    if wait > timedelta(0):
                        log.info(
                            "fulfilment %s got no reply and is not in Shopify yet: "
                            "looking again in %.1f s",
                            create.key,
                            wait.total_seconds(),
                        )
                        self.ctx.sleep(wait.total_seconds())
                    verdict = self.recheck(create.order_gid, before, sent)
                if verdict == "applied":
                    return ""
                if verdict != "not_applied":
                    raise OutcomeUnknown(
                        f"{exc}. Shopify's remaining quantities of order {create.order_name} "
                        "changed by other amounts than were sent, so whether the fulfilment "
                        "went through cannot be told; it is not sent again. Fulfil by hand in "
                        "Shopify whatever of the shipment is still open",
                        api=exc.api,
                    ) from exc
                if attempt == SENDS:
                    raise OutcomeUnknown(
                        f"{exc}. The fulfilment was sent {SENDS} times without a clear answer "
                        "and is not in Shopify; the next run looks again and sends it if it is "
                        "still missing",
                        api=exc.api,
                    ) from exc
                log.info("fulfilment %s is not in Shopify: sending it again", create.key)
                data["sent_at"] = iso(self.ctx.now())
                self.store.put_link(
                    FULFILLMENT_LINK, create.ledger_key, status="sending", data=data
                )
        raise AssertionError("unreachable: the last send returns or raises")

    def recheck(
        self, order_gid: str, before: Mapping[str, int], sent: Mapping[str, int]
    ) -> Verdict:
        """After an ambiguous failure: read the order's fulfilment orders again and judge."""
        fos = self.ctx.shopify.fulfillment_orders_for([order_gid]).get(order_gid, [])
        now = remaining_by_line(fos)
        verdict = applied_verdict(before, sent, now)
        log.info("fulfilment of %s after an ambiguous failure: %s", order_gid, verdict)
        return verdict

    def finish_shipment(
        self, item: Item, shipment: Mapping[str, Any], outcome: ShipmentOutcome
    ) -> None:
        guid = str(shipment.get("Guid") or "")
        if outcome.errors:
            error = "; ".join(outcome.errors)
            if outcome.fulfillments:
                error += (
                    f" (after {len(outcome.fulfillments)} fulfilment(s) of this shipment were "
                    "created; the rest is held for a person on the next run)"
                )
            failed = Item(item.entity, item.key, "fail", item.detail, error=error)
            self.record(failed, shipment)
            self.report.add(failed)
            return
        item.detail["fulfillments"] = [f for f in outcome.fulfillments if f]
        self.mark_shipment(
            guid,
            self.shipment_ledger(shipment, item, fulfillments=item.detail["fulfillments"]),
            status="fulfilled",
        )
        self.report.add(item)

    # -- recording outcomes --------------------------------------------------------------------

    def record(self, item: Item, shipment: Mapping[str, Any]) -> None:
        """Keep held and failed shipments for the next run; record reported ones as done."""
        if self.dry_run:
            return
        guid = str(shipment.get("Guid") or "")
        key = guid or item.key
        if item.action in ("hold", "fail"):
            modified = (
                parse_date(shipment.get("LastModifiedOn"))
                if shipment.get("LastModifiedOn")
                else None
            )
            self.store.set_pending(
                JOB,
                ENTITY,
                key,
                ref=guid or None,
                action=item.action,
                reason=item.error or "",
                data={
                    "key": item.key,
                    "shipment_number": shipment.get("ShipmentNumber"),
                    "order_number": shipment.get("OrderNumber"),
                    "modified": iso(modified) if modified else None,
                },
            )
        elif item.action == "conflict" and guid:
            self.mark_shipment(
                guid, self.shipment_ledger(shipment, item, reason=item.error), status="reported"
            )

    def report_missing_order(self, shipment: Mapping[str, Any], gid: str, name: str) -> None:
        """The Shopify order syncer created is gone (deleted): report, never guess."""
        number = str(shipment.get("ShipmentNumber") or shipment.get("Guid"))
        item = Item(
            ENTITY,
            f"{name or gid}/{number}",
            "conflict",
            {"shipment": number, "order": name or gid},
            error=(
                f"Shopify order {name or gid} no longer exists but Unleashed dispatched shipment "
                f"{number}: nothing was fulfilled"
            ),
        )
        self.record(item, shipment)
        self.report.add(item)

    def item_key(self, shipment: Mapping[str, Any], orders: Mapping[str, Mapping[str, Any]]) -> str:
        """The key the planner gives this shipment's item."""
        order = orders[str(shipment.get("OrderNumber"))]
        order_name = str(order.get("name") or order.get("id") or "")
        return f"{order_name}/{shipment.get('ShipmentNumber') or shipment.get('Guid') or ''}"


def sent_at(row: Mapping[str, Any]) -> datetime:
    """When a ledger row's call was sent (rows written before that was kept: last written)."""
    return parse_iso(str(row["data"].get("sent_at") or row["updated_at"]))
