"""The long-running poller: a thin shell over one job run per tick.

It uses its own `schedule.Scheduler()` (not the module-global one). Each tick is wrapped so
an exception is logged and the loop lives on; jobs never overlap because every tick takes the
store's lock. SIGINT/SIGTERM stop the loop after the current job.

Besides the intervals, a daily full inventory reconcile runs at `schedule.full_inventory`
(local time) on an injected clock: the first one at the next such time after the poller
starts, then once a day. A cycle is one pass of the loop that ran at least one job; its worst
exit code goes to `on_cycle` (the monitor ping).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from types import FrameType

import schedule

from syncer.config import ScheduleConfig
from syncer.errors import SyncerError

log = logging.getLogger("syncer")


def next_daily(after: datetime, at: clock_time) -> datetime:
    """The first moment strictly after `after` whose time of day is `at`."""
    candidate = datetime.combine(after.date(), at)
    if candidate <= after:
        candidate = datetime.combine(after.date() + timedelta(days=1), at)
    return candidate


class Poller:
    def __init__(
        self,
        intervals: ScheduleConfig,
        jobs: list[str],
        tick: Callable[[str], int],
        *,
        sleep: Callable[[float], None] = time.sleep,
        full_tick: Callable[[], int] | None = None,
        on_cycle: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.intervals = intervals
        self.jobs = jobs
        self.tick = tick
        self.sleep = sleep
        self.on_cycle = on_cycle
        self.clock = clock
        self.scheduler = schedule.Scheduler()
        self.stopping = False
        self.worst = 0
        self._cycle: list[int] = []
        for job in jobs:
            seconds = int(getattr(intervals, job))
            self.scheduler.every(seconds).seconds.do(self._safe_tick, job)
        at = getattr(intervals, "full_inventory", None)
        self.full_tick = full_tick if at is not None and "inventory" in jobs else None
        self.full_at: clock_time | None = at if self.full_tick is not None else None
        self.next_full: datetime | None = (
            next_daily(self.clock(), self.full_at) if self.full_at is not None else None
        )

    def _safe_tick(self, job: str, run: Callable[[], int] | None = None) -> None:
        """Run one job; an exception is logged and recorded, never fatal to the loop."""
        try:
            code = run() if run is not None else self.tick(job)
        except SystemExit as exc:
            code = int(exc.code) if isinstance(exc.code, int) else 1
        except SyncerError as exc:  # e.g. another run holds the lock: a plain line is enough
            log.warning("%s: %s", job, exc)
            code = exc.exit_code
        except Exception as exc:
            log.exception("%s: the run failed (%s); the poller goes on", job, exc)
            code = 1
        self.worst = max(self.worst, code)
        self._cycle.append(code)
        if code:
            log.warning("%s finished with exit code %d", job, code)

    def run_full_if_due(self) -> bool:
        """Run the daily full inventory when its time has come; True when it ran."""
        if self.full_tick is None or self.full_at is None or self.next_full is None:
            return False
        now = self.clock()
        if now < self.next_full:
            return False
        log.info(
            "daily full inventory (schedule.full_inventory %s)", self.full_at.strftime("%H:%M")
        )
        self._safe_tick("inventory --full", self.full_tick)
        # From the clock after the run: a long run, or a poller that slept through several
        # days, still gives one full run, and the next at the following day's time.
        self.next_full = next_daily(max(now, self.clock()), self.full_at)
        return True

    def _end_cycle(self) -> None:
        """Hand the cycle's worst exit code to `on_cycle`, when the cycle ran anything."""
        if not self._cycle:
            return
        code = max(self._cycle)
        self._cycle = []
        if self.on_cycle is not None:
            try:
                self.on_cycle(code)
            except Exception as exc:  # the ping never stops the poller
                log.warning("after the cycle: %s", exc)

    def run_once(self) -> int:
        """Run every job once, in order, incrementally, and return the worst exit code.
        The daily full inventory is left to `run_forever` (cron users run
        `sync inventory --full` from their own crontab line)."""
        self.scheduler.run_all()
        self._end_cycle()
        return self.worst

    def run_pending(self) -> None:
        """One pass of the loop: the due jobs, the daily full run if due, one cycle."""
        self.scheduler.run_pending()
        if not self.stopping:
            self.run_full_if_due()
        self._end_cycle()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current job", signum)
        self.stopping = True

    def run_forever(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.scheduler.run_all()
            self._end_cycle()
            while not self.stopping:
                self.run_pending()
                idle = self.scheduler.idle_seconds
                self.sleep(min(1.0, max(0.05, idle if idle is not None else 1.0)))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
