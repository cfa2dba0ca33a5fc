"""What to announce, and what a monitor should worry about: pure decisions, no I/O.

`decide` compares one run's held and failed items with the ones its job already had, so an
item that stays held is announced once, and its clearing is announced when it happens.
`compose` writes the chat message. `monitor_problems` turns the report tables into the lines
of `status --check`. Nothing here talks HTTP or SQLite; `syncer/alerts.py` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Item actions that are announced, and the `alerts.on` trigger that selects each.
TRIGGER_OF_ACTION = {"hold": "held", "fail": "failed"}
WORD_OF_ACTION = {"hold": "held", "fail": "failed"}
# Exit codes that mean the run itself went wrong (configuration, credentials, unreachable).
ERROR_EXIT_CODES = frozenset({2, 3})
MAX_LISTED = 10
# This many failed runs in a row with an unmoved cursor is a stuck job, not a passing blip.
STUCK_AFTER_FAILED_RUNS = 3


def shop_label(shop: str) -> str:
    """The shop as people call it: the configured domain or URL without scheme or slash."""
    text = shop.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    return text.rstrip("/")


@dataclass(frozen=True)
class Flagged:
    """A held or failed item of a run."""

    key: str
    action: str  # hold | fail
    reason: str = ""


@dataclass(frozen=True)
class RunOutcome:
    """One finished run as the alert sees it."""

    shop: str
    job: str
    run_id: int | None
    exit_code: int
    status: str
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    flagged: tuple[Flagged, ...] = ()
    # (action, key) of the items held or failed at this job's previous runs.
    known: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Announcement:
    new: tuple[Flagged, ...]
    cleared: tuple[str, ...]
    error: str | None


def decide(outcome: RunOutcome, triggers: Sequence[str]) -> Announcement | None:
    """What this run has to say, or None when there is nothing worth a message.

    New: held/failed items whose (action, key) the job's previous runs did not have.
    Cleared: items of the previous runs that this run no longer holds or fails; only a run
    that finished (exit 0 or 1) can tell, since a run that errored may not have reached them.
    """
    wanted = set(triggers)
    new = tuple(
        item
        for item in outcome.flagged
        if (item.action, item.key) not in outcome.known
        and TRIGGER_OF_ACTION.get(item.action) in wanted
    )
    cleared: tuple[str, ...] = ()
    if outcome.exit_code not in ERROR_EXIT_CODES:
        still = {item.key for item in outcome.flagged}
        cleared = tuple(
            sorted(
                {
                    key
                    for action, key in outcome.known
                    if key not in still and TRIGGER_OF_ACTION.get(action) in wanted
                }
            )
        )
    error = (
        outcome.error or f"exit {outcome.exit_code}"
        if outcome.exit_code in ERROR_EXIT_CODES and "error" in wanted
        else None
    )
    if not new and not cleared and error is None:
        return None
    return Announcement(new=new, cleared=cleared, error=error)


def compose(outcome: RunOutcome, announcement: Announcement) -> str:
    """The chat message: shop, job, counts, up to ten items with reasons, the next command."""
    run = f"run {outcome.run_id}" if outcome.run_id is not None else "a run"
    lines = [
        f"syncer: {outcome.job} on {outcome.shop}, {run} ended {outcome.status} "
        f"(exit {outcome.exit_code})"
    ]
    if outcome.counts:
        lines.append(", ".join(f"{name} {count}" for name, count in outcome.counts.items()))
    if announcement.error is not None:
        lines.append(f"error: {announcement.error}")
    if announcement.new:
        lines.append(f"New held or failed items ({len(announcement.new)}):")
        for item in announcement.new[:MAX_LISTED]:
            reason = f": {item.reason}" if item.reason else ""
            lines.append(f"- {item.key} {WORD_OF_ACTION.get(item.action, item.action)}{reason}")
        if len(announcement.new) > MAX_LISTED:
            lines.append(f"- and {len(announcement.new) - MAX_LISTED} more")
    if announcement.cleared:
        shown = ", ".join(announcement.cleared[:MAX_LISTED])
        more = len(announcement.cleared) - MAX_LISTED
        lines.append(
            f"Cleared since the last run ({len(announcement.cleared)}): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if outcome.run_id is not None:
        lines.append(f"All items: syncer report {outcome.run_id}")
    else:
        lines.append("Recent runs: syncer report")
    return "\n".join(lines)


# -- status --check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorProblem:
    """One line of `status --check`."""

    kind: str  # stale | held | failed | stuck
    job: str
    message: str
    key: str | None = None
    since: str | None = None
    max_age: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "job": self.job,
            "key": self.key,
            "since": self.since,
            "max_age_seconds": self.max_age,
            "message": self.message,
        }


def duration(seconds: float) -> str:
    """A duration as `schedule:` writes them, to two units: 45s, 15m, 2h 5m, 3d 4h."""
    total = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60))
    for index, (unit, size) in enumerate(units):
        if total >= size:
            small_unit, small_size = (("h", 3600), ("m", 60), ("s", 1))[index]
            small = (total % size) // small_size
            return f"{total // size}{unit}" + (f" {small}{small_unit}" if small else "")
    return f"{total}s"


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 UTC timestamp of the state file, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def monitor_problems(
    now: datetime,
    max_ages: Mapping[str, int],
    last_ok: Mapping[str, Mapping[str, Any] | None],
    recent: Mapping[str, Sequence[Mapping[str, Any]]],
    pending: Sequence[Mapping[str, Any]],
) -> list[MonitorProblem]:
    """Every problem of the enabled jobs (the keys of `max_ages`), in job order.

    `last_ok`: each job's latest real run with status ok or partial; `recent`: its latest real
    runs, newest first; `pending`: the held and failed items still waiting.
    """
    problems: list[MonitorProblem] = []
    for job, max_age in max_ages.items():
        limit = duration(max_age)
        run = last_ok.get(job)
        finished = parse_time(str(run.get("finished_at") or "")) if run else None
        if finished is None:
            problems.append(
                MonitorProblem(
                    "stale",
                    job,
                    f"stale {job}: no ok or partial run yet (max age {limit})",
                    max_age=max_age,
                )
            )
        elif run is not None and (now - finished).total_seconds() > max_age:
            ago = duration((now - finished).total_seconds())
            problems.append(
                MonitorProblem(
                    "stale",
                    job,
                    f"stale {job}: the last ok or partial run (#{run['id']}) finished {ago} ago "
                    f"(max age {limit})",
                    since=str(run["finished_at"]),
                    max_age=max_age,
                )
            )
        for row in pending:
            if row.get("job") != job or row.get("action") not in WORD_OF_ACTION:
                continue
            first = parse_time(str(row.get("first_seen") or ""))
            if first is None or (now - first).total_seconds() <= max_age:
                continue
            word = WORD_OF_ACTION[str(row["action"])]
            key = _display_key(row)
            reason = _one_line(str(row.get("reason") or ""))
            problems.append(
                MonitorProblem(
                    word,
                    job,
                    f"{word} {job} {key}: {word} for {duration((now - first).total_seconds())} "
                    f"(max age {limit})" + (f": {reason}" if reason else ""),
                    key=key,
                    since=str(row["first_seen"]),
                    max_age=max_age,
                )
            )
        stuck = _stuck_runs(recent.get(job, ()))
        if stuck:
            first_failed = stuck[-1]
            error = _one_line(str(stuck[0].get("error") or ""))
            problems.append(
                MonitorProblem(
                    "stuck",
                    job,
                    f"stuck {job}: the cursor has not moved in {len(stuck)} failed runs since "
                    f"{first_failed.get('started_at')}" + (f": {error}" if error else ""),
                    since=str(first_failed.get("started_at")),
                    max_age=max_age,
                )
            )
    return problems


def _stuck_runs(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The newest failed runs in a row, when there are enough of them and none moved the
    cursor; else empty."""
    streak: list[Mapping[str, Any]] = []
    for run in runs:
        if run.get("status") != "failed":
            break
        streak.append(run)
    if len(streak) < STUCK_AFTER_FAILED_RUNS:
        return []
    if any(run.get("cursor_after") != run.get("cursor_before") for run in streak):
        return []
    if len({run.get("cursor_before") for run in streak}) != 1:
        return []
    return streak


def _display_key(row: Mapping[str, Any]) -> str:
    """The key people know: an order's name rather than its gid."""
    data = row.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if isinstance(data, Mapping) and data.get("name"):
        return str(data["name"])
    return str(row.get("key"))


def _one_line(text: str, limit: int = 200) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."
