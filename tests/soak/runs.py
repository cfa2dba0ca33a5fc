"""Seeded soak runs: one small world per seed, random faults and a SIGKILL against one job,
then a clean run and the fault suite's invariants. A seed alone reproduces a run."""

from __future__ import annotations

import random
import signal
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from syncer.sandbox.common import Fault, SandboxServer
from syncer.sandbox.runner import Sandboxes, start_sandboxes
from tests.faultkit import (
    Harness,
    check_fulfillments_once,
    check_nothing_lost,
    kill_at,
    selected_order_names,
    unleashed_refs,
)
from tests.test_faults import SHOPIFY_TARGETS, UNLEASHED_TARGETS, check_all, mutate_world

JOBS = ("orders", "products", "inventory", "fulfillments")

# What a killed run of each job is counted by: its writes where each item is one request
# (orders, fulfilments), else all its requests to the API it writes to (products and
# inventory batch their writes into one or two calls).
KILLS = {
    "orders": ("unleashed", "POST /SalesOrders/"),
    "products": ("shopify", "graphql.json"),
    "inventory": ("shopify", "graphql.json"),
    "fulfillments": ("shopify", "fulfillmentCreate"),
}

# Request types the jobs make that the fault suite's target lists do not name.
EXTRA_TARGETS = {
    "shopify": ("fulfillmentCreate", "fulfillmentOrders", "inventoryActivate", " location"),
    "unleashed": ("GET /SalesShipments", "GET /Currencies"),
}


@dataclass
class Outcome:
    """What one run did, for the tally; `log` is printed when an invariant fails."""

    seed: int
    job: str
    kills: int = 0
    faults: int = 0
    exits: Counter[int] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)


def soak_fault(rng: random.Random, api: str) -> Fault:
    """One fault: a 5xx, a 429/THROTTLED burst, a slow reply (sometimes past the read
    timeout), a dropped connection or a reply lost after the write was applied."""
    targets = (SHOPIFY_TARGETS if api == "shopify" else UNLEASHED_TARGETS) + EXTRA_TARGETS[api]
    match = rng.choice(targets)
    kind = rng.choice(("status", "throttle", "burst", "slow", "drop", "lost_reply"))
    if kind == "status":
        return Fault("status", match, rng.randint(1, 3), status=rng.choice((500, 502, 503, 504)))
    if kind == "throttle":
        return Fault("throttle", match, rng.randint(1, 3), retry_after=0.01)
    if kind == "burst":
        # Longer than the retry budget now and then: the run must give up cleanly (exit 3).
        return Fault("throttle", match, rng.randint(4, 8), retry_after=0.005)
    if kind == "slow":
        return Fault("slow", match, 1, delay=rng.choice((0.05, 0.2, 1.2)))
    return Fault(kind, match, rng.randint(1, 2))


def give_work(rng: random.Random, h: Harness, job: str) -> list[str]:
    """Changes that make `job` write something, so a fault or a kill can land mid-write."""
    boxes, done = h.boxes, []
    variants = boxes.world.variants()
    if job == "products":
        for variant in rng.sample(variants, k=min(len(variants), rng.randint(3, 8))):
            price = Decimal(rng.randint(500, 9000)) / 100
            boxes.unleashed.update_product(variant.sku, DefaultSellPrice=price)
            done.append(f"price {variant.sku}={price}")
    elif job == "inventory":
        for variant in rng.sample(variants, k=min(len(variants), rng.randint(5, 15))):
            code = rng.choice(boxes.world.warehouses)[0]
            qty = rng.randint(0, 60)
            boxes.unleashed.set_stock(variant.sku, code, qty)
            done.append(f"stock {variant.sku}@{code}={qty}")
    elif job == "fulfillments":
        done += ship_some(rng, boxes)
    elif job == "orders":
        for _ in range(rng.randint(2, 5)):
            lines = [(rng.choice(variants).sku, rng.randint(1, 3))]
            order = boxes.shopify.add_order(lines, email=None)
            done.append(f"order {order.name}")
    return done


def ship_some(rng: random.Random, boxes: Sandboxes) -> list[str]:
    """Dispatch a few of the sales orders syncer sent, some in part (one unit of line 1)."""
    done = []
    open_orders = [
        so for so in boxes.unleashed.sales_orders() if so["OrderStatus"] in ("Parked", "Placed")
    ]
    for so in rng.sample(open_orders, k=min(len(open_orders), rng.randint(2, 5))):
        number = str(so["OrderNumber"])
        lines = {1: 1} if rng.random() < 0.3 else None
        try:
            boxes.unleashed.ship_order(number, f"TRK{rng.randint(10**5, 10**6)}", "NZ Post", lines)
        except ValueError:
            continue  # nothing left on that line to ship
        done.append(f"shipped {number}{' line 1 x1' if lines else ''}")
    return done


def server_for(boxes: Sandboxes, api: str) -> SandboxServer:
    return boxes.shopify_server if api == "shopify" else boxes.unleashed_server


def run_one(seed: int) -> Outcome:
    """One seeded run: prepare, faulty rounds, maybe a SIGKILL, a clean run, the invariants.
    Raises AssertionError (with the run's log) when an invariant fails."""
    rng = random.Random(seed)
    job = JOBS[seed % len(JOBS)]
    out = Outcome(seed, job)
    boxes = start_sandboxes(seed=seed, orders=rng.randint(6, 14))
    patch = pytest.MonkeyPatch()
    with tempfile.TemporaryDirectory(prefix=f"soak-{seed}-") as tmp:
        try:
            h = Harness(boxes, Path(tmp), patch)
            sequence = ["orders"] if job == "orders" else ["orders", job]
            out.log.append(f"seed {seed}: job {job}")
            if job in ("inventory", "fulfillments"):
                h.sync("orders")  # sent orders: in flight for stock, shippable for fulfilments
            for round_no in range(rng.randint(1, 2)):
                changes = mutate_world(rng, boxes) + give_work(rng, h, job)
                out.log.append(f"round {round_no}: " + "; ".join(changes))
                for _ in range(rng.randint(2, 6)):
                    api = rng.choice(("shopify", "unleashed"))
                    fault = soak_fault(rng, api)
                    server_for(boxes, api).faults.add(fault)
                    out.log.append(f"  {api} {fault.kind} {fault.match!r} x{fault.count}")
                for each in sequence:
                    result = h.sync(each, allowed=(0, 1, 3))
                    out.exits[result.exit_code] += 1
                    out.log.append(f"  sync {each} -> {result.exit_code}")
                    if each == "orders":
                        check_nothing_lost(h)
                for api in ("shopify", "unleashed"):
                    server_for(boxes, api).faults.clear()
            if rng.random() < 0.7:
                work = give_work(rng, h, job)
                out.log.append("before kill: " + "; ".join(work))
                api, match = KILLS[job]
                if job == "orders":
                    most = len(selected_order_names(boxes) - set(unleashed_refs(boxes)))
                elif job == "fulfillments":
                    most = len(work)
                else:
                    most = 4
                wanted, extra = (
                    rng.randint(1, max(1, min(most, 4))),
                    rng.choice((0.0, 0.0, 0.05, 0.1)),
                )
                code, _output = kill_at(h, job, server_for(boxes, api), match, wanted, extra)
                out.kills += int(code == -signal.SIGKILL)
                out.log.append(f"kill at {wanted} x {match!r} + {extra}s: rc {code}")
            out.faults = len(boxes.shopify_server.faults.injected) + len(
                boxes.unleashed_server.faults.injected
            )
            h.later()  # the clean run: after anything the kill left in flight has landed
            for each in sequence:
                extra = ["--full"] if each == "inventory" else []
                result = h.sync(each, *extra)
                out.log.append(f"clean sync {each} -> {result.exit_code}")
            final = h.sync("orders")
            assert final.exit_code == 0, f"a clean orders run exited {final.exit_code}"
            check_all(h, [job])
            if job == "fulfillments":
                check_fulfillments_once(boxes)
            return out
        except AssertionError as exc:
            raise AssertionError("\n".join([*out.log, str(exc)])) from None
        finally:
            patch.undo()
            boxes.stop()
