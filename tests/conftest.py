"""Shared fixtures: a minimal valid config (as data and as a file) and the env it needs.

Keep this file small and additive; other test modules may add fixtures below.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# SPEC section 5: the public report tables' columns, in order (tests restate the contract
# here rather than importing it from the code under test).
RUNS_COLUMNS = [
    "id",
    "job",
    "started_at",
    "finished_at",
    "dry_run",
    "status",
    "created",
    "updated",
    "unchanged",
    "held",
    "failed",
    "shopify_calls",
    "unleashed_calls",
    "cursor_before",
    "cursor_after",
    "error",
    "shop",
]
RUN_ITEMS_COLUMNS = ["run_id", "entity", "key", "action", "detail", "error"]

# The environment the minimal config (and config.example.yaml) reads its secrets from.
SECRETS_ENV: dict[str, str] = {
    "SHOPIFY_ACCESS_TOKEN": "shpat_test_token_0001",
    "UNLEASHED_API_ID": "api-id-0001",
    "UNLEASHED_API_KEY": "api-key-secret-0001",
}

MINIMAL_CONFIG: dict[str, Any] = {
    "shopify": {
        "shop": "example-store.myshopify.com",
        "access_token": "${SHOPIFY_ACCESS_TOKEN}",
    },
    "unleashed": {
        "api_id": "${UNLEASHED_API_ID}",
        "api_key": "${UNLEASHED_API_KEY}",
    },
    "inventory": {"locations": {"MAIN": "Main warehouse"}},
}


def minimal_config() -> dict[str, Any]:
    """A fresh deep copy of the smallest config that validates, for tests to mutate."""
    return copy.deepcopy(MINIMAL_CONFIG)


@pytest.fixture
def config_data() -> dict[str, Any]:
    """The minimal valid config as a dict this test may change."""
    return minimal_config()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put the config's secrets into os.environ (for code that reads the real environment)."""
    for name, value in SECRETS_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(SECRETS_ENV)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config dict (default: the minimal one) as YAML and return its path.

    State goes to `state.path` relative to the file, so each test gets its own database.
    """

    def write(data: dict[str, Any] | None = None, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            yaml.safe_dump(minimal_config() if data is None else data, sort_keys=False),
            encoding="utf-8",
        )
        return path

    return write


# -- the bundled sandboxes, for integration tests over real sockets ----------------------------


@pytest.fixture
def sandboxes() -> Any:
    """Both sandboxes on 127.0.0.1 seeded with the default small World; stopped afterwards."""
    from syncer.sandbox.runner import start_sandboxes

    boxes = start_sandboxes(seed=1)
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment a sandbox config reads its secrets from."""
    from syncer.sandbox.runner import SANDBOX_ENV

    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(SANDBOX_ENV)


# -- the fault-injection suites (tests/faultkit.py) -------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-seed",
        action="store",
        type=int,
        default=None,
        help="Run tests/test_faults.py's random scenario with this seed only (to reproduce one).",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the fault and bad-input suites tried, visible even under -q."""
    from tests.faultkit import SUMMARY

    if not SUMMARY:
        return
    parts = ", ".join(f"{count} {name}" for name, count in sorted(SUMMARY.items()))
    terminalreporter.write_sep("-", "fault injection")
    terminalreporter.write_line(f"tried: {parts}")
    known = len(terminalreporter.stats.get("xfailed", []))
    if known:
        terminalreporter.write_line(f"{known} known bugs are marked xfail(strict) with a reason")
    terminalreporter.write_line(
        "invariants held after every clean run: nothing lost, nothing duplicated"
        if terminalreporter.stats.get("failed") is None
        else "some fault or bad-input scenarios FAILED: see above"
    )


# -- Shopify's real Admin schema, when ../shared beside the project has it ---------------------

SHOPIFY_REFERENCE = (
    Path(__file__).resolve().parents[1].parent / "shared/reference/shopify/admin-2026-10.graphql"
)


@pytest.fixture(scope="session")
def shopify_reference() -> Any:
    """The reference Admin schema (2026-10), built once per session; skips where absent."""
    if not SHOPIFY_REFERENCE.exists():
        pytest.skip(f"reference schema not found at {SHOPIFY_REFERENCE}")
    from graphql import build_schema

    # graphql-core 3.3 rejects deprecated implementations of undeprecated interface fields,
    # which Shopify's published schema has; the schema is Shopify's, so it is trusted as is.
    return build_schema(SHOPIFY_REFERENCE.read_text(encoding="utf-8"), assume_valid=True)


# -- a clock the Unleashed sandbox can be given, moved by hand ----------------------------------

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    """Seconds since the epoch, starting at T0; tests set `now` to move time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now
