"""A crash at any moment loses nothing and duplicates nothing (SPEC: Safety and state).

The syncer runs as a real subprocess against sandboxes served from this test process (they
keep running across the kills). It is killed with SIGKILL ten times, each time when the
Unleashed sandbox's request log shows a randomly chosen (seeded) next `POST /SalesOrders`,
while that request is held in flight; then it is run to completion: every selected order must
exist exactly once in Unleashed, and every new customer exactly once.

The kills follow events, not the clock: however fast or slow the machine, each one lands in
the middle of a run, on a sales order being sent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncer.sandbox.common import Fault, Recorded
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from tests.faultkit import wait_for

ORDERS = 50
KILLS = 10


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_then_completion_sends_each_order_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261126)
    with start_sandboxes(seed=2, orders=0) as boxes:
        boxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)  # no throttle waits
        skus = [v.sku for v in boxes.world.variants()]
        placed = datetime(2026, 11, 20, tzinfo=UTC)
        orders = [
            boxes.shopify.add_order(
                [(skus[i % len(skus)], 1 + i % 3), (skus[(i * 7) % len(skus)], 1)],
                email=f"buyer{i % 12}@example.com",
                created_at=placed + timedelta(minutes=i),
            )
            for i in range(ORDERS)
        ]
        # Each sales order is held 50 ms in the sandbox, so the kill lands while it is in flight.
        boxes.unleashed_server.faults.add(
            Fault("slow", match="POST /SalesOrders/", count=10**6, delay=0.05)
        )
        config = boxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
        command = [sys.executable, "-m", "syncer", "--config", str(config), "sync", "orders"]
        env = {**os.environ, **SANDBOX_ENV}

        progress = []
        for _ in range(KILLS):
            # At most 4 orders further per kill: ten kills stop short of the 50th order.
            target = len(posted_sales_orders(boxes)) + rng.randint(1, 4)
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            reached = wait_for(
                lambda target=target: len(posted_sales_orders(boxes)) >= target, process
            )
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert reached, f"the run ended before POST #{target} (posted so far: {progress})"
            assert process.returncode == -signal.SIGKILL
            progress.append(len(boxes.unleashed.sales_orders()))

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

        assert final.returncode == 0, final.stdout + final.stderr
        assert progress[0] < ORDERS  # the first kill stopped a run part-way
        assert progress[-1] < ORDERS, progress  # and so did the last
        refs = Counter(o["CustomerRef"] for o in boxes.unleashed.sales_orders())
        assert refs == Counter({order.name: 1 for order in orders})
        emails = Counter(c["Email"] for c in boxes.unleashed.customers() if c.get("Email"))
        assert all(emails[f"buyer{i}@example.com"] == 1 for i in range(12))
        posted = Counter(r.path for r in posted_sales_orders(boxes))
        assert len(posted) == ORDERS  # no Guid other than the orders' own was ever posted


def posted_sales_orders(boxes: Sandboxes) -> list[Recorded]:
    """Every `POST /SalesOrders/{guid}` the sandbox has received, logged as it arrives."""
    return boxes.unleashed_server.requests("POST /SalesOrders/")
