"""The state database: the one module with SQL.

One SQLite file holds cursors, links (order, product, shipment, credit note), held and failed
items, reported events, idempotency keys, API usage and the public report tables `runs` and
`run_items` (SPEC section 5). The schema is versioned with `PRAGMA user_version`; each entry of
MIGRATIONS moves it one version on. A run's report rows and its cursor commit together.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from syncer.errors import ConfigError, LockHeld, Problem
from syncer.report import RunReport

MIGRATIONS: list[str] = [
    # 1: public report tables, cursors, and the internal ledgers.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        dry_run INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        shopify_calls INTEGER NOT NULL DEFAULT 0,
        unleashed_calls INTEGER NOT NULL DEFAULT 0,
        cursor_before TEXT,
        cursor_after TEXT,
        error TEXT
    );
    CREATE INDEX runs_job ON runs (job, id);
    CREATE TABLE run_items (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        entity TEXT NOT NULL,
        key TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT,
        error TEXT
    );
    CREATE INDEX run_items_run ON run_items (run_id);
    CREATE TABLE cursors (
        job TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE links (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        remote_id TEXT,
        status TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE INDEX links_status ON links (kind, status);
    CREATE INDEX links_remote ON links (kind, remote_id);
    CREATE TABLE pending (
        job TEXT NOT NULL,
        entity TEXT NOT NULL,
        key TEXT NOT NULL,
        ref TEXT,
        action TEXT NOT NULL,
        reason TEXT,
        data TEXT NOT NULL DEFAULT '{}',
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (job, entity, key)
    );
    CREATE TABLE events (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id INTEGER,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE TABLE idempotency_keys (
        scope TEXT NOT NULL,
        digest TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, digest)
    );
    CREATE TABLE api_usage (
        day TEXT NOT NULL,
        api TEXT NOT NULL,
        calls INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, api)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Store:
    """Typed access to the state database. Open it with `Store(path)`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    [Problem("state.path", f"cannot create {self.path.parent}: {exc}")]
                ) from None
        if str(self.path) != ":memory:" and not self.path.exists():
            # The report holds customer emails and order data: private from the start.
            # (SQLite gives the -wal and -shm files the database file's permissions.)
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise ConfigError(
                    [Problem("state.path", f"cannot create {self.path}: {exc}")]
                ) from None
        try:
            conn = sqlite3.connect(str(self.path), timeout=30)
        except sqlite3.Error as exc:
            raise ConfigError([Problem("state.path", f"cannot open {self.path}: {exc}")]) from None
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        self._lock_file: int | None = None
        self.migrate()

    def close(self) -> None:
        self.release_lock()
        self.conn.close()

    # -- schema ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply every migration newer than the file's version, each in its own transaction."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise ConfigError(
                [
                    Problem(
                        "state.path",
                        f"{self.path} was written by a newer syncer (schema {current})",
                        "upgrade syncer",
                    )
                ]
            )
        for number in range(current, SCHEMA_VERSION):
            with self.conn:
                self.conn.executescript(
                    "BEGIN;" + MIGRATIONS[number] + f"; PRAGMA user_version = {number + 1};"
                )

    # -- run lock --------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Take the run lock or raise LockHeld. The OS drops it if the process dies."""
        if self._lock_file is not None:
            return
        lock_path = Path(f"{self.path}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            os.close(fd)
            raise LockHeld(
                f"another syncer run holds the lock on {self.path}"
                + (f" ({holder})" if holder else "")
                + "; nothing was done, try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {utcnow()}".encode())
        self._lock_file = fd

    def release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            os.close(self._lock_file)
            self._lock_file = None

    @contextmanager
    def locked(self) -> Iterator[Store]:
        self.acquire_lock()
        try:
            yield self
        finally:
            self.release_lock()

    # -- cursors ---------------------------------------------------------------------------

    def cursor(self, job: str) -> str | None:
        row = self.conn.execute("SELECT value FROM cursors WHERE job = ?", (job,)).fetchone()
        return str(row[0]) if row else None

    def cursors(self) -> dict[str, str]:
        return {str(j): str(v) for j, v in self.conn.execute("SELECT job, value FROM cursors")}

    def _set_cursor(self, job: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO cursors (job, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(job) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (job, value, utcnow()),
        )

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, report: RunReport) -> int:
        """Insert the run row at once: a run that dies midway still shows, as failed."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (job, started_at, dry_run, status, cursor_before, error) "
                "VALUES (?, ?, ?, 'failed', ?, ?)",
                (
                    report.job,
                    report.started_at,
                    int(report.dry_run),
                    report.cursor_before,
                    "interrupted before it finished",
                ),
            )
        report.run_id = int(cur.lastrowid or 0)
        return report.run_id

    def finish_run(self, report: RunReport, cursor_job: str | None = None) -> None:
        """Write the run's result, its items and (unless a dry run or a failure) its cursor,
        in one transaction."""
        if report.run_id is None:
            self.start_run(report)
        report.finished_at = report.finished_at or utcnow()
        counts = report.counts()
        move_cursor = (
            cursor_job is not None
            and not report.dry_run
            and report.error is None
            and report.cursor_after is not None
        )
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, created = ?, updated = ?, "
                "unchanged = ?, held = ?, failed = ?, shopify_calls = ?, unleashed_calls = ?, "
                "cursor_after = ?, error = ? WHERE id = ?",
                (
                    report.finished_at,
                    report.status,
                    counts["created"],
                    counts["updated"],
                    counts["unchanged"],
                    counts["held"],
                    counts["failed"],
                    report.shopify_calls,
                    report.unleashed_calls,
                    report.cursor_after if move_cursor else report.cursor_before,
                    report.error,
                    report.run_id,
                ),
            )
            self.conn.executemany(
                "INSERT INTO run_items (run_id, entity, key, action, detail, error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        report.run_id,
                        item.entity,
                        item.key,
                        item.action,
                        json.dumps(item.detail, default=str, sort_keys=True),
                        item.error,
                    )
                    for item in report.items
                ],
            )
            if not report.dry_run and report.events:
                self.conn.executemany(
                    "INSERT OR IGNORE INTO events (scope, key, run_id, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (scope, key, report.run_id, report.finished_at)
                        for scope, key in report.events
                    ],
                )
            if move_cursor and cursor_job is not None and report.cursor_after is not None:
                self._set_cursor(cursor_job, report.cursor_after)
            day = report.finished_at[:10]
            for api, calls in (
                ("shopify", report.shopify_calls),
                ("unleashed", report.unleashed_calls),
            ):
                if calls:
                    self._add_usage(day, api, calls)

    def runs(self, last: int = 20, job: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE job = ?", [job]) if job else ("", [])
        rows = self.db.query(
            f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?",
            [*args, last],
        )
        return list(rows)

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return rows[0] if rows else None

    def run_items(self, run_id: int) -> list[dict[str, Any]]:
        items = list(
            self.db.query("SELECT * FROM run_items WHERE run_id = ? ORDER BY rowid", [run_id])
        )
        for item in items:
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
        return items

    def last_runs_by_job(self) -> dict[str, dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY job)"
        )
        return {row["job"]: row for row in rows}

    # -- what alerts and monitors read ------------------------------------------------------

    def latest_run_id(self, job: str) -> int | None:
        """The newest run of a job, dry or not (to tell whether a job recorded a run)."""
        row = self.conn.execute("SELECT MAX(id) FROM runs WHERE job = ?", (job,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def flagged_items(self, run_id: int) -> list[dict[str, Any]]:
        """A run's held and failed items: key, action and reason."""
        return list(
            self.db.query(
                "SELECT key, action, error FROM run_items WHERE run_id = ? "
                "AND action IN ('hold', 'fail') ORDER BY rowid",
                [run_id],
            )
        )

    def flagged_before(self, job: str, run_id: int) -> set[tuple[str, str]]:
        """(action, key) of the items held or failed in a job's runs before `run_id`: those
        of its last real run that finished without an error, and of any real runs after it
        (a run that errored may have reported, and so announced, only some of them)."""
        row = self.conn.execute(
            "SELECT MAX(id) FROM runs WHERE job = ? AND id < ? AND dry_run = 0 AND error IS NULL",
            (job, run_id),
        ).fetchone()
        base = int(row[0]) if row and row[0] is not None else 0
        rows = self.conn.execute(
            "SELECT DISTINCT i.action, i.key FROM run_items i JOIN runs r ON r.id = i.run_id "
            "WHERE r.job = ? AND r.dry_run = 0 AND r.id >= ? AND r.id < ? "
            "AND i.action IN ('hold', 'fail')",
            (job, base, run_id),
        )
        return {(str(action), str(key)) for action, key in rows}

    def last_ok_run(self, job: str) -> dict[str, Any] | None:
        """A job's newest real (not dry) run that ended ok or partial."""
        rows = list(
            self.db.query(
                "SELECT * FROM runs WHERE job = ? AND dry_run = 0 AND status IN ('ok', 'partial') "
                "ORDER BY id DESC LIMIT 1",
                [job],
            )
        )
        return rows[0] if rows else None

    def recent_real_runs(self, job: str, last: int) -> list[dict[str, Any]]:
        """A job's newest real (not dry) runs, newest first."""
        return list(
            self.db.query(
                "SELECT * FROM runs WHERE job = ? AND dry_run = 0 ORDER BY id DESC LIMIT ?",
                [job, last],
            )
        )

    # -- links -----------------------------------------------------------------------------

    def link(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM links WHERE kind = ? AND key = ?", [kind, key]))
        return _decode_link(rows[0]) if rows else None

    def links(self, kind: str, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            rows = self.db.query("SELECT * FROM links WHERE kind = ? ORDER BY key", [kind])
        else:
            rows = self.db.query(
                "SELECT * FROM links WHERE kind = ? AND status = ? ORDER BY key", [kind, status]
            )
        return [_decode_link(row) for row in rows]

    def link_keys(self, kind: str) -> set[str]:
        """The keys of every link of `kind`, without reading their data: a large catalogue's
        decoded links would cost megabytes where only the keys are wanted."""
        rows = self.conn.execute("SELECT key FROM links WHERE kind = ?", (kind,))
        return {str(row[0]) for row in rows}

    def link_by_remote(self, kind: str, remote_id: str) -> dict[str, Any] | None:
        rows = list(
            self.db.query("SELECT * FROM links WHERE kind = ? AND remote_id = ?", [kind, remote_id])
        )
        return _decode_link(rows[0]) if rows else None

    def count_links(self, kind: str) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM links WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def put_link(
        self,
        kind: str,
        key: str,
        *,
        status: str,
        remote_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Insert or replace a link and commit at once (ledger writes must survive a crash)."""
        now = utcnow()
        with self.conn:
            self.conn.execute(
                "INSERT INTO links (kind, key, remote_id, status, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET "
                "remote_id = excluded.remote_id, status = excluded.status, "
                "data = excluded.data, updated_at = excluded.updated_at",
                (kind, key, remote_id, status, json.dumps(data or {}, default=str), now, now),
            )

    def put_links(self, kind: str, rows: list[tuple[str, str | None, str, dict[str, Any]]]) -> None:
        """Bulk upsert of (key, remote_id, status, data) in one transaction."""
        now = utcnow()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO links (kind, key, remote_id, status, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET "
                "remote_id = excluded.remote_id, status = excluded.status, "
                "data = excluded.data, updated_at = excluded.updated_at",
                [
                    (kind, key, remote, status, json.dumps(data, default=str), now, now)
                    for key, remote, status, data in rows
                ],
            )

    # -- held and failed items --------------------------------------------------------------

    def pending(self, job: str, entity: str | None = None) -> list[dict[str, Any]]:
        if entity is None:
            rows = self.db.query("SELECT * FROM pending WHERE job = ? ORDER BY key", [job])
        else:
            rows = self.db.query(
                "SELECT * FROM pending WHERE job = ? AND entity = ? ORDER BY key", [job, entity]
            )
        result = []
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
            result.append(row)
        return result

    def all_pending(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM pending ORDER BY job, key"))

    def set_pending(
        self,
        job: str,
        entity: str,
        key: str,
        *,
        action: str,
        reason: str,
        ref: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        now = utcnow()
        with self.conn:
            self.conn.execute(
                "INSERT INTO pending (job, entity, key, ref, action, reason, data, first_seen, "
                "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(job, entity, key) DO UPDATE SET ref = excluded.ref, "
                "action = excluded.action, reason = excluded.reason, data = excluded.data, "
                "last_seen = excluded.last_seen, attempts = pending.attempts + 1",
                (
                    job,
                    entity,
                    key,
                    ref,
                    action,
                    reason,
                    json.dumps(data or {}, default=str),
                    now,
                    now,
                ),
            )

    def clear_pending(self, job: str, entity: str, key: str) -> None:
        with self.conn:
            self.conn.execute(
                "DELETE FROM pending WHERE job = ? AND entity = ? AND key = ?", (job, entity, key)
            )

    # -- events reported once ----------------------------------------------------------------

    def seen_events(self, scope: str) -> set[str]:
        rows = self.conn.execute("SELECT key FROM events WHERE scope = ?", (scope,))
        return {str(row[0]) for row in rows}

    def mark_events(self, scope: str, keys: list[str], run_id: int | None) -> None:
        now = utcnow()
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO events (scope, key, run_id, seen_at) VALUES (?, ?, ?, ?)",
                [(scope, key, run_id, now) for key in keys],
            )

    def event_counts(self) -> dict[str, int]:
        """How many after-import events were reported, per kind (conflict, cancelled, refund)."""
        rows = self.conn.execute("SELECT key FROM events")
        counts: dict[str, int] = {}
        for (key,) in rows:
            kind = str(key).split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    # -- idempotency keys --------------------------------------------------------------------

    def idempotency_key(self, scope: str, digest: str, new_key: str) -> str:
        """The key stored for this exact request (same scope and digest), or `new_key`, stored
        before the call so a retry after a lost reply reuses it."""
        with self.conn:
            row = self.conn.execute(
                "SELECT key FROM idempotency_keys WHERE scope = ? AND digest = ? "
                "AND status = 'pending'",
                (scope, digest),
            ).fetchone()
            if row:
                return str(row[0])
            self.conn.execute(
                "INSERT INTO idempotency_keys (scope, digest, key, status, created_at) "
                "VALUES (?, ?, ?, 'pending', ?) ON CONFLICT(scope, digest) DO UPDATE SET "
                "key = excluded.key, status = 'pending', created_at = excluded.created_at",
                (scope, digest, new_key, utcnow()),
            )
            return new_key

    def finish_idempotency_key(self, key: str, status: str = "done") -> None:
        with self.conn:
            self.conn.execute("UPDATE idempotency_keys SET status = ? WHERE key = ?", (status, key))

    def pending_idempotency_keys(self, scope: str) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT * FROM idempotency_keys WHERE scope = ? AND status = 'pending'", [scope]
            )
        )

    # -- API usage ---------------------------------------------------------------------------

    def _add_usage(self, day: str, api: str, calls: int) -> None:
        self.conn.execute(
            "INSERT INTO api_usage (day, api, calls) VALUES (?, ?, ?) "
            "ON CONFLICT(day, api) DO UPDATE SET calls = api_usage.calls + excluded.calls",
            (day, api, calls),
        )

    def api_usage(self, today: str) -> dict[str, dict[str, int]]:
        """Calls per API today and this calendar month (Unleashed's quota is monthly)."""
        month = today[:7]
        usage: dict[str, dict[str, int]] = {}
        for api in ("shopify", "unleashed"):
            day_row = self.conn.execute(
                "SELECT COALESCE(SUM(calls), 0) FROM api_usage WHERE api = ? AND day = ?",
                (api, today),
            ).fetchone()
            month_row = self.conn.execute(
                "SELECT COALESCE(SUM(calls), 0) FROM api_usage WHERE api = ? AND day LIKE ?",
                (api, f"{month}%"),
            ).fetchone()
            usage[api] = {"today": int(day_row[0]), "month": int(month_row[0])}
        return usage


def _decode_link(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["data"] = json.loads(row["data"]) if row.get("data") else {}
    return row
