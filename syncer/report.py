"""What a run did, as plain data: the store persists it, render.py shows it.

Entities and actions are the public vocabulary of the `run_items` table: people query them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from syncer.errors import LONGEST_WORD, clip_values

Entity = Literal["order", "product", "stock", "fulfillment", "refund"]
Action = Literal[
    "create",
    "update",
    "unchanged",
    "hold",
    "fail",
    "conflict",
    "cancelled",
    "refund",
    "drift",
]
JOBS = ("orders", "products", "inventory", "fulfillments")
# Items that only report: they never change the exit code (cron must not fail on them).
REPORT_ONLY: frozenset[str] = frozenset({"conflict", "cancelled", "refund", "drift"})


@dataclass(slots=True)
class Item:
    """One line of `run_items`: what happened (or, in a dry run, would happen) to one record.
    Slotted: a large run keeps tens of thousands until they are stored."""

    entity: Entity
    key: str
    action: Action
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        # The one place an error message meets the report: no message repeats an over-long
        # bad value (a 100,000-character SKU or amount from an API) in full.
        if self.error is not None and len(self.error) > LONGEST_WORD:
            self.error = clip_values(self.error)


@dataclass
class RunReport:
    """Everything one job run produced; counts are derived from the items."""

    job: str
    dry_run: bool
    started_at: str
    items: list[Item] = field(default_factory=list)
    finished_at: str | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    error: str | None = None
    shopify_calls: int = 0
    unleashed_calls: int = 0
    run_id: int | None = None
    safety_stop: bool = False
    # (scope, key) of events reported by this run's items; stored with the items so an
    # event is marked as reported exactly when its item is in the report.
    events: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: Item) -> Item:
        self.items.append(item)
        return item

    def count(self, *actions: str) -> int:
        return sum(1 for item in self.items if item.action in actions)

    @property
    def status(self) -> str:
        """ok | partial | failed, as the `runs.status` column defines them."""
        if self.error is not None:
            return "failed"
        if self.count("hold", "fail"):
            return "partial"
        return "ok"

    @property
    def exit_code(self) -> int:
        """0 when all planned work is done; 1 when items failed or are held or a safety stop
        held writes back. Credential and lock failures raise instead of reporting."""
        if self.safety_stop or self.status != "ok":
            return 1
        return 0

    def counts(self) -> dict[str, int]:
        return {
            "created": self.count("create"),
            "updated": self.count("update"),
            "unchanged": self.count("unchanged"),
            "held": self.count("hold"),
            "failed": self.count("fail"),
        }
