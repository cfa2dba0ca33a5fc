"""Read the next pages of one API while the run works on the current ones.

An orders backfill alternates two waits: Shopify's cost bucket (the pages) and Unleashed's
replies (one POST per order). Done in turn, the run takes the sum of both; with the Shopify
pages read by a thread one step ahead, it takes about the larger of the two, and Shopify's
bucket is drained at its restore rate instead of idling while Unleashed answers.

Only the reading moves to the thread: every decision, ledger row and write stays in the
caller's thread, so a crash loses nothing that the cursor rule does not already cover (the
cursor moves only at the end of a run, over what was handled).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_POLL = 0.1  # seconds between checks that the consumer still wants items


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def read_ahead(
    source: Iterator[T], depth: int, *, name: str = "read-ahead"
) -> Generator[T, None, None]:
    """Yield `source`'s items in order while a thread keeps up to `depth` more ready.

    An exception raised by `source` is raised here, after the items read before it, as the
    plain iteration would. Closing this generator early (break, an exception in the caller)
    stops the thread at its next item and closes `source` in that thread.
    """
    if depth < 1:
        yield from source
        return
    reader = ReadAhead(source, depth, name=name)
    try:
        yield from reader
    finally:
        reader.close()


class ReadAhead(Iterator[T]):
    """`read_ahead` with its thread started at once rather than at the first item taken, so
    one API is read while the caller's thread reads the other: a job that reads both sides
    before planning takes about the longer of the two reads, not their sum.

    Iterate it like `read_ahead`'s generator; `close()` (or leaving a `with` block) stops
    the thread whether or not anything was taken, which a generator never started cannot.
    """

    def __init__(self, source: Iterator[T], depth: int, *, name: str = "read-ahead") -> None:
        self._ready: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._finished = False
        self._source = source
        self._worker = threading.Thread(target=self._produce, name=name, daemon=True)
        self._worker.start()

    def _offer(self, entry: object) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        source = self._source
        try:
            for item in source:
                if not self._offer(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._offer(_Failed(error))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._offer(_DONE)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        entry = self._ready.get()
        if entry is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(entry, _Failed):
            self._finished = True
            self.close()
            raise entry.error
        return cast(T, entry)

    def close(self) -> None:
        """Stop the thread at its next item (its source closed there) and wait briefly."""
        self._finished = True
        self._stop.set()
        self._worker.join(timeout=5 * _POLL)

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
