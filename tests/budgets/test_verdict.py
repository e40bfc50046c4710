"""The per-test verdict as a pure function (budgets.verdict), the table of quantities and the
table of report formats: no pytester, no torch. Expected numbers are closed forms written here."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.quantities import LIMIT_KEYS, QUANTITIES, TABLE, base_key, by_name
from pytest_flopbudget.budgets.values import Limit
from pytest_flopbudget.budgets.verdict import fails, measured, status_label, verdict
from pytest_flopbudget.engine.profile import ModuleStats, OpStats, Profile
from pytest_flopbudget.reporting.formats import FORMATS, ReportTargetError, parse_targets


def linear_profile(batch: int, fan_in: int, fan_out: int) -> Profile:
    """The profile of one nn.Linear(fan_in, fan_out) on a (batch, fan_in) input, written out."""
    macs = batch * fan_in * fan_out
    flops = 2 * macs + batch * fan_out  # "all": 2 per MAC, 1 per output element for the bias
    params = fan_in * fan_out + fan_out
    return Profile(
        count="all",
        macs=macs,
        flops=flops,
        params=params,
        trainable_params=params,
        nonzero_params=params,
        param_bytes=4 * params,
        sparse_macs=macs,
        sparse_flops=flops,
        forward_flops=flops,
        backward_flops=None,
        forward_macs=macs,
        backward_macs=None,
        modules={"": ModuleStats("", "Linear", 1, macs, flops, flops, 0, params)},
        ops={"aten.addmm": OpStats("aten.addmm", 1, macs, flops)},
        model_name="Linear",
    )


def flops_limit(value: int) -> Budget:
    return Budget(limits={"flops": Limit("flops", value, "max_flops", "marker on t.py::t")})


def test_a_test_within_its_limit_passes_with_its_totals():
    profile = linear_profile(2, 4, 3)
    row = verdict("t.py::t", "t.py:1", [profile], flops_limit(10**6))
    assert row.totals["flops"] == 2 * (2 * 4 * 3) + 2 * 3
    assert row.totals["params"] == 4 * 3 + 3
    assert row.violations == [] and not fails(row)
    assert status_label(row, None) == "new"
    assert status_label(row, {"flops": row.flops, "params": row.params}) == "ok"


def test_a_test_over_its_limit_fails_unless_disabled_or_updating():
    profile = linear_profile(2, 4, 3)  # 54 FLOPs
    row = verdict("t.py::t", "t.py:1", [profile], flops_limit(50))
    assert row.violations == ["FLOP budget exceeded: 54 FLOPs > 50 FLOPs (+8.0%)"]
    assert row.exceeded == ["flops"]
    assert status_label(row, None) == "over:flops"
    assert fails(row)
    assert not fails(row, disabled=True)
    assert not fails(row, updating=True)


def test_ops_with_no_formula_fail_under_strict_even_while_updating():
    profile = dataclasses.replace(linear_profile(2, 4, 3), uncounted={"mylib.op": 2})
    row = verdict("t.py::t", "t.py:1", [profile], Budget(), strict=True)
    assert row.strict_failure == (
        "strict: 1 op has no cost formula: mylib::op (2 calls); teach it in conftest.py: "
        'def pytest_flopbudget_formulas(): return {"mylib::op": formula}'
    )
    assert fails(row, updating=True)
    assert not fails(row, disabled=True)


def test_growth_past_the_threshold_names_the_quantity_and_the_change():
    profile = linear_profile(2, 4, 3)  # 54 FLOPs, 15 params
    previous = {"flops": 45, "params": 15}
    row = verdict("t.py::t", "t.py:1", [profile], Budget(), previous=previous, fail_on_increase=0.1)
    assert row.grown == ["flops"]  # 54 / 45 - 1 = +20.0%; params unchanged
    assert row.violations == [
        "FLOPs grew +20.0% over the last run: 45 FLOPs → 54 FLOPs (allowed +10.0%)"
    ]
    assert status_label(row, previous) == "grew:flops"


def test_work_adds_up_over_recordings_and_parameters_are_the_largest_models():
    small, large = linear_profile(1, 2, 2), linear_profile(3, 8, 4)
    values = measured([small, large])
    assert values["flops"] == small.flops + large.flops
    assert values["macs"] == 1 * 2 * 2 + 3 * 8 * 4
    assert values["params"] == 8 * 4 + 4
    assert values["param_bytes"] == 4 * (8 * 4 + 4)


def test_an_unknown_nullable_quantity_stays_unknown():
    meta = dataclasses.replace(linear_profile(2, 4, 3), nonzero_params=None, sparse_flops=None)
    values = measured([linear_profile(2, 4, 3), meta])
    assert values["sparse_flops"] is None


# --- the table of quantities -------------------------------------------------------------------


def test_every_quantity_is_measured_by_the_profile_under_its_name():
    """A row added to the table without its measurement fails here; an estimate for a device
    is measured by Profile.latency."""
    measured = {q for q in QUANTITIES if not by_name[q].needs_hardware}
    assert measured <= {f.name for f in dataclasses.fields(Profile)}
    assert [q for q in QUANTITIES if q not in measured] == ["latency_ns"]


def test_every_budget_key_comes_from_one_row_with_a_base_unit():
    for row in TABLE:
        # a quantity shown in one fixed unit (a latency in ms) has no key in its base unit (ns)
        assert row.scale or row.keys[base_key(row.name)] == 1
        for key, multiplier in row.keys.items():
            assert LIMIT_KEYS[key] == (row.name, multiplier)
    assert len(LIMIT_KEYS) == sum(len(row.keys) for row in TABLE)


@pytest.mark.parametrize(
    ("key", "multiplier"),
    [("max_kmacs", 10**3), ("max_mmacs", 10**6), ("max_gmacs", 10**9), ("max_tmacs", 10**12)],
)
def test_mac_limits_come_in_every_si_unit(key, multiplier):
    assert LIMIT_KEYS[key] == ("macs", multiplier)


# --- the table of report formats ---------------------------------------------------------------


def test_report_targets_are_read_from_the_table_of_formats():
    terminal, files = parse_targets(["term", "json:a.json", "markdown:b.md"])
    assert terminal
    assert [(kind, str(path)) for kind, path in files] == [("json", "a.json"), ("markdown", "b.md")]


def test_an_unknown_report_format_lists_every_format_of_the_table():
    with pytest.raises(ReportTargetError) as error:
        parse_targets(["xml:x.xml"])
    for name, report in FORMATS.items():
        assert (name if report.render is None else f"{name}:PATH") in str(error.value)
