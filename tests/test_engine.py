"""run_job: what is recorded for each way a job can end, and when the cursor moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer.config import Config, parse_config
from syncer.engine import Context, JobFunction, Options, run_job
from syncer.errors import (
    CredentialsError,
    DataError,
    RetryLater,
    SafetyStop,
)
from syncer.report import Item, RunReport
from syncer.store import Store


@pytest.fixture
def config(config_data: dict[str, Any], secrets_env: dict[str, str], tmp_path: Path) -> Config:
    config_data["state"] = {"path": str(tmp_path / "syncer.db")}
    return parse_config(config_data, env=secrets_env)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store(config.state.path)
    yield opened
    opened.close()


@pytest.fixture
def ctx(config: Config, store: Store) -> Context:
    return Context(config=config, store=store, sleep=lambda seconds: None)


def job_with(*actions: str, cursor: str = "c1", calls: tuple[int, int] = (0, 0)) -> JobFunction:
    """A job that adds one item per action, makes some API calls and sets the cursor."""

    def job(ctx: Context, report: RunReport, options: Options) -> None:
        for _ in range(calls[0]):
            ctx.counter.add("shopify", "orders.list")
        for _ in range(calls[1]):
            ctx.counter.add("unleashed", "salesorders.create")
        for index, action in enumerate(actions):
            report.add(Item("order", f"#{1001 + index}", action))  # type: ignore[arg-type]
        report.cursor_after = cursor

    return job


def raising(error: BaseException, *actions: str) -> JobFunction:
    def job(ctx: Context, report: RunReport, options: Options) -> None:
        ctx.counter.add("shopify", "orders.list")
        for index, action in enumerate(actions):
            report.add(Item("order", f"#{1001 + index}", action))  # type: ignore[arg-type]
        report.cursor_after = "c-never"
        raise error

    return job


def row(store: Store, report: RunReport) -> dict[str, Any]:
    assert report.run_id is not None
    found = store.run(report.run_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("actions", "status", "exit_code"),
    [
        pytest.param(("create", "update", "unchanged"), "ok", 0, id="ok"),
        pytest.param(("create", "conflict", "refund", "drift"), "ok", 0, id="report-only-is-ok"),
        pytest.param(("create", "hold"), "partial", 1, id="partial-hold"),
        pytest.param(("fail",), "partial", 1, id="partial-fail"),
        pytest.param((), "ok", 0, id="nothing-to-do"),
    ],
)
@pytest.mark.parametrize("dry_run", [pytest.param(False, id="live"), pytest.param(True, id="dry")])
def test_finished_runs_are_recorded_and_cursor_moves_unless_dry(
    ctx: Context,
    store: Store,
    actions: tuple[str, ...],
    status: str,
    exit_code: int,
    dry_run: bool,
) -> None:
    store.finish_run(_previous_run(), cursor_job="orders")
    report = run_job(ctx, "orders", job_with(*actions), Options(dry_run=dry_run))
    assert (report.status, report.exit_code) == (status, exit_code)
    recorded = row(store, report)
    assert recorded["status"] == status
    assert recorded["dry_run"] == int(dry_run)
    assert recorded["error"] is None
    assert recorded["cursor_before"] == "c0"
    assert store.cursor("orders") == ("c0" if dry_run else "c1")
    assert recorded["cursor_after"] == ("c0" if dry_run else "c1")
    assert len(store.run_items(recorded["id"])) == len(actions)


def _previous_run() -> RunReport:
    previous = RunReport(job="orders", dry_run=False, started_at="2026-11-25T00:00:00Z")
    previous.cursor_after = "c0"
    return previous


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        pytest.param(CredentialsError("shopify refused"), CredentialsError, id="credentials"),
        pytest.param(RetryLater("unleashed down"), RetryLater, id="retry-later"),
        pytest.param(DataError("stray data error"), RetryLater, id="other-api-error"),
    ],
)
def test_api_failures_are_recorded_then_re_raised(
    ctx: Context, store: Store, error: Exception, raised: type[Exception]
) -> None:
    with pytest.raises(raised) as caught:
        run_job(ctx, "orders", raising(error, "create"), Options())
    assert caught.value.exit_code == 3  # type: ignore[attr-defined]
    [recorded] = store.runs()
    assert recorded["status"] == "failed"
    assert recorded["error"] == str(error)
    assert recorded["shopify_calls"] == 1
    assert store.cursor("orders") is None
    assert recorded["cursor_after"] is None
    assert [i["key"] for i in store.run_items(recorded["id"])] == ["#1001"]


def test_credentials_error_is_redacted_in_the_report(ctx: Context, store: Store) -> None:
    token = ctx.config.shopify.access_token
    assert token
    with pytest.raises(CredentialsError):
        run_job(ctx, "orders", raising(CredentialsError(f"token {token} refused")), Options())
    [recorded] = store.runs()
    assert recorded["error"] == "token *** refused"


def test_safety_stop_is_recorded_as_failed_with_exit_1(ctx: Context, store: Store) -> None:
    stop = SafetyStop("600 changes planned, more than products.max_changes 500; use --force")
    report = run_job(ctx, "products", raising(stop, "update"), Options())
    assert report.safety_stop is True
    assert report.status == "failed"
    assert report.exit_code == 1
    recorded = row(store, report)
    assert (recorded["status"], recorded["error"]) == ("failed", str(stop))
    assert store.cursor("products") is None


def test_unexpected_exception_is_recorded_and_re_raised(ctx: Context, store: Store) -> None:
    with pytest.raises(KeyError):
        run_job(ctx, "inventory", raising(KeyError("sku")), Options())
    [recorded] = store.runs()
    assert recorded["status"] == "failed"
    assert recorded["error"] == "KeyError: 'sku'"


def test_keyboard_interrupt_is_recorded_as_interrupted(ctx: Context, store: Store) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_job(ctx, "orders", raising(KeyboardInterrupt()), Options())
    [recorded] = store.runs()
    assert (recorded["status"], recorded["error"]) == ("failed", "interrupted")


def test_call_counts_are_per_run(ctx: Context, store: Store) -> None:
    first = run_job(ctx, "orders", job_with("create", calls=(3, 2)), Options())
    second = run_job(ctx, "orders", job_with("create", calls=(1, 0)), Options())
    assert (first.shopify_calls, first.unleashed_calls) == (3, 2)
    assert (second.shopify_calls, second.unleashed_calls) == (1, 0)
    assert (row(store, second)["shopify_calls"], row(store, second)["unleashed_calls"]) == (1, 0)
    assert ctx.counter.snapshot() == {"shopify": 4, "unleashed": 2}


def test_options_reach_the_job(ctx: Context) -> None:
    seen: list[Options] = []

    def job(ctx: Context, report: RunReport, options: Options) -> None:
        seen.append(options)

    options = Options(dry_run=True, limit=5, full=True, force=True)
    run_job(ctx, "orders", job, options)
    assert seen == [options]
