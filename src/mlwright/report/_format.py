"""How reports write numbers: one format for prose, tables and plot axes.

Estimates (scores, intervals, values) keep a fixed number of significant digits, trailing
zeros included, so that a value and its interval read alike (346.3 [314.0, 378.4]);
thousands are grouped (12,030) and numbers of ordinary size are never in scientific
notation. Values of the data (quantiles, inputs, axis ticks) drop trailing zeros.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Protocol

DIGITS = 4
# Outside [SMALL, LARGE) a number is written in scientific notation; inside, never.
SMALL = 1e-3
LARGE = 1e12


class Estimate(Protocol):
    """A measured number with its 95% interval, such as ``mlwright.artifact.Interval``."""

    value: float
    low: float
    high: float


def number(value: Any, digits: int = DIGITS, *, trim: bool = False) -> str:
    """``value`` with ``digits`` significant digits (more for larger integers parts: no
    number is rounded to tens), thousands grouped; '-' for a missing value. ``trim`` drops
    trailing zeros after the decimal point."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value).lower()
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    x = float(value)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0.0:
        return "0"
    if not SMALL <= abs(x) < LARGE:
        return f"{x:.{digits - 1}e}"
    rounded = abs(float(f"{x:.{digits - 1}e}"))  # 9.9996 rounds up to 10.00: one less decimal
    decimals = max(0, digits - 1 - math.floor(math.log10(rounded)))
    text = f"{x:,.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(share: Any, decimals: int = 1) -> str:
    """A share as a percentage ('47.8%'); '-' for a missing value."""
    if share is None or (isinstance(share, float) and not math.isfinite(share)):
        return "-"
    return f"{float(share):.{decimals}%}"


def is_symbol(currency: str) -> bool:
    """A currency symbol ('$', '€', 'US$') goes before the number; a code ('EUR') after."""
    return len(currency) <= 3 and not currency[-1].isalnum()


def money(value: Any, currency: str) -> str:
    """A business value in its unit: '€1,234', '-€2.50', '1,234 EUR'. Whole units from 10 up
    (values per 1,000 decisions are sums, whose cents mean nothing), cents below."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    x = float(value)
    if x == 0.0:
        text = "0"
    elif abs(x) >= 10.0:
        text = f"{x:,.0f}"
    elif abs(x) >= 0.01:
        text = f"{x:,.2f}"
    else:
        text = number(x)
    if is_symbol(currency):
        sign, digits_only = ("-", text[1:]) if text.startswith("-") else ("", text)
        return f"{sign}{currency}{digits_only}"
    return f"{text} {currency}"


def money_interval(estimate: Estimate | Mapping[str, Any] | None, currency: str) -> str:
    """A business value with its interval: a symbol on each number ('$1,234 [$980, $1,490]'),
    a code or a word once at the end ('1,234 [980, 1,490] EUR')."""
    if is_symbol(currency) or not estimate:
        return interval(estimate, lambda v: money(v, currency))
    unit = " " + currency
    return f"{interval(estimate, lambda v: money(v, currency).removesuffix(unit))}{unit}"


def interval(
    estimate: Estimate | Mapping[str, Any] | None, write: Callable[[Any], str] = number
) -> str:
    """An estimate with its interval, each end written the same way: '3,267 [2,914, 3,591]'."""
    if not estimate:
        return "-"
    if isinstance(estimate, Mapping):
        value, low, high = estimate["value"], estimate["low"], estimate["high"]
    else:
        value, low, high = estimate.value, estimate.low, estimate.high
    return f"{write(value)} [{write(low)}, {write(high)}]"


def size(megabytes: Any) -> str:
    """A size in the unit that keeps it between 1 and 1,000: '2.38 MB', '629 B'."""
    if megabytes is None:
        return "-"
    mb = float(megabytes)
    if mb >= 1.0:
        return f"{number(mb, 3)} MB"
    if mb * 1e3 >= 1.0:
        return f"{number(mb * 1e3, 3)} kB"
    return f"{number(round(mb * 1e6))} B"


def p_value(p: Any) -> str:
    """A p-value: two significant digits, '< 0.001' below that."""
    if p is None or not math.isfinite(float(p)):
        return "-"
    return "< 0.001" if float(p) < 0.001 else number(p, 2)


def tick(value: float, _position: int | None = None) -> str:
    """An axis tick label (matplotlib's FuncFormatter calls it with the position too)."""
    return number(value, 6, trim=True)
