"""A crash at any moment loses nothing and duplicates nothing (SPEC: Safety and state).

The syncer runs as a real subprocess against sandboxes served from this test process (they
keep running across the kills). It is killed with SIGKILL at random moments (seeded) ten
times, then run to completion: every selected order must exist exactly once in Unleashed,
and every new customer exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncer.sandbox.common import Fault
from syncer.sandbox.runner import SANDBOX_ENV, start_sandboxes

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
        # ~50 ms per sales order, so a run lasts a few seconds and the kills land mid-run.
        boxes.unleashed_server.faults.add(
            Fault("slow", match="POST /SalesOrders/", count=10**6, delay=0.05)
        )
        config = boxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})
        command = [sys.executable, "-m", "syncer", "--config", str(config), "sync", "orders"]
        env = {**os.environ, **SANDBOX_ENV}
        started = time.monotonic()

        killed_mid_run = 0
        progress = []
        for _ in range(KILLS):
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.3, 2.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed_mid_run += 1
            process.wait(timeout=30)
            progress.append(len(boxes.unleashed.sales_orders()))

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

        assert final.returncode == 0, final.stdout + final.stderr
        assert time.monotonic() - started < 40
        assert killed_mid_run >= KILLS // 2, progress  # the kills did interrupt runs
        assert progress[0] < ORDERS  # the first kill stopped a run part-way
        refs = Counter(o["CustomerRef"] for o in boxes.unleashed.sales_orders())
        assert refs == Counter({order.name: 1 for order in orders})
        emails = Counter(c["Email"] for c in boxes.unleashed.customers() if c.get("Email"))
        assert all(emails[f"buyer{i}@example.com"] == 1 for i in range(12))
        posted = Counter(r.path for r in boxes.unleashed_server.requests("POST /SalesOrders/"))
        assert len(posted) == ORDERS  # no Guid other than the orders' own was ever posted
