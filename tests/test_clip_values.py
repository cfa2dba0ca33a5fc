"""Messages never repeat an over-long bad value in full: `clip_values`, and the report items
that pass every error through it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.errors import LONGEST_MESSAGE, LONGEST_WORD, clip_values
from syncer.report import Item

HUGE = "Z" * 100_000


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("SKU TEE-1 is not in Unleashed", "SKU TEE-1 is not in Unleashed", id="short"),
        pytest.param("x" * LONGEST_WORD, "x" * LONGEST_WORD, id="longest-word-kept"),
        pytest.param(
            f"SKU {HUGE} is not in Unleashed",
            f"SKU {'Z' * 40}... (100000 characters) is not in Unleashed",
            id="huge-word",
        ),
        pytest.param(
            f"amount is not a number: '{HUGE}'",
            f"amount is not a number: '{'Z' * 39}... (100002 characters)",
            id="huge-quoted-value",
        ),
    ],
)
def test_clip_values(message: str, expected: str) -> None:
    assert clip_values(message) == expected


def test_a_long_message_of_short_words_is_cut_in_the_middle() -> None:
    message = "start " + "ab " * 5000 + "end"

    clipped = clip_values(message)

    assert clipped.startswith("start ab ")
    assert clipped.endswith(" ab end")
    assert "characters cut" in clipped
    assert len(clipped) < LONGEST_MESSAGE + 60


@given(st.text(alphabet=st.sampled_from("ab Z9'.-"), max_size=6000))
def test_clipped_messages_are_bounded_and_short_ones_untouched(message: str) -> None:
    clipped = clip_values(message)

    assert len(clipped) < LONGEST_MESSAGE + 60
    assert all(len(word) <= LONGEST_WORD for word in clipped.split())
    if len(message) <= LONGEST_WORD:
        assert clipped == message


def test_report_items_clip_their_error() -> None:
    item = Item("order", "#1001", "fail", error=f"SKU {HUGE} is not in Unleashed")

    assert item.error == f"SKU {'Z' * 40}... (100000 characters) is not in Unleashed"
    assert Item("order", "#1002", "create").error is None
