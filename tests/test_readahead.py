"""read_ahead and ReadAhead: same items, same order, same errors as plain iteration; stop when
closed. ReadAhead starts reading at once, before anything is taken."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from syncer.readahead import ReadAhead, read_ahead


class Source:
    """A generator-like source that records how far it was read and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        return self.items()

    def items(self) -> Iterator[int]:
        try:
            for number in range(self.count):
                self.threads.add(threading.current_thread().name)
                if number == self.fail_at:
                    raise ValueError(f"page {number} is broken")
                self.produced += 1
                yield number
        finally:
            self.closed.set()


@pytest.mark.parametrize(
    ("count", "depth"),
    [
        pytest.param(0, 3, id="empty"),
        pytest.param(1, 1, id="one"),
        pytest.param(100, 1, id="depth-1"),
        pytest.param(100, 250, id="deeper-than-source"),
        pytest.param(10, 0, id="no-thread"),
    ],
)
def test_yields_every_item_in_order(count: int, depth: int) -> None:
    source = Source(count)
    assert list(read_ahead(source.items(), depth)) == list(range(count))
    assert source.closed.wait(1)


def test_reads_in_another_thread() -> None:
    source = Source(5)
    list(read_ahead(source.items(), 2, name="pages"))
    assert source.threads == {"pages"}


def test_an_error_comes_after_the_items_read_before_it() -> None:
    source = Source(10, fail_at=4)
    reader = read_ahead(source.items(), 3)
    seen = [next(reader) for _ in range(4)]
    with pytest.raises(ValueError, match="page 4 is broken"):
        next(reader)
    assert seen == [0, 1, 2, 3]


def test_stops_reading_when_the_consumer_stops() -> None:
    source = Source(1_000_000)
    reader = read_ahead(source.items(), 5)
    assert next(reader) == 0
    reader.close()
    assert source.closed.wait(2), "the source was not closed"
    time.sleep(0.3)
    stopped_at = source.produced
    time.sleep(0.3)
    assert source.produced == stopped_at <= 1 + 5 + 1  # taken, queued, one in hand


def test_reads_at_most_depth_ahead() -> None:
    source = Source(100)
    reader = read_ahead(source.items(), 4)
    assert next(reader) == 0
    deadline = time.monotonic() + 2
    while source.produced < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert source.produced <= 1 + 4 + 1
    reader.close()


@pytest.mark.parametrize(("count", "depth"), [(0, 3), (1, 1), (50, 4), (10, 100)])
def test_read_ahead_started_at_once_yields_every_item_in_order(count: int, depth: int) -> None:
    source = Source(count)
    with ReadAhead(source.items(), depth, name="catalogue") as reader:
        assert list(reader) == list(range(count))
        assert list(reader) == []  # exhausted stays exhausted
    assert source.closed.wait(1)
    assert source.threads <= {"catalogue"}


def test_read_ahead_reads_before_anything_is_taken() -> None:
    source = Source(100)
    with ReadAhead(source.items(), 3):
        deadline = time.monotonic() + 2
        while source.produced < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.produced >= 3
    assert source.closed.wait(2), "closing without taking anything stops the thread"


def test_read_ahead_raises_the_error_after_the_items_read_before_it() -> None:
    source = Source(10, fail_at=4)
    with ReadAhead(source.items(), 2) as reader:
        seen = [next(reader) for _ in range(4)]
        with pytest.raises(ValueError, match="page 4 is broken"):
            next(reader)
        with pytest.raises(StopIteration):
            next(reader)
    assert seen == [0, 1, 2, 3]


def test_read_ahead_stops_when_the_block_is_left_early() -> None:
    source = Source(1_000_000)

    def fail_after_one() -> None:
        with ReadAhead(source.items(), 5) as reader:
            assert next(reader) == 0
            raise KeyError("the caller failed")

    with pytest.raises(KeyError):
        fail_after_one()
    assert source.closed.wait(2), "the source was not closed"
    stopped_at = source.produced
    time.sleep(0.3)
    assert source.produced == stopped_at <= 1 + 5 + 1
