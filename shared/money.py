"""Money as it travels between services: integer minor units (cents) of an ISO 4217
currency, so sums are exact. The one statement of how many decimals a currency has."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 currencies whose minor unit is not the cent (every other one has two decimals).
_MINOR_DIGITS = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                                  "VND", "VUV", "XAF", "XOF", "XPF"), 0),
                 **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3)}


class NotWholeMinorUnits(ValueError):
    """An amount with more decimals than its currency has."""


def minor_digits(currency: str) -> int:
    """How many decimals the currency's minor unit has (ISO 4217)."""
    return _MINOR_DIGITS.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor units; :class:`NotWholeMinorUnits` for a fraction of one."""
    scaled = amount.scaleb(minor_digits(currency))
    if scaled != scaled.to_integral_value():
        raise NotWholeMinorUnits(f"has more decimals than {currency} has ({minor_digits(currency)})")
    return int(scaled)


def from_minor(amount_minor: int, currency: str) -> Decimal:
    """Minor units back to the amount (``1250050, "EUR"`` → ``12500.50``)."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))
