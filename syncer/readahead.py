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
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(_Failed(error))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        offer(_DONE)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            entry = ready.get()
            if entry is _DONE:
                return
            if isinstance(entry, _Failed):
                raise entry.error
            yield cast(T, entry)
    finally:
        stop.set()
        worker.join(timeout=5 * _POLL)
