"""Shared machinery of the fault-injection and bad-input suites (test_faults.py,
test_bad_input.py): run the CLI in-process with short retry delays, rewrite sandbox replies,
and check the invariants that must hold after any fault (SPEC section 4, "Safety and state").

Short retries without a product knob: `fast_cli` patches `syncer.cli.State.context` for one
test so every Context it builds carries `FAST_POLICY` (and optionally a skewed clock). Nothing
in syncer/ reads an environment variable for this.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import syncer.cli as cli_module
from syncer.fulfillments.job import SETTLE
from syncer.http import RetryPolicy
from syncer.orders.job import OVERLAP
from syncer.sandbox.common import Reply, Request
from syncer.sandbox.runner import Sandboxes
from syncer.store import Store

# Retries in milliseconds, and a read timeout short enough that a "slow" fault can cause one.
FAST_POLICY = RetryPolicy(
    max_attempts=6, base_delay=0.005, max_delay=0.05, connect_timeout=2.0, read_timeout=1.0
)

# What the suites tried, printed by conftest.pytest_terminal_summary after the run.
SUMMARY: Counter[str] = Counter()

# Text that must never reach a user: an escaped exception or the CLI's "this is a bug" line.
CRASH_MARKERS = ("Traceback (most recent call last)", "unexpected ", "This is a bug in syncer")


def job_available(job: str) -> bool:
    """Whether `syncer/<job>/job.py` exists yet (other jobs land while this suite grows)."""
    return importlib.util.find_spec(f"syncer.{job}.job") is not None


def available_jobs() -> list[str]:
    return [job for job in ("orders", "products", "inventory") if job_available(job)]


@dataclass
class CliResult:
    exit_code: int
    output: str


@dataclass
class Harness:
    """One state database and config against running sandboxes, driven through the CLI."""

    boxes: Sandboxes
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    overrides: dict[str, Any] = field(default_factory=dict)
    skew: timedelta = timedelta(0)
    config_path: Path = field(init=False)
    state_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.state_path = self.tmp_path / "state.db"
        self.config_path = self.boxes.write_config(
            self.tmp_path / "config.yaml", state={"path": str(self.state_path)}, **self.overrides
        )
        # A roomy cost bucket: these suites test faults, not pacing (test_shopify_client does),
        # and waiting for a 100-points-a-second refill would dominate their runtime.
        self.boxes.shopify.set_bucket(maximum=100_000, restore_rate=100_000)
        original = cli_module.State.context
        harness = self

        def context(state: Any, store: Store) -> Any:
            ctx = original(state, store)
            # Several harnesses may be open in one process (the soak keeps one per job), each
            # with its own clock: a run takes the skew of the harness whose config it runs.
            if Path(state.config_file) != harness.config_path:
                return ctx
            ctx.policy = FAST_POLICY
            ctx.clock = lambda: datetime.now(UTC) + harness.skew
            ctx.sleep = harness.sleep
            return ctx

        self.monkeypatch.setattr(cli_module.State, "context", context)

    def run(self, *args: str, allowed: tuple[int, ...] = (0, 1)) -> CliResult:
        """Invoke `syncer --config <file> <args>` in-process; a crash fails the test."""
        result = CliRunner().invoke(cli_module.cli, ["--config", str(self.config_path), *args])
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"syncer {' '.join(args)} raised {result.exception!r}\n{output}")
        assert_no_crash(output, args)
        assert result.exit_code in allowed, (
            f"syncer {' '.join(args)} exited {result.exit_code}, expected one of {allowed}:\n"
            f"{output[-3000:]}"
        )
        return CliResult(result.exit_code, output)

    def catch_up(self) -> None:
        """Let the syncer's clock reach the Shopify sandbox's. The sandbox hands out strictly
        increasing seconds, so a burst of changes stamps records a few seconds in the future;
        a real clean run happens later, when they are in the past."""
        ahead = self.boxes.shopify._clock - datetime.now(UTC) + timedelta(seconds=1)
        self.skew = max(self.skew, ahead)

    def sleep(self, seconds: float) -> None:
        """The runs' sleep. The short waits between HTTP retries (FAST_POLICY keeps them
        under a tenth of a second) really sleep; a longer one (a fulfilment sent without a
        reply waiting to settle) passes at once as `later`: whatever the sandboxes are
        still handling lands, and every clock moves on by `seconds`."""
        if seconds <= FAST_POLICY.max_delay:
            time.sleep(seconds)
        else:
            self.later(timedelta(seconds=seconds))

    def later(self, delta: timedelta = SETTLE) -> None:
        """Make the next run happen `delta` later, for syncer and both sandboxes alike (their
        clocks follow the skew from now on), after whatever a killed or timed-out run left on
        its way has landed: the clean run after a crash, once no call of the dead run can
        still arrive (a fulfilment sent without a reply is only sent again after that)."""
        for server in (self.boxes.shopify_server, self.boxes.unleashed_server):
            assert server.wait_idle(), f"{server.app.name} sandbox still busy after 60 s"
        self.skew += delta
        shop, harness = self.boxes.shopify, self

        def shop_now() -> datetime:
            real = (datetime.now(UTC) + harness.skew).replace(microsecond=0)
            shop._clock = max(real, shop._clock + timedelta(seconds=1))
            return shop._clock

        self.monkeypatch.setattr(shop, "now", shop_now)
        self.monkeypatch.setattr(
            self.boxes.unleashed, "clock", lambda: time.time() + harness.skew.total_seconds()
        )
        self.catch_up()

    def sync(self, job: str, *extra: str, allowed: tuple[int, ...] = (0, 1)) -> CliResult:
        return self.run("sync", job, *extra, allowed=allowed)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("status", "--json", allowed=(0,)).output)
        return data

    def store(self) -> Store:
        return Store(self.state_path)


# socketserver prints this block to stderr when a sandbox thread writes to a client that gave
# up (a "slow" fault beyond the read timeout): the sandbox's noise, not syncer's output.
SANDBOX_NOISE = re.compile(
    r"-{40}\nException occurred during processing of request.*?\n-{40}\n", re.DOTALL
)


def assert_no_crash(output: str, args: tuple[str, ...] | list[str] = ()) -> None:
    output = SANDBOX_NOISE.sub("", output)
    for marker in CRASH_MARKERS:
        assert marker not in output, f"syncer {' '.join(args)} crashed ({marker!r}):\n{output}"


# -- rewriting replies: bad payloads from an API ----------------------------------------------


Rewrite = Callable[[Any], Any]


class Tamper:
    """Wraps a sandbox app so chosen replies are rewritten before they are sent: the way to
    get malformed or absurd data out of an otherwise faithful sandbox. `rewrite(match, fn)`
    applies `fn(body)` (decoded JSON; return the new body, or bytes to send as is) to
    successful replies whose description contains `match`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rules: list[list[Any]] = []  # [match, fn, replies left or None]
        self.applied = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def rewrite(self, match: str, fn: Rewrite, count: int | None = None) -> None:
        self.rules.append([match, fn, count])

    def clear(self) -> None:
        self.rules.clear()

    def handle(self, request: Request) -> Reply:
        reply: Reply = self.app.handle(request)
        description = self.app.describe(request)
        for rule in self.rules:
            match, fn, left = rule
            if match in description and reply.status == 200 and left != 0:
                rule[2] = None if left is None else left - 1
                body = reply.body
                if isinstance(body, bytes | str):
                    body = json.loads(body)
                else:
                    body = json.loads(json.dumps(body, default=str))
                new = fn(body)
                self.applied += 1
                reply = Reply(
                    reply.status,
                    new if isinstance(new, bytes) else json.dumps(new).encode("utf-8"),
                    reply.headers,
                )
        return reply


def tamper(boxes: Sandboxes, api: str) -> Tamper:
    server = boxes.shopify_server if api == "shopify" else boxes.unleashed_server
    wrapper = server.app if isinstance(server.app, Tamper) else Tamper(server.app)
    server.app = wrapper
    return wrapper


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside a reply, depth first."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


# -- invariants -------------------------------------------------------------------------------


def selected_order_names(boxes: Sandboxes) -> set[str]:
    """Shopify orders the default config sends: paid, not test, not cancelled."""
    with boxes.shopify.lock:
        return {
            o.name
            for o in boxes.shopify.orders.values()
            if o.financial_status == "PAID" and not o.test and o.cancelled_at is None
        }


def unleashed_refs(boxes: Sandboxes) -> Counter[str]:
    return Counter(str(so.get("CustomerRef")) for so in boxes.unleashed.sales_orders())


def check_orders_exactly_once(boxes: Sandboxes, *, held: set[str] = frozenset()) -> int:  # type: ignore[assignment]
    """Every selected order (except `held` ones) is in Unleashed exactly once; none twice."""
    selected = selected_order_names(boxes)
    refs = unleashed_refs(boxes)
    twice = sorted(ref for ref, n in refs.items() if n > 1)
    assert not twice, f"orders sent more than once: {twice}"
    missing = sorted(selected - held - set(refs))
    assert not missing, f"selected orders missing from Unleashed: {missing}"
    extra = sorted(set(refs) - selected)
    assert not extra, f"sales orders for orders that are not selected: {extra}"
    SUMMARY["orders checked"] += len(selected)
    return len(selected)


def check_nothing_lost(h: Harness) -> int:
    """After any run (faulty or not), every selected order that is not in Unleashed is either
    remembered for a retry (pending, or its ledger row still "sending") or still inside the
    next run's window (updatedAt >= cursor - overlap): the cursor never passed it."""
    store = h.store()
    try:
        cursor = store.cursor("orders")
        pending = {str(r["ref"] or r["key"]) for r in store.pending("orders", "order")}
        sending = {str(link["key"]) for link in store.links("order", status="sending")}
    finally:
        store.close()
    refs = set(unleashed_refs(h.boxes))
    lost = []
    with h.boxes.shopify.lock:
        for order in h.boxes.shopify.orders.values():
            if order.name not in selected_order_names(h.boxes) or order.name in refs:
                continue
            if order.id in pending or order.id in sending:
                continue
            if cursor is None:
                continue
            since = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - OVERLAP
            if order.updated_at < since:
                lost.append((order.name, order.updated_at.isoformat(), cursor))
    assert not lost, f"orders behind the cursor, never sent and not pending: {lost}"
    SUMMARY["cursor checks"] += 1
    return len(refs)


def check_inventory_writes_once(boxes: Sandboxes) -> int:
    """No inventorySetQuantities call was applied twice: each idempotency key made at most
    one adjustment group (the sandbox logs replays only once)."""
    writes = boxes.shopify.written("inventorySetQuantities")
    keys = Counter(str(w.get("idempotency_key")) for w in writes)
    twice = sorted(k for k, n in keys.items() if n > 1)
    assert not twice, f"inventory writes applied twice under one key: {twice}"
    SUMMARY["inventory writes checked"] += len(writes)
    return len(writes)


def in_flight_units(boxes: Sandboxes) -> Counter[tuple[str, str]]:
    """Units per (SKU, Shopify location gid) that open orders hold (SPEC: in flight): what
    open fulfilment orders still have to ship. Every order of these scenarios stays Parked,
    i.e. unallocated, in Unleashed, so all of them count."""
    units: Counter[tuple[str, str]] = Counter()
    with boxes.shopify.lock:
        for order in boxes.shopify.orders.values():
            if order.cancelled_at is not None:
                continue
            for fo in order.fulfillment_orders:
                if fo.status in ("CLOSED", "CANCELLED"):
                    continue
                for line in fo.lines:
                    sku = line.line_item.sku
                    if sku and line.remaining_quantity > 0:
                        units[(sku, fo.location.id)] += line.remaining_quantity
    return units


def check_stock_formula(boxes: Sandboxes, *, buffer: int = 0) -> int:
    """Shopify `available` == max(0, floor(Unleashed AvailableQty) - buffer - in flight) for
    every SKU both sides have at a mapped location where Shopify stocks it."""
    shop, erp = boxes.shopify, boxes.unleashed
    flight = in_flight_units(boxes)
    wrong = []
    checked = 0
    for code, _name in boxes.world.warehouses:
        location = shop.location(code)
        for variant in boxes.world.variants():
            if len(shop.by_sku.get(variant.sku, [])) != 1:
                continue
            item = shop.variant_for(variant.sku).inventory_item
            row = erp.stock(variant.sku, code)
            quantities = shop.quantities(variant.sku, code)
            if not item.tracked or row is None or not quantities:
                continue  # reported by the job as untracked / not stocked there
            units = flight[(variant.sku, location.id)]
            target = max(0, math.floor(Decimal(str(row["AvailableQty"]))) - buffer - units)
            checked += 1
            if quantities.get("available") != target:
                wrong.append(
                    (variant.sku, code, quantities, str(row["AvailableQty"]), units, target)
                )
    assert not wrong, (
        f"stock differs from the formula (sku, wh, shopify, unleashed, in flight, want): {wrong}"
    )
    SUMMARY["stock levels checked"] += checked
    return checked


def check_pending_reported(h: Harness) -> int:
    """Every held or failed item that `status --json` lists was reported by the last run of
    its job that went through (a run an API outage stopped reports what it got to, not the
    retry list), and every order held or failed in that run is still pending."""
    status = h.status()
    store = h.store()
    try:
        missing = []
        for job, info in status["jobs"].items():
            last = info.get("last_run")
            pending = [p for p in status["pending"] if p["job"] == job]
            if not pending and last is None:
                continue
            assert last is not None, f"{job}: pending items but no run"
            items = store.run_items(int(last["id"]))
            if last.get("status") == "failed":  # and the runs back to one that went through
                for run in store.runs(job=job)[1:]:
                    items += store.run_items(int(run["id"]))
                    if run["status"] != "failed":
                        break
            reported = {(i["key"], i["action"]) for i in items if i["action"] in ("hold", "fail")}
            reported_orders = {
                (i["key"], i["action"])
                for i in items
                if i["action"] in ("hold", "fail") and i["entity"] == "order"
            }
            for row in pending:
                data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
                names = {str(row["key"]), str(row.get("ref")), str((data or {}).get("name"))}
                names.add(str((data or {}).get("key")))  # fulfilments keep the report key here
                if not any((name, row["action"]) in reported for name in names):
                    missing.append((job, row["key"], row["action"], row["reason"]))
            if job == "orders":
                pending_names = set()
                for row in pending:
                    data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
                    pending_names.add(str((data or {}).get("name")))
                dropped = [
                    (key, action)
                    for key, action in reported_orders
                    if key not in pending_names and not key.startswith("?")
                ]
                refs = set(unleashed_refs(h.boxes))
                dropped = [d for d in dropped if d[0] not in refs]
                assert not dropped, f"orders held/failed in the last run but not pending: {dropped}"
        assert not missing, f"pending items the last run did not report: {missing}"
        SUMMARY["pending checks"] += len(status["pending"]) + 1
        return len(status["pending"])
    finally:
        store.close()


def check_fulfillments_once(boxes: Sandboxes, *, held: set[str] = frozenset()) -> int:  # type: ignore[assignment]
    """Every unit Unleashed dispatched for a sales order syncer sent is fulfilled in Shopify
    exactly once: per order, the fulfilled units equal the dispatched units (fewer: a shipment
    lost; more: one fulfilled twice). Orders in `held` (shipments legitimately waiting) may
    have fewer, never more."""
    ref_of = {
        str(so["OrderNumber"]): str(so.get("CustomerRef")) for so in boxes.unleashed.sales_orders()
    }
    dispatched: Counter[str] = Counter()
    for shipment in boxes.unleashed.shipments():
        if shipment.get("ShipmentStatus") != "Dispatched":
            continue
        name = ref_of.get(str(shipment.get("OrderNumber")))
        if name is None:
            continue
        for line in shipment.get("SalesShipmentLines") or []:
            dispatched[name] += int(Decimal(str(line["ShipmentQty"])))
    fulfilled: Counter[str] = Counter()
    with boxes.shopify.lock:
        for fulfillment in boxes.shopify.fulfillments.values():
            if fulfillment.status == "SUCCESS":
                fulfilled[fulfillment.order.name] += fulfillment.total_quantity
    wrong = []
    for name in sorted(set(dispatched) | set(fulfilled)):
        want, got = dispatched[name], fulfilled[name]
        if got > want or (got < want and name not in held):
            wrong.append((name, f"dispatched {want}", f"fulfilled {got}"))
    assert not wrong, f"fulfilments differ from Unleashed's dispatched shipments: {wrong}"
    SUMMARY["fulfilments checked"] += sum(dispatched.values())
    return sum(dispatched.values())


def kill_at(
    h: Harness, job: str, server: Any, match: str, wanted: int, extra: float = 0.0
) -> tuple[int, str]:
    """Run `python -m syncer sync <job>` and SIGKILL it once the sandbox's request log shows
    the `wanted`-th request matching `match`, then `extra` seconds later (matching requests
    are slowed by 0.15 s, so a short `extra` kills while the next one is in flight). Returns
    the exit status (-SIGKILL when the kill landed) and the output of a run that finished
    first. Event-driven: the kill point is a request count, never a sleep from the start."""
    import os
    import signal
    import sys
    import time

    from syncer.sandbox.common import Fault
    from syncer.sandbox.runner import SANDBOX_ENV

    server.faults.add(Fault("slow", match, count=1000, delay=0.15))
    server.clear_log()
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--config", str(h.config_path), "sync", job],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **SANDBOX_ENV},
    )
    while process.poll() is None:
        if len(server.requests(match)) >= wanted:
            if extra:
                time.sleep(extra)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    output = process.communicate(timeout=120)[0].decode("utf-8", "replace")
    server.faults.clear()
    SUMMARY["kills"] += int(process.returncode == -signal.SIGKILL)
    if process.returncode != -signal.SIGKILL:
        assert_no_crash(output, ["sync", job])
    return process.returncode, output


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """Poll `condition` until it holds (True) or the process has ended without it (False).

    The deadline only guards against a hung child; a test's outcome never depends on it.
    """
    guard = time.monotonic() + 120
    while time.monotonic() < guard:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.002)
    return False
