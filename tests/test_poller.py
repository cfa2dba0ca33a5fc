"""The poller: every job once per `run_once`, a failing tick never stops the loop, and the
worst exit code wins."""

from __future__ import annotations

import logging

import pytest

from syncer.config import ScheduleConfig
from syncer.errors import LockHeld
from syncer.poller import Poller

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
