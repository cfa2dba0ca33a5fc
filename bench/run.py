"""`make bench`: syncer against the bundled sandboxes, in two profiles.

- scaled: 10,000 SKUs and 2,000 orders, the Shopify sandbox at 10x the standard plan's rate,
  no added latency: throughput, request counts, page sizes, pacing and peak memory.
- real-latency: ~2,000 SKUs and 300 orders at the standard plan's rate (100 points/s, bucket
  2,000) with each sandbox answering after the latency assumed for the real API (Shopify
  100 ms, Unleashed 300 ms a request): the wall time a merchant would see, its ratio to the
  time the APIs alone force, syncer's own share of CPU, and Unleashed calls a month.

The sandboxes run in this process; syncer runs as a separate process per scenario
(`python -m syncer --config ... sync ...`), so its wall time, CPU time and peak memory are its
own (measured with os.wait4 on that child). Requests are counted from the sandboxes' request
logs (by API and by kind), Shopify points from the sandbox's sum of actualQueryCost, and each
job's totals from its run row in the state database.

Before the catch-up scenario the bench "imports" the catalogue into Shopify (every product
and variant saved again, as a CSV import does), so that run reads a large change set.
Results go to bench/RESULTS.md (overwritten).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from syncer.sandbox.common import Fault, Recorded, Reply
from syncer.sandbox.runner import SANDBOX_ENV, Sandboxes, start_sandboxes
from syncer.sandbox.shopify import MAX_QUERY_COST, CostCalculator, served_schema
from syncer.sandbox.unleashed import MAX_PAGE_SIZE as UNLEASHED_MAX_PAGE
from syncer.store import Store

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
COMMAND = "make bench  # = .venv/bin/python bench/run.py"
JOBS = ("orders", "products", "inventory", "fulfillments")
STANDARD_RATE = 100.0  # points/s, Shopify standard plan (API-NOTES 2.2)
STANDARD_BUCKET = 2000.0
SHOPIFY_MAX_FIRST = 250
MEMORY_LIMIT_MB = 300.0
CPU_SHARE = 0.05  # syncer's own CPU, as a share of wall time at real latency
# Assumed per-request latency of the real APIs (no public figure found for either): Unleashed's
# REST API is hosted in one region and often answers in a few hundred ms; Shopify's GraphQL
# Admin API is served from a CDN edge, ~100 ms for a small query.
SHOPIFY_LATENCY = 0.1
UNLEASHED_LATENCY = 0.3
# The default `schedule:` (runs a month, 30 days) and the daily full inventory sync.
MONTH_RUNS = {"orders": 30 * 24 * 12, "products": 30 * 24, "inventory": 30 * 24 * 4,
              "fulfillments": 30 * 24 * 4}  # fmt: skip
ORDERS_A_DAY = 100
PACING_FACTOR = 1.3
FLAT_GROWTH = 0.25
CALLS_PER_JOB_PER_API = 2


@dataclass
class Scenario:
    key: str
    title: str
    args: list[str]
    needs: tuple[str, ...]
    records: str  # what "per record" counts: "variants", "orders" or "" (not per record)
    measured: bool = True  # False: a warm-up whose numbers are shown but not judged
    prepare: str = ""  # "import": save every Shopify product again first
    # Shopify reads run in a thread while Unleashed is written (orders read ahead), so
    # Shopify's latency is not added to Unleashed's in the bound.
    overlapped: bool = False


SCENARIOS = [
    Scenario("products", "sync products --full", ["sync", "products", "--full"], ("products",),
             "variants"),
    Scenario("inventory", "sync inventory --full", ["sync", "inventory", "--full"],
             ("inventory",), "variants"),
    Scenario("orders", "sync orders (backfill)", ["sync", "orders"], ("orders",), "orders",
             overlapped=True),
    Scenario("catchup", "sync all (catch-up after a catalogue import)", ["sync", "all"], (), "",
             prepare="import"),
    Scenario("all", "sync all (incremental, no changes)", ["sync", "all"], (), ""),
]  # fmt: skip


@dataclass
class Result:
    scenario: Scenario
    exit_code: int
    wall: float
    cpu: float
    peak_mb: float
    shopify: Counter[str] = field(default_factory=Counter)
    unleashed: Counter[str] = field(default_factory=Counter)
    points: int = 0  # sum of actualQueryCost
    charged: int = 0  # what the bucket kept: min(requested, actual) per query
    throttled: int = 0
    shopify_window: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    page_problems: list[str] = field(default_factory=list)
    page_sizes: dict[str, set[int]] = field(default_factory=dict)
    output_tail: str = ""
    skipped: str = ""
    records: int = 0
    bulk_seconds: float = 0.0  # the sandbox's run time of the bulk operations started
    # Seconds the sandboxes spent answering (parsing, executing, added latency excluded): the
    # API's own time in this bench, as a real API's is inside its latency.
    shopify_server: float = 0.0
    unleashed_server: float = 0.0


def job_exists(job: str) -> bool:
    return (REPO / "syncer" / job / "job.py").exists()


# -- measuring one scenario -------------------------------------------------------------------


def vm_hwm_kib(pid: int) -> int:
    """The process's own peak RSS (VmHWM, KiB), 0 when /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_syncer(
    args: list[str], env: dict[str, str], timeout: float
) -> tuple[int, float, Any, float, str]:
    """Run `python -m syncer ...` and reap it with wait4: (exit code, wall s, rusage, peak MB,
    output). The peak is VmHWM polled from /proc: the child's ru_maxrss is no use here, as
    Linux carries the parent's (sandbox-sized) RSS over the fork into it."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncer", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        deadline = started + timeout
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    peak = peak_kib / 1024 if peak_kib else usage.ru_maxrss / 1024
    return proc.returncode, wall, usage, peak, text


CALIBRATION = """
import sys, time
from syncer.http import HttpClient
client, url, count = HttpClient("unleashed"), sys.argv[1], int(sys.argv[2])
for _ in range(50):
    client.request("GET", url, kind="calibration", retry_safe=True).content
began = time.process_time()
for _ in range(count):
    client.request("GET", url, kind="calibration", retry_safe=True).content
print((time.process_time() - began) / count * 1000)
"""


def calibrate(url: str, env: dict[str, str], count: int = 1000) -> tuple[float, float]:
    """(CPU ms per request through syncer's HttpClient, CPU s of `syncer --help`) on this
    machine: the floor under each scenario's CPU that no change in syncer's own code moves
    (requests/urllib3/http.client per request, and importing the CLI once per run)."""
    floor = subprocess.run(
        [sys.executable, "-c", CALIBRATION, f"{url}/_control/faults", str(count)],
        capture_output=True, text=True, env=env, cwd=REPO, check=True,
    )  # fmt: skip
    _, _, usage, _, _ = run_syncer(["--help"], env, 60.0)
    return float(floor.stdout.strip()), usage.ru_utime + usage.ru_stime


def shopify_kind(entry: Recorded) -> str:
    """ "query productVariants", "mutation inventorySetQuantities", "oauth"..."""
    if not entry.path.endswith("/graphql.json"):
        return f"{entry.method} {entry.path}"
    fields = entry.description.split(" ", 2)[2] if entry.description.count(" ") >= 2 else "?"
    try:
        text = json.loads(entry.body).get("query") or ""
    except ValueError:
        text = ""
    operation = "mutation" if re.match(r"\s*mutation\b", text) else "query"
    return f"{operation} {fields}"


def unleashed_kind(entry: Recorded) -> str:
    """ "GET StockOnHand (list)", "GET SalesOrders/{guid}", "POST SalesOrders/{guid}"."""
    parts = [p for p in entry.path.split("/") if p]
    if not parts:
        return f"{entry.method} /"
    resource = parts[0]
    if len(parts) == 1 or (len(parts) == 2 and parts[1].isdigit()):
        return f"{entry.method} {resource} (list)"
    return f"{entry.method} {resource}/{{id}}"


class CostCheck:
    """Would a Shopify read have fitted the 1,000-point limit at first: 250? Uses the
    sandbox's own cost calculator, the authority the client's estimate must match."""

    def __init__(self) -> None:
        self.schema = served_schema()

    def requested(self, text: str, variables: dict[str, Any]) -> int:
        document = parse(text)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        calculator = CostCalculator(self.schema, fragments, variables)
        root = self.schema.query_type
        return int(calculator.requested(root, operation.selection_set))


def check_pages(
    result: Result, shopify_log: list[Recorded], unleashed_log: list[Recorded], costs: CostCheck
) -> None:
    """List reads below the APIs' maximum page sizes (Shopify 250 where the cost allows,
    Unleashed pageSize 1000)."""
    checked: dict[tuple[str, int], bool] = {}
    for entry in shopify_log:
        try:
            body = json.loads(entry.body)
        except ValueError:
            continue
        text, variables = body.get("query") or "", body.get("variables") or {}
        if re.match(r"\s*mutation\b", text):
            continue
        kind = shopify_kind(entry)
        first = variables.get("first")
        if not isinstance(first, int):
            continue
        result.page_sizes.setdefault(f"shopify {kind}", set()).add(first)
        if first >= SHOPIFY_MAX_FIRST or (kind, first) in checked:
            continue
        at_max = costs.requested(text, {**variables, "first": SHOPIFY_MAX_FIRST})
        fits = at_max <= MAX_QUERY_COST
        checked[(kind, first)] = fits
        if fits:
            result.page_problems.append(
                f"shopify {kind}: first={first}, but first={SHOPIFY_MAX_FIRST} costs {at_max} "
                f"<= {MAX_QUERY_COST}"
            )
    for entry in unleashed_log:
        kind = unleashed_kind(entry)
        if entry.method != "GET" or not kind.endswith("(list)"):
            continue
        params = {k.lower(): v for k, v in parse_qsl(entry.query)}
        size = int(params.get("pagesize", "200") or 200)
        result.page_sizes.setdefault(f"unleashed {kind}", set()).add(size)
        if size < UNLEASHED_MAX_PAGE:
            result.page_problems.append(f"unleashed {entry.description}: pageSize {size}")


def wait_for_full_bucket(boxes: Sandboxes) -> float:
    """Sleep until the Shopify sandbox's cost buckets are full again, so every scenario starts
    as a run after a quiet spell would, and the bound's "minus one bucket" holds (a scenario
    started on a bucket the previous one drained would wait for points the bound assumes it
    has). Returns the seconds waited."""
    shop = boxes.shopify
    deficit = 0.0
    for bucket in list(shop.buckets.values()):
        bucket.refill()
        deficit = max(deficit, (bucket.maximum - bucket.available) / bucket.restore_rate)
    if deficit > 0:
        time.sleep(deficit + 0.05)
    return deficit


def import_catalogue(boxes: Sandboxes) -> int:
    """Save every Shopify product and variant again at one moment, values unchanged, as a
    catalogue import does: the next incremental products run sees all of them as changed."""
    shop = boxes.shopify
    with shop.lock:
        at = shop.now()
        for product in shop.products.values():
            product.updated_at = at
            for variant in product.variants:
                variant.updated_at = at
        return len(shop.products)


_SERVING = threading.local()  # the ServerTime of the request this server thread answers


def _timed_encode(encode: Any) -> Any:
    """Reply.encode, its time counted to the server answering (JSON of a 1,000-product page
    is the API's work, not syncer's)."""

    def timed(reply: Reply) -> bytes:
        began = time.perf_counter()
        try:
            return bytes(encode(reply))
        finally:
            clock = getattr(_SERVING, "clock", None)
            if clock is not None:
                clock.add(time.perf_counter() - began)

    return timed


Reply.encode = _timed_encode(Reply.encode)  # type: ignore[method-assign]


class ServerTime:
    """The time a sandbox spends in `dispatch` (describing, fault handling, answering) and
    encoding its replies, summed over requests, less the latency added by `slow` faults: what
    the API itself took."""

    def __init__(self, server: Any, latency: float) -> None:
        self.latency = latency
        self.total = 0.0
        self.count = 0
        self._lock = threading.Lock()
        dispatch = server.dispatch

        def timed(request: Any) -> Any:
            control = request.path.startswith("/_control")
            _SERVING.clock = None if control else self
            began = time.perf_counter()
            try:
                return dispatch(request)
            finally:
                if not control:
                    self.add(time.perf_counter() - began)
                    with self._lock:
                        self.count += 1

        server.dispatch = timed

    def add(self, seconds: float) -> None:
        with self._lock:
            self.total += seconds

    def take(self) -> float:
        """Seconds spent since the last take, added latency excluded."""
        with self._lock:
            spent = max(0.0, self.total - self.count * self.latency)
            self.total, self.count = 0.0, 0
        return spent


def add_latency(boxes: Sandboxes, shopify: float, unleashed: float) -> None:
    """Every request to a sandbox waits this long before it is answered (a `slow` fault that
    never runs out; the servers are threaded, so waits overlap as they would on the wire)."""
    forever = 10**12
    if shopify:
        boxes.shopify_server.faults.add(Fault("slow", count=forever, delay=shopify))
    if unleashed:
        boxes.unleashed_server.faults.add(Fault("slow", count=forever, delay=unleashed))


def run_scenario(
    scenario: Scenario,
    boxes: Sandboxes,
    config: Path,
    state: Path,
    env: dict[str, str],
    costs: CostCheck,
    timeout: float,
    clocks: tuple[ServerTime, ServerTime],
) -> Result:
    if scenario.prepare == "import":
        import_catalogue(boxes)
    wait_for_full_bucket(boxes)
    for clock in clocks:
        clock.take()
    bulk_before = set(boxes.shopify.bulk_operations)
    boxes.shopify_server.clear_log()
    boxes.unleashed_server.clear_log()
    points_before, throttled_before = boxes.shopify.cost_spent, boxes.shopify.throttled
    charged_before = boxes.shopify.cost_charged
    last_run = _last_run_id(state)
    command = ["--config", str(config), *scenario.args]
    code, wall, usage, peak, output = run_syncer(command, env, timeout)
    shopify_log = boxes.shopify_server.requests()
    unleashed_log = boxes.unleashed_server.requests()
    result = Result(
        scenario,
        exit_code=code,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=peak,
        shopify=Counter(shopify_kind(e) for e in shopify_log),
        unleashed=Counter(unleashed_kind(e) for e in unleashed_log),
        points=boxes.shopify.cost_spent - points_before,
        charged=boxes.shopify.cost_charged - charged_before,
        throttled=boxes.shopify.throttled - throttled_before,
        output_tail="\n".join(output.strip().splitlines()[-15:]),
    )
    if shopify_log:
        result.shopify_window = max(e.at for e in shopify_log) - min(e.at for e in shopify_log)
    result.runs = _runs_since(state, last_run)
    result.shopify_server, result.unleashed_server = (clock.take() for clock in clocks)
    result.bulk_seconds = sum(
        op.delay for num, op in boxes.shopify.bulk_operations.items() if num not in bulk_before
    )
    check_pages(result, shopify_log, unleashed_log, costs)
    return result


def _last_run_id(state: Path) -> int:
    if not state.exists():
        return 0
    store = Store(state)
    try:
        runs = store.runs(last=1)
    finally:
        store.close()
    return int(runs[0]["id"]) if runs else 0


def _runs_since(state: Path, after: int) -> list[dict[str, Any]]:
    if not state.exists():
        return []
    store = Store(state)
    try:
        return [r for r in reversed(store.runs(last=20)) if int(r["id"]) > after]
    finally:
        store.close()


# -- judging and reporting --------------------------------------------------------------------


@dataclass
class Setup:
    profile: str
    scale: float
    seed: int
    products: int
    variants: int
    orders: int
    paid: int
    locations: int
    http_floor_ms: float = 0.0  # CPU per request of the HTTP stack alone (calibrate)
    startup_cpu: float = 0.0  # CPU s of starting the CLI (imports)
    shopify_latency: float = 0.0  # s added to each request
    unleashed_latency: float = 0.0

    @property
    def real(self) -> bool:
        return bool(self.shopify_latency or self.unleashed_latency)

    @property
    def rate(self) -> float:
        return STANDARD_RATE * self.scale

    @property
    def bucket(self) -> float:
        return STANDARD_BUCKET * self.scale


def lower_bound(result: Result, setup: Setup) -> float:
    """Seconds the Shopify rate limit alone forces: points the bucket kept beyond the initial
    bucket, paid back at the restore rate."""
    return max(0.0, (result.charged - setup.bucket) / setup.rate)


@dataclass
class Bound:
    points: float  # the rate limit: points beyond the bucket / restore rate
    unleashed: float  # Unleashed requests, sent one at a time, x their latency
    sequential: float  # the requests that wait for each other, x latency, + bulk run time

    @property
    def seconds(self) -> float:
        return max(self.points, self.unleashed, self.sequential)


def latency_bound(result: Result, setup: Setup) -> Bound:
    """The least time the APIs alone force on this scenario's requests: the rate limit, the
    Unleashed requests one after another, and the requests that wait for each other (jobs run
    in turn, so all of them, except Shopify reads made in a thread while Unleashed is written)
    plus the bulk operations' own run time, which no client can shorten. Each API's time
    includes the sandbox's own time to answer, as a real API's latency includes its own."""
    unleashed = sum(result.unleashed.values()) * setup.unleashed_latency + result.unleashed_server
    shopify = (
        sum(result.shopify.values()) * setup.shopify_latency
        + result.bulk_seconds
        + result.shopify_server
    )
    sequential = shopify if result.scenario.overlapped else shopify + unleashed
    return Bound(lower_bound(result, setup), unleashed, sequential)


def record_count(result: Result, setup: Setup) -> int:
    return {"variants": setup.variants, "orders": setup.orders}.get(result.scenario.records, 0)


@dataclass
class Verdict:
    target: str
    ok: bool | None  # None: not applicable or not run
    detail: str


def judge(results: list[Result], setup: Setup) -> list[Verdict]:
    done = [r for r in results if not r.skipped]
    measured = [r for r in done if r.scenario.measured]
    verdicts: list[Verdict] = []

    incremental = next((r for r in measured if r.scenario.key == "all"), None)
    if incremental is None:
        verdicts.append(Verdict("incremental sync all <= 2 requests/job/API", None, "not run"))
    else:
        worst = []
        for run in incremental.runs:
            for api in ("shopify", "unleashed"):
                calls = int(run[f"{api}_calls"])
                if calls > CALLS_PER_JOB_PER_API:
                    worst.append(f"{run['job']}: {calls} {api} calls")
        changed = [
            f"{r['job']}: {r['created']} created, {r['updated']} updated"
            for r in incremental.runs
            if int(r["created"]) or int(r["updated"])
        ]
        per_job = ", ".join(
            f"{r['job']} {r['shopify_calls']}+{r['unleashed_calls']}" for r in incremental.runs
        )
        detail = f"per job (Shopify+Unleashed): {per_job}"
        if worst:
            detail += "; over: " + "; ".join(worst)
        if changed:
            detail += "; NOT a no-change run: " + "; ".join(changed)
        verdicts.append(
            Verdict("incremental sync all <= 2 requests/job/API", not worst and bool(per_job),
                    detail)
        )  # fmt: skip

    problems = [p for r in done for p in r.page_problems]
    merged: dict[str, set[int]] = {}
    for r in done:
        for kind, seen in r.page_sizes.items():
            merged.setdefault(kind, set()).update(seen)
    sizes = [f"{kind}: {sorted(seen)}" for kind, seen in sorted(merged.items())]
    verdicts.append(
        Verdict(
            "list reads at max page size (Shopify 250 where cost allows, Unleashed 1000)",
            not problems if done else None,
            ("; ".join(sorted(set(problems))[:8]) if problems else "all list reads at max")
            + " | sizes seen: "
            + "; ".join(sizes),
        )
    )

    if setup.real:
        verdicts += judge_real(measured, setup)
    else:
        verdicts += judge_scaled(measured, setup)
    bad = []
    for r in done:
        held_only = r.exit_code == 1 and all(
            int(x["failed"]) == 0 and x["status"] in ("ok", "partial") for x in r.runs
        )
        if r.exit_code != 0 and not held_only:
            bad.append(f"{r.scenario.key} exit {r.exit_code}")
    held = sum(int(x["held"]) for r in done for x in r.runs)
    verdicts.append(
        Verdict(
            "every scenario completes (exit 0, or 1 for held items only; no failed items)",
            not bad if done else None,
            ("; ".join(bad) or "all complete") + f"; {held} held item(s) over all runs",
        )
    )
    return verdicts


def judge_scaled(measured: list[Result], setup: Setup) -> list[Verdict]:
    """Pacing against the rate limit, peak memory, and CPU per record (for information)."""
    verdicts = []
    bound_rows = []
    pacing_ok: bool | None = None
    for r in measured:
        bound = lower_bound(r, setup)
        if bound < 1.0:
            continue  # not throttle-bound: nothing to judge
        ratio = r.shopify_window / bound
        bound_rows.append(f"{r.scenario.key} {ratio:.2f}x ({r.shopify_window:.1f}s/{bound:.1f}s)")
        pacing_ok = (pacing_ok is not False) and ratio <= PACING_FACTOR
    verdicts.append(
        Verdict(
            f"throttle pacing within {PACING_FACTOR}x of the lower bound",
            pacing_ok,
            "; ".join(bound_rows) or "no scenario spent more than the bucket plus 1 s of refill",
        )
    )
    peaks = [(r.scenario.key, r.peak_mb) for r in measured]
    worst_peak = max((p for _, p in peaks), default=0.0)
    verdicts.append(
        Verdict(
            f"peak memory < {MEMORY_LIMIT_MB:.0f} MB at {setup.variants:,} SKUs",
            worst_peak < MEMORY_LIMIT_MB if peaks else None,
            ", ".join(f"{k} {p:.0f} MB" for k, p in peaks),
        )
    )
    cpu_rows = []
    for r in measured:
        count = record_count(r, setup)
        if not count:
            continue
        per = r.cpu / count * 1000
        requests = sum(r.shopify.values()) + sum(r.unleashed.values())
        http = requests * setup.http_floor_ms / 1000
        own = max(0.0, r.cpu - http - setup.startup_cpu) / count * 1000
        cpu_rows.append(
            f"{r.scenario.key} {per:.3f} ms ({r.cpu:.1f}s/{count:,}; of which start-up "
            f"{setup.startup_cpu:.1f}s and {requests:,} requests x {setup.http_floor_ms:.2f} ms "
            f"HTTP floor = {http:.1f}s, leaving {own:.3f} ms per record)"
        )
    verdicts.append(
        Verdict(
            "CPU per record (information; the CPU target is judged at real latency)",
            None,
            "; ".join(cpu_rows),
        )
    )
    return verdicts


def judge_real(measured: list[Result], setup: Setup) -> list[Verdict]:
    """At real latency: the catch-up after an import within PACING_FACTOR of its bound, and
    syncer's own CPU a small share of the wall time the merchant waits."""
    verdicts = []
    catchup = next((r for r in measured if r.scenario.key == "catchup"), None)
    if catchup is None:
        verdicts.append(Verdict(f"catch-up within {PACING_FACTOR}x of its bound", None, "not run"))
    else:
        bound = latency_bound(catchup, setup)
        ratio = catchup.wall / bound.seconds if bound.seconds else float("inf")
        verdicts.append(
            Verdict(
                f"catch-up `sync all` after a catalogue import within {PACING_FACTOR}x of its "
                "bound",
                ratio <= PACING_FACTOR,
                f"{catchup.wall:.1f}s wall / {bound.seconds:.1f}s bound = {ratio:.2f}x "
                f"({sum(catchup.shopify.values())} Shopify + {sum(catchup.unleashed.values())} "
                f"Unleashed requests, {catchup.points:,} points, "
                f"bulk run {catchup.bulk_seconds:.1f}s)",
            )
        )
    rows = []
    ok: bool | None = None
    for r in measured:
        if not r.wall:
            continue
        share = r.cpu / r.wall
        rest = max(0.0, r.cpu - setup.startup_cpu) / r.wall
        rows.append(
            f"{r.scenario.key} {share:.1%} ({r.cpu:.1f}s/{r.wall:.1f}s; {rest:.1%} less the "
            "CLI's start-up)"
        )
        ok = (ok is not False) and share < CPU_SHARE
    verdicts.append(
        Verdict(
            f"syncer's own CPU under {CPU_SHARE:.0%} of wall time at real latency",
            ok,
            "; ".join(rows) + f" (the CLI's start-up alone: {setup.startup_cpu:.2f}s CPU)",
        )
    )
    return verdicts


def unleashed_month(results: list[Result]) -> list[tuple[str, int, int]]:
    """Unleashed calls a month at the default schedule: (what, idle, with ORDERS_A_DAY paid
    orders a day), from the no-change run's calls per job, the full inventory sync's calls
    (daily) and the backfill's calls per order sent."""
    done = {r.scenario.key: r for r in results if not r.skipped}
    quiet = done.get("all")
    if quiet is None:
        return []
    per_job = {str(x["job"]): int(x["unleashed_calls"]) for x in quiet.runs}
    rows = []
    for job, runs in MONTH_RUNS.items():
        calls = per_job.get(job, 0) * runs
        rows.append((f"{job} (every {30 * 24 * 60 // runs} min, {runs:,} runs)", calls, calls))
    full = done.get("inventory")
    if full is not None:
        calls = sum(full.unleashed.values()) * 30
        rows.append(("inventory --full (daily)", calls, calls))
    backfill = done.get("orders")
    if backfill is not None:
        sent = sum(int(x["created"]) for x in backfill.runs)
        per_order = sum(backfill.unleashed.values()) / sent if sent else 0.0
        extra = round(per_order * ORDERS_A_DAY * 30)
        rows.append((f"orders sent ({ORDERS_A_DAY}/day x {per_order:.2f} calls each)", 0, extra))
    rows.append(("total", sum(r[1] for r in rows), sum(r[2] for r in rows)))
    return rows


def flatness(
    results: list[Result], reference: list[Result], setup: Setup, small: Setup | None
) -> Verdict:
    """Streaming keeps peak memory flat: 5x the records may add at most FLAT_GROWTH."""
    target = f"peak memory flat (grows < {FLAT_GROWTH:.0%} from the reference size)"
    if small is None or not reference:
        return Verdict(target, None, "no reference run")
    rows = []
    ok: bool | None = None
    by_key = {r.scenario.key: r for r in reference if not r.skipped}
    for r in results:
        ref = by_key.get(r.scenario.key)
        if r.skipped or ref is None or not ref.peak_mb:
            continue
        growth = r.peak_mb / ref.peak_mb - 1
        records = max(1, record_count(r, setup) - record_count(ref, small))
        per = (r.peak_mb - ref.peak_mb) * 1024 / records
        rows.append(
            f"{r.scenario.key} {ref.peak_mb:.0f} -> {r.peak_mb:.0f} MB ({growth:+.0%}, "
            f"{per:.1f} KB per extra record)"
        )
        ok = (ok is not False) and growth < FLAT_GROWTH
    size = f"reference {small.variants:,} SKUs / {small.orders:,} orders"
    return Verdict(target, ok, f"{size}: " + "; ".join(rows))


def kinds_text(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counter.most_common()) or "-"


def table(results: list[Result], setup: Setup) -> str:
    return real_table(results, setup) if setup.real else scaled_table(results, setup)


def scaled_table(results: list[Result], setup: Setup) -> str:
    head = (
        "| scenario | exit | wall s | CPU s | peak MB | Shopify req | Unleashed req "
        "| Shopify points | charged | throttled | bound s | Shopify s / bound |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        if r.skipped:
            rows.append(f"| {r.scenario.title} | skipped: {r.skipped} |" + " |" * 10)
            continue
        bound = lower_bound(r, setup)
        ratio = f"{r.shopify_window / bound:.2f}" if bound >= 1.0 else "n/a"
        rows.append(
            f"| {r.scenario.title} | {r.exit_code} | {r.wall:.1f} | {r.cpu:.1f} | "
            f"{r.peak_mb:.0f} | {sum(r.shopify.values()):,} | {sum(r.unleashed.values()):,} | "
            f"{r.points:,} | {r.charged:,} | {r.throttled} | {bound:.1f} | {ratio} |"
        )
    return head + "\n".join(rows) + "\n"


def real_table(results: list[Result], setup: Setup) -> str:
    head = (
        "| scenario | exit | wall s (merchant) | CPU s | CPU % of wall | Shopify req "
        "| Unleashed req | Shopify points | rate-limit s | Unleashed time s "
        "| sequential time s | bound s | wall / bound |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        if r.skipped:
            rows.append(f"| {r.scenario.title} | skipped: {r.skipped} |" + " |" * 11)
            continue
        b = latency_bound(r, setup)
        ratio = f"{r.wall / b.seconds:.2f}" if b.seconds else "n/a"
        share = f"{r.cpu / r.wall:.1%}" if r.wall else "n/a"
        rows.append(
            f"| {r.scenario.title} | {r.exit_code} | {r.wall:.1f} | {r.cpu:.1f} | {share} | "
            f"{sum(r.shopify.values()):,} | {sum(r.unleashed.values()):,} | {r.points:,} | "
            f"{b.points:.1f} | {b.unleashed:.1f} | {b.sequential:.1f} | {b.seconds:.1f} | "
            f"{ratio} |"
        )
    return head + "\n".join(rows) + "\n"


def month_table(results: list[Result]) -> str:
    rows = unleashed_month(results)
    if not rows:
        return ""
    lines = [
        f"| Unleashed calls a month | idle | with {ORDERS_A_DAY} orders a day |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {idle:,} | {busy:,} |" for what, idle, busy in rows]
    return "\n".join(lines) + "\n"


@dataclass
class Section:
    setup: Setup
    results: list[Result]
    verdicts: list[Verdict]
    seconds: float


def profile_text(section: Section) -> list[str]:
    setup, results, verdicts = section.setup, section.results, section.verdicts
    lines = [
        f"- Seed {setup.seed}: {setup.products:,} products = {setup.variants:,} SKUs (variants) "
        f"over {setup.locations} warehouses/locations; {setup.orders:,} orders, "
        f"{setup.paid:,} of them PAID",
        f"- Shopify throttle: standard plan x{setup.scale:g} = {setup.rate:g} points/s restore, "
        f"bucket {setup.bucket:g} (standard: {STANDARD_RATE:g}/s, {STANDARD_BUCKET:g}). "
        "Shopify points = sum of actualQueryCost; charged = what the bucket kept (min of "
        "requested and actual per query). Each scenario starts once the bucket has refilled.",
    ]
    if setup.real:
        lines += [
            f"- Latency added by the sandboxes to every request: Shopify "
            f"{setup.shopify_latency * 1000:.0f} ms, Unleashed "
            f"{setup.unleashed_latency * 1000:.0f} ms. These are assumptions, not measurements: "
            "neither API publishes response times, so they stand for a merchant's server "
            "talking to Unleashed's single-region REST API (a few hundred ms) and to Shopify's "
            "GraphQL Admin API behind its CDN (~100 ms for a small query).",
            "- bound = max(rate limit: points charged beyond the bucket / restore rate; "
            "Unleashed requests, sent one at a time, x their latency; sequential latency: the "
            "requests that wait for each other x their latency plus the sandbox's run time of "
            "any bulk operation). Each request's time is the added latency plus the sandbox's "
            "own time to answer it (measured in the bench process), as a real API's latency "
            "includes its own work. Jobs run one after another, so a scenario's Shopify and "
            "Unleashed requests add up, except in the orders backfill, whose Shopify pages are "
            "read in a thread while Unleashed is written. The bound leaves out process start-up "
            "and syncer's own work, so a ratio near 1 means the APIs set the pace.",
            "- CPU % of wall = user+sys CPU of the syncer process / its wall time.",
        ]
    else:
        lines += [
            "- No latency added. bound = max(0, charged - bucket) / restore rate (multiply by "
            f"{setup.scale:g} for the standard plan); 'Shopify s' = first to last Shopify "
            "request of the run.",
            f"- Calibration on this machine: {setup.http_floor_ms:.2f} ms CPU per request "
            "through syncer's HttpClient (requests/urllib3/http.client, 1,000 GETs of a tiny "
            f"reply from the local sandbox) and {setup.startup_cpu:.2f} s CPU to start the CLI "
            "(`syncer --help`).",
        ]
    lines += [f"- Profile time {section.seconds:.0f} s.", "", table(results, setup)]
    if setup.real:
        month = month_table(results)
        if month:
            lines += [
                "Unleashed's API quota is monthly. Calls a month at the default `schedule:` "
                "(orders 5m, products 1h, inventory 15m, fulfillments 15m, plus the daily "
                "`inventory --full`), from this profile's no-change `sync all` (calls per job), "
                "its full inventory sync and its backfill (calls per order sent):",
                "",
                month,
            ]
    lines += ["### Targets", ""]
    for v in verdicts:
        mark = {True: "PASS", False: "FAIL", None: "N/A"}[v.ok]
        lines.append(f"- **{mark}** {v.target}: {v.detail}")
    lines += ["", "### Requests by kind", ""]
    for r in results:
        if r.skipped:
            continue
        lines.append(f"- **{r.scenario.title}**")
        lines.append(f"  - Shopify: {kinds_text(r.shopify)}")
        lines.append(f"  - Unleashed: {kinds_text(r.unleashed)}")
        runs = "; ".join(
            f"{x['job']} #{x['id']} {x['status']}: {x['created']} created, {x['updated']} "
            f"updated, {x['unchanged']} unchanged, {x['held']} held, {x['failed']} failed, "
            f"calls {x['shopify_calls']} Shopify + {x['unleashed_calls']} Unleashed"
            for x in r.runs
        )
        lines.append(f"  - Run rows: {runs or '-'}")
    return [*lines, ""]


PROFILE_TITLES = {
    "scaled": "Scaled profile: 10x the standard plan's rate, no added latency",
    "real-latency": "Real-latency profile: the standard plan's rate, real API latency",
}


def markdown(sections: list[Section], total: float) -> str:
    cores = os.cpu_count()
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{COMMAND}`",
        "",
        f"- Date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {platform.machine()}, nproc {cores}, Python {platform.python_version()} "
        f"({platform.system()} {platform.release()})",
        "- syncer runs as a child process per scenario; CPU = user+sys of that child (os.wait4 "
        "rusage), peak = its VmHWM polled from /proc every 5 ms (its ru_maxrss would include "
        "the bench process's RSS, inherited over fork). Requests are counted by the "
        "sandboxes; 'throttled' = THROTTLED replies (each retried). Before the catch-up "
        "scenario every Shopify product and variant is saved again (a catalogue import).",
        f"- Total bench time {total:.0f} s.",
        "",
    ]
    for section in sections:
        lines += [f"## {PROFILE_TITLES[section.setup.profile]}", ""]
        lines += profile_text(section)
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    key: str
    scale: float
    products: int
    orders: int
    shopify_latency: float = 0.0
    unleashed_latency: float = 0.0


def run_size(
    options: argparse.Namespace, profile: Profile, fraction: float, keys: set[str] | None
) -> tuple[Setup, list[Result]]:
    """Seed both sandboxes at `fraction` of the profile's size and run the scenarios."""
    scale = profile.scale
    products = max(3, round(profile.products * fraction))
    orders = max(1, round(profile.orders * fraction))
    began = time.perf_counter()
    print(f"Seeding the sandboxes ({products:,} products, {orders:,} orders)...")
    boxes = start_sandboxes(
        options.seed,
        products=products,
        orders=orders,
        paid_share=options.paid_share,
        shopify_options={
            "maximum_available": STANDARD_BUCKET * scale,
            "restore_rate": STANDARD_RATE * scale,
        },
    )
    boxes.unleashed_server.record_bodies = False  # the query string says all we check
    world = boxes.world
    setup = Setup(
        profile=profile.key,
        scale=scale,
        seed=options.seed,
        products=len(world.products),
        variants=len(world.variants()),
        orders=len(world.orders),
        paid=sum(1 for o in world.orders if o.financial_status == "PAID"),
        locations=len(world.warehouses),
        shopify_latency=profile.shopify_latency,
        unleashed_latency=profile.unleashed_latency,
    )
    print(f"Sandboxes ready in {time.perf_counter() - began:.1f}s: {setup.variants:,} SKUs.")
    workdir = Path(tempfile.mkdtemp(prefix="syncer-bench-"))
    state = workdir / "bench.db"
    env = {**os.environ, **SANDBOX_ENV}
    setup.http_floor_ms, setup.startup_cpu = calibrate(boxes.unleashed_server.url, env)
    print(
        f"Calibration: {setup.http_floor_ms:.2f} ms CPU per HTTP request, "
        f"{setup.startup_cpu:.2f} s CPU to start the CLI."
    )
    add_latency(boxes, profile.shopify_latency, profile.unleashed_latency)
    clocks = (
        ServerTime(boxes.shopify_server, profile.shopify_latency),
        ServerTime(boxes.unleashed_server, profile.unleashed_latency),
    )
    costs = CostCheck()
    results: list[Result] = []
    try:
        for scenario in SCENARIOS:
            if keys is not None and scenario.key not in keys:
                continue
            present = [job for job in JOBS if job_exists(job)]
            missing = [job for job in scenario.needs if job not in present]
            if missing:
                reason = f"syncer/{missing[0]}/job.py does not exist yet"
                print(f"- {scenario.title}: skipped ({reason})")
                results.append(Result(scenario, 0, 0, 0, 0, skipped=reason))
                continue
            config = boxes.write_config(
                workdir / "config.yaml",
                state={"path": str(state)},
                # Throughput, not the safety stop, is measured: a first full run plans more
                # than the default max_changes.
                products={"max_changes": 1_000_000, "enabled": "products" in present},
                inventory={"max_changes": 1_000_000, "enabled": "inventory" in present},
                orders={"enabled": "orders" in present},
                fulfillments={"enabled": "fulfillments" in present},
            )
            print(f"- {scenario.title} ...", end="", flush=True)
            result = run_scenario(
                scenario, boxes, config, state, env, costs, options.timeout, clocks
            )
            result.records = record_count(result, setup)
            results.append(result)
            absent = [job for job in JOBS if job not in present]
            note = f" (without {', '.join(absent)}: no job.py yet)" if absent else ""
            print(
                f" exit {result.exit_code}, {result.wall:.1f}s wall, {result.cpu:.1f}s CPU, "
                f"{result.peak_mb:.0f} MB, {sum(result.shopify.values())} Shopify + "
                f"{sum(result.unleashed.values())} Unleashed requests, {result.points:,} points"
                + note
            )
            if result.exit_code not in (0, 1):
                print("  last output:\n    " + result.output_tail.replace("\n", "\n    "))
    finally:
        boxes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return setup, results


TWO_SHOPS_TARGET = "two shops: incremental sync all <= 2 requests/job/API/shop"


def run_two_shops(options: argparse.Namespace) -> Verdict:
    """Two Shopify sandboxes (NZD and AUD, same SKUs, both mapping MAIN and WEST, so their
    in-flight stock is shared) on one Unleashed sandbox: catch up with `sync all`, then a
    no-change `sync all` must cost at most 2 requests per job, per API and per shop."""
    scale = options.scale
    products = max(3, options.two_shops_products)
    orders = max(1, options.two_shops_orders)
    print(f"Two shops ({products:,} products, {orders:,} orders each)...")
    boxes = start_sandboxes(
        options.seed,
        products=products,
        orders=orders,
        paid_share=options.paid_share,
        shops=2,
        shopify_options={
            "maximum_available": STANDARD_BUCKET * scale,
            "restore_rate": STANDARD_RATE * scale,
        },
    )
    workdir = Path(tempfile.mkdtemp(prefix="syncer-bench-shops-"))
    state = workdir / "bench.db"
    env = {**os.environ, **SANDBOX_ENV}
    try:
        config = boxes.write_shops_config(
            workdir / "config.yaml",
            state={"path": str(state)},
            products={"max_changes": 1_000_000},
            inventory={"max_changes": 1_000_000},
            fulfillments={"enabled": True},
        )
        command = ["--config", str(config), "sync", "all"]
        for _ in range(2):  # catch up, then settle what the catch-up changed itself
            code, *_ = run_syncer(command, env, options.timeout)
            if code not in (0, 1):
                return Verdict(TWO_SHOPS_TARGET, False, f"catch-up sync all exited {code}")
        last = _last_run_id(state)
        code, wall, _, _, _output = run_syncer(command, env, options.timeout)
        runs = _runs_since(state, last)
    finally:
        boxes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    per_run = ", ".join(
        f"{r['job']}@{r['shop']} {r['shopify_calls']}+{r['unleashed_calls']}" for r in runs
    )
    over = [
        f"{r['job']}@{r['shop']}: {r[f'{api}_calls']} {api} calls"
        for r in runs
        for api in ("shopify", "unleashed")
        if int(r[f"{api}_calls"]) > CALLS_PER_JOB_PER_API
    ]
    changed = [
        f"{r['job']}@{r['shop']}: {r['created']} created, {r['updated']} updated"
        for r in runs
        if int(r["created"]) or int(r["updated"])
    ]
    shops = {r["shop"] for r in runs}
    detail = f"exit {code}, {wall:.1f}s; per job@shop (Shopify+Unleashed): {per_run}"
    if over:
        detail += "; over: " + "; ".join(over)
    if changed:
        detail += "; NOT a no-change run: " + "; ".join(changed)
    ok = code == 0 and not over and not changed and shops == {"nz", "au"}
    print(f"  {'PASS' if ok else 'FAIL'}: {detail}")
    return Verdict(TWO_SHOPS_TARGET, ok, detail)


def run_profile(options: argparse.Namespace, profile: Profile, only: set[str] | None) -> Section:
    began = time.perf_counter()
    print(f"\n== {PROFILE_TITLES[profile.key]} ==")
    reference: list[Result] = []
    reference_setup: Setup | None = None
    if profile.key == "scaled" and options.reference > 0:
        print(f"Reference run at {options.reference:g} of the size (peak memory only):")
        keys = {"products", "inventory", "orders"} & (only or {"products", "inventory", "orders"})
        reference_setup, reference = run_size(options, profile, options.reference, keys)
        print()
    setup, results = run_size(options, profile, 1.0, only)
    verdicts = judge(results, setup)
    if profile.key == "scaled":
        verdicts.insert(-2, flatness(results, reference, setup, reference_setup))
    section = Section(setup, results, verdicts, time.perf_counter() - began)
    print()
    print(table(results, setup))
    if setup.real:
        print(month_table(results))
    for v in verdicts:
        print(f"{ {True: 'PASS', False: 'FAIL', None: 'N/A '}[v.ok] }  {v.target}: {v.detail}")
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=("all", "scaled", "real-latency"),
        default="all",
        help="which profile(s) to run (default: both)",
    )
    parser.add_argument("--scale", type=float, default=10.0, help="scaled: Shopify throttle x")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--products", type=int, default=4999, help="scaled: 4,999 products = 10,000 variants"
    )
    parser.add_argument("--orders", type=int, default=2000, help="scaled: orders")
    parser.add_argument(
        "--real-products", type=int, default=999, help="real-latency: 999 = 2,000 variants"
    )
    parser.add_argument("--real-orders", type=int, default=300, help="real-latency: orders")
    parser.add_argument("--shopify-latency", type=float, default=SHOPIFY_LATENCY, help="s")
    parser.add_argument("--unleashed-latency", type=float, default=UNLEASHED_LATENCY, help="s")
    parser.add_argument("--paid-share", type=float, default=0.95)
    parser.add_argument("--timeout", type=float, default=300.0, help="per scenario, seconds")
    parser.add_argument(
        "--reference",
        type=float,
        default=0.2,
        help="scaled: also run the full scenarios at this fraction of the size, to see "
        "whether peak memory stays flat (0: skip)",
    )
    parser.add_argument(
        "--only", nargs="*", help="scenario keys to run, two_shops included (default: all)"
    )
    parser.add_argument("--two-shops-products", type=int, default=200)
    parser.add_argument("--two-shops-orders", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args(argv)

    profiles = []
    if options.profile in ("all", "scaled"):
        profiles.append(Profile("scaled", options.scale, options.products, options.orders))
    if options.profile in ("all", "real-latency"):
        profiles.append(
            Profile(
                "real-latency",
                1.0,
                options.real_products,
                options.real_orders,
                options.shopify_latency,
                options.unleashed_latency,
            )
        )
    began = time.perf_counter()
    only = set(options.only) if options.only else None
    sections = [run_profile(options, profile, only) for profile in profiles]
    if only is None or "two_shops" in only:
        two_shops = run_two_shops(options)
        print(f"{ {True: 'PASS', False: 'FAIL', None: 'N/A '}[two_shops.ok] }  "
              f"{two_shops.target}: {two_shops.detail}")  # fmt: skip
        if sections:
            sections[0].verdicts.insert(1, two_shops)
    total = time.perf_counter() - began
    options.output.write_text(markdown(sections, total), encoding="utf-8")
    print(f"\nWrote {options.output} ({total:.0f}s).")
    failed = any(v.ok is False for s in sections for v in s.verdicts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
