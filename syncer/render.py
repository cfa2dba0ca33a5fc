"""Every view a person sees: the only module that imports rich.

Each function takes a `Console`, so tests pass `Console(file=StringIO())` and read the text.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgressBar
from rich.table import Table

from syncer.report import RunReport

log = logging.getLogger("syncer")


# Width when the output is not a terminal (cron mail, a log file, a pipe) and COLUMNS does not
# say: rich's 80 would cut order numbers and customers in plan tables and wrap each summary line.
UNBOUNDED_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    """The console every command prints through (errors go to stderr)."""
    console = Console(highlight=False, soft_wrap=False, stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = UNBOUNDED_WIDTH
    return console


def error_lines(console: Console, message: str) -> None:
    """An error as plain lines ("error: ..."), markup in the message shown as is."""
    for line in message.splitlines():
        text = escape(line)
        console.print(f"[red]error: {text}[/red]" if not line.startswith(" ") else text)


# Jobs whose plan reads best as one row per item: (key column, [(label, detail field)]).
SUMMARY_COLUMNS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "orders": (
        "order",
        [
            ("number", "order_number"),
            ("customer", "customer"),
            ("lines", "lines"),
            ("subtotal", "sub_total"),
            ("tax", "tax_total"),
            ("total", "total"),
        ],
    ),
    "inventory": (
        "SKU@warehouse",
        [
            ("shopify now", "shopify_now"),
            ("unleashed available", "unleashed_available"),
            ("buffer", "buffer"),
            ("in flight", "in_flight"),
            ("target", "target"),
        ],
    ),
}

ACTION_STYLES = {
    "create": "green",
    "update": "cyan",
    "unchanged": "dim",
    "hold": "yellow",
    "fail": "red",
    "conflict": "magenta",
    "cancelled": "magenta",
    "refund": "magenta",
    "drift": "yellow",
}


def _text(value: Any) -> str:
    """A cell's text, with rich markup escaped (a title like "[Sale] Tee" must show as is)."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, default=str, sort_keys=True))
    return escape(str(value))


def _field_rows(detail: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field, current, new) rows from a field-level diff, in any of the shapes jobs write:
    {"fields": {f: {...}}}, {"changes": {f: {...}}} or {f: {"current", "new"}} at the top."""
    source: Mapping[str, Any] = detail
    for key in ("fields", "changes"):
        if isinstance(detail.get(key), Mapping):
            source = detail[key]
    rows = []
    for name, change in source.items():
        if not isinstance(change, Mapping):
            continue
        if "new" in change:
            rows.append((str(name), _text(change.get("current")), _text(change.get("new"))))
        elif "master" in change:
            rows.append(
                (str(name), _text(change.get("other")), _text(change.get("master")) + " (master)")
            )
    return rows


def _note(error: str | None, detail: Mapping[str, Any]) -> str:
    """The error, else the reason or note a job gave, else nothing."""
    if error:
        return error
    for key in ("reason", "note"):
        if detail.get(key):
            return _text(detail[key])
    return ""


def _summary(detail: Mapping[str, Any], keys: Iterable[str]) -> str:
    parts = [f"{k}={_text(detail[k])}" for k in keys if k in detail]
    return ", ".join(parts)


def plan_table(console: Console, report: RunReport, *, show_unchanged: bool = False) -> None:
    """The planned changes of a run as field-level diffs (what --dry-run prints)."""
    title = f"{report.job}: {'planned' if report.dry_run else 'applied'} changes"
    items = [i for i in report.items if show_unchanged or i.action != "unchanged"]
    if not items:
        console.print(f"[bold]{title}[/bold]: nothing to change")
        return
    if report.job in SUMMARY_COLUMNS:
        key_column, columns = SUMMARY_COLUMNS[report.job]
        table = Table(title=title)
        for column in (key_column, "action", *(label for label, _ in columns), "note"):
            table.add_column(column)
        for item in items:
            d = item.detail
            note = item.error or _summary(d, ("difference", "missing_skus", "event"))
            table.add_row(
                escape(item.key),
                f"[{ACTION_STYLES.get(item.action, '')}]{item.action}",
                *(_text(d.get(field)) for _, field in columns),
                note or _note(None, d),
            )
        console.print(table)
        return
    table = Table(title=title)
    for column in ("key", "action", "field", "current", "new", "note"):
        table.add_column(column)
    for item in items:
        style = ACTION_STYLES.get(item.action, "")
        rows = _field_rows(item.detail)
        note = _note(item.error, item.detail)
        if not rows:
            table.add_row(escape(item.key), f"[{style}]{item.action}", "", "", "", note)
        for index, (name, current, new) in enumerate(rows):
            table.add_row(
                escape(item.key) if index == 0 else "",
                f"[{style}]{item.action}" if index == 0 else "",
                name,
                current,
                new,
                note if index == 0 else "",
            )
    console.print(table)


def run_summary(console: Console, report: RunReport) -> None:
    """One line per run: counts, calls and the error if any."""
    counts = report.counts()
    others = {
        a: report.count(a) for a in ("conflict", "cancelled", "refund", "drift") if report.count(a)
    }
    parts = [f"{k} {v}" for k, v in counts.items()] + [f"{k} {v}" for k, v in others.items()]
    style = {"ok": "green", "partial": "yellow", "failed": "red"}[report.status]
    dry = " (dry run)" if report.dry_run else ""
    console.print(
        f"[bold]{report.job}[/bold]{dry}: [{style}]{report.status}[/{style}] - "
        + ", ".join(parts)
        + f" - API calls: shopify {report.shopify_calls}, unleashed {report.unleashed_calls}"
        + (f" - run #{report.run_id}" if report.run_id else "")
    )
    if report.error:
        console.print(f"  [red]{report.error}[/red]")
    for item in report.items:
        if item.action in ("hold", "fail"):
            reason = _note(item.error, item.detail) or "-"
            console.print(
                f"  [{ACTION_STYLES[item.action]}]{item.action}[/] {escape(item.key)}: {reason}"
            )


RUNS_TABLE_WIDTH = 150  # the runs table's columns fit whole from this console width on


def runs_table(console: Console, runs: list[dict[str, Any]]) -> None:
    if not runs:
        console.print("No runs recorded yet: try `syncer sync all --dry-run`.")
        return
    table = Table(title="Recent runs")
    columns = (
        "id",
        "job",
        "started_at",
        "status",
        "dry_run",
        "created",
        "updated",
        "unchanged",
        "held",
        "failed",
        "shopify_calls",
        "unleashed_calls",
        "error",
    )
    for column in columns:
        # Keep what identifies a run whole (rich would cut "products" and the time first);
        # the count columns wrap their headers instead.
        table.add_column(
            column.replace("_", " "), no_wrap=column in ("id", "job", "started_at", "status")
        )
    # With several shops in the report, each run's job names its shop ("orders au").
    if len({run.get("shop") for run in runs if run.get("shop")}) > 1:
        runs = [
            {**run, "job": f"{run['job']} {run['shop']}" if run.get("shop") else run["job"]}
            for run in runs
        ]
    for run in runs:
        table.add_row(
            *[
                f"[{_status_style(run)}]{run[c]}"
                if c == "status"
                else _text(run[c])
                if run[c] is not None
                else ""
                for c in columns
            ]
        )
    if console.width >= RUNS_TABLE_WIDTH:
        console.print(table)
        return
    # Too narrow for 13 columns (an 80-column terminal, cron mail): rich would cut the
    # headers and squeeze the counts to nothing, so each run becomes a line instead.
    console.print("[bold]Recent runs[/bold]")
    for run in runs:
        dry = " (dry run)" if run["dry_run"] else ""
        counts = ", ".join(f"{run[c]} {c}" for c in ("created", "updated", "unchanged", "held"))
        console.print(
            f"#{run['id']} {run['job']} {run['started_at']} "
            f"[{_status_style(run)}]{run['status']}[/]{dry}: {counts}, {run['failed']} failed; "
            f"calls {run['shopify_calls']} Shopify + {run['unleashed_calls']} Unleashed"
        )
        if run["error"]:
            console.print("  " + escape(str(run["error"])))


def _status_style(run: dict[str, Any]) -> str:
    return {"ok": "green", "partial": "yellow", "failed": "red"}.get(run["status"], "none")


def run_detail(console: Console, run: dict[str, Any], items: list[dict[str, Any]]) -> None:
    console.print(
        f"[bold]Run #{run['id']}[/bold] {run['job']} {run['status']}"
        f"{' (dry run)' if run['dry_run'] else ''}, {run['started_at']} -> {run['finished_at']}"
    )
    console.print(
        f"cursor {run['cursor_before'] or '-'} -> {run['cursor_after'] or '-'}; "
        f"API calls: shopify {run['shopify_calls']}, unleashed {run['unleashed_calls']}"
    )
    if run.get("error"):
        console.print(f"[red]{run['error']}[/red]")
    if not items:
        console.print("No items.")
        return
    table = Table(title=f"Items of run #{run['id']}")
    for column in ("entity", "key", "action", "detail", "error"):
        table.add_column(column)
    for item in items:
        style = ACTION_STYLES.get(item["action"], "")
        rows = _field_rows(item["detail"])
        detail = (
            "; ".join(f"{f}: {c} -> {n}" for f, c, n in rows)
            if rows
            else _text(item["detail"])
            if item["detail"]
            else ""
        )
        table.add_row(
            item["entity"],
            escape(item["key"]),
            f"[{style}]{item['action']}",
            detail,
            escape(item["error"] or ""),
        )
    console.print(table)


def status_view(console: Console, status: dict[str, Any], title: str = "Jobs") -> None:
    table = Table(title=title)
    for column in ("job", "cursor", "last run", "result", "finished", "held", "failed"):
        table.add_column(column)
    for job, info in status["jobs"].items():
        last = info.get("last_run") or {}
        table.add_row(
            job,
            info.get("cursor") or "-",
            f"#{last['id']}" if last else "-",
            last.get("status", "-"),
            last.get("finished_at") or "-",
            str(info.get("held", 0)),
            str(info.get("failed", 0)),
        )
    if status["jobs"]:
        console.print(table)
    pending = status.get("pending", [])
    if pending:
        held = Table(title="Held and failed items (retried on every run)")
        for column in ("job", "entity", "key", "action", "reason", "since", "attempts"):
            held.add_column(column)
        for row in pending:
            held.add_row(
                row["job"],
                row["entity"],
                row["key"],
                row["action"],
                row["reason"] or "",
                row["first_seen"],
                str(row["attempts"]),
            )
        console.print(held)
    events = status.get("events", {})
    if events:
        console.print(
            "Reported after import: "
            + ", ".join(f"{name} {count}" for name, count in sorted(events.items()))
        )
    usage = status.get("api_calls")
    if usage is None:  # one shop of several: the calls are the account's, shown once
        return
    console.print(
        f"API calls: shopify {usage['shopify']['today']} today, "
        f"{usage['shopify']['month']} this month; unleashed {usage['unleashed']['today']} today, "
        f"{usage['unleashed']['month']} this month (Unleashed's quota is monthly)"
    )


def check_view(console: Console, results: list[tuple[str, str, str]]) -> None:
    """results: (status "ok" | "warn" | "fail", check name, detail)."""
    marks = {"ok": "[green]✓[/green]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]"}
    for status, name, detail in results:
        text = escape(name) + (f": {escape(detail)}" if detail else "")
        console.print(f"{marks[status]} {text}")


class ConsoleProgress:
    """A rich progress bar on a terminal; plain log lines otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: RichProgressBar | None = None
        self._task: Any = None
        self._name = ""
        self._count = 0

    def start(self, task: str, total: int | None = None) -> None:
        self.done()
        self._name, self._count = task, 0
        if self.console.is_terminal:
            self._bar = RichProgressBar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(task, total=total)
        else:
            log.info("%s", task)

    def advance(self, amount: int = 1) -> None:
        self._count += amount
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self._name and self._count:
            log.info("%s: %d done", self._name, self._count)
        self._name = ""
