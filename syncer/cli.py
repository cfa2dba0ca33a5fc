"""The command line: thin click commands over the engine; errors become user messages here.

Every command loads the config, builds a Context, calls the job or view, and renders. Every
`SyncerError` reaches the user through `SyncerGroup.invoke` as plain lines and exits with the
code its class carries (0 done, 1 failed or held items, 2 usage or config, 3 credentials or
API unreachable, 4 lock held); a traceback only with -v.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import click

from syncer import __version__, render
from syncer.alerts import Notifier
from syncer.config import Config, load_config
from syncer.engine import Context, JobFunction, Options, run_job
from syncer.errors import SyncerError, UsageError
from syncer.http import Redactor
from syncer.jobs import enabled, job_function
from syncer.report import JOBS
from syncer.store import Store

log = logging.getLogger("syncer")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_API, EXIT_LOCK = 0, 1, 2, 3, 4


class State:
    """What the group callback collects for the commands."""

    def __init__(self, config_path: str | None, verbose: int) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.console = render.make_console()
        self.errors = render.make_console(stderr=True)
        self._config: Config | None = None
        self._notifier: Notifier | None = None

    @property
    def config_file(self) -> Path:
        return Path(self.config_path or os.environ.get("SYNCER_CONFIG") or "config.yaml")

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_file)
            _redact_logs(Redactor(self._config.secrets()))
        return self._config

    def notifier(self) -> Notifier:
        if self._notifier is None:
            self._notifier = Notifier(self.config())
        return self._notifier

    def context(self, store: Store) -> Context:
        ctx = Context(config=self.config(), store=store)
        ctx.progress = render.ConsoleProgress(self.console)
        return ctx


pass_state = click.make_pass_decorator(State)


# -- the one place errors become messages ------------------------------------------------------


class SyncerGroup(click.Group):
    """Turns every SyncerError into plain lines and its exit code: the one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyncerError as exc:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            if state is not None and state.verbose:
                traceback.print_exc()
            for line in str(exc).splitlines():
                click.echo(
                    f"error: {line}" if line and not line.startswith(" ") else line, err=True
                )
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            if state is not None and state.verbose:
                traceback.print_exc()
            click.echo(
                f"error: unexpected {type(exc).__name__}: {exc}\n"
                "This is a bug in syncer; run again with -v for the traceback and report it.",
                err=True,
            )
            ctx.exit(EXIT_PARTIAL)


@click.group(
    cls=SyncerGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Config file (default: $SYNCER_CONFIG, else ./config.yaml).",
)
@click.option("-v", "--verbose", count=True, help="Debug logs (secrets redacted) and tracebacks.")
@click.version_option(__version__, prog_name="syncer")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Sync paid Shopify orders, products, stock and fulfilments with Unleashed.

    Exit codes: 0 done; 1 items failed or held, or a safety stop; 2 usage or config error;
    3 credentials refused or API unreachable; 4 another run holds the lock.
    """
    _setup_logging(verbose)
    ctx.obj = State(config_path, verbose)


# -- sync -------------------------------------------------------------------------------------


@cli.group()
def sync() -> None:
    """Run one sync job now (or all of them, in order)."""


def _job_function(job: str) -> JobFunction:
    """Indirection kept so tests can substitute a job."""
    return job_function(job)


def _enabled(config: Config, job: str) -> bool:
    return enabled(config, job)


def _run_jobs(state: State, jobs: list[str], options: Options, shop: str | None = None) -> int:
    """Run jobs under the lock, each for every shop (or the one `--shop` named) that has it
    enabled; the exit code is the worst of the runs'. Jobs go in order and each job runs for
    every shop before the next job starts: every shop's orders are sent (or held) before any
    shop's inventory counts them in flight, so shops that share a warehouse plan its stock
    from the same orders. After each real run the webhook hears what it calls for (the
    report is already stored then)."""
    config = state.config()
    names = [config.shop_named(shop).name] if shop is not None else None
    store = Store(config.state.path)
    worst = EXIT_OK
    several = len(config.shops) > 1
    try:
        with store.locked():
            root = state.context(store)
            for job in jobs:
                for context in root.shop_contexts(names):
                    if not _enabled(context.config, job):
                        continue
                    label = f"{job} ({context.shop_name})" if several else job
                    view = context.store
                    before = view.latest_run_id(job)
                    try:
                        report = run_job(context, job, _job_function(job), options)
                    except SyncerError as exc:
                        render.error_lines(state.errors, f"{label}: {exc}")
                        worst = max(worst, exc.exit_code)
                        _alert(state, view, job, before, exc.exit_code, options)
                        continue
                    if options.dry_run:
                        render.plan_table(state.console, report)
                    if several:
                        state.console.print(f"shop {context.shop_name}:", highlight=False)
                    render.run_summary(state.console, report)
                    worst = max(worst, report.exit_code)
                    _alert(state, view, job, before, report.exit_code, options)
    finally:
        store.close()
    return worst


def _alert(
    state: State, store: Store, job: str, before: int | None, code: int, options: Options
) -> None:
    """The webhook message of the run the job just recorded, if it recorded one."""
    if options.dry_run:
        return
    run_id = store.latest_run_id(job)
    if run_id is not None and run_id != before:
        state.notifier().after_run(store, job, run_id, code)


def _sync(state: State, jobs: list[str], options: Options, shop: str | None = None) -> None:
    """Run a sync command to its exit code, and ping the monitor with it on the way out."""
    try:
        code = _run_jobs(state, jobs, options, shop)
    except SyncerError as exc:
        if not options.dry_run:
            state.notifier().ping(exc.exit_code)
        raise
    if not options.dry_run:
        state.notifier().ping(code)
    sys.exit(code)


def _selected_shops(state: State, shop: str | None) -> list[Config]:
    """Each selected shop's config: the one `--shop` names (an unknown name is a usage
    error that lists the shops), else every shop."""
    config = state.config()
    shops = [config.shop_named(shop)] if shop is not None else list(config.shops)
    return [config.for_shop(one) for one in shops]


def _check_enabled(state: State, job: str, shop: str | None = None) -> None:
    if not any(_enabled(config, job) for config in _selected_shops(state, shop)):
        raise UsageError(f"{job} are disabled in the config ({job}.enabled: false); nothing done")


shop_option = click.option(
    "--shop",
    metavar="NAME",
    help="Only this shop of shops: (default: every shop, one after another).",
)


dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Plan and print the changes; write nothing, move no cursor."
)


@sync.command("orders")
@dry_run_option
@click.option(
    "--since",
    metavar="ISO8601",
    help="Read orders updated since this time instead of the stored cursor (this run only).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Handle at most N orders.")
@shop_option
@pass_state
def sync_orders(
    state: State, dry_run: bool, since: str | None, limit: int | None, shop: str | None
) -> None:
    """Send paid Shopify orders to Unleashed as sales orders, exactly once."""
    _check_enabled(state, "orders", shop)
    options = Options(dry_run=dry_run, since=_parse_since(since), limit=limit)
    _sync(state, ["orders"], options, shop)


@sync.command("products")
@dry_run_option
@click.option("--full", is_flag=True, help="Compare the whole catalogue, not just changes.")
@click.option("--force", is_flag=True, help="Apply a plan larger than products.max_changes.")
@click.option(
    "--overwrite-drift", is_flag=True, help="Write the master's value over edits on the other side."
)
@shop_option
@pass_state
def sync_products(
    state: State, dry_run: bool, full: bool, force: bool, overwrite_drift: bool, shop: str | None
) -> None:
    """Copy product data one way, from the `master:` side; report drift."""
    _check_enabled(state, "products", shop)
    options = Options(dry_run=dry_run, full=full, force=force, overwrite_drift=overwrite_drift)
    _sync(state, ["products"], options, shop)


@sync.command("inventory")
@dry_run_option
@click.option("--full", is_flag=True, help="Reconcile every SKU, not just changed stock.")
@click.option("--force", is_flag=True, help="Apply a plan larger than inventory.max_changes.")
@shop_option
@pass_state
def sync_inventory(state: State, dry_run: bool, full: bool, force: bool, shop: str | None) -> None:
    """Push Unleashed stock to Shopify locations, minus buffer and in-flight orders."""
    _check_enabled(state, "inventory", shop)
    _sync(state, ["inventory"], Options(dry_run=dry_run, full=full, force=force), shop)


@sync.command("fulfillments")
@dry_run_option
@shop_option
@pass_state
def sync_fulfillments(state: State, dry_run: bool, shop: str | None) -> None:
    """Send dispatched Unleashed shipments to Shopify as fulfilments (opt-in)."""
    _check_enabled(state, "fulfillments", shop)
    _sync(state, ["fulfillments"], Options(dry_run=dry_run), shop)


@sync.command("all")
@dry_run_option
@shop_option
@pass_state
def sync_all(state: State, dry_run: bool, shop: str | None) -> None:
    """Orders, products, inventory, then fulfilments: each enabled job, one run per shop."""
    configs = _selected_shops(state, shop)
    jobs = [job for job in JOBS if any(_enabled(config, job) for config in configs)]
    if not jobs:
        raise UsageError("every job is disabled in the config; nothing to do")
    _sync(state, jobs, Options(dry_run=dry_run), shop)


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not an ISO-8601 time; use e.g. 2026-11-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- schedule ---------------------------------------------------------------------------------


def _local_now() -> datetime:
    """The local wall clock, naive, for the daily full inventory (tests substitute it)."""
    return datetime.now(UTC).astimezone().replace(tzinfo=None)


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="Run every enabled job once, incrementally, and exit (never the daily full inventory).",
)
@pass_state
def schedule(state: State, once: bool) -> None:
    """Poll forever with the intervals of `schedule:`; Ctrl-C stops after the current job.

    Each job runs at its interval, and `sync inventory --full` once a day at
    `schedule.full_inventory`. The ping URL hears each cycle's worst exit code.
    """
    from syncer.poller import Poller

    config = state.config()
    jobs = [job for job in JOBS if any(_enabled(one, job) for one in _selected_shops(state, None))]
    if not jobs:
        raise UsageError("every job is disabled in the config; nothing to schedule")

    def tick(job: str) -> int:
        return _run_jobs(state, [job], Options())

    def full_tick() -> int:
        return _run_jobs(state, ["inventory"], Options(full=True))

    def on_cycle(code: int) -> None:
        state.notifier().ping(code)

    poller = Poller(
        config.schedule,
        jobs,
        tick,
        full_tick=full_tick,
        on_cycle=on_cycle,
        clock=_local_now,
    )
    sys.exit(poller.run_once() if once else poller.run_forever())


# -- report and status ------------------------------------------------------------------------


@cli.command()
@click.argument("run_id", required=False, type=int)
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many recent runs to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@shop_option
@pass_state
def report(state: State, run_id: int | None, last: int, as_json: bool, shop: str | None) -> None:
    """Show recent runs, or one run's items with their field-level details."""
    config = state.config()
    store = Store(config.state.path)
    try:
        view = _shop_store(config, store, shop)
        if run_id is None:
            runs = view.runs(last=last)
            if as_json:
                click.echo(json.dumps({"runs": runs}, indent=2, default=str))
            else:
                render.runs_table(state.console, runs)
            return
        run = view.run(run_id)
        if run is None:
            raise UsageError(f"there is no run #{run_id}; `syncer report` lists the recent runs")
        if view.filter_runs and run.get("shop") != view.run_shop:
            raise UsageError(
                f"run #{run_id} is shop {run.get('shop')}'s, not {shop}'s; "
                f"`syncer report --shop {shop}` lists {shop}'s runs"
            )
        items = view.run_items(run_id)
        if as_json:
            click.echo(json.dumps({"run": run, "items": items}, indent=2, default=str))
        else:
            render.run_detail(state.console, run, items)
    finally:
        store.close()


def _shop_store(config: Config, store: Store, shop: str | None) -> Store:
    """The store as `--shop` sees it: that shop's view, else the whole store."""
    if shop is None:
        return store
    one = config.shop_named(shop)
    return store.for_shop(config.state_namespace(one), one.name)


def collect_status(store: Store, today: str) -> dict[str, Any]:
    """Cursors, held/failed items, last run per job, API usage and reported events."""
    cursors = store.cursors()
    last_runs = store.last_runs_by_job()
    pending = store.all_pending()
    jobs: dict[str, Any] = {}
    for job in JOBS:
        jobs[job] = {
            "cursor": cursors.get(job),
            "last_run": last_runs.get(job),
            "held": sum(1 for p in pending if p["job"] == job and p["action"] == "hold"),
            "failed": sum(1 for p in pending if p["job"] == job and p["action"] == "fail"),
        }
    return {
        "jobs": jobs,
        "pending": pending,
        "events": store.event_counts(),
        "api_calls": store.api_usage(today),
    }


def collect_shops_status(
    config: Config, store: Store, today: str, shop: str | None
) -> dict[str, Any]:
    """`collect_status` of each selected shop. With one shop (a single `shopify:` section,
    or `--shop`) it is that shop's status as it has always been, plus `shop`; with several,
    `shops` maps each name to its status and `api_calls` is the account's, once."""
    shops = [config.shop_named(shop)] if shop is not None else list(config.shops)
    views = {one.name: store.for_shop(config.state_namespace(one), one.name) for one in shops}
    if len(views) == 1:
        name, view = next(iter(views.items()))
        return {"shop": name, **collect_status(view, today)}
    result: dict[str, Any] = {"shops": {}}
    for name, view in views.items():
        data = collect_status(view, today)
        result["api_calls"] = data.pop("api_calls")
        result["shops"][name] = data
    return result


def _utc_now() -> datetime:
    """The clock `status --check` measures ages with (tests substitute it)."""
    return datetime.now(UTC)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--check",
    is_flag=True,
    help="For monitors: one line per problem; exit 0 when all is well, else 1.",
)
@shop_option
@pass_state
def status(state: State, as_json: bool, check: bool, shop: str | None) -> None:
    """Cursors, held and failed items, last run per job, and API calls used."""
    config = state.config()
    if shop is not None:
        config.shop_named(shop)  # an unknown name stops here, before the state file opens
    store = Store(config.state.path)
    try:
        if check:
            from syncer.alerts import monitor_shops

            problems = monitor_shops(config, store, _utc_now(), shop)
        else:
            data = collect_shops_status(config, store, datetime.now(UTC).date().isoformat(), shop)
    finally:
        store.close()
    if check:
        if as_json:
            payload = {"ok": not problems, "problems": [p.as_dict() for p in problems]}
            click.echo(json.dumps(payload, indent=2))
        elif problems:
            for problem in problems:
                click.echo(problem.message)
        else:
            configs = _selected_shops(state, shop)
            jobs = ", ".join(job for job in JOBS if any(_enabled(one, job) for one in configs))
            click.echo(
                f"ok: {jobs} ran ok or partial within their max age; "
                "nothing held or failed for longer"
            )
        sys.exit(EXIT_PARTIAL if problems else EXIT_OK)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif "shops" in data:
        for name, one in data["shops"].items():
            render.status_view(state.console, one, title=f"Jobs of shop {name}")
        render.status_view(
            state.console, {"jobs": {}, "api_calls": data["api_calls"]}, title="Account"
        )
    else:
        render.status_view(state.console, data)


# -- alerts -------------------------------------------------------------------------------------


@cli.group()
def alerts() -> None:
    """The webhook and ping targets of `alerts:`."""


@alerts.command("test")
@pass_state
def alerts_test(state: State) -> None:
    """Send one test message to every configured alert target and say what each answered."""
    config = state.config()
    if not config.alerts.webhook_url and not config.alerts.ping_url:
        raise UsageError(
            "no alert target is configured; set alerts.webhook_url or alerts.ping_url "
            "(as ${ENV_VAR}) in the config"
        )
    failed = False
    for name, delivery in state.notifier().test():
        key = "alerts.webhook_url" if name == "webhook" else "alerts.ping_url"
        if delivery is None:
            click.echo(f"{name}: not configured ({key})")
        elif delivery.ok:
            click.echo(f"{name}: answered {delivery.answer}")
        else:
            failed = True
            click.echo(f"{name}: failed after a retry: {delivery.answer}")
    sys.exit(EXIT_PARTIAL if failed else EXIT_OK)


# -- check, init, demo, sandbox ----------------------------------------------------------------


@cli.command()
@pass_state
def check(state: State) -> None:
    """Validate config, credentials, mappings and SKU coverage against both APIs."""
    from syncer.check import run_all_checks

    config = state.config()
    store = Store(config.state.path)
    try:
        # Each line shows as soon as it is known, so the lines done before a refused
        # credential (exit 3) are still printed.
        results = run_all_checks(
            state.context(store), emit=lambda line: render.check_view(state.console, [line])
        )
    finally:
        store.close()
    failed = [r for r in results if r[0] == "fail"]
    sys.exit(EXIT_PARTIAL if failed else EXIT_OK)


@cli.command()
@click.argument("path", required=False, default="config.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented config file to start from (default ./config.yaml)."""
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    text = resources.files("syncer").joinpath("config.example.yaml").read_text(encoding="utf-8")
    target.write_text(text, encoding="utf-8")
    click.echo(
        f"Wrote {target}. Set SHOPIFY_ACCESS_TOKEN, UNLEASHED_API_ID and UNLEASHED_API_KEY in "
        f"the environment, adjust the file, then run `syncer --config {target} check`."
    )


@cli.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Sample data seed.")
@click.option("--keep", is_flag=True, help="Keep the sandboxes running after the report.")
@click.option(
    "--shops",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="Shopify sandboxes on the one Unleashed account (2: an NZD and an AUD shop).",
)
@pass_state
def demo(state: State, seed: int, keep: bool, shops: int) -> None:
    """Run a full sync against the bundled sandboxes and show the report."""
    from syncer.demo import run_demo

    sys.exit(run_demo(state.console, seed=seed, keep=keep, shops=shops))


@cli.group()
def sandbox() -> None:
    """The bundled Shopify and Unleashed sandboxes."""


@sandbox.command("serve")
@click.option("--shopify-port", type=int, default=8701, show_default=True)
@click.option("--unleashed-port", type=int, default=8702, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Sample data seed.")
@click.option(
    "--shops",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="Shopify sandboxes on the one Unleashed sandbox (2: an NZD and an AUD shop, "
    "on --shopify-port and the port after it, with a shops: config).",
)
@pass_state
def sandbox_serve(
    state: State, shopify_port: int, unleashed_port: int, seed: int, shops: int
) -> None:
    """Serve the sandboxes on 127.0.0.1 until Ctrl-C, and print a ready config."""
    from syncer.sandbox.runner import serve_forever

    serve_forever(
        state.console,
        shopify_port=shopify_port,
        unleashed_port=unleashed_port,
        seed=seed,
        shops=shops,
    )


# -- logging and the entry point ---------------------------------------------------------------


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("syncer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if not verbose:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        return True


def _redact_logs(redactor: Redactor) -> None:
    for handler in logging.getLogger("syncer").handlers:
        handler.addFilter(_RedactingFilter(redactor))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="syncer")
