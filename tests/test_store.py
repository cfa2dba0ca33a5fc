"""The state store: migrations, the run lock (across processes), atomic run results and the
ledgers (links, pending, events, idempotency keys, API usage)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RUN_ITEMS_COLUMNS, RUNS_COLUMNS

from syncer.errors import ConfigError, LockHeld
from syncer.report import Item, RunReport
from syncer.store import SCHEMA_VERSION, Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncer.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store(db_path)
    yield opened
    opened.close()


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def report(
    job: str = "orders", *, dry_run: bool = False, cursor_before: str | None = None
) -> RunReport:
    return RunReport(
        job=job, dry_run=dry_run, started_at="2026-11-26T10:00:00Z", cursor_before=cursor_before
    )


# -- schema ------------------------------------------------------------------------------------


def test_fresh_database_has_the_public_tables(store: Store, db_path: Path) -> None:
    assert store.version == SCHEMA_VERSION
    assert columns(db_path, "runs") == RUNS_COLUMNS
    assert columns(db_path, "run_items") == RUN_ITEMS_COLUMNS


def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    first = Store(db_path)
    first.start_run(report())
    first.close()
    second = Store(db_path)  # would fail with "table runs already exists" if it re-ran
    try:
        assert second.version == SCHEMA_VERSION
        assert len(second.runs()) == 1
    finally:
        second.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError) as caught:
        Store(db_path)
    assert caught.value.problems[0].path == "state.path"
    assert f"written by a newer syncer (schema {SCHEMA_VERSION + 1})" in str(caught.value)
    assert "upgrade syncer" in str(caught.value)


# The schema of state files written before `runs.shop` existed (schema version 1), verbatim.
SCHEMA_1 = """
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
"""


def old_state_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_1 + "; PRAGMA user_version = 1;")
        conn.execute(
            "INSERT INTO runs (job, started_at, status) VALUES ('orders', '2026-11-01T00:00:00Z',"
            " 'ok')"
        )


def schema(path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, not null, default, pk) and indexes (columns, unique)."""
    with sqlite3.connect(path) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        result: dict[str, Any] = {}
        for table in tables:
            cols = [tuple(row[1:]) for row in conn.execute(f"PRAGMA table_info({table})")]
            indexes = sorted(
                (
                    tuple(r[2] for r in conn.execute(f"PRAGMA index_info('{index[1]}')")),
                    index[2],
                )
                for index in conn.execute(f"PRAGMA index_list({table})")
            )
            keys = [tuple(row[2:5]) for row in conn.execute(f"PRAGMA foreign_key_list({table})")]
            result[table] = (cols, indexes, keys)
        return result


def test_an_old_state_file_gains_runs_shop_on_open(db_path: Path) -> None:
    old_state_file(db_path)
    assert "shop" not in columns(db_path, "runs")
    store = Store(db_path)
    try:
        assert store.version == SCHEMA_VERSION
        assert columns(db_path, "runs") == RUNS_COLUMNS
        [old] = store.runs()
        assert old["shop"] is None
        store.start_run(report(), shop="example.myshopify.com")
        assert [run["shop"] for run in store.runs()] == ["example.myshopify.com", None]
    finally:
        store.close()


def test_a_new_state_file_has_the_schema_an_old_one_migrates_to(tmp_path: Path) -> None:
    old_state_file(tmp_path / "old.db")
    Store(tmp_path / "old.db").close()
    Store(tmp_path / "new.db").close()
    assert schema(tmp_path / "new.db") == schema(tmp_path / "old.db")


def test_a_run_records_its_shop_or_null(store: Store) -> None:
    store.start_run(report())
    late = report("products")
    store.finish_run(late, shop="b.myshopify.com")  # never started: recorded here
    assert [(run["job"], run["shop"]) for run in store.runs()] == [
        ("products", "b.myshopify.com"),
        ("orders", None),
    ]


def test_unusable_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as caught:
        Store(blocker / "sub" / "syncer.db")
    assert caught.value.problems[0].path == "state.path"


# -- lock --------------------------------------------------------------------------------------


def test_second_store_in_same_process_gets_lock_held(db_path: Path) -> None:
    first, second = Store(db_path), Store(db_path)
    try:
        first.acquire_lock()
        with pytest.raises(LockHeld) as caught:
            second.acquire_lock()
        message = str(caught.value)
        assert message.startswith(f"another syncer run holds the lock on {db_path} (pid ")
        assert message.endswith("; nothing was done, try again when it has finished")
        assert caught.value.exit_code == 4
        first.release_lock()
        with second.locked(), pytest.raises(LockHeld):
            first.acquire_lock()
        first.acquire_lock()
    finally:
        first.close()
        second.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from syncer.store import Store
    store = Store(sys.argv[1])
    store.acquire_lock()
    print("locked", flush=True)
    if sys.argv[2] == "release":
        sys.stdin.readline()
        store.close()
        print("released", flush=True)
    time.sleep(60)
    """
)


def start_holder(db_path: Path, mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


@pytest.mark.parametrize(
    "how", [pytest.param("release", id="released"), pytest.param("kill", id="sigkill")]
)
def test_lock_held_by_another_process(db_path: Path, store: Store, how: str) -> None:
    holder = start_holder(db_path, how)
    try:
        with pytest.raises(LockHeld) as caught:
            store.acquire_lock()
        assert f"(pid {holder.pid} since " in str(caught.value)
        if how == "release":
            assert holder.stdin is not None
            assert holder.stdout is not None
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "released"
        else:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
        store.acquire_lock()  # the OS dropped the lock with the process (or it was released)
        assert store._lock_file is not None
    finally:
        holder.kill()
        holder.wait(timeout=10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


# -- runs ----------------------------------------------------------------------------------------


def test_started_run_shows_as_interrupted_until_finished(store: Store) -> None:
    run = report(cursor_before="c0")
    run_id = store.start_run(run)
    row = store.run(run_id)
    assert row is not None
    assert row["status"] == "failed"
    assert "interrupted" in row["error"]
    assert row["finished_at"] is None
    run.cursor_after = "c1"
    run.add(Item("order", "#1001", "create", {"order_number": "SH-1001"}))
    store.finish_run(run, cursor_job="orders")
    row = store.run(run_id)
    assert row is not None
    assert (row["status"], row["error"], row["created"]) == ("ok", None, 1)
    assert row["finished_at"] is not None


def test_finish_run_writes_items_counts_and_cursor(store: Store) -> None:
    run = report(cursor_before="c0")
    store.start_run(run)
    run.add(Item("order", "#1001", "create", {"total": "10.00"}))
    run.add(Item("order", "#1002", "update", {"fields": {"note": {"current": "a", "new": "b"}}}))
    run.add(Item("order", "#1003", "unchanged"))
    run.add(Item("order", "#1004", "hold", {"reason": "missing SKU"}))
    run.add(Item("order", "#1005", "fail", error="rejected"))
    run.add(Item("refund", "#1001", "refund"))
    run.cursor_after = "c1"
    run.shopify_calls, run.unleashed_calls = 3, 4
    store.finish_run(run, cursor_job="orders")
    assert store.cursor("orders") == "c1"
    assert run.run_id is not None
    row = store.run(run.run_id)
    assert row is not None
    assert {k: row[k] for k in ("status", "created", "updated", "unchanged", "held", "failed")} == {
        "status": "partial",
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "held": 1,
        "failed": 1,
    }
    assert (row["shopify_calls"], row["unleashed_calls"]) == (3, 4)
    assert (row["cursor_before"], row["cursor_after"], row["dry_run"]) == ("c0", "c1", 0)
    items = store.run_items(run.run_id)
    assert [(i["key"], i["action"]) for i in items] == [
        ("#1001", "create"),
        ("#1002", "update"),
        ("#1003", "unchanged"),
        ("#1004", "hold"),
        ("#1005", "fail"),
        ("#1001", "refund"),
    ]
    assert items[1]["detail"] == {"fields": {"note": {"current": "a", "new": "b"}}}
    assert items[4]["error"] == "rejected"


@pytest.mark.parametrize(
    ("dry_run", "error"),
    [
        pytest.param(True, None, id="dry-run"),
        pytest.param(False, "Unleashed refused", id="failed"),
    ],
)
def test_cursor_stays_for_dry_and_failed_runs(
    store: Store, dry_run: bool, error: str | None
) -> None:
    store._set_cursor("orders", "c0")
    store.conn.commit()
    run = report(dry_run=dry_run, cursor_before="c0")
    store.start_run(run)
    run.add(Item("order", "#1001", "create"))
    run.cursor_after = "c9"
    run.error = error
    store.finish_run(run, cursor_job="orders")
    assert store.cursor("orders") == "c0"
    assert run.run_id is not None
    row = store.run(run.run_id)
    assert row is not None
    assert row["cursor_after"] == "c0"
    assert row["dry_run"] == int(dry_run)
    assert row["status"] == ("failed" if error else "ok")
    assert len(store.run_items(run.run_id)) == 1


def test_finish_run_is_atomic(store: Store) -> None:
    """A failure while writing items leaves neither the cursor nor the result behind."""
    run = report(cursor_before="c0")
    store.start_run(run)
    run.add(Item("order", "#1001", "create", {"bad": object()}))
    run.items[0].key = None  # type: ignore[assignment]  # violates NOT NULL on run_items.key
    run.cursor_after = "c1"
    with pytest.raises(sqlite3.IntegrityError):
        store.finish_run(run, cursor_job="orders")
    assert store.cursor("orders") is None
    assert run.run_id is not None
    row = store.run(run.run_id)
    assert row is not None
    assert row["status"] == "failed"
    assert "interrupted" in row["error"]
    assert store.run_items(run.run_id) == []


def test_finish_without_start_inserts_the_row(store: Store) -> None:
    run = report("products")
    store.finish_run(run)
    assert run.run_id is not None
    assert [r["id"] for r in store.runs()] == [run.run_id]


def test_runs_listing_and_last_run_per_job(store: Store) -> None:
    ids = []
    for job in ("orders", "products", "orders", "inventory"):
        run = report(job)
        store.finish_run(run, cursor_job=job)
        ids.append(run.run_id)
    assert [r["id"] for r in store.runs()] == list(reversed(ids))
    assert [r["id"] for r in store.runs(last=2)] == [ids[3], ids[2]]
    assert [r["id"] for r in store.runs(job="orders")] == [ids[2], ids[0]]
    last = store.last_runs_by_job()
    assert {job: row["id"] for job, row in last.items()} == {
        "orders": ids[2],
        "products": ids[1],
        "inventory": ids[3],
    }
    assert store.run(9999) is None


# -- ledgers -------------------------------------------------------------------------------------


def test_links_round_trip(store: Store) -> None:
    store.put_link("order", "#1001", status="sent", remote_id="SO-1", data={"total": "10.00"})
    store.put_link("order", "#1002", status="pending")
    assert store.link("order", "#1001") is not None
    link = store.link("order", "#1001")
    assert link is not None
    assert (link["remote_id"], link["status"], link["data"]) == ("SO-1", "sent", {"total": "10.00"})
    store.put_link("order", "#1001", status="cancelled", remote_id="SO-1", data={"v": 2})
    link = store.link("order", "#1001")
    assert link is not None
    assert (link["status"], link["data"]) == ("cancelled", {"v": 2})
    assert link["created_at"] <= link["updated_at"]
    store.put_links("product", [("SKU-1", "P-1", "linked", {"a": 1}), ("SKU-2", None, "new", {})])
    assert [row["key"] for row in store.links("product")] == ["SKU-1", "SKU-2"]
    assert [row["key"] for row in store.links("product", status="new")] == ["SKU-2"]
    by_remote = store.link_by_remote("product", "P-1")
    assert by_remote is not None
    assert by_remote["key"] == "SKU-1"
    assert store.link_by_remote("product", "nope") is None
    assert store.link("order", "#9999") is None
    assert (store.count_links("order"), store.count_links("product")) == (2, 2)
    # Keys alone (a large catalogue's data is never decoded for them), of one kind only.
    assert store.link_keys("product") == {"SKU-1", "SKU-2"}
    assert store.link_keys("order") == {"#1001", "#1002"}
    assert store.link_keys("nothing") == set()


def test_a_link_keeps_the_created_at_of_its_first_write(store: Store, db_path: Path) -> None:
    keys = [f"SKU-{n:04}" for n in range(1200)]  # more than one look-up's worth of keys
    store.put_links("product", [(key, None, "new", {}) for key in keys])
    store.put_link("order", "#1001", status="sending")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE links SET created_at = '2020-01-01T00:00:00Z'")
    store.put_link("order", "#1001", status="created", remote_id="SO-1")
    store.put_links("product", [(key, "P", "linked", {"n": 1}) for key in [*keys[::2], "NEW"]])
    order = store.link("order", "#1001")
    assert order is not None
    assert (order["created_at"], order["status"], order["remote_id"]) == (
        "2020-01-01T00:00:00Z",
        "created",
        "SO-1",
    )
    links = {row["key"]: row for row in store.links("product")}
    assert len(links) == 1201
    assert {links[key]["created_at"] for key in keys} == {"2020-01-01T00:00:00Z"}
    assert links["NEW"]["created_at"] != "2020-01-01T00:00:00Z"
    assert [links[key]["status"] for key in keys[:3]] == ["linked", "new", "linked"]
    assert links["SKU-0000"]["data"] == {"n": 1}


def test_pending_round_trip(store: Store) -> None:
    store.set_pending(
        "orders", "order", "#1001", action="hold", reason="missing SKU", data={"s": 1}
    )
    store.set_pending("orders", "order", "#1001", action="fail", reason="rejected", ref="SO-1")
    store.set_pending("inventory", "stock", "A@MAIN", action="hold", reason="no location")
    rows = store.pending("orders")
    assert len(rows) == 1
    row = rows[0]
    assert (row["action"], row["reason"], row["ref"], row["attempts"]) == (
        "fail",
        "rejected",
        "SO-1",
        2,
    )
    assert row["data"] == {}
    assert [r["key"] for r in store.pending("orders", entity="order")] == ["#1001"]
    assert store.pending("orders", entity="refund") == []
    assert [(r["job"], r["key"]) for r in store.all_pending()] == [
        ("inventory", "A@MAIN"),
        ("orders", "#1001"),
    ]
    store.clear_pending("orders", "order", "#1001")
    assert store.pending("orders") == []


def test_events_are_recorded_once(store: Store) -> None:
    store.mark_events("orders", ["conflict:#1001:1", "refund:#1002:7"], run_id=1)
    store.mark_events("orders", ["refund:#1002:7", "cancelled:#1003"], run_id=2)
    assert store.seen_events("orders") == {"conflict:#1001:1", "refund:#1002:7", "cancelled:#1003"}
    assert store.seen_events("other") == set()
    assert store.event_counts() == {"conflict": 1, "refund": 1, "cancelled": 1}


def test_idempotency_keys_are_reused_only_for_the_identical_pending_call(store: Store) -> None:
    key = store.idempotency_key("orders", "digest-a", "key-1")
    assert key == "key-1"
    assert store.idempotency_key("orders", "digest-a", "key-2") == "key-1"  # retry: same key
    assert store.idempotency_key("orders", "digest-b", "key-3") == "key-3"  # other call
    assert store.idempotency_key("credit", "digest-a", "key-4") == "key-4"  # other scope
    assert [r["key"] for r in store.pending_idempotency_keys("orders")] == ["key-1", "key-3"]
    store.finish_idempotency_key("key-1")
    assert [r["key"] for r in store.pending_idempotency_keys("orders")] == ["key-3"]
    # Once done, the same request later is a new call with a new key.
    assert store.idempotency_key("orders", "digest-a", "key-5") == "key-5"


def test_api_usage_sums_today_and_this_month(store: Store) -> None:
    for day, shopify, unleashed in (
        ("2026-10-31T23:00:00Z", 100, 100),
        ("2026-11-01T08:00:00Z", 5, 7),
        ("2026-11-26T08:00:00Z", 2, 3),
        ("2026-11-26T09:00:00Z", 1, 0),
    ):
        run = report()
        run.finished_at = day
        run.shopify_calls, run.unleashed_calls = shopify, unleashed
        store.finish_run(run)
    assert store.api_usage("2026-11-26") == {
        "shopify": {"today": 3, "month": 8},
        "unleashed": {"today": 3, "month": 10},
    }
    assert store.api_usage("2026-12-01") == {
        "shopify": {"today": 0, "month": 0},
        "unleashed": {"today": 0, "month": 0},
    }
