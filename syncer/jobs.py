"""The registry of sync jobs: name -> run function, imported on use so `--help` stays fast."""

from __future__ import annotations

from syncer.config import Config
from syncer.engine import JobFunction


def job_function(job: str) -> JobFunction:
    """The `run(ctx, report, options)` function of a job."""
    if job == "orders":
        from syncer.orders.job import run as orders_run

        return orders_run
    if job == "products":
        from syncer.products.job import run as products_run

        return products_run
    if job == "inventory":
        from syncer.inventory.job import run as inventory_run

        return inventory_run
    if job == "fulfillments":
        from syncer.fulfillments.job import run as fulfillments_run

        return fulfillments_run
    raise ValueError(f"unknown job {job!r}")


def enabled(config: Config, job: str) -> bool:
    return bool(getattr(config, job).enabled)
