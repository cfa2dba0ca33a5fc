"""`python -m tests.soak [--runs N] [--seed N] [--base-seed N] [--no-bad-inputs]`.

Runs `--runs` seeded scenario runs (seeds base, base+1, ...; the base is random unless given,
and printed), then the bad-input catalogue, then prints the tally. `--seed N` replays the one
run with that seed. Exit 0 when every invariant held, 1 otherwise (each failure is printed
with its seed and what it did).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable

from syncer.sandbox.runner import SANDBOX_ENV
from tests.conftest import SECRETS_ENV
from tests.faultkit import SUMMARY
from tests.soak.runs import JOBS, run_one


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="seeded runs (default 100)")
    parser.add_argument("--seed", type=int, help="replay the one run with this seed")
    parser.add_argument("--base-seed", type=int, help="seed of the first run (default: random)")
    parser.add_argument("--no-bad-inputs", action="store_true", help="skip the bad inputs")
    args = parser.parse_args(argv)
    if args.runs < 0:
        parser.error("--runs must be 0 or more")
    return args


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def guarded(label: str, failures: list[str], work: Callable[[], object]) -> object | None:
    """Run one unit of the soak; an invariant that fails (or a crash of the soak itself) is
    recorded with its label and the soak goes on."""
    try:
        return work()
    except AssertionError as exc:
        failures.append(f"{label}: {exc}")
    except Exception:
        failures.append(f"{label}: the soak itself crashed:\n{traceback.format_exc()}")
    say(f"FAILED {label}")
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    os.environ.update({**SANDBOX_ENV, **SECRETS_ENV})
    os.environ.setdefault("COLUMNS", "160")
    started = time.monotonic()
    failures: list[str] = []
    if args.seed is not None:
        seeds = [args.seed]
    else:
        base = args.base_seed if args.base_seed is not None else random.randrange(1, 1_000_000)
        seeds = list(range(base, base + args.runs))
        say(f"soak: {len(seeds)} runs from seed {base} (replay one: make soak SEED=N)")
    per_job: dict[str, Counter[str]] = {job: Counter() for job in JOBS}
    for index, seed in enumerate(seeds, start=1):
        outcome = guarded(f"run seed={seed}", failures, lambda seed=seed: run_one(seed))
        job = JOBS[seed % len(JOBS)]
        per_job[job]["runs"] += 1
        if outcome is not None:
            per_job[job]["kills"] += outcome.kills  # type: ignore[attr-defined]
            per_job[job]["faults"] += outcome.faults  # type: ignore[attr-defined]
            for code, n in outcome.exits.items():  # type: ignore[attr-defined]
                per_job[job][f"exit {code}"] += n
        if index % 10 == 0:
            say(f"  {index}/{len(seeds)} runs, {len(failures)} failed")
    bad: Counter[str] = Counter()
    if args.seed is None and not args.no_bad_inputs:
        from tests.soak.bad_inputs import run_all

        bad = run_all(failures, guarded, say)
    elapsed = time.monotonic() - started
    say("")
    say(
        f"soak tally (seed{'s' if len(seeds) != 1 else ''} {seeds[0]}..{seeds[-1]}):"
        if seeds
        else "soak tally:"
    )
    for job in JOBS:
        parts = ", ".join(f"{n} {name}" for name, n in sorted(per_job[job].items()))
        say(f"  {job:<13} {parts or 'no runs'}")
    totals = Counter[str]()
    for counts in per_job.values():
        totals.update(counts)
    say(
        f"  total         {totals['runs']} runs, {totals['kills']} kills, "
        f"{totals['faults']} faults injected"
    )
    if bad:
        say(
            f"  bad inputs    {sum(n for k, n in bad.items() if k != 'known bugs')}: "
            + ", ".join(f"{n} {k}" for k, n in sorted(bad.items()))
        )
    say("  checked       " + ", ".join(f"{n} {k}" for k, n in sorted(SUMMARY.items())))
    say(f"  time          {elapsed:.0f} s")
    if failures:
        say(f"\n{len(failures)} FAILED:")
        for failure in failures:
            say(f"- {failure}\n")
        return 1
    say("invariants held after every run and bad input: nothing lost, nothing duplicated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
