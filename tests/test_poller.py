"""The poller: every job once per `run_once`, a failing tick never stops the loop, and the
worst exit code wins."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import pytest

from syncer.config import ScheduleConfig
from syncer.errors import LockHeld
from syncer.poller import Poller, next_daily

JOBS = ["orders", "products", "inventory", "fulfillments"]


@pytest.fixture
def syncer_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """Capture the "syncer" logger even after the CLI set it not to propagate."""
    logger = logging.getLogger("syncer")
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "handlers", [])
    caplog.set_level(logging.INFO, logger="syncer")
    return caplog


class FakeTick:
    """Records the jobs it ran; answers with a scripted exit code or exception per job."""

    def __init__(self, outcomes: dict[str, int | BaseException] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.ran: list[str] = []

    def __call__(self, job: str) -> int:
        self.ran.append(job)
        outcome = self.outcomes.get(job, 0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_run_once_runs_every_job_in_order() -> None:
    tick = FakeTick()
    assert Poller(ScheduleConfig(), JOBS, tick).run_once() == 0
    assert tick.ran == JOBS


@pytest.mark.parametrize(
    ("outcomes", "worst"),
    [
        pytest.param({"orders": 1}, 1, id="partial"),
        pytest.param({"orders": 1, "inventory": 3}, 3, id="worst-wins"),
        pytest.param({"products": SystemExit(4)}, 4, id="sys-exit-code"),
        pytest.param({"products": SystemExit("text")}, 1, id="sys-exit-text"),
        pytest.param({"orders": RuntimeError("boom")}, 1, id="exception"),
    ],
)
def test_worst_exit_code_is_returned(outcomes: dict[str, int | BaseException], worst: int) -> None:
    tick = FakeTick(outcomes)
    assert Poller(ScheduleConfig(), JOBS, tick).run_once() == worst
    assert tick.ran == JOBS


def test_a_tick_that_raises_is_logged_and_the_next_job_runs(
    syncer_log: pytest.LogCaptureFixture,
) -> None:
    tick = FakeTick({"orders": RuntimeError("Shopify exploded")})
    poller = Poller(ScheduleConfig(), ["orders", "products"], tick)
    assert poller.run_once() == 1
    assert tick.ran == ["orders", "products"]
    failures = [r for r in syncer_log.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert failures[0].getMessage() == (
        "orders: the run failed (Shopify exploded); the poller goes on"
    )
    assert failures[0].exc_info is not None


def test_a_held_lock_is_a_warning_not_a_crash(syncer_log: pytest.LogCaptureFixture) -> None:
    """A manual run holding the lock makes a tick skip with one plain line (exit 4)."""
    tick = FakeTick({"orders": LockHeld("another syncer run holds the lock on s.db")})
    poller = Poller(ScheduleConfig(), ["orders", "products"], tick)
    assert poller.run_once() == 4
    assert tick.ran == ["orders", "products"]
    warnings = [r for r in syncer_log.records if r.levelno == logging.WARNING]
    assert warnings[0].getMessage() == "orders: another syncer run holds the lock on s.db"
    assert warnings[0].exc_info is None


def test_jobs_are_scheduled_at_their_intervals() -> None:
    intervals = ScheduleConfig(orders=300, products=3600, inventory=900, fulfillments=60)
    poller = Poller(intervals, JOBS, FakeTick())
    assert [job.interval for job in poller.scheduler.jobs] == [300, 3600, 900, 60]


def test_run_forever_stops_on_request() -> None:
    """The loop runs every job at once, then polls until a signal sets `stopping`."""
    tick = FakeTick()
    poller: Poller

    def sleep(seconds: float) -> None:
        assert 0.05 <= seconds <= 1.0
        poller.stopping = True

    poller = Poller(ScheduleConfig(), ["orders"], tick, sleep=sleep)
    assert poller.run_forever() == 0
    assert tick.ran == ["orders"]


# -- the daily full inventory, on an injected clock ------------------------------------------


class FakeClock:
    """Local wall time that the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def full_poller(
    clock: FakeClock, at: time | None = time(3, 30), jobs: list[str] | None = None
) -> tuple[Poller, list[datetime], list[int]]:
    fulls: list[datetime] = []
    cycles: list[int] = []

    def full_tick() -> int:
        fulls.append(clock.now)
        return 0

    poller = Poller(
        ScheduleConfig(full_inventory=at),
        jobs or ["orders", "inventory"],
        FakeTick(),
        full_tick=full_tick,
        on_cycle=cycles.append,
        clock=clock,
    )
    return poller, fulls, cycles


@pytest.mark.parametrize(
    ("start", "first"),
    [
        pytest.param(datetime(2026, 12, 6, 1, 0), datetime(2026, 12, 6, 3, 30), id="before"),
        pytest.param(datetime(2026, 12, 6, 3, 30), datetime(2026, 12, 7, 3, 30), id="exactly"),
        pytest.param(datetime(2026, 12, 6, 14, 0), datetime(2026, 12, 7, 3, 30), id="after"),
    ],
)
def test_next_daily(start: datetime, first: datetime) -> None:
    assert next_daily(start, time(3, 30)) == first


def test_the_full_inventory_runs_once_a_day_at_the_configured_time() -> None:
    """Three days of passes a minute apart: exactly one full run a day, each at 03:30."""
    clock = FakeClock(datetime(2026, 12, 6, 14, 0))
    poller, fulls, _ = full_poller(clock)
    end = datetime(2026, 12, 9, 14, 0)
    while clock.now < end:
        poller.run_full_if_due()
        clock.now += timedelta(minutes=1)
    assert fulls == [
        datetime(2026, 12, 7, 3, 30),
        datetime(2026, 12, 8, 3, 30),
        datetime(2026, 12, 9, 3, 30),
    ]


def test_a_poller_that_slept_through_days_runs_it_once_then_keeps_the_time() -> None:
    clock = FakeClock(datetime(2026, 12, 6, 1, 0))
    poller, fulls, cycles = full_poller(clock)
    clock.now = datetime(2026, 12, 9, 8, 0)
    poller.run_pending()
    poller.run_pending()
    assert fulls == [datetime(2026, 12, 9, 8, 0)]
    assert poller.next_full == datetime(2026, 12, 10, 3, 30)
    assert cycles == [0]


@pytest.mark.parametrize(
    ("at", "jobs"),
    [
        pytest.param(None, ["orders", "inventory"], id="null-is-never"),
        pytest.param(time(3, 30), ["orders"], id="inventory-disabled"),
    ],
)
def test_no_full_inventory_when_off(at: time | None, jobs: list[str]) -> None:
    clock = FakeClock(datetime(2026, 12, 6, 1, 0))
    poller, fulls, _ = full_poller(clock, at=at, jobs=jobs)
    clock.now = datetime(2026, 12, 6, 4, 0)
    assert poller.run_full_if_due() is False
    assert fulls == []


def test_run_once_never_runs_the_full_inventory_and_pings_one_cycle() -> None:
    """`schedule --once` is the cron form: every job once, incrementally, even at 03:30."""
    clock = FakeClock(datetime(2026, 12, 6, 3, 29))
    poller, fulls, cycles = full_poller(clock)
    clock.now = datetime(2026, 12, 6, 3, 30)
    assert poller.run_once() == 0
    assert fulls == []
    assert cycles == [0]


def test_a_cycle_reports_its_worst_exit_code() -> None:
    cycles: list[int] = []
    poller = Poller(
        ScheduleConfig(), JOBS, FakeTick({"orders": 1, "inventory": 3}), on_cycle=cycles.append
    )
    assert poller.run_once() == 3
    assert cycles == [3]
