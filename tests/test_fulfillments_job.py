"""`sync fulfillments` end to end against both sandboxes over real sockets.

Each test first runs `sync orders` so the Unleashed sales orders exist (and the order links that
say which orders are syncer's), then dispatches shipments in the Unleashed sandbox and checks
what the Shopify sandbox received.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from syncer import cli as cli_module
from syncer.cli import cli
from syncer.connectors.shopify import ShopifyClient
from syncer.errors import OutcomeUnknown
from syncer.fulfillments.job import SETTLE, FulfillmentsRun
from syncer.http import RetryPolicy
from syncer.sandbox.common import Fault, Reply, Request
from syncer.store import Store


@dataclass
class Env:
    boxes: Any
    config: Path
    state: Path
    # How far syncer's clock runs ahead of the real one: a later run without waiting.
    ahead: timedelta = timedelta(0)
    # Read timeout of the runs' HTTP client (seconds); None keeps the default.
    read_timeout: float | None = None
    # Every wait the runs asked for (seconds), in order; none of them really sleeps.
    sleeps: list[float] = field(default_factory=list)
    # What happens in the world while a run waits (e.g. a held call lands); runs once.
    during_sleep: Callable[[], None] | None = None

    def later(self, delta: timedelta) -> None:
        """Make the next runs happen `delta` later, as syncer's clock sees it."""
        self.ahead += delta

    def sleep(self, seconds: float) -> None:
        """The runs' sleep: the wait is recorded, `during_sleep` happens, and syncer's clock
        moves on by `seconds`, all without waiting in real time."""
        self.sleeps.append(seconds)
        happen, self.during_sleep = self.during_sleep, None
        if happen is not None:
            happen()
        self.later(timedelta(seconds=seconds))

    def sync(self, job: str, *args: str) -> Result:
        result = CliRunner().invoke(
            cli, ["--config", str(self.config), "sync", job, *args], env={"COLUMNS": "160"}
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def store(self) -> Store:
        return Store(self.state)

    def last_run(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        store = self.store()
        try:
            [run] = store.runs(last=1, job="fulfillments")
            return run, store.run_items(run["id"])
        finally:
            store.close()

    def links(self, kind: str) -> list[dict[str, Any]]:
        store = self.store()
        try:
            return store.links(kind)
        finally:
            store.close()

    def fulfillments(self, order_name: str) -> list[Any]:
        shopify = self.boxes.shopify
        return [f for f in shopify.fulfillments.values() if f.order.name == order_name]

    def creates_sent(self) -> int:
        return len(self.boxes.shopify_server.requests("fulfillmentCreate"))

    def remaining(self, order_name: str) -> dict[str, int]:
        order = self.boxes.shopify.find_order(order_name)
        return {
            line.line_item.sku: line.remaining_quantity
            for fo in order.fulfillment_orders
            for line in fo.lines
        }


class Gate:
    """Holds the first `fulfillmentCreate` inside the Shopify sandbox until released, so a
    test can decide exactly when a call that left syncer lands: a request in flight while
    its client crashes, times out or runs again. `arrived` is set once it is held."""

    def __init__(self, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._held = False
        original = app.handle

        def handle(request: Request) -> Reply:
            if b"fulfillmentCreate" in request.body and not self._held:
                self._held = True
                self.arrived.set()
                assert self.release.wait(timeout=60), "the gate was never released"
            return original(request)

        monkeypatch.setattr(app, "handle", handle)


@pytest.fixture
def env(
    sandboxes: Any, sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Env:
    state = tmp_path / "syncer.db"
    config = sandboxes.write_config(tmp_path / "config.yaml", state_path=str(state))
    environment = Env(sandboxes, config, state)
    original = cli_module.State.context

    def context(state: Any, store: Store) -> Any:
        ctx = original(state, store)
        ctx.clock = lambda: datetime.now(UTC) + environment.ahead
        ctx.sleep = environment.sleep
        if environment.read_timeout is not None:
            ctx.policy = RetryPolicy(base_delay=0.01, read_timeout=environment.read_timeout)
        return ctx

    monkeypatch.setattr(cli_module.State, "context", context)
    result = environment.sync("orders")
    assert result.exit_code == 0, result.output
    return environment


def test_full_shipment_is_one_fulfilment_with_tracking_exactly_once(env: Env) -> None:
    env.boxes.unleashed.ship_order("SH-1001", "QB0667623375", "NZ Post")

    first = env.sync("fulfillments")

    assert first.exit_code == 0, first.output
    [fulfillment] = env.fulfillments("#1001")
    assert fulfillment.tracking == [
        {"company": "New Zealand Post", "number": "QB0667623375", "url": None}
    ]
    assert fulfillment.total_quantity == 6
    assert env.boxes.shopify.find_order("#1001").display_fulfillment_status == "FULFILLED"
    run, items = env.last_run()
    assert [(i["key"], i["action"]) for i in items] == [("#1001/SS-00000001", "create")]
    assert (run["status"], run["unleashed_calls"]) == ("ok", 1)
    # fulfilment orders and order status (one batched call each), then the create
    assert run["shopify_calls"] <= 4
    [shipment_link] = env.links("shipment")
    assert shipment_link["status"] == "fulfilled"
    assert run["cursor_after"] is not None

    second = env.sync("fulfillments")

    assert second.exit_code == 0, second.output
    assert env.creates_sent() == 1
    assert len(env.fulfillments("#1001")) == 1
    run, items = env.last_run()
    assert items == []
    assert (run["shopify_calls"], run["unleashed_calls"]) == (0, 1)


def test_partial_shipment_fulfils_only_its_lines_and_the_rest_stays_open(env: Env) -> None:
    unleashed = env.boxes.unleashed
    before = env.remaining("#1002")
    unleashed.ship_order("SH-1002", "TRK-1", "DHL Express", lines={2: 1})

    assert env.sync("fulfillments").exit_code == 0

    [fulfillment] = env.fulfillments("#1002")
    assert fulfillment.total_quantity == 1
    assert env.remaining("#1002") == {**before, "P00011": before["P00011"] - 1}
    assert env.boxes.shopify.find_order("#1002").display_fulfillment_status == (
        "PARTIALLY_FULFILLED"
    )
    _, items = env.last_run()
    [item] = items
    assert item["detail"]["lines"] == [{"sku": "P00011", "quantity": 1}]

    unleashed.ship_order("SH-1002", "TRK-2", "DHL Express")  # the rest

    assert env.sync("fulfillments").exit_code == 0

    assert [f.total_quantity for f in env.fulfillments("#1002")] == [1, sum(before.values()) - 1]
    assert set(env.remaining("#1002").values()) == {0}
    assert env.boxes.shopify.find_order("#1002").display_fulfillment_status == "FULFILLED"
    assert env.creates_sent() == 2


def test_applied_call_whose_reply_was_lost_is_found_and_not_sent_again(env: Env) -> None:
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")
    env.boxes.shopify_server.faults.add(Fault("lost_reply", match="fulfillmentCreate"))

    result = env.sync("fulfillments")

    assert result.exit_code == 0, result.output
    assert len(env.fulfillments("#1001")) == 1
    assert env.creates_sent() == 1
    assert env.sleeps == []  # found at the first look: nothing to wait for
    _, items = env.last_run()
    assert [i["action"] for i in items] == ["create"]
    assert [link["status"] for link in env.links("fulfillment")] == ["created"]
    assert env.sync("fulfillments").exit_code == 0
    assert len(env.fulfillments("#1001")) == 1
    assert env.creates_sent() == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_error_reply_to_a_call_is_followed_by_one_resend_at_once(env: Env, status: int) -> None:
    """An error status is Shopify's last word on the request: the re-read is final, and the
    fulfilment it shows missing is sent again in the same run, without a wait."""
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")
    env.boxes.shopify_server.faults.add(Fault("status", match="fulfillmentCreate", status=status))

    result = env.sync("fulfillments")

    assert result.exit_code == 0, result.output
    assert [r.status for r in env.boxes.shopify_server.requests("fulfillmentCreate")] == [
        status,
        200,
    ]
    assert len(env.fulfillments("#1001")) == 1
    assert env.remaining("#1001") == dict.fromkeys(env.remaining("#1001"), 0)
    assert env.sleeps == []
    _, items = env.last_run()
    assert [i["action"] for i in items] == ["create"]
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]
    assert env.sync("fulfillments").exit_code == 0
    assert env.creates_sent() == 2


def test_call_with_no_reply_and_nothing_in_shopify_settles_then_is_sent_once(env: Env) -> None:
    """A dropped call may still be running in Shopify: the run waits until it is SETTLE old,
    looks again, and only then sends it a second time."""
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")
    env.boxes.shopify_server.faults.add(Fault("drop", match="fulfillmentCreate"))
    looked: list[int] = []
    env.during_sleep = lambda: looked.append(env.creates_sent())

    result = env.sync("fulfillments")

    assert result.exit_code == 0, result.output
    assert looked == [1]  # the wait came before the second send
    [waited] = env.sleeps
    assert 0 < waited <= SETTLE.total_seconds()
    assert env.creates_sent() == 2
    assert len(env.fulfillments("#1001")) == 1
    _, items = env.last_run()
    assert [i["action"] for i in items] == ["create"]
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]
    store = env.store()
    try:
        assert store.pending("fulfillments") == []
    finally:
        store.close()


def test_call_never_answered_is_left_to_the_next_run_after_three_sends(env: Env) -> None:
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")
    env.boxes.shopify_server.faults.add(Fault("drop", match="fulfillmentCreate", count=3))

    failed = env.sync("fulfillments")

    assert failed.exit_code == 1, failed.output
    assert env.creates_sent() == 3
    assert len(env.sleeps) == 3
    assert env.fulfillments("#1001") == []
    _, [item] = env.last_run()
    assert item["action"] == "fail"
    assert item["error"].endswith(
        "The fulfilment was sent 3 times without a clear answer and is not in Shopify; the "
        "next run looks again and sends it if it is still missing"
    )
    assert [link["status"] for link in env.links("fulfillment")] == ["sending"]

    settled = env.sync("fulfillments")

    assert settled.exit_code == 0, settled.output
    assert env.creates_sent() == 4
    assert len(env.fulfillments("#1001")) == 1
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]


def test_call_still_in_flight_when_its_run_was_killed_is_fulfilled_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-unit partial shipment; the run dies while its fulfillmentCreate is on its way
    and the next run starts before Shopify applies it (a SIGKILL mid-request). The call lands
    while that run waits for it to settle."""
    unleashed, shopify = env.boxes.unleashed, env.boxes.shopify
    assert env.remaining("#1002")["P00011"] >= 2  # room for a second, duplicate fulfilment
    unleashed.ship_order("SH-1002", "TRK-1", "DHL Express", lines={2: 1})
    gate = Gate(env.boxes.shopify_server.app, monkeypatch)
    real_create = ShopifyClient.fulfillment_create
    in_flight: list[threading.Thread] = []

    def dying_create(self: ShopifyClient, *args: Any, **kwargs: Any) -> Any:
        def send() -> None:
            try:
                real_create(self, *args, **kwargs)
            except OutcomeUnknown:
                pass  # the dead run never hears back

        in_flight.append(threading.Thread(target=send))
        in_flight[0].start()
        assert gate.arrived.wait(timeout=60)
        raise RuntimeError("simulated kill")

    monkeypatch.setattr(ShopifyClient, "fulfillment_create", dying_create)
    assert env.sync("fulfillments").exit_code != 0
    monkeypatch.setattr(ShopifyClient, "fulfillment_create", real_create)
    assert [link["status"] for link in env.links("fulfillment")] == ["sending"]

    def lands() -> None:
        assert env.creates_sent() == 0  # still held when the run starts waiting
        gate.release.set()
        in_flight[0].join(timeout=60)

    env.during_sleep = lands
    next_run = env.sync("fulfillments")  # starts while the call has not landed yet

    assert next_run.exit_code == 0, next_run.output
    [waited] = env.sleeps
    assert 0 < waited <= SETTLE.total_seconds()
    assert [f.total_quantity for f in env.fulfillments("#1002")] == [1]
    assert env.creates_sent() == 1
    _, [item] = env.last_run()
    assert (item["key"], item["action"]) == ("#1002/SS-00000001", "create")
    assert [link["status"] for link in env.links("fulfillment")] == ["created"]
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]
    assert shopify.find_order("#1002").display_fulfillment_status == "PARTIALLY_FULFILLED"
    assert env.sync("fulfillments").exit_code == 0
    assert len(env.fulfillments("#1002")) == 1


def test_call_timed_out_but_applied_while_settling_is_not_sent_twice(env: Env) -> None:
    """The read times out, Shopify has not applied the call when syncer first looks, then
    does while the run waits: sending it again at once would fulfil the one unit twice."""
    env.boxes.unleashed.ship_order("SH-1002", "TRK-1", "DHL Express", lines={2: 1})
    gate = Gate(env.boxes.shopify_server.app, pytest.MonkeyPatch())
    server = env.boxes.shopify_server

    def lands() -> None:
        gate.release.set()
        assert server.wait_idle()

    env.during_sleep = lands
    env.read_timeout = 0.5
    try:
        result = env.sync("fulfillments")
    finally:
        gate.release.set()
    env.read_timeout = None

    assert result.exit_code == 0, result.output
    assert gate.arrived.is_set()
    [waited] = env.sleeps
    assert 0 < waited <= SETTLE.total_seconds()
    assert env.creates_sent() == 1
    assert [f.total_quantity for f in env.fulfillments("#1002")] == [1]
    _, [item] = env.last_run()
    assert item["action"] == "create"
    assert [link["status"] for link in env.links("fulfillment")] == ["created"]
    assert env.sync("fulfillments").exit_code == 0
    assert [f.total_quantity for f in env.fulfillments("#1002")] == [1]


@pytest.mark.parametrize(
    ("crash_after_sending", "rerun_after", "creates_next_run", "waits"),
    [
        pytest.param(True, timedelta(0), 0, 1, id="applied-then-crashed-rerun-at-once"),
        pytest.param(False, timedelta(0), 1, 1, id="crashed-before-sending-rerun-at-once"),
        pytest.param(True, SETTLE, 0, 0, id="applied-then-crashed-rerun-later"),
        pytest.param(False, SETTLE, 1, 0, id="crashed-before-sending-rerun-later"),
    ],
)
def test_crash_between_ledger_and_reply_is_settled_on_the_next_run(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    crash_after_sending: bool,
    rerun_after: timedelta,
    creates_next_run: int,
    waits: int,
) -> None:
    """The next run waits only for a call younger than SETTLE, then records it if Shopify
    has it and sends it once if not."""
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")
    real_create = ShopifyClient.fulfillment_create

    def crashing_create(self: ShopifyClient, *args: Any, **kwargs: Any) -> Any:
        if crash_after_sending:
            real_create(self, *args, **kwargs)
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ShopifyClient, "fulfillment_create", crashing_create)
    crashed = env.sync("fulfillments")
    assert crashed.exit_code != 0
    run, _ = env.last_run()
    assert "simulated crash" in run["error"]
    assert run["cursor_after"] is None  # a crashed run does not move the cursor
    monkeypatch.setattr(ShopifyClient, "fulfillment_create", real_create)
    [ledger] = env.links("fulfillment")
    assert ledger["status"] == "sending"
    sent_before = env.creates_sent()

    env.later(rerun_after)
    result = env.sync("fulfillments")

    assert result.exit_code == 0, result.output
    assert len(env.sleeps) == waits
    assert env.creates_sent() - sent_before == creates_next_run
    assert len(env.fulfillments("#1001")) == 1
    assert [link["status"] for link in env.links("fulfillment")] == ["created"]
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]
    _, items = env.last_run()
    assert [i["action"] for i in items] == ["create"]


def test_part_created_but_shipment_not_recorded_is_completed_next_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped between a fulfilment's reply and the shipment's record: the next run
    records the shipment from the ledger, neither sending it again nor holding it."""
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated crash")

    real_mark = FulfillmentsRun.mark_shipment
    monkeypatch.setattr(FulfillmentsRun, "mark_shipment", crash)
    assert env.sync("fulfillments").exit_code != 0
    monkeypatch.setattr(FulfillmentsRun, "mark_shipment", real_mark)
    assert [link["status"] for link in env.links("fulfillment")] == ["created"]
    assert env.links("shipment") == []

    result = env.sync("fulfillments")

    assert result.exit_code == 0, result.output
    assert env.creates_sent() == 1
    assert len(env.fulfillments("#1001")) == 1
    assert [link["status"] for link in env.links("shipment")] == ["fulfilled"]
    _, [item] = env.last_run()
    assert item["action"] == "create"


def test_shipment_of_an_order_cancelled_in_shopify_is_reported_once_not_forced(
    env: Env,
) -> None:
    env.boxes.shopify.cancel_order("#1001")
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")

    result = env.sync("fulfillments")

    # a conflict only reports (SPEC section 2): the run did all it should, so exit 0
    assert result.exit_code == 0, result.output
    assert env.fulfillments("#1001") == []
    assert env.creates_sent() == 0
    run, items = env.last_run()
    [item] = items
    assert (item["key"], item["action"]) == ("#1001/SS-00000001", "conflict")
    assert "was cancelled" in item["error"]
    assert run["status"] == "ok"
    assert [link["status"] for link in env.links("shipment")] == ["reported"]

    assert env.sync("fulfillments").exit_code == 0
    assert env.last_run()[1] == []  # reported once


def test_held_shipment_exits_1_and_goes_through_once_released(env: Env) -> None:
    order = env.boxes.shopify.find_order("#1001")
    [fulfillment_order] = order.fulfillment_orders
    fulfillment_order.status = "ON_HOLD"  # someone holds it in Shopify
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")

    held = env.sync("fulfillments")

    assert held.exit_code == 1, held.output
    assert "ON_HOLD" in held.output
    run, items = env.last_run()
    assert [i["action"] for i in items] == ["hold"]
    assert run["cursor_after"] is not None  # held items are retried via the pending list
    store = env.store()
    try:
        assert [row["action"] for row in store.pending("fulfillments")] == ["hold"]
    finally:
        store.close()

    fulfillment_order.status = "OPEN"
    released = env.sync("fulfillments")

    assert released.exit_code == 0, released.output
    assert len(env.fulfillments("#1001")) == 1
    store = env.store()
    try:
        assert store.pending("fulfillments") == []
    finally:
        store.close()


def test_dry_run_writes_nothing_and_shows_what_would_be_fulfilled(env: Env) -> None:
    env.boxes.unleashed.ship_order("SH-1001", "QB1", "NZ Post")

    result = env.sync("fulfillments", "--dry-run")

    assert result.exit_code == 0, result.output
    table = result.output
    assert "#1001/SS-00000001" in table
    assert "New Zealand Post QB1" in table
    assert env.creates_sent() == 0
    assert env.boxes.shopify.written() == []
    assert env.links("fulfillment") == []
    assert env.links("shipment") == []
    run, items = env.last_run()
    assert (run["dry_run"], run["cursor_after"]) == (1, None)
    [item] = items
    assert item["action"] == "create"
    assert item["detail"]["tracking"] == {"company": "New Zealand Post", "number": "QB1"}
    assert item["detail"]["changes"]["P00004 left to fulfil"] == {"current": 3, "new": 0}

    assert env.sync("fulfillments").exit_code == 0
    assert len(env.fulfillments("#1001")) == 1


def test_disabled_in_config_is_a_usage_error(
    sandboxes: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = sandboxes.write_config(
        tmp_path / "config.yaml",
        state_path=str(tmp_path / "syncer.db"),
        fulfillments={"enabled": False},
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "sync", "fulfillments"])
    assert result.exit_code == 2
    assert "fulfillments.enabled" in result.output
