"""Decimal money helpers and Unleashed's totals rule.

Unleashed validates every sales order and credit note: per line
`LineTotal = round(OrderQuantity x UnitPrice, 2)` and `LineTax = round(LineTotal x TaxRate, 2)`;
then `SubTotal = sum(LineTotal)`, `TaxTotal = sum(LineTax)`, `Total = SubTotal + TaxTotal`
and it refuses a document whose totals break these equations. Rounding is half-up.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """Parse an API money value (string or number) without going through float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what} is missing or not a number: {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return result


# Quantum per number of places, built once: rounding runs dozens of times per order line.
_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(9)}


def round_to(value: Decimal, places: int = 2) -> Decimal:
    """Round half-up to `places` decimals, as Unleashed does."""
    quantum = _QUANTA.get(places)
    if quantum is None:
        quantum = Decimal(1).scaleb(-places)
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_totals(
    quantity: Decimal, unit_price: Decimal, tax_rate: Decimal
) -> tuple[Decimal, Decimal]:
    """(LineTotal, LineTax) for one line under Unleashed's rule."""
    line_total = cents(quantity * unit_price)
    return line_total, cents(line_total * tax_rate)


def order_totals(lines: list[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """(SubTotal, TaxTotal, Total) from (LineTotal, LineTax) pairs."""
    sub_total = sum((total for total, _ in lines), Decimal(0))
    tax_total = sum((tax for _, tax in lines), Decimal(0))
    return sub_total, tax_total, sub_total + tax_total
