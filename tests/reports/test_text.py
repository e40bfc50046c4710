"""Numbers as the reports write them: human units and signed changes."""

from __future__ import annotations

import pytest

from pytest_flopbudget.text import format_delta, human

# --- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "unit", "text"),
    [
        (8_270_000_000, "", "8.27G"),
        (25_557_032, "", "25.6M"),
        (512, "", "512"),
        (0, "", "0"),
        (None, "", "-"),
        (None, "FLOPs", "-"),
        (1_500, "", "1.50K"),
        (123_456, "", "123K"),
        (999_999, "", "1.00M"),  # rounds up into the next prefix, not "1000K"
        (-2_500_000, "", "-2.50M"),
        (3 * 10**12, "", "3.00T"),
        (8_270_000_000, "FLOPs", "8.27 GFLOPs"),
        (512, "FLOPs", "512 FLOPs"),
        (12.345, "", "12.3"),
        (999.7, "", "1.00K"),
    ],
)
def test_human(n, unit, text):
    assert human(n, unit) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (8.27 / 2 - 1, "+313.5%"),
        (-0.02, "-2.0%"),
        (0.0, "+0.0%"),
        (-0.0001, "+0.0%"),
        (0.2, "+20.0%"),
    ],
)
def test_format_delta(fraction, text):
    assert format_delta(fraction) == text
