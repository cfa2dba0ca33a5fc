"""Alerts end to end: `syncer sync orders` against both sandboxes, with a local HTTP receiver
standing in for the chat webhook and the healthchecks-style ping (issue 17).

Also the pure decisions (`syncer.alerting`): what is new, what cleared, and the message text.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from syncer import alerts as alerts_module
from syncer.alerting import Flagged, RunOutcome, compose, decide, shop_label
from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes

HOOK_PATH = "/services/T0001/B0002/hook-secret-7f3a"
PING_PATH = "/ping/5f1c0d2e-ping-secret"


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append((self.command, self.path, body))
                reply = b"ok" if receiver.status < 300 else b"boom"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages(self) -> list[str]:
        return [
            json.loads(body)["text"]
            for method, path, body in self.requests
            if method == "POST" and path == HOOK_PATH
        ]

    def pings(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "GET"]

    def clear(self) -> None:
        self.requests.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alert_env(
    receiver: Receiver, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "SYNCER_ALERT_WEBHOOK": receiver.url + HOOK_PATH,
        "SYNCER_PING_URL": receiver.url + PING_PATH,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(alerts_module, "RETRY_DELAY", 0.0)
    return env


@pytest.fixture
def config(sandboxes: Sandboxes, alert_env: dict[str, str], tmp_path: Path) -> Path:
    sandboxes.shopify.set_bucket(maximum=1_000_000, restore_rate=1_000_000)
    return sandboxes.write_config(
        tmp_path / "config.yaml",
        state={"path": "syncer.db"},
        alerts={"webhook_url": "${SYNCER_ALERT_WEBHOOK}", "ping_url": "${SYNCER_PING_URL}"},
    )


def sync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "sync", "orders", *args])


def last_run_id(config: Path) -> int:
    result = CliRunner().invoke(cli, ["--config", str(config), "report", "--json", "--last", "1"])
    return int(json.loads(result.output)["runs"][0]["id"])


def assert_no_secret_anywhere(config: Path, result: Result, alert_env: dict[str, str]) -> None:
    state = config.parent / "syncer.db"
    stored = b"".join(p.read_bytes() for p in config.parent.glob("syncer.db*") if p.is_file())
    assert state.exists()
    for secret in (*alert_env.values(), HOOK_PATH, PING_PATH):
        assert secret not in result.output
        assert secret.encode() not in stored


def test_a_held_order_is_announced_once_and_its_release_too(
    sandboxes: Sandboxes, receiver: Receiver, config: Path, alert_env: dict[str, str]
) -> None:
    known = sandboxes.world.variants()[0].sku
    order = sandboxes.shopify.add_order(
        [(known, 1), ("NEW-SKU-77", 2)], created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    shop = shop_label(sandboxes.shopify_server.url)

    first = sync(config)

    assert first.exit_code == 1, first.output
    run_id = last_run_id(config)
    [message] = receiver.messages()
    lines = message.splitlines()
    assert lines[0] == f"syncer: orders on {shop}, run {run_id} ended partial (exit 1)"
    assert "held 1" in lines[1]
    assert lines[2:] == [
        "New held or failed items (1):",
        f"- {order.name} held: no Unleashed product for SKU NEW-SKU-77",
        f"All items: syncer report {run_id}",
    ]
    assert receiver.pings() == [PING_PATH + "/fail"]
    assert_no_secret_anywhere(config, first, alert_env)

    receiver.clear()
    again = sync(config)

    assert again.exit_code == 1
    assert receiver.messages() == []
    assert receiver.pings() == [PING_PATH + "/fail"]

    receiver.clear()
    sandboxes.unleashed.add_product("NEW-SKU-77", "New thing")
    third = sync(config)

    assert third.exit_code == 0, third.output
    run_id = last_run_id(config)
    [message] = receiver.messages()
    assert message.splitlines()[0] == f"syncer: orders on {shop}, run {run_id} ended ok (exit 0)"
    assert message.splitlines()[2:] == [
        f"Cleared since the last run (1): {order.name}",
        f"All items: syncer report {run_id}",
    ]
    assert receiver.pings() == [PING_PATH]
    assert_no_secret_anywhere(config, third, alert_env)


def test_a_failing_receiver_leaves_the_exit_code_and_the_report_alone(
    sandboxes: Sandboxes, receiver: Receiver, config: Path, alert_env: dict[str, str]
) -> None:
    known = sandboxes.world.variants()[0].sku
    sandboxes.shopify.add_order(
        [(known, 1), ("NEW-SKU-78", 1)], created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    receiver.status = 500

    result = sync(config)

    assert result.exit_code == 1
    posts = [r for r in receiver.requests if r[0] == "POST"]
    gets = [r for r in receiver.requests if r[0] == "GET"]
    assert len(posts) == 2  # tried, then retried once
    assert len(gets) == 2
    assert "alert webhook failed twice" in result.output
    assert "alert ping failed twice" in result.output
    report = CliRunner().invoke(cli, ["--config", str(config), "report", "--json", "--last", "1"])
    assert json.loads(report.output)["runs"][0]["held"] == 1
    assert_no_secret_anywhere(config, result, alert_env)


def test_a_clean_run_pings_the_plain_url_and_sends_no_message(
    receiver: Receiver, config: Path, alert_env: dict[str, str]
) -> None:
    result = sync(config)

    assert result.exit_code == 0, result.output
    assert receiver.messages() == []
    assert receiver.pings() == [PING_PATH]


def test_a_dry_run_neither_pings_nor_posts(receiver: Receiver, config: Path) -> None:
    assert sync(config, "--dry-run").exit_code == 0
    assert receiver.requests == []


def test_refused_credentials_are_announced_as_an_error(
    sandboxes: Sandboxes,
    receiver: Receiver,
    alert_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNCER_SANDBOX_SHOPIFY_TOKEN", "shpat_wrong_token")
    config = sandboxes.write_config(
        tmp_path / "config.yaml",
        state={"path": "syncer.db"},
        alerts={"webhook_url": "${SYNCER_ALERT_WEBHOOK}", "ping_url": "${SYNCER_PING_URL}"},
    )

    result = sync(config)

    assert result.exit_code == 3
    [message] = receiver.messages()
    assert message.splitlines()[0].endswith("ended failed (exit 3)")
    assert message.splitlines()[2].startswith("error: shopify refused the credentials")
    assert "shpat_wrong_token" not in message
    assert receiver.pings() == [PING_PATH + "/fail"]


def test_alerts_test_says_what_each_target_answered(
    receiver: Receiver, config: Path, alert_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "alerts", "test"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "webhook: answered HTTP 200 ok",
        "ping: answered HTTP 200 ok",
    ]
    [message] = receiver.messages()
    assert message.startswith("syncer: test message for 127.0.0.1:")
    assert receiver.pings() == [PING_PATH]


def test_alerts_test_reports_a_failing_target_with_exit_1(
    receiver: Receiver, config: Path, alert_env: dict[str, str]
) -> None:
    receiver.status = 404

    result = CliRunner().invoke(cli, ["--config", str(config), "alerts", "test"])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "webhook: failed after a retry: HTTP 404: alerts webhook.post: not found",
        "ping: failed after a retry: HTTP 404: alerts ping.get: not found",
    ]
    assert len(receiver.requests) == 4


def test_alerts_test_without_targets_is_a_usage_error(
    sandboxes: Sandboxes, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = sandboxes.write_config(tmp_path / "config.yaml", state={"path": "syncer.db"})

    result = CliRunner().invoke(cli, ["--config", str(config), "alerts", "test"])

    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: no alert target is configured; set alerts.webhook_url or alerts.ping_url "
        "(as ${ENV_VAR}) in the config"
    ]


# -- the pure decisions -------------------------------------------------------------------------


def outcome(**fields: Any) -> RunOutcome:
    base: dict[str, Any] = {
        "shop": "example-store.myshopify.com",
        "job": "orders",
        "run_id": 7,
        "exit_code": 1,
        "status": "partial",
    }
    return RunOutcome(**{**base, **fields})


HELD = Flagged("#1001", "hold", "no Unleashed product for SKU X")
FAILED = Flagged("#1002", "fail", "Unleashed rejected the order")


@pytest.mark.parametrize(
    ("fields", "triggers", "new", "cleared", "error"),
    [
        pytest.param({"flagged": (HELD,)}, ("held",), (HELD,), (), None, id="new-hold"),
        pytest.param(
            {"flagged": (HELD,), "known": frozenset({("hold", "#1001")})},
            ("held",),
            None,
            None,
            None,
            id="still-held-is-quiet",
        ),
        pytest.param(
            {"flagged": (), "known": frozenset({("hold", "#1001")}), "exit_code": 0},
            ("held",),
            (),
            ("#1001",),
            None,
            id="cleared",
        ),
        pytest.param(
            {"flagged": (), "known": frozenset({("hold", "#1001")}), "exit_code": 3},
            ("held", "error"),
            (),
            (),
            "exit 3",
            id="an-errored-run-clears-nothing",
        ),
        pytest.param(
            {"flagged": (HELD, FAILED)}, ("failed",), (FAILED,), (), None, id="on-failed-only"
        ),
        pytest.param(
            {"flagged": (HELD,), "known": frozenset({("fail", "#1001")})},
            ("held", "failed"),
            (HELD,),
            (),
            None,
            id="failed-then-held-is-new",
        ),
        pytest.param(
            {"exit_code": 2, "error": "bad mapping"}, ("held",), None, None, None, id="error-off"
        ),
        pytest.param(
            {"exit_code": 2, "error": "bad mapping"},
            ("error",),
            (),
            (),
            "bad mapping",
            id="error-on",
        ),
    ],
)
def test_decide(
    fields: dict[str, Any],
    triggers: tuple[str, ...],
    new: tuple[Flagged, ...] | None,
    cleared: tuple[str, ...] | None,
    error: str | None,
) -> None:
    found = decide(outcome(**fields), triggers)
    if new is None:
        assert found is None
    else:
        assert found is not None
        assert (found.new, found.cleared, found.error) == (new, cleared, error)


def test_compose_lists_ten_items_and_counts_the_rest() -> None:
    items = tuple(Flagged(f"SKU-{n:02d}@MAIN", "fail", "refused") for n in range(13))
    run = outcome(job="inventory", flagged=items, counts={"updated": 4, "failed": 13})
    announcement = decide(run, ("failed",))
    assert announcement is not None

    lines = compose(run, announcement).splitlines()

    assert (
        lines[0] == "syncer: inventory on example-store.myshopify.com, run 7 ended partial (exit 1)"
    )
    assert lines[1] == "updated 4, failed 13"
    assert lines[2] == "New held or failed items (13):"
    assert lines[3:13] == [f"- SKU-{n:02d}@MAIN failed: refused" for n in range(10)]
    assert lines[13:] == ["- and 3 more", "All items: syncer report 7"]


@pytest.mark.parametrize(
    ("shop", "label"),
    [
        ("example-store.myshopify.com", "example-store.myshopify.com"),
        ("https://example-store.myshopify.com/", "example-store.myshopify.com"),
        ("http://127.0.0.1:8701", "127.0.0.1:8701"),
    ],
)
def test_shop_label(shop: str, label: str) -> None:
    assert shop_label(shop) == label


keys = st.text(alphabet="#0123456789ABC", min_size=1, max_size=4)
pairs = st.sets(st.tuples(st.sampled_from(["hold", "fail"]), keys), max_size=8)


@given(before=pairs, now=pairs)
def test_decide_announces_exactly_the_new_and_the_cleared(
    before: set[tuple[str, str]], now: set[tuple[str, str]]
) -> None:
    flagged = tuple(Flagged(key, action) for action, key in sorted(now))
    found = decide(outcome(flagged=flagged, known=frozenset(before)), ("held", "failed", "error"))
    new = {(item.action, item.key) for item in found.new} if found else set()
    cleared = set(found.cleared) if found else set()
    assert new == now - before
    assert cleared == {key for _, key in before} - {key for _, key in now}
    assert (found is None) == (not new and not cleared)
