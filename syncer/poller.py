"""The long-running poller: a thin shell over one job run per tick.

It uses its own `schedule.Scheduler()` (not the module-global one). Each tick is wrapped so
an exception is logged and the loop lives on; jobs never overlap because every tick takes the
store's lock. SIGINT/SIGTERM stop the loop after the current job.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import schedule

from syncer.config import ScheduleConfig
from syncer.errors import SyncerError

log = logging.getLogger("syncer")


class Poller:
    def __init__(
        self,
        intervals: ScheduleConfig,
        jobs: list[str],
        tick: Callable[[str], int],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.intervals = intervals
        self.jobs = jobs
        self.tick = tick
        self.sleep = sleep
        self.scheduler = schedule.Scheduler()
        self.stopping = False
        self.worst = 0
        for job in jobs:
            seconds = int(getattr(intervals, job))
            self.scheduler.every(seconds).seconds.do(self._safe_tick, job)

    def _safe_tick(self, job: str) -> None:
        """Run one job; an exception is logged and recorded, never fatal to the loop."""
        try:
            code = self.tick(job)
        except SystemExit as exc:
            code = int(exc.code) if isinstance(exc.code, int) else 1
        except SyncerError as exc:  # e.g. another run holds the lock: a plain line is enough
            log.warning("%s: %s", job, exc)
            code = exc.exit_code
        except Exception as exc:
            log.exception("%s: the run failed (%s); the poller goes on", job, exc)
            code = 1
        self.worst = max(self.worst, code)
        if code:
            log.warning("%s finished with exit code %d", job, code)

    def run_once(self) -> int:
        """Run every job once, in order, and return the worst exit code."""
        self.scheduler.run_all()
        return self.worst

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current job", signum)
        self.stopping = True

    def run_forever(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.scheduler.run_all()
            while not self.stopping:
                self.scheduler.run_pending()
                idle = self.scheduler.idle_seconds
                self.sleep(min(1.0, max(0.05, idle if idle is not None else 1.0)))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
