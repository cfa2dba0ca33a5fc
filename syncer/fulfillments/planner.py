"""Plan Shopify fulfilments from dispatched Unleashed shipments.

Pure: it takes the shipments, the Shopify orders syncer created (with their fulfilment orders)
and the ledger of shipments already fulfilled, and returns the `fulfillmentCreate` inputs and
one report item per shipment. It never talks to an API.

Matching is by SKU: Unleashed shipment lines name a ProductCode, Shopify fulfilment order line
items carry the variant SKU (the join key of the whole sync). Unleashed line numbers are not
used, because nothing ties them to Shopify line item ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from syncer.money import to_decimal
from syncer.report import Action, Item
from syncer.shapes import connection_nodes

DISPATCHED = "dispatched"
# Fulfilment orders that `fulfillmentCreate` accepts lines from.
FULFILLABLE_STATUSES = frozenset({"OPEN", "IN_PROGRESS"})
# Waiting on someone in Shopify (released, rescheduled or completed there), not gone for good.
BLOCKED_STATUSES = frozenset({"ON_HOLD", "SCHEDULED", "INCOMPLETE"})

# Shopify builds the tracking URL itself for companies on its supported list, spelled exactly
# as listed (FulfillmentTrackingInput.company in admin-2026-10.graphql; capitalisation
# matters). Unleashed's ShippingCompany is free text, so known names are matched without
# regard to case and sent in Shopify's spelling; anything else is sent as written. No URL is
# built here: Shopify's own URL for a known company is more reliable than a guessed format.
_SHOPIFY_TRACKING_COMPANIES = {
    name.casefold(): name
    for name in (
        "Australia Post",
        "Canada Post",
        "DHL eCommerce",
        "DHL Express",
        "DPD",
        "DPD UK",
        "Evri",
        "FedEx",
        "GLS",
        "New Zealand Post",
        "PostNL",
        "Purolator",
        "Royal Mail",
        "Sendle",
        "StarTrack",
        "TNT",
        "UPS",
        "USPS",
    )
}
_TRACKING_COMPANY_ALIASES = {"nz post": "New Zealand Post", "nzpost": "New Zealand Post"}


@dataclass(frozen=True)
class FulfillmentCreate:
    """One `fulfillmentCreate` call: the fulfilment orders of one order at one location.

    `ledger_key` (`<shipment guid>@<location gid>`) names this part of the shipment; record it
    when the call succeeds, and the shipment Guid once every part of it has.
    """

    shipment_guid: str
    shipment_number: str
    order_name: str
    order_gid: str
    location_gid: str
    input: dict[str, Any]
    key: str

    @property
    def ledger_key(self) -> str:
        return f"{self.shipment_guid}@{self.location_gid}"


@dataclass
class FulfillmentPlan:
    """The calls to make, one report item per shipment looked at, and counts of the rest."""

    creates: list[FulfillmentCreate] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    already_fulfilled: int = 0  # in the ledger: fulfilled by an earlier run
    not_ours: int = 0  # shipments of orders syncer did not create (not our order)
    not_dispatched: int = 0  # picked, packed...: they come back once dispatched

    def detail(self) -> dict[str, int]:
        return {
            "already_fulfilled": self.already_fulfilled,
            "not_ours": self.not_ours,
            "not_dispatched": self.not_dispatched,
        }


@dataclass(frozen=True)
class _Candidate:
    """A fulfilment order line item that could take units of one SKU."""

    fulfillment_order_id: str
    line_item_id: str
    location_gid: str
    status: str
    sku: str


def plan_fulfillments(
    shipments: Sequence[Mapping[str, Any]],
    orders_by_number: Mapping[str, Mapping[str, Any]],
    fulfilled: Collection[str],
    *,
    notify_customer: bool = False,
    locations: Mapping[str, str] | None = None,
) -> FulfillmentPlan:
    """Plan one fulfilment per dispatched shipment not in the ledger.

    `orders_by_number` maps an Unleashed OrderNumber to the Shopify order syncer created for
    it: `{id, name, cancelledAt, displayFulfillmentStatus, fulfillmentOrders{nodes[{id, status,
    assignedLocation{location{id}}, lineItems{nodes[{id, remainingQuantity, totalQuantity,
    lineItem{id sku}}]}}]}}`. Shipments of other orders are not ours and only counted.
    `fulfilled` holds shipment Guids (and `FulfillmentCreate.ledger_key`s) done before.
    `locations` (warehouse code -> location gid) makes fulfilment orders at the shipment's
    warehouse location come first when a SKU could be taken from several.

    A shipment is fulfilled whole or not at all: if any line cannot be matched (unknown SKU,
    not enough left to fulfil, fulfilment order on hold) the shipment is held with the reason,
    so nobody ends up with a fulfilment that differs from what left the warehouse. Shipments
    of cancelled or already fulfilled orders are reported as conflicts for someone to check.
    """
    plan = FulfillmentPlan()
    done_parts: dict[str, list[str]] = defaultdict(list)
    for entry in fulfilled:
        guid, at, location = entry.partition("@")
        if at:
            done_parts[guid].append(location)
    # Units planned by earlier shipments of this run come off what Shopify said was left.
    taken: dict[str, int] = defaultdict(int)

    for shipment in shipments:
        guid = str(shipment.get("Guid") or "")
        if guid and guid in fulfilled:
            plan.already_fulfilled += 1
            continue
        order = orders_by_number.get(str(shipment.get("OrderNumber") or ""))
        if order is None:
            plan.not_ours += 1
            continue
        if str(shipment.get("ShipmentStatus") or "").casefold() != DISPATCHED:
            plan.not_dispatched += 1
            continue
        _plan_shipment(plan, shipment, order, guid, done_parts, taken, notify_customer, locations)
    return plan


def _plan_shipment(
    plan: FulfillmentPlan,
    shipment: Mapping[str, Any],
    order: Mapping[str, Any],
    guid: str,
    done_parts: Mapping[str, list[str]],
    taken: dict[str, int],
    notify_customer: bool,
    locations: Mapping[str, str] | None,
) -> None:
    order_name = str(order.get("name") or order.get("id") or "")
    number = str(shipment.get("ShipmentNumber") or guid)
    key = f"{order_name}/{number}"
    tracking = tracking_info(shipment)
    detail: dict[str, Any] = {"shipment": number, "order": order_name, "tracking": tracking}

    def report(action: Action, error: str) -> None:
        plan.items.append(Item("fulfillment", key, action, detail, error=error))

    if not guid:
        report("fail", f"Unleashed shipment {number} has no Guid; it cannot be recorded once")
        return
    if order.get("cancelledAt"):
        report(
            "conflict",
            f"Shopify order {order_name} was cancelled at {order['cancelledAt']} but Unleashed "
            f"dispatched shipment {number}: check the goods and the order by hand",
        )
        return
    if order.get("displayFulfillmentStatus") == "FULFILLED":
        report(
            "conflict",
            f"Shopify order {order_name} is already fulfilled (by hand or another app); "
            f"shipment {number} was not sent again",
        )
        return
    if guid in done_parts:
        report(
            "hold",
            f"shipment {number} was fulfilled in Shopify only at "
            f"{', '.join(sorted(done_parts[guid]))}; fulfil the rest of it by hand in Shopify",
        )
        return

    needed, problems = _shipment_quantities(shipment)
    detail["lines"] = [{"sku": sku, "quantity": qty} for sku, qty in needed.items()]
    if not needed and not problems:
        problems.append(f"shipment {number} has no lines with a quantity")
    preferred = (locations or {}).get(_warehouse_code(shipment))
    candidates = _candidates(order, preferred)
    remaining = _remaining(order)
    allocation: list[tuple[_Candidate, int]] = []
    for sku, quantity in needed.items():
        allocated, shortfall = _allocate(sku, quantity, candidates, remaining, taken)
        allocation.extend(allocated)
        if shortfall:
            problems.append(_shortfall_reason(sku, quantity, shortfall, candidates, order_name))
    if problems:
        report("hold", "; ".join(problems))
        return

    for candidate, quantity in allocation:
        taken[candidate.line_item_id] += quantity
    by_location: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for candidate, quantity in allocation:
        fulfillment_orders = by_location.setdefault(candidate.location_gid, {})
        fulfillment_orders.setdefault(candidate.fulfillment_order_id, []).append(
            {"id": candidate.line_item_id, "quantity": quantity}
        )
    detail["locations"] = list(by_location)
    for location_gid, fulfillment_orders in by_location.items():
        fulfillment_input: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": lines}
                for fo_id, lines in fulfillment_orders.items()
            ],
            "notifyCustomer": notify_customer,
        }
        if tracking:
            fulfillment_input["trackingInfo"] = tracking
        plan.creates.append(
            FulfillmentCreate(
                shipment_guid=guid,
                shipment_number=number,
                order_name=order_name,
                order_gid=str(order.get("id") or ""),
                location_gid=location_gid,
                input=fulfillment_input,
                key=key,
            )
        )
    plan.items.append(Item("fulfillment", key, "create", detail))


def _shipment_quantities(shipment: Mapping[str, Any]) -> tuple[dict[str, int], list[str]]:
    """Units per SKU on the shipment (lines of one SKU added up), and what is wrong with it."""
    needed: dict[str, int] = {}
    problems: list[str] = []
    lines = shipment.get("SalesShipmentLines") or []
    if not isinstance(lines, list):
        return needed, [f"SalesShipmentLines is not a list of lines: {lines!r}"]
    for index, line in enumerate(lines, start=1):
        if not isinstance(line, Mapping):
            problems.append(f"shipment line {index} is not an object: {line!r}")
            continue
        product = line.get("Product") or {}
        if not isinstance(product, Mapping):
            problems.append(f"shipment line {index} has a Product that is not an object")
            continue
        sku = str(product.get("ProductCode") or "")
        if not sku:
            problems.append(f"shipment line {index} has no Product.ProductCode")
            continue
        try:
            quantity = to_decimal(line.get("ShipmentQty"), f"ShipmentQty of {sku}")
        except ValueError as error:
            problems.append(str(error))
            continue
        if quantity < 0 or quantity != quantity.to_integral_value():
            problems.append(f"ShipmentQty of {sku} is {quantity}; Shopify fulfils whole units only")
            continue
        if quantity:
            needed[sku] = needed.get(sku, 0) + int(quantity)
    return needed, problems


def _candidates(order: Mapping[str, Any], preferred_location: str | None) -> list[_Candidate]:
    """Every fulfilment order line item of the order, the preferred location's first."""
    candidates: list[_Candidate] = []
    for fulfillment_order in connection_nodes(order.get("fulfillmentOrders")):
        location = ((fulfillment_order.get("assignedLocation") or {}).get("location")) or {}
        for line in connection_nodes(fulfillment_order.get("lineItems")):
            sku = line.get("sku") or (line.get("lineItem") or {}).get("sku")
            candidates.append(
                _Candidate(
                    fulfillment_order_id=str(fulfillment_order.get("id")),
                    line_item_id=str(line.get("id")),
                    location_gid=str(location.get("id") or ""),
                    status=str(fulfillment_order.get("status") or ""),
                    sku=str(sku or ""),
                )
            )
    if preferred_location:
        candidates.sort(key=lambda c: c.location_gid != preferred_location)  # stable
    return candidates


def _remaining(order: Mapping[str, Any]) -> dict[str, int]:
    return {
        str(line.get("id")): int(line.get("remainingQuantity") or 0)
        for fulfillment_order in connection_nodes(order.get("fulfillmentOrders"))
        for line in connection_nodes(fulfillment_order.get("lineItems"))
    }


def _allocate(
    sku: str,
    quantity: int,
    candidates: Sequence[_Candidate],
    remaining: Mapping[str, int],
    taken: Mapping[str, int],
) -> tuple[list[tuple[_Candidate, int]], int]:
    """Take `quantity` units of `sku` from open fulfilment order lines; return what is short."""
    allocated: list[tuple[_Candidate, int]] = []
    for candidate in candidates:
        if quantity == 0:
            break
        if candidate.sku != sku or candidate.status not in FULFILLABLE_STATUSES:
            continue
        left = remaining.get(candidate.line_item_id, 0) - taken.get(candidate.line_item_id, 0)
        if left <= 0:
            continue
        units = min(left, quantity)
        allocated.append((candidate, units))
        quantity -= units
    return allocated, quantity


def _shortfall_reason(
    sku: str, quantity: int, shortfall: int, candidates: Sequence[_Candidate], order_name: str
) -> str:
    lines = [c for c in candidates if c.sku == sku]
    if not lines:
        return f"SKU {sku} is not on Shopify order {order_name}"
    blocked = sorted({c.status for c in lines if c.status in BLOCKED_STATUSES})
    if blocked:
        return (
            f"{shortfall} of {quantity} x {sku} are on a fulfilment order that is "
            f"{'/'.join(blocked)} in Shopify: release it there, the next run fulfils it"
        )
    return (
        f"shipment has {quantity} x {sku} but Shopify order {order_name} has only "
        f"{quantity - shortfall} left to fulfil"
    )


def tracking_info(shipment: Mapping[str, Any]) -> dict[str, str]:
    """`FulfillmentTrackingInput` from the shipment, empty when it has neither field."""
    info: dict[str, str] = {}
    company = str(shipment.get("ShippingCompany") or "").strip()
    if company:
        folded = company.casefold()
        info["company"] = (
            _SHOPIFY_TRACKING_COMPANIES.get(folded)
            or _TRACKING_COMPANY_ALIASES.get(folded)
            or company
        )
    number = str(shipment.get("TrackingNumber") or "").strip()
    if number:
        info["number"] = number
    return info


def _warehouse_code(shipment: Mapping[str, Any]) -> str:
    warehouse = shipment.get("Warehouse")
    if isinstance(warehouse, Mapping):
        return str(warehouse.get("WarehouseCode") or "")
    return str(shipment.get("WarehouseCode") or "")


# --- after a lost reply ----------------------------------------------------------------------

Verdict = Literal["applied", "not_applied", "unclear"]


def applied_verdict(
    before: Mapping[str, int], sent: Mapping[str, int], now: Mapping[str, int]
) -> Verdict:
    """Was a fulfilment applied, judged by the remaining quantities of its line items?

    `before` is what was left when it was sent, `sent` the quantities sent, `now` what Shopify
    says is left (a missing line counts as unknown). Every line down by at least what was sent:
    applied. Every line as before (or higher): not applied. Anything else: unclear.
    """
    if not sent:
        return "unclear"
    current = {line: now.get(line) for line in sent}
    if any(value is None for value in current.values()):
        return "unclear"
    if all(int(current[line] or 0) <= before.get(line, 0) - qty for line, qty in sent.items()):
        return "applied"
    if all(int(current[line] or 0) >= before.get(line, 0) for line in sent):
        return "not_applied"
    return "unclear"


def sent_quantities(fulfillment_input: Mapping[str, Any]) -> dict[str, int]:
    """{fulfilment order line item id: quantity} of a FulfillmentInput."""
    sent: dict[str, int] = {}
    for group in fulfillment_input.get("lineItemsByFulfillmentOrder") or []:
        for line in group.get("fulfillmentOrderLineItems") or []:
            sent[str(line["id"])] = sent.get(str(line["id"]), 0) + int(line["quantity"])
    return sent


def remaining_by_line(fulfillment_orders: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    return {
        str(line.get("id")): int(line.get("remainingQuantity") or 0)
        for fo in fulfillment_orders
        for line in (fo.get("lineItems") or {}).get("nodes") or []
    }


def several_locations(orders: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any order has fulfilment orders at more than one location: only then does the
    shipment's warehouse decide where units come from (and the locations are worth a call)."""
    for order in orders.values():
        fos = (order.get("fulfillmentOrders") or {}).get("nodes") or []
        assigned = {
            ((fo.get("assignedLocation") or {}).get("location") or {}).get("id") for fo in fos
        }
        if len(assigned) > 1:
            return True
    return False
