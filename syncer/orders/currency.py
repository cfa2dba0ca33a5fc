"""Which currency a sales order or credit note is in, and at what exchange rate, as pure data.

Unleashed wants every sales order in a currency it knows, at its own rate: `GET /Currencies
?inUse=true` lists the currencies that have rates set, each with `DefaultSellRate` (units of
that currency per one unit of the base currency). The account's base currency is left out of
that list and the API says nowhere which one it is, so the base is either stated in the
configuration (`unleashed.base_currency`) or, when it is not, assumed: a currency without a
rate is then taken to be the base (rate 1), which is right for a one-currency business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from syncer.money import to_decimal

ONE = Decimal(1)


class CurrencyHold(ValueError):
    """The order's currency has no rate in Unleashed; the message names the fix."""


@dataclass(frozen=True)
class CurrencyRates:
    """Unleashed's sell rates (currency code -> rate) and its base currency when stated."""

    sell_rates: Mapping[str, Decimal] = field(default_factory=dict)
    base: str | None = None

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], base: str | None) -> CurrencyRates:
        """From `GET /Currencies?inUse=true` items; a currency without a positive sell rate
        is not usable and is left out (as if it were not in use)."""
        rates: dict[str, Decimal] = {}
        for record in records:
            code = str(record.get("CurrencyCode") or "").strip().upper()
            raw = record.get("DefaultSellRate")
            if not code or raw is None:
                continue
            try:
                rate = to_decimal(raw, f"DefaultSellRate of {code}")
            except ValueError:
                continue
            if rate > 0:
                rates[code] = rate
        return cls(rates, base.upper() if base else None)

    def is_assumed_base(self, code: str) -> bool:
        """True when `code` is sent at rate 1 only because no base currency is configured."""
        code = code.upper()
        return self.base is None and code not in self.sell_rates

    def rate_for(self, code: str) -> Decimal:
        """The `ExchangeRate` for an order in `code`; CurrencyHold when Unleashed has none."""
        code = code.upper()
        if code == self.base:
            return ONE
        if code in self.sell_rates:
            return self.sell_rates[code]
        if self.base is None:
            return ONE
        raise CurrencyHold(
            f"currency {code} is neither Unleashed's base currency ({self.base}) nor in use "
            f"there; add {code} under Currency Rates in Unleashed"
        )

    def describe(self, code: str) -> str:
        """How an order in `code` will be sent, in words (for `check`)."""
        code = code.upper()
        if code == self.base:
            return f"sent in {code}, Unleashed's base currency (exchange rate 1)"
        if code in self.sell_rates:
            return f"sent in {code} at Unleashed's sell rate {self.sell_rates[code]}"
        if self.base is None:
            return (
                f"sent in {code} at exchange rate 1, ASSUMED to be Unleashed's base currency "
                "(it has no rate there); set unleashed.base_currency to be sure"
            )
        return (
            f"{code} has no rate in Unleashed (base {self.base}): such orders are held; "
            f"add {code} under Currency Rates in Unleashed"
        )
