"""The state database: the one module with SQL.

One SQLite file holds cursors, links (order, product, shipment, credit note), held and failed
items, reported events, idempotency keys, API usage and the public report tables `runs` and
`run_items`, which people read with sqlite3, Datasette or a BI tool, so their columns only
ever grow. Tables are created and altered with sqlite-utils; the schema is versioned with
`PRAGMA user_version`, and each entry of MIGRATIONS moves it one version on. A run's report
rows and its cursor commit together.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from syncer.errors import ConfigError, LockHeld, Problem
from syncer.report import RunReport


def _create_tables(db: sqlite_utils.Database) -> None:
    """Schema 1: the public report tables `runs` and `run_items`, cursors, and the internal
    ledgers (links, held and failed items, events reported once, idempotency keys, API
    usage). Plain SQLite types, so Datasette and any SQL tool read the report as it is."""
    db.table("runs").create(
        {
            "id": int,
            "job": str,
            "started_at": str,
            "finished_at": str,
            "dry_run": int,
            "status": str,
            "created": int,
            "updated": int,
            "unchanged": int,
            "held": int,
            "failed": int,
            "shopify_calls": int,
            "unleashed_calls": int,
            "cursor_before": str,
            "cursor_after": str,
            "error": str,
        },
        pk="id",
        not_null={"job", "started_at", "status", *_COUNTS, "dry_run"},
        defaults={"dry_run": 0, **{name: 0 for name in _COUNTS}},
    )
    db.table("runs").create_index(["job", "id"], index_name="runs_job")
    db.table("run_items").create(
        {"run_id": int, "entity": str, "key": str, "action": str, "detail": str, "error": str},
        not_null={"run_id", "entity", "key", "action"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("run_items").create_index(["run_id"], index_name="run_items_run")
    db.table("cursors").create(
        {"job": str, "value": str, "updated_at": str},
        pk="job",
        not_null={"value", "updated_at"},
    )
    db.table("links").create(
        {
            "kind": str,
            "key": str,
            "remote_id": str,
            "status": str,
            "data": str,
            "created_at": str,
            "updated_at": str,
        },
        pk=("kind", "key"),
        not_null={"kind", "key", "status", "data", "created_at", "updated_at"},
        defaults={"data": "{}"},
    )
    db.table("links").create_index(["kind", "status"], index_name="links_status")
    db.table("links").create_index(["kind", "remote_id"], index_name="links_remote")
    db.table("pending").create(
        {
            "job": str,
            "entity": str,
            "key": str,
            "ref": str,
            "action": str,
            "reason": str,
            "data": str,
            "first_seen": str,
            "last_seen": str,
            "attempts": int,
        },
        pk=("job", "entity", "key"),
        not_null={"job", "entity", "key", "action", "data", "first_seen", "last_seen", "attempts"},
        defaults={"data": "{}", "attempts": 1},
    )
    db.table("events").create(
        {"scope": str, "key": str, "run_id": int, "seen_at": str},
        pk=("scope", "key"),
        not_null={"scope", "key", "seen_at"},
    )
    db.table("idempotency_keys").create(
        {"scope": str, "digest": str, "key": str, "status": str, "created_at": str},
        pk=("scope", "digest"),
        not_null={"scope", "digest", "key", "status", "created_at"},
    )
    db.table("idempotency_keys").create_index(
        ["key"], index_name="idempotency_keys_key", unique=True
    )
    db.table("api_usage").create(
        {"day": str, "api": str, "calls": int},
        pk=("day", "api"),
        not_null={"day", "api", "calls"},
        defaults={"calls": 0},
    )


def _add_runs_shop(db: sqlite_utils.Database) -> None:
    """Schema 2: `runs.shop`, the shop a run was for. Nullable: rows written before it are
    NULL, and a state file gains the column the first time this version opens it."""
    db.table("runs").add_column("shop", str)


# Keys per `IN (...)` look-up, well under SQLite's limit on bound parameters.
_KEYS_PER_LOOKUP = 500

_COUNTS = ("created", "updated", "unchanged", "held", "failed", "shopify_calls", "unleashed_calls")

# Each entry moves a state file one schema version on, in its own transaction; the file's
# version is `PRAGMA user_version`. Append only: an entry never changes once released.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_create_tables, _add_runs_shop]

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
        self._links = self.db.table("links")
        self._lock_file: int | None = None
        # A shop's view (`for_shop`): its keys' namespace ("" with a single `shopify:`, so
        # every key is what a single-shop state file has always held), the name recorded in
        # `runs.shop`, and whether run look-ups keep to that shop's runs.
        self.namespace = ""
        self.run_shop: str | None = None
        self.filter_runs = False
        self.migrate()

    def for_shop(self, namespace: str, run_shop: str | None) -> Store:
        """A view of this store for one shop: the same connection and lock, with the shop's
        cursors, links, held and failed items, reported events and idempotency keys kept
        under `namespace`, and its runs recorded (and, under a namespace, read back) as
        `run_shop`. An empty namespace is the single-shop layout, key for key."""
        view = copy.copy(self)
        view.namespace = namespace
        view.run_shop = run_shop
        view.filter_runs = bool(namespace)
        return view

    def _ns(self, name: str) -> str:
        """A cursor job, link kind, pending job or event/key scope in this view's namespace."""
        return f"{self.namespace}/{name}" if self.namespace else name

    def _own(self, name: str) -> str | None:
        """A stored name back without this view's namespace; None when it is another shop's."""
        if not self.namespace:
            return name
        prefix = f"{self.namespace}/"
        return name[len(prefix) :] if name.startswith(prefix) else None

    def _runs_where(self, where: str, args: list[Any]) -> tuple[str, list[Any]]:
        """A `runs` condition kept to this view's shop when the view filters runs."""
        if not self.filter_runs:
            return where, args
        return f"({where}) AND shop = ?", [*args, self.run_shop]

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
            self.conn.execute("BEGIN")
            try:
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

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
        row = self.conn.execute(
            "SELECT value FROM cursors WHERE job = ?", (self._ns(job),)
        ).fetchone()
        return str(row[0]) if row else None

    def cursors(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for job, value in self.conn.execute("SELECT job, value FROM cursors"):
            own = self._own(str(job))
            if own is not None:
                result[own] = str(value)
        return result

    def _set_cursor(self, job: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO cursors (job, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(job) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (self._ns(job), value, utcnow()),
        )

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, report: RunReport, shop: str | None = None) -> int:
        """Insert the run row at once: a run that dies midway still shows, as failed.
        `shop` names the shop the run is for (None: this view's shop, else `runs.shop` NULL)."""
        shop = shop if shop is not None else self.run_shop
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (job, started_at, dry_run, status, cursor_before, error, shop) "
                "VALUES (?, ?, ?, 'failed', ?, ?, ?)",
                (
                    report.job,
                    report.started_at,
                    int(report.dry_run),
                    report.cursor_before,
                    "interrupted before it finished",
                    shop,
                ),
            )
        report.run_id = int(cur.lastrowid or 0)
        return report.run_id

    def finish_run(
        self, report: RunReport, cursor_job: str | None = None, shop: str | None = None
    ) -> None:
        """Write the run's result, its items and (unless a dry run or a failure) its cursor,
        in one transaction. `shop` is recorded only when the run was not started."""
        if report.run_id is None:
            self.start_run(report, shop=shop)
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
                        (self._ns(scope), key, report.run_id, report.finished_at)
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
        where, args = self._runs_where("job = ?", [job]) if job else self._runs_where("1", [])
        return list(self.db.table("runs").rows_where(where, args, order_by="id DESC", limit=last))

    def run(self, run_id: int) -> dict[str, Any] | None:
        return next(self.db.table("runs").rows_where("id = ?", [run_id], limit=1), None)

    def run_items(self, run_id: int) -> list[dict[str, Any]]:
        items = list(
            self.db.table("run_items").rows_where("run_id = ?", [run_id], order_by="rowid")
        )
        for item in items:
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
        return items

    def last_runs_by_job(self) -> dict[str, dict[str, Any]]:
        inner, args = self._runs_where("1", [])
        rows = self.db.table("runs").rows_where(
            f"id IN (SELECT MAX(id) FROM runs WHERE {inner} GROUP BY job)", args
        )
        return {row["job"]: row for row in rows}

    # -- what alerts and monitors read ------------------------------------------------------

    def latest_run_id(self, job: str) -> int | None:
        """The newest run of a job, dry or not (to tell whether a job recorded a run)."""
        where, args = self._runs_where("job = ?", [job])
        row = self.conn.execute(f"SELECT MAX(id) FROM runs WHERE {where}", args).fetchone()
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
        where, args = self._runs_where(
            "job = ? AND id < ? AND dry_run = 0 AND error IS NULL", [job, run_id]
        )
        row = self.conn.execute(f"SELECT MAX(id) FROM runs WHERE {where}", args).fetchone()
        base = int(row[0]) if row and row[0] is not None else 0
        shop, shop_args = (" AND r.shop = ?", [self.run_shop]) if self.filter_runs else ("", [])
        rows = self.conn.execute(
            "SELECT DISTINCT i.action, i.key FROM run_items i JOIN runs r ON r.id = i.run_id "
            "WHERE r.job = ? AND r.dry_run = 0 AND r.id >= ? AND r.id < ? "
            f"AND i.action IN ('hold', 'fail'){shop}",
            [job, base, run_id, *shop_args],
        )
        return {(str(action), str(key)) for action, key in rows}

    def last_ok_run(self, job: str) -> dict[str, Any] | None:
        """A job's newest real (not dry) run that ended ok or partial."""
        where, args = self._runs_where(
            "job = ? AND dry_run = 0 AND status IN ('ok', 'partial')", [job]
        )
        rows = list(
            self.db.query(f"SELECT * FROM runs WHERE {where} ORDER BY id DESC LIMIT 1", args)
        )
        return rows[0] if rows else None

    def recent_real_runs(self, job: str, last: int) -> list[dict[str, Any]]:
        """A job's newest real (not dry) runs, newest first."""
        where, args = self._runs_where("job = ? AND dry_run = 0", [job])
        return list(
            self.db.query(
                f"SELECT * FROM runs WHERE {where} ORDER BY id DESC LIMIT ?", [*args, last]
            )
        )

    # -- links -----------------------------------------------------------------------------

    def link(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._links.rows_where("kind = ? AND key = ?", [self._ns(kind), key], limit=1)
        return next((_decode_link(row) for row in rows), None)

    def links(self, kind: str, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            rows = self._links.rows_where("kind = ?", [self._ns(kind)], order_by="key")
        else:
            rows = self._links.rows_where(
                "kind = ? AND status = ?", [self._ns(kind), status], order_by="key"
            )
        return [_decode_link(row) for row in rows]

    def link_keys(self, kind: str) -> set[str]:
        """The keys of every link of `kind`, without reading their data: a large catalogue's
        decoded links would cost megabytes where only the keys are wanted."""
        rows = self._links.rows_where("kind = ?", [self._ns(kind)], select="key")
        return {str(row["key"]) for row in rows}

    def link_by_remote(self, kind: str, remote_id: str) -> dict[str, Any] | None:
        rows = self._links.rows_where(
            "kind = ? AND remote_id = ?", [self._ns(kind), remote_id], limit=1
        )
        return next((_decode_link(row) for row in rows), None)

    def count_links(self, kind: str) -> int:
        return self._links.count_where("kind = ?", [self._ns(kind)])

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
        self.put_links(kind, [(key, remote_id, status, data or {})])

    def put_links(self, kind: str, rows: list[tuple[str, str | None, str, dict[str, Any]]]) -> None:
        """Upsert (key, remote_id, status, data) rows in one transaction. A link keeps the
        `created_at` of its first write: the fulfilments job reads the oldest order link's
        to know how far back shipments can matter."""
        if not rows:
            return
        kind = self._ns(kind)
        now = utcnow()
        keys = sorted({key for key, _, _, _ in rows})
        with self.conn:
            created: dict[str, str] = {}
            for start in range(0, len(keys), _KEYS_PER_LOOKUP):
                chunk = keys[start : start + _KEYS_PER_LOOKUP]
                marks = ", ".join("?" * len(chunk))
                for row in self._links.rows_where(
                    f"kind = ? AND key IN ({marks})", [kind, *chunk], select="key, created_at"
                ):
                    created[str(row["key"])] = str(row["created_at"])
            self._links.upsert_all(
                (
                    {
                        "kind": kind,
                        "key": key,
                        "remote_id": remote,
                        "status": status,
                        "data": json.dumps(data, default=str),
                        "created_at": created.get(key, now),
                        "updated_at": now,
                    }
                    for key, remote, status, data in rows
                ),
                pk=("kind", "key"),
            )

    # -- held and failed items --------------------------------------------------------------

    def pending(self, job: str, entity: str | None = None) -> list[dict[str, Any]]:
        job = self._ns(job)
        if entity is None:
            rows = self.db.table("pending").rows_where("job = ?", [job], order_by="key")
        else:
            rows = self.db.table("pending").rows_where(
                "job = ? AND entity = ?", [job, entity], order_by="key"
            )
        result = []
        for row in rows:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
            row["job"] = self._own(str(row["job"])) or row["job"]
            result.append(row)
        return result

    def all_pending(self) -> list[dict[str, Any]]:
        """Every held and failed item of this view's shop (its job without the namespace)."""
        result = []
        for row in self.db.table("pending").rows_where(order_by="job, key"):
            own = self._own(str(row["job"]))
            if own is not None:
                result.append({**row, "job": own})
        return result

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
        job = self._ns(job)
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
                "DELETE FROM pending WHERE job = ? AND entity = ? AND key = ?",
                (self._ns(job), entity, key),
            )

    # -- events reported once ----------------------------------------------------------------

    def seen_events(self, scope: str) -> set[str]:
        rows = self.conn.execute("SELECT key FROM events WHERE scope = ?", (self._ns(scope),))
        return {str(row[0]) for row in rows}

    def mark_events(self, scope: str, keys: list[str], run_id: int | None) -> None:
        now = utcnow()
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO events (scope, key, run_id, seen_at) VALUES (?, ?, ?, ?)",
                [(self._ns(scope), key, run_id, now) for key in keys],
            )

    def event_counts(self) -> dict[str, int]:
        """How many after-import events were reported, per kind (conflict, cancelled, refund)."""
        rows = self.conn.execute("SELECT scope, key FROM events")
        counts: dict[str, int] = {}
        for scope, key in rows:
            if self._own(str(scope)) is None:
                continue
            kind = str(key).split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    # -- idempotency keys --------------------------------------------------------------------

    def idempotency_key(self, scope: str, digest: str, new_key: str) -> str:
        """The key stored for this exact request (same scope and digest), or `new_key`, stored
        before the call so a retry after a lost reply reuses it."""
        scope = self._ns(scope)
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
            self.db.table("idempotency_keys").rows_where(
                "scope = ? AND status = 'pending'", [self._ns(scope)]
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
