"""Tell someone: the webhook message after a run and the monitor ping after a command.

Nobody reads cron's mail, so a run that holds an order must say so where people look. The
decision of what to say is `syncer.alerting` (pure); this module reads the state it needs and
sends, through the same HTTP choke point as the API clients. A delivery that fails is tried
once more, then logged: an alert never changes a run's exit code or touches its report. Both
URLs carry tokens, so they and their paths are redacted from every message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from syncer.alerting import (
    STUCK_AFTER_FAILED_RUNS,
    Flagged,
    MonitorProblem,
    RunOutcome,
    compose,
    decide,
    monitor_problems,
    shop_label,
)
from syncer.config import Config
from syncer.errors import ApiError
from syncer.http import HttpClient, Redactor, RetryPolicy
from syncer.store import Store

log = logging.getLogger("syncer")

# One attempt per send; the one retry is ours, so it covers every kind of failure alike.
POLICY = RetryPolicy(max_attempts=1, connect_timeout=5.0, read_timeout=10.0)
RETRY_DELAY = 1.0
ANSWER_LIMIT = 80


@dataclass(frozen=True)
class Delivery:
    """What a target answered: ok or not, and a short text to show."""

    ok: bool
    answer: str


def url_secrets(url: str | None) -> list[str]:
    """The URL, and its path and query (an HTTP error names the path without the host)."""
    if not url:
        return []
    parts = urlsplit(url)
    values = [url, url.rstrip("/")]
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if tail.strip("/"):
        values += [tail, parts.path]
    return values


class Notifier:
    """Sends the alerts of one command. Built once per command from the config."""

    def __init__(
        self,
        config: Config,
        *,
        sleep: Callable[[float], None] = time.sleep,
        client: HttpClient | None = None,
    ) -> None:
        self.alerts = config.alerts
        self.shop = shop_label(config.shopify.shop)
        self.redact = Redactor(
            [
                *config.secrets(),
                *url_secrets(self.alerts.webhook_url),
                *url_secrets(self.alerts.ping_url),
            ]
        )
        self.sleep = sleep
        self.client = client or HttpClient(
            "alerts", redactor=self.redact, policy=POLICY, sleep=sleep
        )

    # -- after a run ------------------------------------------------------------------------

    def after_run(self, store: Store, job: str, run_id: int | None, exit_code: int) -> None:
        """Send the webhook message this run calls for, if any. Never raises."""
        if not self.alerts.webhook_url or run_id is None:
            return
        try:
            outcome = self.outcome(store, job, run_id, exit_code)
            if outcome is None:
                return
            announcement = decide(outcome, self.alerts.on)
            if announcement is None:
                return
            text = self.redact(compose(outcome, announcement))
        except Exception as exc:  # reading the report must not break the run either
            log.warning("alert for %s run %s not sent: %s", job, run_id, self.redact(str(exc)))
            return
        delivery = self.post(text)
        if not delivery.ok:
            log.warning(
                "alert webhook failed twice (%s); the run's report is kept: syncer report %d",
                delivery.answer,
                run_id,
            )

    def outcome(self, store: Store, job: str, run_id: int, exit_code: int) -> RunOutcome | None:
        """The run as the alert sees it; None for a dry run, which announces nothing."""
        run = store.run(run_id)
        if run is None or run.get("dry_run"):
            return None
        flagged = tuple(
            Flagged(str(row["key"]), str(row["action"]), str(row["error"] or ""))
            for row in store.flagged_items(run_id)
        )
        counts = {
            name: int(run.get(name) or 0)
            for name in ("created", "updated", "unchanged", "held", "failed")
        }
        return RunOutcome(
            shop=str(run.get("shop") or self.shop),
            job=job,
            run_id=run_id,
            exit_code=exit_code,
            status=str(run.get("status")),
            counts=counts,
            error=str(run["error"]) if run.get("error") else None,
            flagged=flagged,
            known=frozenset(store.flagged_before(job, run_id)),
        )

    # -- sending ----------------------------------------------------------------------------

    def post(self, text: str) -> Delivery:
        """POST {"text": ...} to the webhook: Slack, Teams and Mattermost all take it."""
        url = self.alerts.webhook_url
        if not url:
            return Delivery(False, "not configured (alerts.webhook_url)")
        body = json.dumps({"text": text})
        return self._send("POST", url, "webhook.post", body)

    def ping(self, exit_code: int, *, log_failure: bool = True) -> Delivery | None:
        """GET the ping URL, or its /fail twin after a non-zero exit. Never raises."""
        url = self.alerts.ping_url
        if not url:
            return None
        target = url if exit_code == 0 else url.rstrip("/") + "/fail"
        delivery = self._send("GET", target, "ping.get", None)
        if not delivery.ok and log_failure:
            log.warning("alert ping failed twice (%s)", delivery.answer)
        return delivery

    def test(self) -> list[tuple[str, Delivery | None]]:
        """One test message to each target: (name, what it answered, or None if unset)."""
        webhook = (
            self.post(f"syncer: test message for {self.shop}; alerts reach this channel.")
            if self.alerts.webhook_url
            else None
        )
        return [("webhook", webhook), ("ping", self.ping(0, log_failure=False))]

    def _send(self, method: str, url: str, kind: str, body: str | None) -> Delivery:
        """Send once, and once more after a failure of any kind."""
        answer = ""
        for attempt in (1, 2):
            try:
                response = self.client.request(
                    method,
                    url,
                    kind=kind,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                    data=body,
                    retry_safe=True,
                    ok_status=range(200, 300),
                )
            except ApiError as exc:
                answer = self.redact(f"HTTP {exc.status}: {exc}" if exc.status else str(exc))
                if attempt == 1:
                    self.sleep(RETRY_DELAY)
                continue
            except Exception as exc:
                answer = self.redact(f"{type(exc).__name__}: {exc}")
                if attempt == 1:
                    self.sleep(RETRY_DELAY)
                continue
            text = " ".join(response.text.split())[:ANSWER_LIMIT]
            return Delivery(True, self.redact(f"HTTP {response.status_code} {text}".strip()))
        return Delivery(False, answer)


def max_ages(config: Config) -> dict[str, int]:
    """Each enabled job's max age: `alerts.max_age`, else three times its interval."""
    from syncer.jobs import enabled
    from syncer.report import JOBS

    return {
        job: config.alerts.max_age or 3 * int(getattr(config.schedule, job))
        for job in JOBS
        if enabled(config, job)
    }


def monitor(config: Config, store: Store, now: datetime) -> list[MonitorProblem]:
    """The problems `status --check` reports, read from the state file."""
    ages = max_ages(config)
    return monitor_problems(
        now,
        ages,
        last_ok={job: store.last_ok_run(job) for job in ages},
        recent={job: store.recent_real_runs(job, STUCK_AFTER_FAILED_RUNS) for job in ages},
        pending=store.all_pending(),
    )


def monitor_shops(
    config: Config, store: Store, now: datetime, shop: str | None = None
) -> list[MonitorProblem]:
    """`monitor` for every shop (or the one `--shop` names), each shop with its own jobs,
    runs and held items; with several shops each problem's line starts with the shop."""
    shops = [config.shop_named(shop)] if shop is not None else list(config.shops)
    problems: list[MonitorProblem] = []
    for one in shops:
        view = store.for_shop(config.state_namespace(one), one.name)
        found = monitor(config.for_shop(one), view, now)
        if len(config.shops) > 1:
            found = [replace(p, message=f"{one.name}: {p.message}") for p in found]
        problems += found
    return problems
