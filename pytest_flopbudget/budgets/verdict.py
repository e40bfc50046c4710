"""The verdict on one budgeted test, as a pure function: what it measured over everything it
recorded, against its budget, its module budgets and the earlier run, as a `TestRow`.

Rows are plain data: they travel on pytest's test reports (through xdist too) as dicts, and the
controller renders them. No torch, no pytest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_flopbudget.budgets.check import Budget, check
from pytest_flopbudget.budgets.modules import check_modules
from pytest_flopbudget.budgets.phases import check_phases, phases_summary
from pytest_flopbudget.budgets.quantities import (
    HARDWARE_QUANTITIES,
    QUANTITIES,
    by_name,
    combine,
    scaled,
)
from pytest_flopbudget.budgets.values import Distribution, statistic_of
from pytest_flopbudget.text import calls_listed, format_delta, human, relative_change, teach_hint

if TYPE_CHECKING:
    from pytest_flopbudget.engine.hardware import Hardware
    from pytest_flopbudget.engine.profile import Profile

__all__ = [
    "DISTRIBUTION_STATISTICS",
    "GROWTH_QUANTITIES",
    "STATUSES",
    "TestRow",
    "distribution_summary",
    "fails",
    "measured",
    "status",
    "status_label",
    "strict_message",
    "verdict",
]

# worst first: the order the summary sorts by
# failed: the test failed for its own reason (its row holds what ran before); over: a limit
# exceeded; error: a module budget names no recorded module, or a phase budget a phase never
# entered; grew: within its limits but grown
# past --flop-fail-on-increase; uncounted: failed under strict for ops with no cost formula;
# warn: within its limits and fail_on_increase but grown past warn_on_increase (never fails);
# updated: --flop-budget-update rewrote its entry (updated:new, added one); no-module-work:
# nothing ran inside a module, so nothing was measured; new: not in the baseline or last run.
# status_label() adds what: over:flops, over:params+module, grew:flops, updated:new, ...
STATUSES = (
    "failed",
    "over",
    "error",
    "grew",
    "uncounted",
    "warn",
    "updated",
    "no-module-work",
    "new",
    "ok",
)
GROWTH_QUANTITIES = ("flops", "params")  # what fail_on_increase compares with the earlier run
TOP_MODULES = 5
# what the reports show of a recorded distribution (Distribution.statistic's names)
DISTRIBUTION_STATISTICS = ("mean", "std", "min", "p50", "p95", "max")
TREE_LIMIT = 200  # modules kept per test for the reports' module tree: the costliest first

# (name, type, calls, macs, flops, params, bytes moved, estimated latency in ns or None)
Module = tuple[str, str, int, int, int, int, int, int | None]
Op = tuple[str, int, int, int, int]  # (name, calls, macs, flops, bytes moved)


@dataclass(frozen=True)
class TestRow:
    """One budgeted test's measurement against its budget.

    `totals` holds every quantity of the table of quantities (None where unknown), `limits`
    the resolved limits by quantity in base units."""

    __test__ = False  # not a pytest test class

    nodeid: str
    location: str
    count: str
    ran_torch_work: bool
    totals: dict[str, int | None] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    violated_limits: list[str] = field(default_factory=list)
    top_modules: list[tuple[str, str, int]] = field(default_factory=list)
    uncounted: dict[str, int] = field(default_factory=dict)
    pinned: bool = False  # the marker sets limits: --flop-budget-update leaves the test alone
    # the module tree down to the detailed report's depth (carried only when a detailed
    # terminal report is asked for) and the op table
    modules: list[Module] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    strict_failure: str = ""  # under strict, the line naming the ops with no cost formula
    # the module tree the reports keep (every module that ran, at most TREE_LIMIT, the
    # costliest first), how many modules it left out, and the formulas' fingerprint
    tree: list[Module] = field(default_factory=list)
    tree_left_out: int = 0
    fingerprint: str = ""
    # the exceeded quantities in the table's order, then "module" (a module budget); the grown
    exceeded: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    # the quantities grown past warn_on_increase but not past fail_on_increase, and a line each
    # (``FLOPs grew +3.0% over the last run: … (warns past +2.0%)``): they never fail the test
    warned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # {module: {"limits": {quantity: int}, "sources": {...}, "measured": {...} | None}}
    module_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    module_errors: list[str] = field(default_factory=list)  # budgets naming no recorded module
    hardware: str = ""  # the device of the latency estimate ("" without one)
    # the test failed for its own reason (its call raised): the row holds what ran before the
    # exception, and the plugin added no failure of its own
    failed: bool = False
    # what --flop-budget-update did with the test's entry, on the controller: "updated" (an
    # entry rewritten) or "new" (an entry added); "" when it wrote nothing for it
    update: str = ""
    # a test that recorded distributions (profile_each): the statistic its totals are, e.g.
    # "p95" ("" without one), and what the reports show of them (see distribution_summary)
    statistic: str = ""
    distribution: dict[str, Any] = field(default_factory=dict)
    # every phase it entered (see phases.phases_summary), its phase budgets like module_budgets,
    # and the phase budgets naming a phase it never entered
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase_errors: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return self.totals.get("flops") or 0

    @property
    def params(self) -> int:
        return self.totals.get("params") or 0

    @property
    def recorded_flops(self) -> int:
        """All the FLOPs its recordings ran: every input of a distribution together (its
        `flops` are a statistic's). The module tree, the ops and the phases are shares of it."""
        return sum(op[3] for op in self.ops) if self.distribution else self.flops

    @property
    def failure_lines(self) -> list[str]:
        """What fails the test: one line per exceeded limit or growth, a line per module budget
        naming no recorded module or phase budget naming a phase never entered, then the strict
        line."""
        lines = [*self.violations, *self.module_errors, *self.phase_errors]
        return [*lines, self.strict_failure] if self.strict_failure else lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRow:
        values = dict(data)
        for key in ("top_modules", "modules", "ops", "tree"):
            values[key] = [tuple(m) for m in values.get(key, [])]
        return cls(**values)


def _whole(value: float | None) -> int | None:
    """A statistic's value as a whole number, rounded up (a mean of 2.5 FLOPs is 3)."""
    import math

    return None if value is None else math.ceil(value)


def _stat_values(stat: Any) -> dict[str, int | None]:
    """A statistic of a distribution (``dist.p95``) as a recording: each quantity rounded up."""
    names = [q for q in QUANTITIES if q not in HARDWARE_QUANTITIES]
    return {q: _whole(getattr(stat, q, None)) for q in names}


class _Recording:
    """Quantities as attributes, for `combine`."""

    def __init__(self, values: Mapping[str, int | None]) -> None:
        self.__dict__.update(values)


def distribution_summary(distributions: Sequence[Distribution], statistic: str) -> dict[str, Any]:
    """What the reports show of the distributions a test recorded: ``{"count": inputs,
    "statistic": the gated one, "mean": {quantity: value}, "std": ..., "min", "p50", "p95",
    "max"}``, each statistic's quantities rounded up; over several distributions they add up
    (parameters: the largest model's) and ``std`` is None (it does not add up)."""
    summary: dict[str, Any] = {"count": sum(d.count for d in distributions), "statistic": statistic}
    for name in DISTRIBUTION_STATISTICS:
        if name == "std" and len(distributions) > 1:
            summary[name] = None
            continue
        stats = [_Recording(_stat_values(d.statistic(name))) for d in distributions]
        summary[name] = combine(stats, list(_stat_values(distributions[0].statistic(name))))
    return summary


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


def measured(
    profiles: Sequence[Profile], hardware: Hardware | None = None
) -> dict[str, int | None]:
    """Every quantity over everything recorded for one test (see `quantities.combine`: work
    adds up; parameters are those of the largest model recorded); the latency estimate on
    `hardware` (None without one)."""
    values = combine(profiles, [q for q in QUANTITIES if q not in HARDWARE_QUANTITIES])
    for name, value in values.items():  # a known quantity is never None
        if value is None and not by_name[name].nullable:
            values[name] = 0
    latency = None if hardware is None else sum(p.latency(hardware) for p in profiles)
    values["latency_ns"] = None if latency is None else _nanoseconds(latency)
    return {q: values[q] for q in QUANTITIES}


def _merged_modules(
    profiles: Sequence[Profile], depth: int, hardware: Hardware | None = None
) -> list[Module]:
    merged: dict[str, list] = {}
    for p in profiles:
        times = p.module_latency(hardware) if hardware is not None else {}
        for m in p.modules.values():
            if (m.calls or m.flops or m.macs or m.bytes_moved) and m.depth <= depth + 1:
                row = merged.setdefault(
                    m.name, [m.name, m.type_name, 0, 0, 0, m.params, 0, None if not times else 0]
                )
                row[2] += m.calls
                row[3] += m.macs
                row[4] += m.flops
                row[6] += m.bytes_moved
                if times:
                    row[7] += _nanoseconds(times.get(m.name, 0.0))
    return [tuple(row) for row in merged.values()]


def _top_by_time(profiles: Sequence[Profile], hardware: Hardware, total: int) -> str:
    """``est. time by module: backbone 1.20 ms (60%), head 0.40 ms (20%)``: the modules that
    cost the most time, leaving out those that hold all of it."""
    times: dict[str, float] = {}
    for p in profiles:
        for name, seconds in p.module_latency(hardware).items():
            times[name] = times.get(name, 0.0) + seconds
    informative = [(n, _nanoseconds(s)) for n, s in times.items() if 0 < _nanoseconds(s) < total]
    top = sorted(informative, key=lambda item: (-item[1], item[0]))[:TOP_MODULES]
    listed = ", ".join(
        f"{name} {scaled('latency_ns', ns)} ms ({100 * ns / total:.0f}%)" for name, ns in top
    )
    return f"est. time by module: {listed}" if top else ""


def _tree(
    profiles: Sequence[Profile], hardware: Hardware | None = None
) -> tuple[list[Module], int]:
    """Every module that ran (over all recordings), the costliest first, at most TREE_LIMIT;
    and how many were left out."""
    merged = _merged_modules(profiles, 10**9, hardware)
    ordered = sorted(merged, key=lambda m: (-m[4], m[0]))
    return ordered[:TREE_LIMIT], max(len(ordered) - TREE_LIMIT, 0)


def _merged_ops(profiles: Sequence[Profile]) -> list[Op]:
    merged: dict[str, list] = {}
    for p in profiles:
        for op in p.ops.values():
            row = merged.setdefault(op.name, [op.name, 0, 0, 0, 0])
            row[1] += op.calls
            row[2] += op.macs
            row[3] += op.flops
            row[4] += op.bytes_moved
    return [tuple(row) for row in merged.values()]


def _grown(
    values: Mapping[str, int | None], previous: Mapping[str, Any] | None, allowed: float
) -> list[str]:
    """The quantities of GROWTH_QUANTITIES grown more than `allowed` (a fraction) over
    `previous`."""
    before = previous or {}
    return [
        q
        for q in GROWTH_QUANTITIES
        if (change := relative_change(values.get(q), before.get(q))) is not None
        and change > allowed
    ]


def _growth_message(
    quantity: str,
    now: int | None,
    before: int | None,
    allowed: float,
    against: str,
    limit: str = "allowed",
) -> str:
    """``FLOPs grew +20.0% over the last run: 1.00K FLOPs → 1.20K FLOPs (allowed +5.0%)``;
    `limit` names the threshold (``warns past`` for warn_on_increase)."""
    over = "last run" if against == "last" else against
    unit = by_name[quantity].unit
    label = unit or quantity  # "FLOPs grew", "params grew"
    grown = relative_change(now, before)
    return (
        f"{label} grew {format_delta(grown)} over the {over}: "
        f"{human(before, unit)} → {human(now, unit)} ({limit} {format_delta(allowed)})"
    )


# how to teach the counter an op under pytest: the conftest hook (a `text.teach_hint` template)
CONFTEST_HINT = "in conftest.py: def pytest_flopbudget_formulas(): return {mapping}"


def strict_message(uncounted: Mapping[str, int], how: str = CONFTEST_HINT) -> str:
    """``strict: 2 ops have no cost formula: mylib::foo (3 calls), mylib::bar (1 call); teach
    them in conftest.py: def pytest_flopbudget_formulas(): return {"mylib::foo": formula, ...}``:
    each op by the name a formula is registered under, then how to teach the counter (`how`,
    see `text.teach_hint`; left out when each op listed has a formula, which failed)."""
    listed = calls_listed(uncounted)
    ops = "1 op has" if len(uncounted) == 1 else f"{len(uncounted)} ops have"
    hint = teach_hint(uncounted, how)
    return f"strict: {ops} no cost formula: {listed}" + (f"; {hint}" if hint else "")


def verdict(
    nodeid: str,
    location: str,
    profiles: Sequence[Profile],
    budget: Budget,
    *,
    previous: Mapping[str, Any] | None = None,
    fail_on_increase: float | None = None,
    against: str = "last",
    pinned: bool = False,
    strict: bool = False,
    fingerprint: str = "",
    detail_depth: int | None = None,
    hardware: Hardware | None = None,
    distributions: Sequence[Distribution] = (),
) -> TestRow:
    """The row of one test that recorded `profiles`: its quantities against `budget` (limits,
    tolerance and module budgets), its growth over `previous` (the earlier run's totals) when
    `fail_on_increase` is set (`against`: "last" or "baseline"), and under `strict` a failure
    line for ops with no cost formula. `detail_depth` (when a detailed report is wanted) keeps
    the module tree down to that depth. `hardware` (the budget's device, resolved) gives the
    latency estimate.

    `distributions` (recorded by ``profile_each``): the test's quantities are then the budget's
    statistic of each (``p95``; over several, and with `profiles` recorded besides, they add
    up), its failure and growth lines start ``p95 over 100 inputs: ``; the module tree, ops and
    phases count every input's profile."""
    distributions = [d for d in distributions if d.count]
    every = [*profiles, *(p for d in distributions for p in d.profiles)]
    prefix = ""
    if distributions:
        gated = [_Recording(_stat_values(d.statistic(budget.statistic))) for d in distributions]
        values = measured([*profiles, *gated], None)
        if hardware is not None:  # each input's estimate, then the statistic of them
            seconds = sum(p.latency(hardware) for p in profiles) + sum(
                statistic_of([p.latency(hardware) for p in d.profiles], budget.statistic)
                for d in distributions
            )
            values["latency_ns"] = _nanoseconds(seconds)
        prefix = f"{budget.statistic} over {sum(d.count for d in distributions)} inputs: "
    else:
        values = measured(profiles, hardware)
    violations = check(values, budget)
    latency_over = hardware is not None and any(v.quantity == "latency_ns" for v in violations)
    by_time = _top_by_time(profiles, hardware, values["latency_ns"] or 0) if latency_over else ""
    module_check = check_modules(profiles, budget, distributions)
    phase_check = check_phases(every, budget)
    grown, growth = [], []
    if fail_on_increase is not None:
        grown = _grown(values, previous, fail_on_increase)
        before = previous or {}
        growth = [
            _growth_message(q, values.get(q), before.get(q), fail_on_increase, against)
            for q in grown
        ]
    warned, warning_lines = [], []
    if budget.warn_on_increase is not None:
        warned = [q for q in _grown(values, previous, budget.warn_on_increase) if q not in grown]
        before = previous or {}
        warning_lines = [
            prefix
            + _growth_message(
                q, values.get(q), before.get(q), budget.warn_on_increase, against, "warns past"
            )
            for q in warned
        ]
    modules = sorted(
        (m for p in profiles for m in p.top_modules(TOP_MODULES)), key=lambda m: -m.flops
    )[:TOP_MODULES]
    tree, tree_left_out = _tree(profiles, hardware)
    uncounted: dict[str, int] = {}
    for p in profiles:
        for name, calls in p.uncounted.items():
            uncounted[name] = uncounted.get(name, 0) + calls
    return TestRow(
        nodeid=nodeid,
        location=location,
        count=every[0].count,
        ran_torch_work=any(p.ran_torch_work for p in every),
        totals=values,
        limits={quantity: limit.value for quantity, limit in budget.limits.items()},
        violations=[prefix + v.message() for v in violations]
        + [prefix + v.message() for v in module_check.violations]
        + [v.message() for v in phase_check.violations]
        + ([by_time] if by_time else [])
        + [prefix + line for line in growth],
        violated_limits=[f"{v.limit.key} from {v.limit.source}" for v in violations],
        top_modules=[(m.name, m.type_name, m.flops) for m in modules],
        uncounted=uncounted,
        pinned=pinned,
        modules=(
            _merged_modules(every, detail_depth, hardware) if detail_depth is not None else []
        ),
        ops=_merged_ops(every),
        strict_failure=strict_message(uncounted) if strict and uncounted else "",
        tree=tree,
        tree_left_out=tree_left_out,
        fingerprint=fingerprint,
        exceeded=[v.quantity for v in violations]
        + (["module"] if module_check.violations else [])
        + (["phase"] if phase_check.violations else []),
        grown=grown,
        warned=warned,
        warnings=warning_lines,
        module_budgets=dict(module_check.results),
        module_errors=list(module_check.errors),
        hardware=budget.hardware or "",
        statistic=budget.statistic if distributions else "",
        distribution=distribution_summary(distributions, budget.statistic) if distributions else {},
        phases=phases_summary(every),
        phase_budgets=dict(phase_check.results),
        phase_errors=list(phase_check.errors),
    )


def fails(row: TestRow, *, disabled: bool = False, updating: bool = False) -> bool:
    """Whether the row fails its test: a limit exceeded or grown past the threshold (not while
    the budgets are disabled or being updated), or, unless disabled, ops with no cost formula
    under strict, a module budget that names no recorded module or a phase budget naming a
    phase never entered (those fail even while updating: an update cannot fix them)."""
    over_budget = bool(row.violations) and not (disabled or updating)
    unchecked = bool(row.strict_failure or row.module_errors or row.phase_errors)
    return over_budget or (unchecked and not disabled)


def status(row: TestRow, previous: Mapping[str, Any] | None) -> str:
    """The kind of outcome, one of STATUSES (what code compares; status_label() says what)."""
    if row.failed:
        return "failed"
    if row.update and not (row.module_errors or row.phase_errors or row.strict_failure):
        return "updated"  # the update wrote its limits; what still fails it shows instead
    if row.violated_limits or row.exceeded:
        return "over"
    if row.module_errors or row.phase_errors:
        return "error"
    if row.violations:
        return "grew"
    if row.strict_failure:
        return "uncounted"
    if row.warned:
        return "warn"
    if not row.ran_torch_work:
        return "no-module-work"
    if previous is None:
        return "new"
    return "ok"


def status_label(row: TestRow, previous: Mapping[str, Any] | None) -> str:
    """The status as shown and exported: the kind, and for a failure what failed it:
    ``over:flops``, ``over:params+module`` (every exceeded quantity, in the table's order, then
    ``module``, ``phase``), ``grew:flops+params``, ``warn:flops`` (grown past
    warn_on_increase: it never fails), ``error:module`` (``error:phase``); and
    ``updated:new`` for a test the
    update gave a new entry. ``label.split(":")[0]`` is the kind."""
    kind = status(row, previous)
    if kind == "over" and row.exceeded:
        return "over:" + "+".join(row.exceeded)
    if kind == "grew" and row.grown:
        return "grew:" + "+".join(row.grown)
    if kind == "warn":
        return "warn:" + "+".join(row.warned)
    if kind == "error":
        return "error:module" if row.module_errors else "error:phase"
    if kind == "updated" and row.update == "new":
        return "updated:new"
    return kind
