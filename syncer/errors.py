"""Exceptions named for what the caller does next.

Every error a user can see derives from `SyncerError` and carries its exit code (1 failed
or held items, 2 usage or config, 3 credentials or API unreachable, 4 lock held); `cli.py`
turns them into plain lines in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A message quotes the bad value it is about; a value from an API can be any length (a
# 100,000-character SKU or amount). Messages keep the start of such a value and its length.
LONGEST_WORD = 200
LONGEST_MESSAGE = 2000
_LONG_WORD = re.compile(rf"\S{{{LONGEST_WORD + 1},}}")


def clip_values(message: str) -> str:
    """`message` with every word longer than LONGEST_WORD characters cut to its first 40
    and its length, and then the whole cut in the middle if it is still over
    LONGEST_MESSAGE: enough to recognise the value, never the value repeated in full."""

    def clip(match: re.Match[str]) -> str:
        word = match.group(0)
        return f"{word[:40]}... ({len(word)} characters)"

    if len(message) <= LONGEST_WORD:
        return message
    message = _LONG_WORD.sub(clip, message)
    if len(message) > LONGEST_MESSAGE:
        cut = len(message) - LONGEST_MESSAGE
        head = LONGEST_MESSAGE * 2 // 3
        message = f"{message[:head]} ...({cut} characters cut)... {message[head + cut :]}"
    return message


class SyncerError(Exception):
    """Base of every error syncer reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where, what is wrong, how to fix it."""

    path: str
    reason: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.reason}"
        return f"{text} ({self.fix})" if self.fix else text


class ConfigError(SyncerError):
    """The configuration is unusable; nothing was sent. Fix the file or the environment."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem("config", problems)]
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"configuration error{where}:"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class UsageError(SyncerError):
    """A command-line argument is wrong; nothing was sent."""

    exit_code = 2


class LockHeld(SyncerError):
    """Another run holds the state database's lock; try again later."""

    exit_code = 4


class SafetyStop(SyncerError):
    """A plan is too large or a side looks empty; re-run with --force to proceed."""

    exit_code = 1


class ApiError(SyncerError):
    """An API call failed. Subclasses say what to do next."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        api: str = "",
        status: int | None = None,
        body: str = "",
    ) -> None:
        self.api = api
        self.status = status
        self.body = body
        super().__init__(message)


class RetryLater(ApiError):
    """The API stayed unavailable or throttled after retries: try again on a later run."""

    exit_code = 3


class CredentialsError(ApiError):
    """The API refused the credentials (or the request signature): fix the config."""

    exit_code = 3


class DataError(ApiError):
    """The API rejected one record's data: record it as a failed item and go on."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        api: str = "",
        status: int | None = None,
        body: str = "",
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message, api=api, status=status, body=body)
        self.errors = errors or []


class NotFound(ApiError):
    """The record does not exist (HTTP 404 on a single-record read)."""

    exit_code = 1


class OutcomeUnknown(ApiError):
    """A write was sent but whether it was applied is unknown: look the record up before
    sending it again.

    `replied` tells how long the look-up has to wait. True: the server answered with an
    error status (500, 502, 504...), so it has finished with the request and a look-up now
    sees its final effect. False: a timeout or a connection lost after sending, so the
    request may still be running in the server and can land after a look-up that did not
    find it.
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        api: str = "",
        status: int | None = None,
        body: str = "",
        replied: bool = False,
    ) -> None:
        super().__init__(message, api=api, status=status, body=body)
        self.replied = replied
