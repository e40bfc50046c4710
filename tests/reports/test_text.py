"""Numbers as the reports write them: human units and signed changes; uncounted ops as they
are registered."""

from __future__ import annotations

import pytest

from pytest_flopbudget.engine.profile import OTHER_THREAD
from pytest_flopbudget.text import format_delta, human, op_name, teach_hint

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


# --- uncounted ops -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("tinyml.scaled_tanh", "tinyml::scaled_tanh"),
        ("aten.squeeze_", "aten::squeeze_"),
        (
            "mylib.op (formula failed: ZeroDivisionError: a.b)",
            "mylib::op (formula failed: ZeroDivisionError: a.b)",
        ),
        (
            "Opaque (module cost) failed: KeyError: a.b",
            "Opaque (module cost) failed: KeyError: a.b",
        ),
        (OTHER_THREAD, OTHER_THREAD),
    ],
)
def test_an_uncounted_op_is_named_as_it_is_registered(key, name):
    assert op_name(key) == name


def test_the_hint_names_only_ops_with_no_formula_at_all():
    how = "in conftest.py: {mapping} or {op}"
    failed = "mylib.op (formula failed: ZeroDivisionError: x)"
    assert teach_hint({failed: 1}, how) is None
    assert teach_hint({failed: 1, "mylib.other": 2}, how) == (
        'teach it in conftest.py: {"mylib::other": formula} or mylib::other'
    )
    assert (
        teach_hint({"a.b": 1, "c.d": 1}, how)
        == 'teach them in conftest.py: {"a::b": formula, ...} or a::b'
    )
