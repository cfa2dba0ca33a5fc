"""Pure helpers of the Unleashed client: query building and signing, .NET dates, JSON money."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.connectors.unleashed import (
    build_query,
    dumps_json,
    format_since,
    loads_json,
    parse_date,
    sign,
)

KEY = "s3cr3t-unleashed-api-key"


def reference_signature(key: str, message: str) -> str:
    """The signature as API-NOTES spells it, computed here independently of the client."""
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@pytest.mark.parametrize(
    ("params", "signed", "sent"),
    [
        pytest.param([], "", "", id="empty"),
        pytest.param(
            [("orderNumber", "DTC#13633")],
            "orderNumber=DTC#13633",
            "orderNumber=DTC%2313633",
            id="hash",
        ),
        pytest.param(
            [("contactEmail", "ann.lee@example.com")],
            "contactEmail=ann.lee@example.com",
            "contactEmail=ann.lee@example.com",
            id="at-sign",
        ),
        pytest.param(
            [("customerName", "Jo Bloggs")],
            "customerName=Jo Bloggs",
            "customerName=Jo%20Bloggs",
            id="space",
        ),
        pytest.param(
            [("modifiedSince", "2024-04-17T23:11:05"), ("pageSize", "1000")],
            "modifiedSince=2024-04-17T23:11:05&pageSize=1000",
            "modifiedSince=2024-04-17T23:11:05&pageSize=1000",
            id="colon",
        ),
        pytest.param(
            [("orderStatus", "Parked,Placed")],
            "orderStatus=Parked,Placed",
            "orderStatus=Parked,Placed",
            id="comma",
        ),
        pytest.param(
            [("productCode", "A&B=C+D%E")],
            "productCode=A&B=C+D%E",
            "productCode=A%26B%3DC%2BD%25E",
            id="form-metacharacters",
        ),
        pytest.param(
            [("customerName", "Māori Café")],
            "customerName=Māori Café",
            "customerName=M%C4%81ori%20Caf%C3%A9",
            id="non-ascii",
        ),
        pytest.param(
            [("productCode", "TEE-BLK_M.2~x")],
            "productCode=TEE-BLK_M.2~x",
            "productCode=TEE-BLK_M.2~x",
            id="unreserved",
        ),
    ],
)
def test_query_is_signed_decoded_and_sent_encoded(
    params: list[tuple[str, str]], signed: str, sent: str
) -> None:
    assert build_query(params) == (signed, sent)
    assert sign(KEY, signed) == reference_signature(KEY, signed)


def test_empty_query_signs_the_empty_string() -> None:
    # RFC 4231-style known value: HMAC-SHA256(key="key", message="").
    expected_hex = "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"
    assert base64.b64decode(sign("key", "")).hex() == expected_hex
    assert sign("key", "") == "XV0TlWPJW1lnub2ajJsjOp3ttFByeUzSMtwbdIMmB9A="


def test_signature_of_encoded_text_differs() -> None:
    """Signing the percent-encoded text is the classic bug: it must not match."""
    signed, sent = build_query([("contactEmail", "jo bloggs@example.com")])
    assert sign(KEY, signed) != sign(KEY, sent)


@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
            st.text(max_size=20).filter(lambda s: "\x00" not in s),
        ),
        max_size=5,
    )
)
def test_sent_query_decodes_back_to_the_signed_one(params: list[tuple[str, str]]) -> None:
    from urllib.parse import parse_qsl, unquote_plus

    signed, sent = build_query(params)
    assert unquote_plus(sent) == signed  # what the server reconstructs and verifies
    assert parse_qsl(sent, keep_blank_values=True) == [(k, v) for k, v in params]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "/Date(1586833770780)/",
            datetime(2020, 4, 14, 3, 9, 30, 780000, tzinfo=UTC),
            id="plain",
        ),
        pytest.param("/Date(700000+0500)/", EPOCH + timedelta(seconds=700), id="offset-plus"),
        pytest.param("/Date(700000-0130)/", EPOCH + timedelta(seconds=700), id="offset-minus"),
        pytest.param("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC), id="negative"),
        pytest.param("/Date(0)/", EPOCH, id="epoch"),
        pytest.param(None, None, id="null"),
    ],
)
def test_parse_date(text: str | None, expected: datetime | None) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2020-04-14T03:09:30", id="iso"),
        pytest.param("/Date(abc)/", id="letters"),
        pytest.param("/Date(1586833770780)", id="unterminated"),
        pytest.param("/Date(12+05)/", id="short-offset"),
        pytest.param("", id="empty"),
        pytest.param(1586833770780, id="number"),
    ],
)
def test_parse_date_rejects_garbage_with_a_clear_error(text: object) -> None:
    with pytest.raises(ValueError, match="not an Unleashed date"):
        parse_date(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(datetime(2024, 4, 17, 23, 11, 5, tzinfo=UTC), "2024-04-17T23:11:05", id="utc"),
        pytest.param(
            datetime(2024, 4, 18, 11, 11, 5, 999999, tzinfo=timezone(timedelta(hours=12))),
            "2024-04-17T23:11:05",
            id="nzst-to-utc",
        ),
    ],
)
def test_format_since(moment: datetime, expected: str) -> None:
    assert format_since(moment) == expected


def test_format_since_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_since(datetime(2024, 4, 17, 23, 11, 5))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param({"UnitPrice": Decimal("10.00")}, '{"UnitPrice": 10.00}', id="keeps-scale"),
        pytest.param([Decimal("-0.001"), Decimal("1E+2")], "[-0.001, 100]", id="exponent"),
        pytest.param({"a": '#"x', "b": None, "c": True, "d": 3}, None, id="plain-json"),
    ],
)
def test_json_money_is_exact(value: object, text: str | None) -> None:
    encoded = dumps_json(value)
    if text is not None:
        assert encoded == text
    assert loads_json(encoded) == value


def test_json_refuses_datetimes_and_nan() -> None:
    with pytest.raises(TypeError, match="format it first"):
        dumps_json({"OrderDate": datetime(2024, 1, 1, tzinfo=UTC)})
    with pytest.raises(ValueError, match="non-finite"):
        dumps_json({"Total": Decimal("NaN")})
