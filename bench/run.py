"""`make bench`: syncer against the bundled sandboxes at 10,000 SKUs and 2,000 paid orders.

The sandboxes run in this process; syncer runs as a separate process per scenario
(`python -m syncer --config ... sync ...`), so its wall time, CPU time and peak memory are its
own (measured with os.wait4 on that child). Requests are counted from the sandboxes' request
logs (by API and by kind), Shopify points from the sandbox's sum of actualQueryCost, and each
job's totals from its run row in the state database.

The Shopify sandbox runs at the standard plan's restore rate (100 points/s, bucket 2,000)
multiplied by --scale, so the run fits in minutes; the report gives the lower bound that rate
implies and how close the run came to it. Results go to bench/RESULTS.md (overwritten).
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
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from syncer.sandbox.common import Recorded
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
CPU_PER_RECORD_MS = 1.0
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


SCENARIOS = [
    Scenario("products", "sync products --full", ["sync", "products", "--full"], ("products",),
             "variants"),
    Scenario("inventory", "sync inventory --full", ["sync", "inventory", "--full"],
             ("inventory",), "variants"),
    Scenario("orders", "sync orders (backfill)", ["sync", "orders"], ("orders",), "orders"),
    Scenario("warmup", "sync all (catch-up, warm-up)", ["sync", "all"], (), "", measured=False),
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


def run_scenario(
    scenario: Scenario,
    boxes: Sandboxes,
    config: Path,
    state: Path,
    env: dict[str, str],
    costs: CostCheck,
    timeout: float,
) -> Result:
    wait_for_full_bucket(boxes)
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
    scale: float
    seed: int
    products: int
    variants: int
    orders: int
    paid: int
    locations: int
    http_floor_ms: float = 0.0  # CPU per request of the HTTP stack alone (calibrate)
    startup_cpu: float = 0.0  # CPU s of starting the CLI (imports)

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
    cpu_ok: bool | None = None
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
        cpu_ok = (cpu_ok is not False) and per < CPU_PER_RECORD_MS
    verdicts.append(
        Verdict(f"local CPU < {CPU_PER_RECORD_MS:g} ms per record", cpu_ok, "; ".join(cpu_rows))
    )
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


def markdown(results: list[Result], verdicts: list[Verdict], setup: Setup, total: float) -> str:
    cores = os.cpu_count()
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{COMMAND}`",
        "",
        f"- Date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {platform.machine()}, nproc {cores}, Python {platform.python_version()} "
        f"({platform.system()} {platform.release()})",
        f"- Seed {setup.seed}: {setup.products:,} products = {setup.variants:,} SKUs (variants) "
        f"over {setup.locations} warehouses/locations; {setup.orders:,} orders, "
        f"{setup.paid:,} of them PAID",
        f"- Shopify throttle: standard plan x{setup.scale:g} = {setup.rate:g} points/s restore, "
        f"bucket {setup.bucket:g} (standard: {STANDARD_RATE:g}/s, {STANDARD_BUCKET:g}). "
        "Shopify points = sum of actualQueryCost; charged = what the bucket kept (min of "
        "requested and actual per query); bound = max(0, charged - bucket) / restore rate "
        f"(multiply by {setup.scale:g} for the standard plan); 'Shopify s' = first to last "
        "Shopify request of the run. Each scenario starts once the bucket has refilled.",
        "- syncer runs as a child process per scenario; CPU = user+sys of that child (os.wait4 "
        "rusage), peak = its VmHWM polled from /proc every 5 ms (its ru_maxrss would include "
        "the bench process's RSS, inherited over fork). Requests are counted by the "
        "sandboxes; 'throttled' = THROTTLED replies (each retried).",
        f"- Calibration on this machine: {setup.http_floor_ms:.2f} ms CPU per request through "
        "syncer's HttpClient (requests/urllib3/http.client, 1,000 GETs of a tiny reply from the "
        f"local sandbox) and {setup.startup_cpu:.2f} s CPU to start the CLI (`syncer --help`). "
        "The CPU target's detail splits each scenario's CPU into these floors and the rest.",
        f"- Total bench time {total:.0f} s.",
        "",
        table(results, setup),
        "## Targets",
        "",
    ]
    for v in verdicts:
        mark = {True: "PASS", False: "FAIL", None: "N/A"}[v.ok]
        lines.append(f"- **{mark}** {v.target}: {v.detail}")
    lines += ["", "## Requests by kind", ""]
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
    incremental = next((r for r in results if r.scenario.key == "all" and not r.skipped), None)
    if incremental is not None:
        calls = sum(incremental.unleashed.values())
        lines += [
            "",
            f"Unleashed quota: an incremental `sync all` with nothing to do costs {calls} "
            f"Unleashed calls; every 5 minutes that is {calls * 288 * 30:,} calls a month.",
        ]
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------


def run_size(
    options: argparse.Namespace, fraction: float, keys: set[str] | None
) -> tuple[Setup, list[Result]]:
    """Seed both sandboxes at `fraction` of the requested size and run the scenarios."""
    scale = options.scale
    products = max(3, round(options.products * fraction))
    orders = max(1, round(options.orders * fraction))
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
        scale=scale,
        seed=options.seed,
        products=len(world.products),
        variants=len(world.variants()),
        orders=len(world.orders),
        paid=sum(1 for o in world.orders if o.financial_status == "PAID"),
        locations=len(world.warehouses),
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
            result = run_scenario(scenario, boxes, config, state, env, costs, options.timeout)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="Shopify throttle multiplier")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--products", type=int, default=4999, help="4,999 products = 10,000 variants"
    )
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--paid-share", type=float, default=0.95)
    parser.add_argument("--timeout", type=float, default=300.0, help="per scenario, seconds")
    parser.add_argument(
        "--reference",
        type=float,
        default=0.2,
        help="also run the full scenarios at this fraction of the size, to see whether peak "
        "memory stays flat (0: skip)",
    )
    parser.add_argument(
        "--only", nargs="*", help="scenario keys to run, two_shops included (default: all)"
    )
    parser.add_argument("--two-shops-products", type=int, default=200)
    parser.add_argument("--two-shops-orders", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args(argv)

    began = time.perf_counter()
    only = set(options.only) if options.only else None
    reference: list[Result] = []
    reference_setup: Setup | None = None
    if options.reference > 0:
        print(f"Reference run at {options.reference:g} of the size (peak memory only):")
        keys = {"products", "inventory", "orders"} & (only or {"products", "inventory", "orders"})
        reference_setup, reference = run_size(options, options.reference, keys)
        print()
    setup, results = run_size(options, 1.0, only)
    two_shops = (
        run_two_shops(options)
        if only is None or "two_shops" in only
        else Verdict(TWO_SHOPS_TARGET, None, "not run")
    )
    total = time.perf_counter() - began
    verdicts = judge(results, setup)
    verdicts.insert(-2, flatness(results, reference, setup, reference_setup))
    verdicts.insert(1, two_shops)
    report = markdown(results, verdicts, setup, total)
    options.output.write_text(report, encoding="utf-8")
    print()
    print(table(results, setup))
    for v in verdicts:
        print(f"{ {True: 'PASS', False: 'FAIL', None: 'N/A '}[v.ok] }  {v.target}: {v.detail}")
    print(f"\nWrote {options.output} ({total:.0f}s).")
    return 0 if all(v.ok is not False for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
