"""The command line: exit codes and exact messages (SPEC section 2), `init`, `--help` on every
command, JSON output of `report` and `status`, the lock, and the rich views of render.py."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from conftest import RUN_ITEMS_COLUMNS, RUNS_COLUMNS
from rich.console import Console

from syncer import cli as cli_module
from syncer import render
from syncer.cli import State, _run_jobs, cli, collect_status
from syncer.config import load_config
from syncer.engine import Context, JobFunction, Options
from syncer.errors import CredentialsError, LockHeld
from syncer.report import Item, RunReport
from syncer.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS_FIELDS = set(RUNS_COLUMNS)
RUN_ITEMS_FIELDS = set(RUN_ITEMS_COLUMNS)


@pytest.fixture
def runner() -> CliRunner:
    # click >= 8.2 keeps stderr apart by default (result.stderr); mix_stderr is gone.
    return CliRunner()


@pytest.fixture
def config_file(write_config: Callable[..., Path], secrets_env: dict[str, str]) -> Path:
    return write_config()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def stderr_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


@pytest.fixture
def fake_jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, JobFunction]:
    """Job functions by name, patched into the CLI (the real job modules are not needed)."""
    jobs: dict[str, JobFunction] = {}

    def lookup(job: str) -> JobFunction:
        return jobs[job]

    monkeypatch.setattr(cli_module, "_job_function", lookup)
    return jobs


def adds(*items: Item, cursor: str = "c1") -> JobFunction:
    def job(ctx: Context, report: RunReport, options: Options) -> None:
        for item in items:
            report.add(item)
        report.cursor_after = cursor

    return job


@pytest.fixture
def store_of(config_file: Path, secrets_env: dict[str, str]) -> Iterator[Store]:
    store = Store(load_config(config_file, env=secrets_env).state.path)
    yield store
    store.close()


# -- configuration errors ------------------------------------------------------------------------


def test_three_config_mistakes_exit_2_naming_all(
    runner: CliRunner,
    write_config: Callable[..., Path],
    config_data: dict[str, Any],
    secrets_env: dict[str, str],
) -> None:
    config_data["master"] = "nobody"
    config_data["products"] = {"price_tier": 12}
    config_data["schedule"] = {"orders": "often"}
    path = write_config(config_data)
    result = invoke(runner, "--config", str(path), "status")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert stderr_lines(result) == [
        f"error: configuration error in {path}:",
        "  - master: must be one of unleashed, shopify, got 'nobody'",
        "  - products.price_tier: must be default or 1..10, got 12 "
        "(default uses DefaultSellPrice, N uses SellPriceTierN)",
        "  - schedule.orders: 'often' is not an interval "
        "(use a number with s, m, h or d, e.g. 15m)",
    ]


def test_missing_config_file_exits_2_and_says_init(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    result = invoke(runner, "--config", str(path), "report")
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        "error: configuration error:",
        f"  - {path}: config file not found (create one with `syncer init`, "
        "or pass --config / set SYNCER_CONFIG)",
    ]


def test_config_path_from_environment(
    runner: CliRunner, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCER_CONFIG", str(config_file))
    result = invoke(runner, "status", "--json")
    assert result.exit_code == 0, result.stderr
    assert (config_file.parent / "syncer.db").exists()


def test_default_config_is_in_the_working_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "status")
    assert result.exit_code == 2
    assert "  - config.yaml: config file not found" in result.stderr


# -- init ----------------------------------------------------------------------------------------


def test_init_writes_a_config_that_loads(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SECRETS_ENV

    for name in SECRETS_ENV:
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "new" / "config.yaml"
    target.parent.mkdir()
    result = invoke(runner, "init", str(target))
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {target}." in result.stdout
    assert target.read_bytes() == (REPO_ROOT / "config.example.yaml").read_bytes()
    config = load_config(target, env=SECRETS_ENV)
    assert config.state.path == target.parent / "syncer.db"
    assert config.unleashed.api_key == SECRETS_ENV["UNLEASHED_API_KEY"]


def test_init_refuses_to_overwrite_without_force(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("# mine\n")
    result = invoke(runner, "init", str(target))
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"error: {target} already exists; pass --force to overwrite it"]
    assert target.read_text() == "# mine\n"
    result = invoke(runner, "init", str(target), "--force")
    assert result.exit_code == 0
    assert target.read_bytes() == (REPO_ROOT / "syncer" / "config.example.yaml").read_bytes()


def test_root_example_config_is_the_packaged_one() -> None:
    root = (REPO_ROOT / "config.example.yaml").read_bytes()
    assert root == (REPO_ROOT / "syncer" / "config.example.yaml").read_bytes()


# -- help ----------------------------------------------------------------------------------------


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


ALL_COMMANDS = command_paths(cli)


def test_the_tree_has_the_spec_commands() -> None:
    names = {" ".join(path) for path in ALL_COMMANDS}
    assert names >= {
        "sync orders",
        "sync products",
        "sync inventory",
        "sync fulfillments",
        "sync all",
        "schedule",
        "report",
        "status",
        "check",
        "init",
        "demo",
        "sandbox serve",
    }


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=" ".join(path) or "syncer") for path in ALL_COMMANDS]
)
def test_every_command_has_help(runner: CliRunner, path: tuple[str, ...]) -> None:
    result = invoke(runner, *path, "--help")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Usage: cli {' '.join(path)}".rstrip())
    assert "--help" in result.stdout


# -- sync and the lock ----------------------------------------------------------------------------


def test_lock_held_exits_4_and_writes_no_run(
    runner: CliRunner, config_file: Path, store_of: Store, fake_jobs: dict[str, JobFunction]
) -> None:
    fake_jobs["orders"] = adds(Item("order", "#1001", "create"))
    store_of.acquire_lock()
    result = invoke(runner, "--config", str(config_file), "sync", "orders")
    assert result.exit_code == 4
    [line] = stderr_lines(result)
    assert line.startswith(f"error: another syncer run holds the lock on {store_of.path} (pid ")
    assert line.endswith("; nothing was done, try again when it has finished")
    assert store_of.runs() == []
    store_of.release_lock()
    result = invoke(runner, "--config", str(config_file), "sync", "orders")
    assert result.exit_code == 0, result.stderr
    assert len(store_of.runs()) == 1


def test_run_jobs_raises_lock_held(
    config_file: Path, store_of: Store, fake_jobs: dict[str, JobFunction]
) -> None:
    fake_jobs["orders"] = adds()
    with store_of.locked(), pytest.raises(LockHeld):
        _run_jobs(State(str(config_file), 0), ["orders"], Options())
    assert store_of.runs() == []


@pytest.mark.parametrize(
    ("job", "exit_code", "status"),
    [
        pytest.param(adds(Item("order", "#1001", "create")), 0, "ok", id="ok"),
        pytest.param(
            adds(Item("order", "#1001", "hold", {"reason": "unknown SKU X"})),
            1,
            "partial",
            id="held",
        ),
        pytest.param(adds(Item("order", "#1001", "refund")), 0, "ok", id="report-only"),
    ],
)
def test_sync_exit_code_follows_the_run(
    runner: CliRunner,
    config_file: Path,
    store_of: Store,
    fake_jobs: dict[str, JobFunction],
    job: JobFunction,
    exit_code: int,
    status: str,
) -> None:
    fake_jobs["orders"] = job
    result = invoke(runner, "--config", str(config_file), "sync", "orders")
    assert result.exit_code == exit_code, result.stderr
    assert f"orders: {status} - " in result.stdout
    assert [r["status"] for r in store_of.runs()] == [status]


def test_sync_credentials_refused_exits_3(
    runner: CliRunner, config_file: Path, store_of: Store, fake_jobs: dict[str, JobFunction]
) -> None:
    def refuse(ctx: Context, report: RunReport, options: Options) -> None:
        raise CredentialsError("shopify refused the credentials for orders.list")

    fake_jobs["orders"] = refuse
    fake_jobs["products"] = adds()
    fake_jobs["inventory"] = adds()
    result = invoke(runner, "--config", str(config_file), "sync", "all")
    assert result.exit_code == 3
    assert "error: orders: shopify refused the credentials for orders.list" in result.stderr
    assert [r["job"] for r in store_of.runs()] == ["inventory", "products", "orders"]
    assert store_of.cursor("orders") is None
    assert store_of.cursor("products") == "c1"


def test_sync_dry_run_prints_the_plan_and_keeps_the_cursor(
    runner: CliRunner, config_file: Path, store_of: Store, fake_jobs: dict[str, JobFunction]
) -> None:
    fake_jobs["products"] = adds(
        Item("product", "SKU-1", "update", {"fields": {"title": {"current": "Old", "new": "New"}}})
    )
    result = invoke(runner, "--config", str(config_file), "sync", "products", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "products: planned changes" in result.stdout
    assert "SKU-1" in result.stdout
    assert "New" in result.stdout
    assert "(dry run)" in result.stdout
    assert store_of.cursor("products") is None


def test_disabled_job_is_a_usage_error(
    runner: CliRunner,
    write_config: Callable[..., Path],
    config_data: dict[str, Any],
    secrets_env: dict[str, str],
) -> None:
    path = write_config(config_data)
    result = invoke(runner, "--config", str(path), "sync", "fulfillments")
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        "error: fulfillments are disabled in the config (fulfillments.enabled: false); nothing done"
    ]


@pytest.mark.parametrize(
    "since",
    [pytest.param("yesterday", id="word"), pytest.param("2026-13-01", id="bad-month")],
)
def test_bad_since_exits_2(runner: CliRunner, config_file: Path, since: str) -> None:
    result = invoke(runner, "--config", str(config_file), "sync", "orders", "--since", since)
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"error: --since {since!r} is not an ISO-8601 time; use e.g. 2026-11-01T00:00:00Z"
    ]


def test_bad_limit_exits_2(runner: CliRunner, config_file: Path) -> None:
    result = invoke(runner, "--config", str(config_file), "sync", "orders", "--limit", "0")
    assert result.exit_code == 2


def test_schedule_once_runs_every_enabled_job(
    runner: CliRunner, config_file: Path, store_of: Store, fake_jobs: dict[str, JobFunction]
) -> None:
    fake_jobs.update(
        orders=adds(Item("order", "#1", "fail", error="x")), products=adds(), inventory=adds()
    )
    result = invoke(runner, "--config", str(config_file), "schedule", "--once")
    assert result.exit_code == 1
    assert sorted(r["job"] for r in store_of.runs()) == ["inventory", "orders", "products"]


# -- report and status --------------------------------------------------------------------------


def record_runs(store: Store) -> RunReport:
    first = RunReport(job="orders", dry_run=False, started_at="2026-11-26T10:00:00Z")
    first.add(Item("order", "#1001", "create", {"order_number": "SH-1001"}))
    first.add(Item("order", "#1002", "hold", {"reason": "unknown SKU X"}))
    first.cursor_after = "2026-11-26T10:00:00Z"
    first.shopify_calls, first.unleashed_calls = 2, 5
    first.finished_at = "2026-11-26T10:05:00Z"
    store.finish_run(first, cursor_job="orders")
    store.set_pending("orders", "order", "#1002", action="hold", reason="unknown SKU X")
    second = RunReport(job="products", dry_run=True, started_at="2026-11-26T11:00:00Z")
    second.add(Item("product", "SKU-1", "drift", {"title": {"master": "A", "other": "B"}}))
    store.finish_run(second, cursor_job="products")
    store.mark_events("orders", ["refund:#1001:1"], run_id=first.run_id)
    return first


def test_report_json_lists_runs_with_spec_fields(
    runner: CliRunner, config_file: Path, store_of: Store
) -> None:
    record_runs(store_of)
    result = invoke(runner, "--config", str(config_file), "report", "--json")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [r["job"] for r in runs] == ["products", "orders"]
    assert all(set(r) == RUNS_FIELDS for r in runs)
    assert runs[1]["held"] == 1
    assert runs[1]["status"] == "partial"
    last = json.loads(
        invoke(runner, "--config", str(config_file), "report", "--last", "1", "--json").stdout
    )
    assert [r["job"] for r in last["runs"]] == ["products"]


def test_report_json_of_one_run_has_items(
    runner: CliRunner, config_file: Path, store_of: Store
) -> None:
    first = record_runs(store_of)
    result = invoke(runner, "--config", str(config_file), "report", str(first.run_id), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["run"]) == RUNS_FIELDS
    assert [set(i) for i in data["items"]] == [RUN_ITEMS_FIELDS, RUN_ITEMS_FIELDS]
    assert data["items"][0]["detail"] == {"order_number": "SH-1001"}


def test_report_text(runner: CliRunner, config_file: Path, store_of: Store) -> None:
    first = record_runs(store_of)
    listing = invoke(runner, "--config", str(config_file), "report")
    assert listing.exit_code == 0
    assert "Recent runs" in listing.stdout
    detail = invoke(runner, "--config", str(config_file), "report", str(first.run_id))
    assert detail.exit_code == 0
    assert f"Run #{first.run_id}" in detail.stdout
    assert "#1002" in detail.stdout


def test_report_of_missing_run_exits_2(runner: CliRunner, config_file: Path) -> None:
    result = invoke(runner, "--config", str(config_file), "report", "999")
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        "error: there is no run #999; `syncer report` lists the recent runs"
    ]


def test_status_json(runner: CliRunner, config_file: Path, store_of: Store) -> None:
    first = record_runs(store_of)
    result = invoke(runner, "--config", str(config_file), "status", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"shop", "jobs", "pending", "events", "api_calls"}
    assert set(data["jobs"]) == {"orders", "products", "inventory", "fulfillments"}
    orders = data["jobs"]["orders"]
    assert orders["cursor"] == "2026-11-26T10:00:00Z"
    assert (orders["held"], orders["failed"]) == (1, 0)
    assert set(orders["last_run"]) == RUNS_FIELDS
    assert orders["last_run"]["id"] == first.run_id
    assert data["jobs"]["products"]["cursor"] is None  # the dry run kept it
    assert data["jobs"]["inventory"]["last_run"] is None
    assert [p["key"] for p in data["pending"]] == ["#1002"]
    assert data["events"] == {"refund": 1}
    assert set(data["api_calls"]) == {"shopify", "unleashed"}
    assert set(data["api_calls"]["shopify"]) == {"today", "month"}


# -- render --------------------------------------------------------------------------------------


def capture(width: int = 120) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, highlight=False), buffer


def test_plan_table_orders() -> None:
    report = RunReport(job="orders", dry_run=True, started_at="t")
    report.add(
        Item(
            "order",
            "#1001",
            "create",
            {
                "order_number": "SH-1001",
                "customer": "ann@example.com",
                "lines": 2,
                "sub_total": "20.00",
                "tax_total": "3.00",
                "total": "23.00",
            },
        )
    )
    report.add(Item("order", "#1002", "hold", {"missing_skus": ["X-9"]}))
    report.add(Item("order", "#1003", "unchanged"))
    console, out = capture()
    render.plan_table(console, report)
    text = out.getvalue()
    assert "orders: planned changes" in text
    for value in ("#1001", "SH-1001", "ann@example.com", "20.00", "3.00", "23.00", "create"):
        assert value in text
    assert 'missing_skus=["X-9"]' in text
    assert "#1003" not in text  # unchanged rows are hidden by default


def test_plan_table_inventory() -> None:
    report = RunReport(job="inventory", dry_run=False, started_at="t")
    report.add(
        Item(
            "stock",
            "SKU-1@MAIN",
            "update",
            {"shopify_now": 4, "unleashed_available": 10, "buffer": 1, "in_flight": 2, "target": 7},
        )
    )
    report.add(Item("stock", "SKU-2@WEST", "hold", {"reason": "no Shopify location"}))
    console, out = capture()
    render.plan_table(console, report)
    text = out.getvalue()
    assert "inventory: applied changes" in text
    assert "SKU-1@MAIN" in text
    assert "no Shopify location" in text
    row = next(line for line in text.splitlines() if "SKU-1@MAIN" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells == ["SKU-1@MAIN", "update", "4", "10", "1", "2", "7"]


def test_plan_table_products_field_diffs_and_drift() -> None:
    report = RunReport(job="products", dry_run=True, started_at="t")
    report.add(
        Item(
            "product",
            "SKU-1",
            "update",
            {
                "fields": {
                    "title": {"current": "Old", "new": "New"},
                    "price": {"current": "9.00", "new": "10.00"},
                }
            },
        )
    )
    report.add(Item("product", "SKU-2", "drift", {"barcode": {"master": "111", "other": "222"}}))
    console, out = capture()
    render.plan_table(console, report)
    text = out.getvalue()
    lines = text.splitlines()
    title_row = next(line for line in lines if "title" in line and "Old" in line)
    assert "SKU-1" in title_row
    assert "New" in title_row
    price_row = next(line for line in lines if "price" in line and "9.00" in line)
    assert "10.00" in price_row
    assert "SKU-1" not in price_row
    drift_row = next(line for line in lines if "SKU-2" in line)
    assert "222" in drift_row
    assert "111 (master)" in drift_row


def test_plan_table_nothing_to_change() -> None:
    report = RunReport(job="products", dry_run=True, started_at="t")
    report.add(Item("product", "SKU-1", "unchanged"))
    console, out = capture()
    render.plan_table(console, report)
    assert out.getvalue().strip() == "products: planned changes: nothing to change"


def test_runs_table_and_run_detail(store_of: Store) -> None:
    first = record_runs(store_of)
    console, out = capture(render.RUNS_TABLE_WIDTH)
    render.runs_table(console, store_of.runs())
    text = out.getvalue()
    assert "Recent runs" in text
    rows = [line for line in text.splitlines() if "2026-11-26T1" in line]
    assert "products" in rows[0]
    assert "ok" in rows[0]
    orders_cells = [cell.strip() for cell in rows[1].split("│") if cell.strip()]
    assert orders_cells == [
        str(first.run_id),
        "orders",
        "2026-11-26T10:00:00Z",
        "partial",
        "0",
        "1",
        "0",
        "0",
        "1",
        "0",
        "2",
        "5",
    ]
    console, out = capture(80)
    render.runs_table(console, store_of.runs())
    assert out.getvalue().splitlines()[0] == "Recent runs"
    assert (
        f"#{first.run_id} orders 2026-11-26T10:00:00Z partial: 1 created, 0 updated, 0 "
        "unchanged, 1 held, 0 failed; calls 2 Shopify + 5 Unleashed"
    ) in " ".join(out.getvalue().split())  # as one line, however the console wrapped it
    console, out = capture()
    render.runs_table(console, [])
    assert "No runs recorded yet" in out.getvalue()
    assert first.run_id is not None
    run = store_of.run(first.run_id)
    assert run is not None
    console, out = capture()
    render.run_detail(console, run, store_of.run_items(first.run_id))
    text = out.getvalue()
    assert f"Run #{first.run_id} orders partial" in text
    assert "cursor - -> 2026-11-26T10:00:00Z; API calls: shopify 2, unleashed 5" in text
    assert "#1001" in text
    assert "SH-1001" in text
    assert "unknown SKU X" in text


def test_status_view(store_of: Store) -> None:
    record_runs(store_of)
    console, out = capture()
    render.status_view(console, collect_status(store_of, "2026-11-26"))
    text = out.getvalue()
    assert "Jobs" in text
    assert "Held and failed items" in text
    assert "#1002" in text
    assert "Reported after import: refund 1" in text
    assert "API calls: shopify 2 today, 2 this month; unleashed 5 today, 5 this month" in text
