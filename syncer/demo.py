"""`syncer demo`: a full sync against the bundled sandboxes, then the report.

Nothing leaves this machine: both APIs are the local sandboxes (syncer/sandbox), seeded with a
small shop whose catalogue, stock and orders differ from the Unleashed account the way a real
pair of systems drifts apart.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from syncer import render
from syncer.config import load_config
from syncer.engine import Context, Options, run_job
from syncer.errors import SyncerError
from syncer.jobs import enabled, job_function
from syncer.links import ORDER_LINK
from syncer.report import JOBS
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from syncer.store import Store


def run_demo(console: render.Console, *, seed: int = 1, keep: bool = False, shops: int = 1) -> int:
    """Start the sandboxes, sync everything, dispatch one order in Unleashed and sync the
    fulfilment back, then print the report. Returns the worst exit code.

    `shops=2`: an NZD shop and an AUD shop on one Unleashed account (`shops:` config), each
    job run once per shop; both shops map MAIN and WEST, so their in-flight stock is shared."""
    workdir = Path(tempfile.mkdtemp(prefix="syncer-demo-"))
    boxes = start_sandboxes(seed, shops=shops)
    os.environ.update(SANDBOX_ENV)
    if shops > 1:
        config_path = boxes.write_shops_config(workdir / "config.yaml", state={"path": "demo.db"})
    else:
        config_path = boxes.write_config(workdir / "config.yaml", state={"path": "demo.db"})
    console.rule("syncer demo")
    shop_urls = ", ".join(
        f"{name} {server.url} ({box.world.currency})" for name, box, server in boxes.shops
    )
    console.print(
        f"Shopify sandbox{'es' if shops > 1 else ''} {shop_urls}; Unleashed sandbox "
        f"{boxes.unleashed_server.url}; config {config_path}"
    )
    config = load_config(config_path)
    store = Store(config.state.path)
    worst = 0
    try:
        with store.locked():
            context = Context(config=config, store=store)
            context.progress = render.ConsoleProgress(console)
            console.rule("1. sync all --dry-run: what would change")
            for job in JOBS:
                for shop in context.shop_contexts():
                    if enabled(shop.config, job):
                        report = run_job(shop, job, job_function(job), Options(dry_run=True))
                        render.plan_table(console, report)
            console.rule("2. sync all")
            worst = _sync_all(console, context)
            console.rule("3. Unleashed dispatches an order; the fulfilment goes back to Shopify")
            first = context.shop_contexts()[0]
            shipped = _dispatch_one(boxes, first.store)
            if shipped:
                console.print(f"Dispatched {shipped} in Unleashed with tracking DEMO123.")
                report = run_job(first, "fulfillments", job_function("fulfillments"), Options())
                render.run_summary(console, report)
                worst = max(worst, report.exit_code)
            console.rule("4. sync all again: nothing left to do")
            worst = max(worst, _sync_all(console, context))
        console.rule("The report (also in SQLite: " + str(config.state.path) + ")")
        render.runs_table(console, store.runs(last=20))
    except SyncerError as exc:
        console.print(f"[red]demo stopped: {exc}[/red]")
        worst = exc.exit_code
    finally:
        store.close()
        if keep:
            console.print("Sandboxes keep running; Ctrl-C to stop.")
            _wait()
        boxes.stop()
    console.print(
        "\nTo point syncer at your own shop: `syncer init config.yaml`, set "
        "SHOPIFY_ACCESS_TOKEN, UNLEASHED_API_ID and UNLEASHED_API_KEY, map your warehouses to "
        "Shopify locations under inventory.locations, then run `syncer --config config.yaml "
        "check` and `syncer --config config.yaml sync all --dry-run`."
    )
    return worst


def _sync_all(console: render.Console, context: Context) -> int:
    """Each job for every shop before the next job, as `sync all` runs them."""
    worst = 0
    shops = context.shop_contexts()
    for job in JOBS:
        for shop in shops:
            if not enabled(shop.config, job):
                continue
            report = run_job(shop, job, job_function(job), Options())
            if len(shops) > 1:
                console.print(f"shop {shop.shop_name}:", highlight=False)
            render.run_summary(console, report)
            worst = max(worst, report.exit_code)
    return worst


def _dispatch_one(boxes: Sandboxes, store: Store) -> str | None:
    """Ship the first sales order syncer created, as a warehouse would in Unleashed."""
    links = store.links(ORDER_LINK, status="created")
    if not links:
        return None
    order_number = str(links[0]["data"].get("order_number"))
    boxes.unleashed.ship_order(order_number, tracking_number="DEMO123", shipping_company="NZ Post")
    return order_number


def _wait() -> None:
    import threading

    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        return
