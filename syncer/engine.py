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

from syncer.config import Config, ShopConfig
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
    """Everything a job needs; the API clients are built on first use.

    A job runs for one shop. `for_shop` gives the context of a shop of the config: its
    sections on top (`config.for_shop`), its own Shopify client (own token, own
    client-credentials grant), its view of the store (its cursors, links and held items),
    and the one Unleashed client and call counter that every shop shares. A context built
    directly (no `shop`) is the first shop's, as a single-shop config has always had it.
    """

    config: Config
    store: Store
    counter: CallCounter = field(default_factory=CallCounter)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    progress: Progress = field(default_factory=SilentProgress)
    shop: ShopConfig | None = None
    redactor: Redactor = field(init=False)
    _shopify: Any = field(default=None, init=False, repr=False)
    _unleashed: Any = field(default=None, init=False, repr=False)
    _root: Context | None = field(default=None, init=False, repr=False)
    _children: dict[str, Context] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.config.secrets())

    # -- shops ------------------------------------------------------------------------------

    def for_shop(self, shop: ShopConfig) -> Context:
        """The context of `shop`, built once per command and shared by its jobs."""
        root = self._root or self
        child = root._children.get(shop.name)
        if child is None:
            child = Context(
                config=root.config.for_shop(shop),
                store=root.store.for_shop(root.config.state_namespace(shop), shop.name),
                counter=root.counter,
                policy=root.policy,
                sleep=root.sleep,
                clock=root.clock,
                progress=root.progress,
                shop=shop,
            )
            child._root = root
            root._children[shop.name] = child
        return child

    def shop_contexts(self, names: list[str] | None = None) -> list[Context]:
        """The contexts of the named shops (every shop when None), in the config's order."""
        root = self._root or self
        return [
            root.for_shop(shop) for shop in root.config.shops if names is None or shop.name in names
        ]

    def siblings(self) -> list[Context]:
        """The other shops' contexts: their orders share this shop's warehouses' stock."""
        mine = self.shop.name if self.shop is not None else self.config.shop_name
        return [ctx for ctx in self.shop_contexts() if ctx.config.shop_name != mine]

    @property
    def shop_name(self) -> str:
        """The shop this context runs: its name under `shops:`, else the shop's domain."""
        return self.config.shop_name

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
        if self._unleashed is None and self._root is not None:
            return self._root.unleashed
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
