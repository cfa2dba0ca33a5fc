"""Fault injection (issue 9): seeded random faults, SIGKILL mid-run, and the boundary cases
of the connectors' bug history (PEERS.md section 4). After every scenario a clean run must
leave the invariants true: each selected order in Unleashed exactly once, no inventory write
applied twice, stock equal to the formula, every held or failed item reported, and no cursor
ahead of data not yet processed.

Reproduce a random scenario with `pytest tests/test_faults.py --fault-seed N`; every scenario
prints its seed and the faults it injected.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncer.sandbox.common import Fault, SandboxServer
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from tests.faultkit import (
    SUMMARY,
    Harness,
    assert_no_crash,
    available_jobs,
    check_inventory_writes_once,
    check_nothing_lost,
    check_orders_exactly_once,
    check_pending_reported,
    check_stock_formula,
    job_available,
    selected_order_names,
    unleashed_refs,
)

DEFAULT_SEEDS = (11, 23, 37, 41, 58, 64)

# Substrings of each sandbox's request descriptions a fault may target.
SHOPIFY_TARGETS = (
    " orders",
    " nodes",
    " shop",
    " locations",
    "productVariants",
    " products",
    "productUpdate",
    "productCreate",
    "productVariantsBulkUpdate",
    "inventoryItems",
    "inventorySetQuantities",
)
UNLEASHED_TARGETS = (
    "POST /SalesOrders/",
    "GET /SalesOrders",
    "GET /Products",
    "GET /StockOnHand",
    "POST /Customers/",
    "GET /Customers",
    "GET /Warehouses",
)


def scenario_seeds(config: pytest.Config) -> list[int]:
    chosen = config.getoption("--fault-seed", default=None)
    return [int(chosen)] if chosen is not None else list(DEFAULT_SEEDS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault_seed" in metafunc.fixturenames:
        seeds = scenario_seeds(metafunc.config)
        metafunc.parametrize("fault_seed", seeds, ids=[f"seed={s}" for s in seeds])


@pytest.fixture
def boxes() -> Any:
    started = start_sandboxes(seed=1)
    try:
        yield started
    finally:
        started.stop()


def random_fault(rng: random.Random, api: str) -> Fault:
    """One fault of a random kind against a random request type of one API."""
    match = rng.choice(SHOPIFY_TARGETS if api == "shopify" else UNLEASHED_TARGETS)
    kind = rng.choice(("status", "status", "throttle", "slow", "drop", "lost_reply"))
    count = rng.randint(1, 3)
    if kind == "status":
        return Fault("status", match, count, status=rng.choice((500, 502, 503, 504)))
    if kind == "throttle":
        return Fault("throttle", match, count, retry_after=0.01)
    if kind == "slow":
        # Mostly a slow reply; sometimes slower than the read timeout (FAST_POLICY: 1 s).
        return Fault("slow", match, 1, delay=rng.choice((0.05, 0.2, 1.2)))
    return Fault(kind, match, count)


def mutate_world(rng: random.Random, boxes: Sandboxes) -> list[str]:
    """Changes people make between runs: new orders, payments, stock moves, price edits."""
    done = []
    skus = [v.sku for v in boxes.world.variants()]
    for _ in range(rng.randint(1, 4)):
        lines = [(rng.choice(skus), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        status = rng.choice(("PAID", "PAID", "PENDING"))
        order = boxes.shopify.add_order(lines, financial_status=status, email=None)
        done.append(f"order {order.name} {status}")
    pending = [o for o in boxes.shopify.orders.values() if o.financial_status == "PENDING"]
    if pending and rng.random() < 0.5:
        order = rng.choice(pending)
        boxes.shopify.mark_paid(order)
        done.append(f"paid {order.name}")
    for _ in range(rng.randint(1, 3)):
        sku, (code, _) = rng.choice(skus), rng.choice(boxes.world.warehouses)
        qty = rng.randint(0, 80)
        boxes.unleashed.set_stock(sku, code, qty)
        done.append(f"stock {sku}@{code}={qty}")
    if rng.random() < 0.5:
        sku = rng.choice(skus)
        price = Decimal(rng.randint(500, 9000)) / 100
        boxes.unleashed.update_product(sku, DefaultSellPrice=price)
        done.append(f"price {sku}={price}")
    return done


def injected(*servers: SandboxServer) -> int:
    return sum(len(s.faults.injected) for s in servers)


def check_all(h: Harness, jobs: list[str]) -> None:
    check_orders_exactly_once(h.boxes)
    check_nothing_lost(h)
    check_pending_reported(h)
    check_inventory_writes_once(h.boxes)
    if "inventory" in jobs:
        check_stock_formula(h.boxes)


# -- seeded random faults ----------------------------------------------------------------------


def test_random_faults_then_clean_run(
    fault_seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """Two rounds of world changes and random faults across the jobs, then a clean run."""
    rng = random.Random(fault_seed)
    jobs = available_jobs()
    boxes = start_sandboxes(seed=fault_seed, orders=rng.randint(12, 24))
    try:
        h = Harness(boxes, tmp_path, monkeypatch)
        log = [f"seed {fault_seed}, jobs {jobs}"]
        for round_no in range(2):
            log.append(f"round {round_no}: " + "; ".join(mutate_world(rng, boxes)))
            for _ in range(rng.randint(3, 7)):
                api = rng.choice(("shopify", "unleashed"))
                fault = random_fault(rng, api)
                server = boxes.shopify_server if api == "shopify" else boxes.unleashed_server
                server.faults.add(fault)
                log.append(f"  {api} {fault.kind} {fault.match!r} x{fault.count}")
            for job in jobs:
                result = h.sync(job, allowed=(0, 1, 3))
                log.append(f"  sync {job} -> {result.exit_code}")
                if job == "orders":
                    check_nothing_lost(h)
            check_inventory_writes_once(boxes)
        boxes.shopify_server.faults.clear()
        boxes.unleashed_server.faults.clear()
        SUMMARY["faults injected"] += injected(boxes.shopify_server, boxes.unleashed_server)
        h.catch_up()
        for job in jobs:
            # --full: an incremental inventory run only looks at stock Unleashed changed.
            result = h.sync(job, *(["--full"] if job == "inventory" else []))
            log.append(f"clean sync {job} -> {result.exit_code}")
        sys.stdout.write("\n".join(log) + "\n")  # shown with a failure: the seed and faults
        assert h.sync("orders").exit_code == 0, "\n".join(log)
        check_all(h, jobs)
        SUMMARY["scenarios"] += 1
    finally:
        boxes.stop()


# -- SIGKILL at random points ------------------------------------------------------------------

KILL_TARGETS = {
    "orders": ("unleashed", "POST /SalesOrders/"),
    "products": ("shopify", "product"),
    "inventory": ("shopify", "inventorySetQuantities"),
}


def run_killed(h: Harness, job: str, rng: random.Random, server: SandboxServer, match: str) -> str:
    """Start `python -m syncer sync <job>` and SIGKILL it once `match` requests have begun
    arriving (slowed down so the kill often lands while one is in flight)."""
    server.faults.add(Fault("slow", match, count=1000, delay=0.15))
    server.clear_log()
    env = {**os.environ, **SANDBOX_ENV}
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--config", str(h.config_path), "sync", job],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    wanted = rng.randint(1, 4)
    extra = rng.uniform(0.0, 0.15)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if len(server.requests(match)) >= wanted:
            time.sleep(extra)
            break
        time.sleep(0.01)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    output = process.communicate(timeout=30)[0].decode("utf-8", "replace")
    server.faults.clear()
    SUMMARY["kills"] += 1
    return f"{job}: killed after {wanted} x {match!r} + {extra:.2f}s (rc {process.returncode})" + (
        "" if process.returncode == -signal.SIGKILL else f"\n{output}"
    )


@pytest.mark.parametrize("job", ["orders", "products", "inventory"])
def test_sigkill_then_clean_run(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """A crash at any point loses nothing and duplicates nothing (SPEC: Safety and state)."""
    if not job_available(job):
        pytest.skip(f"syncer/{job}/job.py is not there yet")
    seed = {"orders": 101, "products": 202, "inventory": 303}[job]
    rng = random.Random(seed)
    boxes = start_sandboxes(seed=seed, orders=16)
    try:
        h = Harness(boxes, tmp_path, monkeypatch)
        if job == "inventory":
            h.sync("orders")  # the orders in flight are part of the stock formula
            for variant in boxes.world.variants()[:30]:
                boxes.unleashed.set_stock(variant.sku, "MAIN", rng.randint(0, 40))
        api, match = KILL_TARGETS[job]
        server = boxes.shopify_server if api == "shopify" else boxes.unleashed_server
        notes = [f"seed {seed}", run_killed(h, job, rng, server, match)]
        if job == "orders":
            boxes.shopify.add_order([(boxes.world.variants()[0].sku, 1)], email=None)
            notes.append(run_killed(h, job, rng, server, match))
        sys.stdout.write("\n".join(notes) + "\n")
        h.catch_up()
        for clean in [j for j in available_jobs() if j in ("orders", job)]:
            h.sync(clean)
        check_orders_exactly_once(boxes)
        check_nothing_lost(h)
        check_pending_reported(h)
        check_inventory_writes_once(boxes)
        if job == "inventory":
            check_stock_formula(boxes)
        SUMMARY["scenarios"] += 1
    finally:
        boxes.stop()


# -- boundary cases from the connectors' bug history -----------------------------------------


def test_many_orders_with_one_timestamp_across_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """120 orders share one updatedAt: paging (50 a page), a failed page and --limit cuts
    inside the tie must neither skip nor repeat any (PEERS 4.3/4.4, keyset paging)."""
    boxes = start_sandboxes(seed=5, orders=0)
    try:
        h = Harness(boxes, tmp_path, monkeypatch)
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        sku = boxes.world.variants()[0].sku
        for _ in range(120):
            boxes.shopify.add_order([(sku, 1)], email=None, created_at=at)
        stamps = {o.updated_at for o in boxes.shopify.orders.values()}
        assert len(stamps) == 1
        boxes.shopify_server.faults.add(Fault("status", " orders", 1, status=503))
        for _ in range(2):
            h.sync("orders", "--limit", "50")
            check_nothing_lost(h)
        boxes.shopify_server.faults.add(Fault("drop", " orders", 1))
        assert h.sync("orders").exit_code == 0
        check_orders_exactly_once(boxes)
        assert len(unleashed_refs(boxes)) == 120
        SUMMARY["scenarios"] += 1
        SUMMARY["faults injected"] += injected(boxes.shopify_server)
    finally:
        boxes.stop()


def test_order_paid_during_a_run_is_sent_next_run(
    boxes: Sandboxes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """An order read as unpaid, then paid while the run is still sending (paid the moment the
    run's first sales order reaches Unleashed), is not behind the cursor: the next run sends
    it, once."""
    h = Harness(boxes, tmp_path, monkeypatch)
    unpaid = next(
        o
        for o in boxes.shopify.orders.values()
        if o.financial_status == "PENDING" and not o.test and o.cancelled_at is None
    )
    app = boxes.unleashed_server.app
    handle = app.handle

    def pay_while_sending(request: Any) -> Any:
        sending = request.method == "POST" and "/SalesOrders/" in request.path
        if sending and unpaid.financial_status != "PAID":
            boxes.shopify.mark_paid(unpaid)
        return handle(request)

    monkeypatch.setattr(app, "handle", pay_while_sending)
    h.sync("orders")
    monkeypatch.setattr(app, "handle", handle)
    assert unpaid.financial_status == "PAID"
    check_nothing_lost(h)
    h.sync("orders")
    check_orders_exactly_once(boxes)
    assert unleashed_refs(boxes)[unpaid.name] == 1
    SUMMARY["scenarios"] += 1
    SUMMARY["faults injected"] += injected(boxes.unleashed_server)


@pytest.mark.parametrize(
    "skew",
    [
        pytest.param(timedelta(minutes=10), id="syncer-clock-10min-ahead"),
        pytest.param(timedelta(minutes=-10), id="syncer-clock-10min-behind"),
    ],
)
def test_clock_skew_does_not_skip_orders(
    skew: timedelta,
    boxes: Sandboxes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_env: dict[str, str],
) -> None:
    """The machine's clock differs from the API's: orders updated after a run (by the API's
    clock) are still sent by the next run."""
    h = Harness(boxes, tmp_path, monkeypatch, skew=skew)
    h.sync("orders")
    check_orders_exactly_once(boxes, held=_recent(boxes, skew))
    sku = boxes.world.variants()[0].sku
    late = boxes.shopify.add_order([(sku, 1)], email=None)
    for _ in range(2):
        h.sync("orders")
        check_nothing_lost(h)
    if skew < timedelta(0):
        # Behind: the run's upper bound (its own clock) leaves the newest orders for a run
        # made once the machine's clock has caught up; they are not lost meanwhile.
        h.skew = timedelta(0)
        h.sync("orders")
    check_orders_exactly_once(boxes)
    assert unleashed_refs(boxes)[late.name] == 1
    SUMMARY["scenarios"] += 1


def _recent(boxes: Sandboxes, skew: timedelta) -> set[str]:
    """Orders a run with a clock `skew` behind cannot see yet (updated after its `now`)."""
    if skew >= timedelta(0):
        return set()
    cutoff = datetime.now(UTC) + skew
    return {o.name for o in boxes.shopify.orders.values() if o.updated_at > cutoff}


@pytest.mark.parametrize("job", ["inventory", "products"])
def test_day_granular_modified_since_and_skew(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """Unleashed truncating `modifiedSince` to the day, with the syncer's clock 10 minutes
    ahead: a change made after the last run is still applied, and only once."""
    if not job_available(job):
        pytest.skip(f"syncer/{job}/job.py is not there yet")
    boxes = start_sandboxes(seed=9)
    try:
        h = Harness(boxes, tmp_path, monkeypatch, skew=timedelta(minutes=10))
        boxes.unleashed.set_day_granular(True)
        jobs = [j for j in available_jobs() if j in ("orders", job)]
        for each in jobs:
            h.sync(each)
        variant = boxes.world.variants()[4]
        if job == "inventory":
            boxes.unleashed.set_stock(variant.sku, "MAIN", 33)
        else:
            boxes.unleashed.update_product(variant.sku, DefaultSellPrice=Decimal("41.00"))
        h.sync(job)
        h.sync(job)
        check_pending_reported(h)
        check_inventory_writes_once(boxes)
        if job == "inventory":
            check_stock_formula(boxes)
        else:
            price = boxes.shopify.variant_for(variant.sku).price
            expected = (Decimal("41.00") * Decimal("1.15")).quantize(Decimal("0.01"))
            assert price == expected, f"{variant.sku}: Shopify price {price}, want {expected}"
        SUMMARY["scenarios"] += 1
    finally:
        boxes.stop()


def test_no_traceback_from_the_subprocess_under_faults(
    boxes: Sandboxes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: dict[str, str]
) -> None:
    """The real entry point (`python -m syncer`) under an API that stays down: a plain
    message and exit 3, no traceback, the cursor unmoved."""
    h = Harness(boxes, tmp_path, monkeypatch)
    boxes.shopify_server.faults.add(Fault("status", " orders", 100, status=503, retry_after=0))
    env = {**os.environ, **SANDBOX_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "syncer", "--config", str(h.config_path), "sync", "orders"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert_no_crash(done.stdout + done.stderr)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "run again later" in done.stdout + done.stderr
    store = h.store()
    try:
        assert store.cursor("orders") is None
    finally:
        store.close()
    assert not set(unleashed_refs(boxes)) & selected_order_names(boxes)
    SUMMARY["scenarios"] += 1
    SUMMARY["faults injected"] += injected(boxes.shopify_server)
