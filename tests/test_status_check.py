"""`syncer status --check`: one line per problem, exit 0 or 1, and the same as JSON. The state
file gets timestamps written into it and the command's clock is fixed, so ages are exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import minimal_config

from syncer import cli as cli_module
from syncer.cli import cli
from syncer.report import Item, RunReport
from syncer.store import Store

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def config_file(
    write_config: Callable[..., Path], secrets_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    data: dict[str, Any] = minimal_config()
    data["products"] = {"enabled": False}  # orders (5m -> 15m) and inventory (15m -> 45m)
    monkeypatch.setattr(cli_module, "_utc_now", lambda: NOW)
    return write_config(data)


def record(
    path: Path,
    job: str,
    finished_at: str,
    *,
    error: str | None = None,
    items: tuple[Item, ...] = (),
    cursor: str | None = "c1",
) -> None:
    store = Store(path)
    try:
        report = RunReport(job=job, dry_run=False, started_at=finished_at, cursor_before=cursor)
        report.items.extend(items)
        report.finished_at = finished_at
        report.error = error
        report.cursor_after = cursor
        store.finish_run(report, cursor_job=job)
    finally:
        store.close()


def check(config_file: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["--config", str(config_file), "status", "--check", *args])
    return result.exit_code, result.output.splitlines()


def db(config_file: Path) -> Path:
    return config_file.parent / "syncer.db"


def test_all_well_exits_0_with_one_line(config_file: Path) -> None:
    record(db(config_file), "orders", "2026-12-06T11:50:00Z")
    record(db(config_file), "inventory", "2026-12-06T11:20:00Z")

    assert check(config_file) == (
        0,
        [
            "ok: orders, inventory ran ok or partial within their max age; "
            "nothing held or failed for longer"
        ],
    )


def test_a_stale_job_and_one_that_never_ran(config_file: Path) -> None:
    record(db(config_file), "orders", "2026-12-06T09:55:00Z")

    assert check(config_file) == (
        1,
        [
            "stale orders: the last ok or partial run (#1) finished 2h 5m ago (max age 15m)",
            "stale inventory: no ok or partial run yet (max age 45m)",
        ],
    )


def test_items_held_or_failed_too_long(config_file: Path) -> None:
    path = db(config_file)
    record(path, "orders", "2026-12-06T11:55:00Z")
    record(path, "inventory", "2026-12-06T11:55:00Z")
    store = Store(path)
    try:
        store.set_pending(
            "orders",
            "order",
            "gid://shopify/Order/1",
            action="hold",
            reason="no Unleashed product for SKU X",
            data={"name": "#1001"},
        )
        store.set_pending("inventory", "stock", "SKU-1@MAIN", action="fail", reason="refused")
        store.set_pending("orders", "order", "gid://shopify/Order/2", action="hold", reason="new")
        store.conn.execute(
            "UPDATE pending SET first_seen = '2026-12-05T09:00:00Z' WHERE key != ?",
            ("gid://shopify/Order/2",),
        )
        store.conn.execute(
            "UPDATE pending SET first_seen = '2026-12-06T11:59:00Z' "
            "WHERE key = 'gid://shopify/Order/2'"
        )
        store.conn.commit()
    finally:
        store.close()

    assert check(config_file) == (
        1,
        [
            "held orders #1001: held for 1d 3h (max age 15m): no Unleashed product for SKU X",
            "failed inventory SKU-1@MAIN: failed for 1d 3h (max age 45m): refused",
        ],
    )


def test_a_cursor_stuck_while_runs_fail(config_file: Path) -> None:
    path = db(config_file)
    record(path, "inventory", "2026-12-06T11:55:00Z")
    record(path, "orders", "2026-12-06T11:50:00Z")
    for minute in (52, 54, 56):
        record(path, "orders", f"2026-12-06T11:{minute}:00Z", error="shopify did not answer")

    assert check(config_file) == (
        1,
        [
            "stuck orders: the cursor has not moved in 3 failed runs since "
            "2026-12-06T11:52:00Z: shopify did not answer"
        ],
    )


def test_json_gives_the_same_as_data(config_file: Path) -> None:
    record(db(config_file), "orders", "2026-12-06T09:55:00Z")
    record(db(config_file), "inventory", "2026-12-06T11:55:00Z")

    code, lines = check(config_file, "--json")

    assert code == 1
    assert json.loads("\n".join(lines)) == {
        "ok": False,
        "problems": [
            {
                "kind": "stale",
                "job": "orders",
                "key": None,
                "since": "2026-12-06T09:55:00Z",
                "max_age_seconds": 900,
                "message": "stale orders: the last ok or partial run (#1) finished 2h 5m ago "
                "(max age 15m)",
            }
        ],
    }


def test_max_age_from_the_config_and_dry_runs_do_not_count(
    write_config: Callable[..., Path], secrets_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data: dict[str, Any] = minimal_config()
    data["products"] = {"enabled": False}
    data["inventory"]["enabled"] = False
    data["alerts"] = {"max_age": "3h"}
    monkeypatch.setattr(cli_module, "_utc_now", lambda: NOW)
    config_file = write_config(data)
    record(db(config_file), "orders", "2026-12-06T09:55:00Z")
    store = Store(db(config_file))
    try:
        dry = RunReport(job="orders", dry_run=True, started_at="2026-12-06T11:59:00Z")
        store.finish_run(dry, cursor_job="orders")
    finally:
        store.close()

    assert check(config_file)[0] == 0
    monkeypatch.setattr(cli_module, "_utc_now", lambda: datetime(2026, 12, 6, 13, 0, tzinfo=UTC))
    assert check(config_file) == (
        1,
        ["stale orders: the last ok or partial run (#1) finished 3h 5m ago (max age 3h)"],
    )
