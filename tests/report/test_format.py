"""How reports write numbers: fixed significant digits, thousands grouped, no scientific
notation for numbers of ordinary size, units where they belong."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlwright.report._format import (
    DIGITS,
    interval,
    money,
    money_interval,
    number,
    p_value,
    percent,
    size,
    tick,
)

ORDINARY = st.floats(min_value=1e-3, max_value=1e12, exclude_max=True) | st.floats(
    min_value=-1e12, max_value=-1e-3, exclude_min=True
)


def significant_digits(text: str) -> int:
    digits = text.lstrip("-").replace(",", "").replace(".", "").lstrip("0")
    return len(digits)


@given(ORDINARY)
def test_ordinary_numbers_are_never_scientific_and_keep_fixed_precision(x: float) -> None:
    text = number(x)

    assert "e" not in text
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.\d+)?", text), text
    value = float(text.replace(",", ""))
    whole_digits = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    assert significant_digits(text) == max(DIGITS, whole_digits)
    # Rounded to DIGITS significant digits, never to tens or hundreds.
    assert abs(value - x) <= 0.5 * 10 ** (math.floor(math.log10(abs(x))) - DIGITS + 1) * 1.0001


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (22210.5, "22,210"),  # not 2.221e+04
        (12029.6, "12,030"),
        (346.29, "346.3"),
        (314.0176, "314.0"),  # an interval's ends keep the value's precision
        (-0.26144, "-0.2614"),
        (9.99996, "10.00"),  # rounding up to the next power of ten keeps 4 digits
        (0.001, "0.001000"),
        (999_999_999_999.9, "1,000,000,000,000"),
        (1234567, "1,234,567"),  # integers stay exact
        (np.int64(5), "5"),
        (0.0, "0"),
        (None, "-"),
        (float("nan"), "-"),
        (0.000141, "1.410e-04"),  # outside the ordinary range, scientific is clearer
    ],
)
def test_number(value: object, text: str) -> None:
    assert number(value) == text


def test_data_values_and_ticks_drop_trailing_zeros() -> None:
    assert number(5.4, trim=True) == "5.4"
    assert number(12029.6, trim=True) == "12,030"
    assert tick(2500.0) == "2,500"
    assert tick(0.5) == "0.5"


def test_an_interval_is_written_like_its_value() -> None:
    assert interval({"value": 346.29, "low": 314.0176, "high": 378.42}) == ("346.3 [314.0, 378.4]")
    assert interval({"value": 0.478, "low": 0.389, "high": 0.569}, percent) == (
        "47.8% [38.9%, 56.9%]"
    )
    assert interval(None) == "-"


def test_a_typed_interval_is_written_like_its_dict() -> None:
    from mlwright.artifact import Interval

    typed = Interval(value=346.29, low=314.0176, high=378.42)
    assert interval(typed) == interval(typed.model_dump()) == "346.3 [314.0, 378.4]"
    assert money_interval(typed, "EUR") == "346 [314, 378] EUR"


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (25833.4, "€", "€25,833"),
        (-1833.0, "€", "-€1,833"),
        (-2.5, "$", "-$2.50"),
        (1234.0, "EUR", "1,234 EUR"),
        (3.0, "US$", "US$3.00"),
        (0.0, "value units", "0 value units"),
    ],
)
def test_money_puts_symbols_before_and_codes_after(value: float, currency: str, text: str) -> None:
    assert money(value, currency) == text


def test_sizes_and_p_values() -> None:
    assert size(2.38149) == "2.38 MB"
    assert size(0.5568) == "557 kB"
    assert size(0.000141) == "141 B"
    assert p_value(0.0004) == "< 0.001"
    assert p_value(0.0321) == "0.032"


def test_a_money_interval_writes_a_code_once_and_a_symbol_on_each_number() -> None:
    estimate = {"value": 22333.4, "low": 15833.0, "high": 29833.0}
    assert money_interval(estimate, "value units") == "22,333 [15,833, 29,833] value units"
    assert money_interval(estimate, "EUR") == "22,333 [15,833, 29,833] EUR"
    assert money_interval(estimate, "$") == "$22,333 [$15,833, $29,833]"
    assert money_interval({"value": -4.5, "low": -9.0, "high": 0.0}, "€") == "-€4.50 [-€9.00, €0]"
    assert money_interval(None, "EUR") == "-"
