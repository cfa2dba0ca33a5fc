"""What the sandbox-backed job tests read back: a run's report through the CLI, and SKUs that
no seeded order touches (so in-flight stock does not blur a level under test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes


def last_items(config: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The newest run's row and its items by key, as `syncer report --json` gives them."""
    runner = CliRunner()
    runs = json.loads(runner.invoke(cli, ["--config", str(config), "report", "--json"]).output)
    run_id = max(run["id"] for run in runs["runs"])
    data = json.loads(
        runner.invoke(cli, ["--config", str(config), "report", str(run_id), "--json"]).output
    )
    return data["run"], {item["key"]: item for item in data["items"]}


def detail(item: dict[str, Any]) -> dict[str, Any]:
    value = item["detail"]
    return json.loads(value) if isinstance(value, str) else dict(value)


def free_skus(boxes: Sandboxes, count: int) -> list[str]:
    """Single-variant SKUs on both sides that no seeded order touches."""
    ordered = {line.sku for order in boxes.world.orders for line in order.lines}
    skus = [
        v.sku
        for v in boxes.world.variants()
        if v.sku not in ordered and len(boxes.shopify.by_sku.get(v.sku, [])) == 1
    ]
    assert len(skus) >= count
    return skus[:count]
