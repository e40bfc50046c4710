"""Budgets on a statistic over inputs (``statistic``) and on phases (``phases``): parsing in the
marker and pyproject.toml, and the verdict against a recorded distribution and Profile.phases.

The distributions and phases here are small stand-ins shaped like the engine's (Distribution:
``count``, ``profiles``, ``statistic(name)``; PhaseStats: ``entries``, ``per_entry``), their
numbers closed forms written here. No pytester, no torch."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.config import ConfigError, load_config
from pytest_flopbudget.budgets.phases import PhaseBudget
from pytest_flopbudget.budgets.resolve import resolve, validate_marker
from pytest_flopbudget.budgets.values import BudgetError, Limit
from pytest_flopbudget.budgets.verdict import fails, status_label, verdict
from pytest_flopbudget.engine.profile import Profile
from tests.budgets.test_verdict import linear_profile

NODE = "tests/test_lm.py::test_generate"

# Linear(4, 3) on a (b, 4) input: 2 * 4 * 3 MACs' FLOPs + 3 bias adds per row = 27 FLOPs per row
PER_ROW = 2 * 4 * 3 + 3


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the sorted values (numpy's default), written out."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


class FakeDistribution:
    """A distribution of profiles shaped like the engine's: `count`, `profiles`, and
    `statistic(name)` with each quantity as an attribute."""

    def __init__(self, profiles: list[Profile]) -> None:
        self.profiles = tuple(profiles)
        self.count = len(profiles)

    def statistic(self, name: str) -> SimpleNamespace:
        names = ("flops", "macs", "params", "nonzero_params", "sparse_flops", "param_bytes")
        stat = {}
        for q in (*names, "bytes_moved"):
            values = [getattr(p, q) for p in self.profiles]
            mean = sum(values) / len(values)
            stat[q] = {
                "mean": mean,
                "std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)),
                "min": min(values),
                "p50": percentile(values, 0.5),
                "p95": percentile(values, 0.95),
                "max": max(values),
            }[name]
        return SimpleNamespace(**stat)


def five_inputs() -> FakeDistribution:
    """Five inputs of 1 to 5 rows: 27, 54, 81, 108, 135 FLOPs."""
    return FakeDistribution([linear_profile(b, 4, 3) for b in range(1, 6)])


def flops_budget(value: int, statistic: str = "mean", tolerance: float = 0.0) -> Budget:
    return Budget(
        limits={"flops": Limit("flops", value, "max_flops", f"marker on {NODE}")},
        tolerance=tolerance,
        statistic=statistic,
    )


# --- statistic: the verdict on a recorded distribution -------------------------------------------


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [
        ("mean", PER_ROW * (1 + 2 + 3 + 4 + 5) // 5),  # 81
        ("p50", PER_ROW * 3),  # the middle of five
        # position 0.95 * 4 = 3.8: 108 + 0.8 * 27 = 129.6, rounded up
        ("p95", math.ceil(PER_ROW * 4 + 0.8 * PER_ROW)),
        ("max", PER_ROW * 5),
    ],
)
def test_a_distributions_totals_are_its_statistic(statistic, expected):
    row = verdict(NODE, "t.py:1", [], flops_budget(10**6, statistic), distributions=[five_inputs()])
    assert row.totals["flops"] == expected
    assert row.totals["params"] == 4 * 3 + 3  # the same model for every input
    assert row.statistic == statistic
    assert row.violations == []


def test_a_statistic_over_its_limit_fails_with_a_line_naming_it():
    p95 = math.ceil(PER_ROW * 4.8)  # 129.6 -> 130
    row = verdict(NODE, "t.py:1", [], flops_budget(120, "p95"), distributions=[five_inputs()])
    assert row.violations == [
        f"p95 over 5 inputs: FLOP budget exceeded: {p95} FLOPs > 120 FLOPs (+8.3%)"
    ]
    assert row.exceeded == ["flops"]
    assert status_label(row, None) == "over:flops"
    assert fails(row)


def test_the_same_distribution_passes_on_its_mean_and_fails_on_its_max():
    limit = PER_ROW * 4  # 108: above the mean (81), below the max (135)
    dist = five_inputs()
    assert verdict(NODE, "t", [], flops_budget(limit), distributions=[dist]).violations == []
    (line,) = verdict(NODE, "t", [], flops_budget(limit, "max"), distributions=[dist]).violations
    assert line.startswith("max over 5 inputs: FLOP budget exceeded: 135 FLOPs > 108 FLOPs")


def test_growth_of_a_statistic_is_named_by_it():
    previous = {"flops": 60, "params": 15}  # the mean grew 60 -> 81: +35.0%
    row = verdict(
        NODE,
        "t",
        [],
        Budget(),
        distributions=[five_inputs()],
        previous=previous,
        fail_on_increase=0.1,
    )
    assert row.violations == [
        "mean over 5 inputs: FLOPs grew +35.0% over the last run: 60 FLOPs → 81 FLOPs "
        "(allowed +10.0%)"
    ]


def test_the_distribution_summary_holds_every_statistic():
    row = verdict(NODE, "t", [], Budget(statistic="p95"), distributions=[five_inputs()])
    summary = row.distribution
    assert summary["count"] == 5 and summary["statistic"] == "p95"
    assert summary["min"]["flops"] == PER_ROW and summary["max"]["flops"] == 5 * PER_ROW
    # population std of 27 * (1..5): 27 * sqrt(2) = 38.18..., rounded up
    assert summary["std"]["flops"] == math.ceil(PER_ROW * math.sqrt(2))
    # the module tree and ops count every input
    assert row.ops[0][3] == PER_ROW * 15


def test_without_a_distribution_the_statistic_changes_nothing():
    profile = linear_profile(2, 4, 3)
    row = verdict(NODE, "t", [profile], flops_budget(50, "p95"))
    assert row.statistic == "" and row.distribution == {}
    assert row.violations == ["FLOP budget exceeded: 54 FLOPs > 50 FLOPs (+8.0%)"]


# --- statistic: where it is set ------------------------------------------------------------------


def pyproject(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_statistic_resolves_marker_then_entry_then_top_level(tmp_path):
    config = load_config(
        pyproject(
            tmp_path,
            '[tool.flopbudget]\nstatistic = "max"\n'
            f'[tool.flopbudget.tests."{NODE}"]\nstatistic = "p50"\n'
            '[tool.flopbudget.tests."tests/other.py::*"]\n',
        )
    )
    assert resolve({}, "tests/other.py::t", config).statistic == "max"
    assert resolve({}, NODE, config).statistic == "p50"
    assert resolve({"statistic": "p95"}, NODE, config).statistic == "p95"
    assert resolve({}, NODE, load_config(None)).statistic == "mean"


def test_a_marker_with_only_a_statistic_validates():
    assert validate_marker({"statistic": "p95", "max_flops": 5}, (), NODE)["flops"].value == 5


@pytest.mark.parametrize(
    ("value", "hint"),
    [("p59", " (did you mean 'p95'?)"), ("median", " (did you mean 'mean'?)"), (95, "")],
)
def test_an_unknown_statistic_in_the_marker_names_key_and_source(value, hint):
    with pytest.raises(BudgetError) as error:
        validate_marker({"statistic": value}, (), NODE)
    assert str(error.value) == (
        f"invalid value {value!r} for 'statistic' in marker on {NODE}: must be one of 'mean', "
        f"'p50', 'p95', 'max'{hint}"
    )


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ('[tool.flopbudget]\nstatistic = "p90"\n', "[tool.flopbudget]"),
        (
            f'[tool.flopbudget.tests."{NODE}"]\nstatistic = "p90"\n',
            f'[tool.flopbudget.tests."{NODE}"]',
        ),
    ],
)
def test_an_unknown_statistic_in_pyproject_names_file_and_table(tmp_path, text, table):
    path = pyproject(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}: invalid value 'p90' for 'statistic' in {table}: must be one of 'mean', "
        "'p50', 'p95', 'max' (did you mean 'p95'?)"
    )


# --- phases: budgets on the entries of a phase ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhasedProfile(Profile):
    """A profile with phases, as the engine's Profile.phases (here until it has them)."""

    phases: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def entry_totals(flops: int) -> SimpleNamespace:
    return SimpleNamespace(flops=flops, macs=flops // 2, bytes_moved=4 * flops)


def phased(**phases: list[int]) -> PhasedProfile:
    """A profile that entered each named phase once per FLOP count given."""
    stats = {
        name: SimpleNamespace(
            name=name, entries=len(flops), per_entry=tuple(entry_totals(f) for f in flops)
        )
        for name, flops in phases.items()
    }
    base = linear_profile(1, 4, 3)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.name != "phases"}
    return PhasedProfile(**fields, phases=stats)


# decode step t (t = 0..3) over P + t = 6 + t positions: 1000 + 100 * (6 + t) FLOPs
DECODE = [1000 + 100 * (6 + t) for t in range(4)]  # 1600, 1700, 1800, 1900
PREFILL = [12_000]


def phase_budget(statistic: str | None = None, **limits: int) -> Budget:
    source = f"marker on {NODE}, phase 'decode'"
    parsed = {
        "flops" if "flops" in k else "macs": Limit(
            "flops" if "flops" in k else "macs", v, k, source
        )
        for k, v in limits.items()
    }
    return Budget(phases={"decode": PhaseBudget(parsed, statistic or "max")})


def test_a_phase_budget_applies_to_the_costliest_entry_by_default():
    profile = phased(prefill=PREFILL, decode=DECODE)
    assert verdict(NODE, "t", [profile], phase_budget(max_flops=1900)).violations == []
    row = verdict(NODE, "t", [profile], phase_budget(max_flops=1800))
    assert row.violations == ["decode (max per entry): 1.90 KFLOPs > 1.80 KFLOPs (+5.6%)"]
    assert row.exceeded == ["phase"] and status_label(row, None) == "over:phase"
    assert row.phase_budgets["decode"]["measured"]["flops"] == max(DECODE)
    assert fails(row)


def test_a_phase_budget_on_the_mean_or_the_total_of_its_entries():
    profile = phased(decode=DECODE)
    mean = sum(DECODE) // 4  # 1750, a whole number
    assert verdict(NODE, "t", [profile], phase_budget("mean", max_flops=mean)).violations == []
    row = verdict(NODE, "t", [profile], phase_budget("mean", max_flops=1700))
    assert row.violations == ["decode (mean per entry): 1.75 KFLOPs > 1.70 KFLOPs (+2.9%)"]
    total = sum(DECODE)  # 7000
    assert verdict(NODE, "t", [profile], phase_budget("total", max_flops=total)).violations == []
    row = verdict(NODE, "t", [profile], phase_budget("total", max_flops=6900))
    # 7000 / 6900 - 1 = +1.4%
    assert row.violations == ["decode (total over 4 entries): 7.00 KFLOPs > 6.90 KFLOPs (+1.4%)"]


def test_a_phase_budget_names_a_quantity_without_a_unit_of_its_own():
    profile = phased(decode=DECODE)
    row = verdict(NODE, "t", [profile], phase_budget(max_macs=900))
    assert row.violations == ["decode (max per entry): 950 MACs > 900 MACs (+5.6%)"]


def test_phase_entries_add_up_over_recordings():
    first, second = phased(decode=DECODE[:2]), phased(decode=DECODE[2:])
    row = verdict(NODE, "t", [first, second], phase_budget("total", max_flops=10**6))
    assert row.phase_budgets["decode"]["measured"]["flops"] == sum(DECODE)
    assert row.phases["decode"]["entries"] == 4
    assert row.phases["decode"]["last"]["flops"] == DECODE[-1]


def test_a_phase_never_entered_is_an_error_line_listing_the_phases_entered():
    profile = phased(prefill=PREFILL, decoder=DECODE)
    row = verdict(NODE, "t", [profile], phase_budget(max_flops=10**6))
    assert row.phase_errors == [
        "phase budget 'decode': the test never entered that phase (it entered: prefill, "
        "decoder (did you mean 'decoder'?))"
    ]
    assert status_label(row, None) == "error:phase"
    assert fails(row, updating=True) and not fails(row, disabled=True)
    assert row.failure_lines == row.phase_errors


def test_a_phase_budget_in_a_test_that_entered_no_phase():
    row = verdict(NODE, "t", [linear_profile(1, 4, 3)], phase_budget(max_flops=10**6))
    assert row.phase_errors == [
        "phase budget 'decode': the test never entered that phase (it entered no phase)"
    ]


def test_the_phases_summary_reports_every_phase_entered():
    row = verdict(NODE, "t", [phased(prefill=PREFILL, decode=DECODE)], Budget())
    decode = row.phases["decode"]
    assert decode["entries"] == 4
    assert decode["total"]["flops"] == sum(DECODE)
    assert decode["mean"]["flops"] == sum(DECODE) // 4
    assert decode["max"]["flops"] == 1900 and decode["last"]["flops"] == 1900
    assert decode["max"]["bytes_moved"] == 4 * 1900
    assert row.phases["prefill"]["entries"] == 1


# --- phases: where they are set ------------------------------------------------------------------


def test_phase_budgets_resolve_per_phase_quantity_and_statistic(tmp_path):
    config = load_config(
        pyproject(
            tmp_path,
            f'[tool.flopbudget.tests."{NODE}".phases."decode"]\n'
            'max_mflops = 5\nmax_kmacs = 3\nstatistic = "mean"\n'
            '[tool.flopbudget.tests."tests/*".phases."prefill"]\nmax_gflops = 1\n',
        )
    )
    budget = resolve({"phases": {"decode": {"max_mflops": 4}}}, NODE, config)
    decode, prefill = budget.phases["decode"], budget.phases["prefill"]
    assert decode.limits["flops"].value == 4 * 10**6
    assert decode.limits["flops"].source == f"marker on {NODE}, phase 'decode'"
    assert decode.limits["macs"].value == 3 * 10**3
    assert decode.limits["macs"].source == (
        f'pyproject.toml [tool.flopbudget.tests."{NODE}".phases."decode"]'
    )
    assert decode.statistic == "mean"  # from the entry: the marker did not set one
    assert prefill.statistic == "max" and prefill.limits["flops"].value == 10**9
    marker = {"phases": {"decode": {"max_mflops": 4, "statistic": "total"}}}
    assert resolve(marker, NODE, config).phases["decode"].statistic == "total"


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        (
            {"decode": {"max_params": 5}},
            f"budget key 'max_params' in marker on {NODE}, phase 'decode': params is not "
            "measured per phase; phase budgets accept max_flops, max_kflops, max_mflops, "
            "max_gflops, max_tflops, max_macs, max_kmacs, max_mmacs, max_gmacs, max_tmacs, "
            "max_bytes_moved, statistic",
        ),
        (
            {"decode": {"max_mflop": 5}},
            f"budget key 'max_mflop' in marker on {NODE}, phase 'decode': not a budget key "
            "(did you mean 'max_mflops'?); phase budgets accept max_flops, max_kflops, "
            "max_mflops, max_gflops, max_tflops, max_macs, max_kmacs, max_mmacs, max_gmacs, "
            "max_tmacs, max_bytes_moved, statistic",
        ),
        (
            {"decode": {"max_mflops": 5, "statistic": "p95"}},
            f"invalid value 'p95' for 'statistic' in marker on {NODE}, phase 'decode': must be "
            "one of 'max', 'mean', 'total'",
        ),
        (
            {"decode": {"statistic": "max"}},
            f"budget of marker on {NODE}, phase 'decode' has no limit keys",
        ),
        (
            ["decode"],
            f"'phases' in marker on {NODE} must map phase names to budgets, e.g. "
            "{'decode': {'max_mflops': 5}}, got ['decode']",
        ),
    ],
)
def test_a_bad_phase_budget_in_the_marker_names_phase_and_key(phases, message):
    with pytest.raises(BudgetError) as error:
        validate_marker({"phases": phases}, (), NODE)
    assert str(error.value) == message


def test_a_bad_phase_budget_in_pyproject_names_file_and_table(tmp_path):
    path = pyproject(
        tmp_path, f'[tool.flopbudget.tests."{NODE}".phases."decode"]\nmax_params = 5\n'
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(
        f"{path}: budget key 'max_params' in "
        f'[tool.flopbudget.tests."{NODE}".phases."decode"]: params is not measured per phase'
    )


def test_top_level_phase_defaults_are_not_accepted(tmp_path):
    path = pyproject(tmp_path, '[tool.flopbudget.phases."decode"]\nmax_mflops = 5\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}: [tool.flopbudget] key 'phases': phase budgets go in a tests entry, "
        '[tool.flopbudget.tests."<node id>".phases."<phase>"]'
    )


# --- the statistic of values a Distribution has no attribute for ---------------------------------


@pytest.mark.parametrize("name", ["mean", "p50", "p95", "max"])
def test_statistic_of_follows_the_engines_rule(name):
    from pytest_flopbudget.budgets.values import statistic_of
    from pytest_flopbudget.engine.distribution import Distribution

    values = [5, 1, 4, 2, 3, 10, 7]
    profiles = tuple(linear_profile(v, 4, 3) for v in values)
    engine = Distribution(len(profiles), profiles).statistic(name).flops
    assert statistic_of([p.flops for p in profiles], name) == pytest.approx(engine)
    expected = {"mean": 32 / 7, "p50": 4, "p95": 7 + 0.7 * (10 - 7), "max": 10}[name]
    assert statistic_of(values, name) == pytest.approx(expected)  # p95: position 5.7


@dataclasses.dataclass(frozen=True)
class TimedProfile(Profile):
    """A profile whose latency estimate is given (seconds)."""

    seconds: float = 0.0

    def latency(self, hardware: object) -> float:
        return self.seconds


def test_a_latency_limit_is_checked_on_the_statistic_of_each_inputs_estimate():
    from pytest_flopbudget.engine.hardware import find_hardware

    base = linear_profile(1, 4, 3)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    times = [0.001, 0.002, 0.003, 0.004, 0.005]  # seconds
    dist = FakeDistribution([TimedProfile(**fields, seconds=s) for s in times])
    limit = Limit("latency_ns", 4_500_000, "max_latency_ms", "marker")  # 4.5 ms
    budget = Budget(limits={"latency_ns": limit}, statistic="p95", hardware="h100")
    row = verdict(NODE, "t", [], budget, distributions=[dist], hardware=find_hardware("h100"))
    assert row.totals["latency_ns"] == 4_800_000  # 4 ms + 0.8 * 1 ms
    assert row.violations == ["p95 over 5 inputs: est. latency on h100: 4.80 ms > 4.50 ms (+6.7%)"]
