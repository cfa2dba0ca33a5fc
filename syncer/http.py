"""The HTTP choke point both API clients go through.

One place for timeouts, retries with exponential backoff and jitter (honouring Retry-After),
the rule of which requests may be retried, mapping of HTTP failures to the exceptions of
`syncer.errors`, call counting per API, and redaction of secrets from every message.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
import requests.utils

from syncer.errors import CredentialsError, DataError, NotFound, OutcomeUnknown, RetryLater

log = logging.getLogger("syncer.http")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# 429 means the server did not act on the request, so even a write may be sent again.
NOT_APPLIED_STATUS = frozenset({429})


@dataclass
class CallCounter:
    """Requests sent per API and per kind (e.g. "orders.list"), for the report and the bench."""

    calls: Counter[str] = field(default_factory=Counter)
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, api: str, kind: str) -> None:
        # Locked: the orders job reads Shopify pages in a second thread (readahead.py).
        with self._lock:
            self.calls[api] += 1
            self.kinds[(api, kind)] += 1

    def total(self, api: str) -> int:
        return self.calls[api]

    def snapshot(self) -> dict[str, int]:
        return dict(self.calls)


class Redactor:
    """Replace every known secret in a text with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Tests shrink the delays."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter for attempt 1, 2, ...: a delay drawn between
        half the ceiling and the ceiling, so clients that failed together retry apart, and
        none sooner than half the ceiling."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_text(response: requests.Response, limit: int = 500) -> str:
    """A short description of an error body: Description/Message fields when JSON."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:limit].strip()
    if isinstance(body, dict):
        for key in ("Description", "Message", "message", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])[:limit]
        items = body.get("Items")
        if isinstance(items, list) and items:
            return "; ".join(str(i) for i in items)[:limit]
    return response.text[:limit].strip()


class HttpClient:
    """Send requests for one API with retries, counting and redaction.

    `retry_safe` tells whether the request may be repeated after the server may have acted
    on it (reads, and writes made idempotent by a key or by being a plain "set"). Unsafe
    requests are still retried when the server certainly did not act (429, connection refused);
    otherwise an ambiguous failure raises `OutcomeUnknown` so the caller looks the record up.
    """

    def __init__(
        self,
        api: str,
        *,
        counter: CallCounter | None = None,
        redactor: Redactor | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "syncer",
    ) -> None:
        self.api = api
        self.counter = counter or CallCounter()
        self.redact = redactor or Redactor()
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.sleep = sleep
        # Session.request costs about 0.9 ms of CPU per call, most of a sync's per-record
        # cost: with `trust_env` on it re-reads the whole environment (proxies, NO_PROXY, the
        # CA bundle, ~/.netrc) every time, and it merges session settings through slow
        # generic code. So the environment is read once per scheme and host (`_environment`:
        # HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are still
        # honoured, as they were at the first request to that host) and each request is
        # prepared here and handed to Session.send. Not used: ~/.netrc and session cookies,
        # which neither API needs (both authenticate with their own headers).
        self._trust_env = self.session.trust_env
        self.session.trust_env = False
        self._environments: dict[tuple[str, str], tuple[dict[str, str], bool | str | None]] = {}

    def _environment(self, url: str) -> tuple[dict[str, str], bool | str | None]:
        """(proxies, verify) for a URL, merged from the session and the environment as
        Session.request would, computed once per scheme and host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._environments.get(key)
        if found is None:
            proxies = dict(self.session.proxies)
            verify: bool | str | None = self.session.verify
            if self._trust_env:
                proxies.update(requests.utils.get_environ_proxies(url))
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                verify = bundle or verify
            found = self._environments[key] = (proxies, verify)
        return found

    def request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        retry_safe: bool,
        ok_status: Iterable[int] = (200, 201),
        prepare: Callable[[], dict[str, str]] | None = None,
        classify: Callable[[requests.Response], float | None] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one logical request, retrying as the policy allows.

        `prepare` recomputes headers before each attempt (e.g. a renewed token).
        `classify` may inspect a 2xx response and return a wait in seconds when the body
        says "throttled" (Shopify answers THROTTLED with HTTP 200); None accepts it.
        `stream` leaves the body unread so a large download can be read line by line.
        """
        policy = self.policy
        attempt = 0
        ok = set(ok_status)
        proxies, verify = self._environment(url)
        while True:
            attempt += 1
            send_headers = dict(headers or {})
            if prepare is not None:
                send_headers.update(prepare())
            self.counter.add(self.api, kind)
            try:
                prepared = requests.PreparedRequest()
                prepared.prepare(
                    method=method,
                    url=url,
                    headers={**self.session.headers, **send_headers},
                    data=data,
                )
                response = self.session.send(
                    prepared,
                    timeout=(policy.connect_timeout, policy.read_timeout),
                    stream=stream,
                    proxies=proxies,
                    verify=verify,
                    cert=self.session.cert,
                )
            except requests.ConnectionError as exc:
                sent = not _refused_before_sending(exc)
                self._retry_or_raise(attempt, None, sent, retry_safe, kind, str(exc))
                continue
            except requests.Timeout as exc:
                self._retry_or_raise(attempt, None, True, retry_safe, kind, str(exc))
                continue

            status = response.status_code
            if status in ok:
                wait = classify(response) if classify is not None else None
                if wait is None:
                    return response
                # The server did not act on a throttled request: safe to send again.
                self._retry_or_raise(attempt, wait, False, True, kind, "throttled")
                continue
            if status in RETRYABLE_STATUS:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                sent = status not in NOT_APPLIED_STATUS
                self._retry_or_raise(
                    attempt,
                    wait,
                    sent,
                    retry_safe,
                    kind,
                    f"HTTP {status}: {error_text(response)}",
                    status=status,
                )
                continue
            self._raise_for(response, kind)

    def _retry_or_raise(
        self,
        attempt: int,
        wait: float | None,
        maybe_applied: bool,
        retry_safe: bool,
        kind: str,
        reason: str,
        *,
        status: int | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise. `status` is the HTTP status the server
        replied with (None: no reply, the request may still be running there)."""
        reason = self.redact(reason)
        if maybe_applied and not retry_safe:
            raise OutcomeUnknown(
                f"{self.api} {kind}: the request may have been applied but no reply came "
                f"({reason}); it will be looked up before it is sent again",
                api=self.api,
                status=status,
                replied=status is not None,
            )
        if attempt >= self.policy.max_attempts:
            raise RetryLater(
                f"{self.api} did not answer {kind} after {attempt} attempts ({reason}); "
                "nothing was lost: run again later",
                api=self.api,
            )
        delay = wait if wait is not None else self.policy.backoff(attempt)
        delay = min(delay, self.policy.max_delay)
        log.debug("%s %s: %s; retry %d in %.2fs", self.api, kind, reason, attempt, delay)
        self.sleep(delay)

    def _raise_for(self, response: requests.Response, kind: str) -> None:
        status = response.status_code
        text = self.redact(error_text(response))
        body = self.redact(response.text[:2000])
        if status in (401, 403):
            raise CredentialsError(
                f"{self.api} refused the credentials for {kind} (HTTP {status}: {text}); "
                f"check the {self.api} keys in the config",
                api=self.api,
                status=status,
                body=body,
            )
        if status == 404:
            raise NotFound(f"{self.api} {kind}: not found", api=self.api, status=status, body=body)
        raise DataError(
            f"{self.api} rejected {kind} (HTTP {status}: {text})",
            api=self.api,
            status=status,
            body=body,
        )


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made, so the server cannot have acted."""
    text = repr(exc)
    return any(
        marker in text
        for marker in ("Connection refused", "NewConnectionError", "Name or service not known")
    )
