"""One job run: its context (config, store, API clients, counters) and its lifecycle.

`run_job` records the run row first, calls the job, and then writes the report, the items and
the new cursor in one transaction. A job only has to add items and set `report.cursor_after`;
it raises `SafetyStop`, `CredentialsError` or `RetryLater` when it must stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from syncer.config import Config
from syncer.errors import ApiError, CredentialsError, RetryLater, SafetyStop
from syncer.http import CallCounter, Redactor, RetryPolicy
from syncer.report import RunReport
from syncer.store import Store, utcnow

if TYPE_CHECKING:
    from syncer.connectors.shopify import ShopifyClient
    from syncer.connectors.unleashed import UnleashedClient

log = logging.getLogger("syncer")


class Progress(Protocol):
    """Where long work reports progress; render.py gives a rich bar or plain log lines."""

    def start(self, task: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def done(self) -> None: ...


class SilentProgress:
    def start(self, task: str, total: int | None = None) -> None:
        log.debug("%s", task)

    def advance(self, amount: int = 1) -> None:
        return None

    def done(self) -> None:
        return None


@dataclass
class Options:
    """Command-line switches that reach the jobs."""

    dry_run: bool = False
    since: datetime | None = None
    limit: int | None = None
    full: bool = False
    force: bool = False
    overwrite_drift: bool = False


@dataclass
class Context:
    """Everything a job needs; the API clients are built on first use."""

    config: Config
    store: Store
    counter: CallCounter = field(default_factory=CallCounter)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    progress: Progress = field(default_factory=SilentProgress)
    redactor: Redactor = field(init=False)
    _shopify: Any = field(default=None, init=False, repr=False)
    _unleashed: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.config.secrets())

    @property
    def shopify(self) -> ShopifyClient:
        if self._shopify is None:
            from syncer.connectors.shopify import ShopifyClient

            cfg = self.config.shopify
            self._shopify = ShopifyClient(
                cfg.base_url,
                cfg.api_version,
                access_token=cfg.access_token,
                client_id=cfg.client_id,
                client_secret=cfg.client_secret,
                counter=self.counter,
                redactor=self.redactor,
                policy=self.policy,
                sleep=self.sleep,
            )
        return self._shopify

    @property
    def unleashed(self) -> UnleashedClient:
        if self._unleashed is None:
            from syncer.connectors.unleashed import UnleashedClient

            cfg = self.config.unleashed
            self._unleashed = UnleashedClient(
                cfg.base_url,
                cfg.api_id,
                cfg.api_key,
                cfg.client_type,
                counter=self.counter,
                redactor=self.redactor,
                policy=self.policy,
                sleep=self.sleep,
            )
        return self._unleashed

    def now(self) -> datetime:
        return self.clock()


JobFunction = Callable[[Context, RunReport, Options], None]


def shop_key(ctx: Context) -> str:
    """The shop part of every deterministic Guid: the configured shop without scheme, so
    `example.myshopify.com` and `https://example.myshopify.com/` give the same Guids."""
    shop = ctx.config.shopify.shop.strip().lower()
    return shop.split("://", 1)[-1].rstrip("/")


def run_job(
    ctx: Context, job: str, function: JobFunction, options: Options, shop: str | None = None
) -> RunReport:
    """Run one job and record it (`shop`, when given, goes to `runs.shop`). Credential and
    reachability failures are re-raised after the run is recorded (exit 3); a safety stop is
    recorded as failed (exit 1)."""
    report = RunReport(
        job=job,
        dry_run=options.dry_run,
        started_at=utcnow(),
        cursor_before=ctx.store.cursor(job),
    )
    ctx.store.start_run(report, shop=shop)
    before = ctx.counter.snapshot()
    raised: BaseException | None = None
    try:
        function(ctx, report, options)
    except SafetyStop as exc:
        report.error = str(exc)
        report.safety_stop = True
    except (CredentialsError, RetryLater) as exc:
        report.error = ctx.redactor(str(exc))
        raised = exc
    except ApiError as exc:
        report.error = ctx.redactor(str(exc))
        raised = RetryLater(report.error, api=exc.api, status=exc.status)
    except Exception as exc:
        report.error = ctx.redactor(f"{type(exc).__name__}: {exc}")
        raised = exc
    except BaseException as exc:  # KeyboardInterrupt: record, then stop
        report.error = "interrupted"
        raised = exc
    finally:
        after = ctx.counter.snapshot()
        report.shopify_calls = after.get("shopify", 0) - before.get("shopify", 0)
        report.unleashed_calls = after.get("unleashed", 0) - before.get("unleashed", 0)
        ctx.store.finish_run(report, cursor_job=job)
    if raised is not None:
        raise raised
    return report
