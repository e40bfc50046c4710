"""What one budgeted test measured (a row), its status and deltas, and their rendering.

Rows are plain data: they travel on pytest's test reports (through xdist too) as dicts, and the
controller renders them. This module imports no torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .budget import Budget, Violation, format_delta, human
from .result import Profile, columns, module_label, op_table, share

if TYPE_CHECKING:
    from .module_budgets import ModuleCheck

__all__ = [
    "STATUSES",
    "TestRow",
    "build_row",
    "delta",
    "detail_lines",
    "failure_text",
    "grown_quantities",
    "growth_messages",
    "measured",
    "status",
    "status_label",
    "strict_message",
    "summary_lines",
    "uncounted_hint",
]

# worst first: the order the summary sorts by
# over: a limit exceeded; error: a module budget names no recorded module; grew: within its
# limits but grown past --flop-fail-on-increase; uncounted: failed under strict for ops with no
# cost formula. status_label() adds what: over:flops, over:params+module, grew:flops, ...
STATUSES = ("over", "error", "grew", "uncounted", "no-torch-work", "new", "ok")
# the colour of each status in the terminal (when pytest colours its output)
COLOURS = {"over": "red", "error": "red", "uncounted": "red", "grew": "yellow", "ok": "green"}
LOWER_BOUND = "≥"  # marks the FLOPs of a test that ran ops with no cost formula
TOP_MODULES = 5
FOLD_AFTER = 8  # children shown per module in the detailed tree; the rest fold into "other"
TREE_LIMIT = 200  # modules kept per test for the reports' module tree: the costliest first


@dataclass(frozen=True)
class TestRow:
    """One budgeted test's measurement against its budget."""

    __test__ = False  # not a pytest test class

    nodeid: str
    location: str
    count: str
    ran_torch_work: bool
    flops: int
    macs: int
    params: int
    nonzero_params: int | None
    sparse_flops: int | None
    param_bytes: int = 0
    limits: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    violated_limits: list[str] = field(default_factory=list)
    top_modules: list[tuple[str, str, int]] = field(default_factory=list)
    uncounted: dict[str, int] = field(default_factory=dict)
    pinned: bool = False  # the marker sets limits: --flop-budget-update leaves the test alone
    # (name, type, calls, macs, flops, params) per module and (name, calls, macs, flops) per op,
    # carried only when a detailed terminal report is asked for
    modules: list[tuple[str, str, int, int, int, int]] = field(default_factory=list)
    ops: list[tuple[str, int, int, int]] = field(default_factory=list)
    strict_failure: str = ""  # under strict, the line naming the ops with no cost formula
    # the module tree the reports keep (every module that ran, at most TREE_LIMIT, the
    # costliest first), how many modules it left out, and the formulas' fingerprint
    tree: list[tuple[str, str, int, int, int, int]] = field(default_factory=list)
    tree_left_out: int = 0
    fingerprint: str = ""
    # the exceeded quantities in QUANTITIES order, then "module" (a module budget); the grown ones
    exceeded: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    # {module: {"limits": {quantity: int}, "sources": {...}, "measured": {...} | None}}
    module_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    module_errors: list[str] = field(default_factory=list)  # budgets naming no recorded module

    @property
    def failure_lines(self) -> list[str]:
        """What fails the test: one line per exceeded limit or growth, a line per module budget
        naming no recorded module, then the strict line."""
        lines = [*self.violations, *self.module_errors]
        return [*lines, self.strict_failure] if self.strict_failure else lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRow:
        values = dict(data)
        for key in ("top_modules", "modules", "ops", "tree"):
            values[key] = [tuple(m) for m in values.get(key, [])]
        return cls(**values)


def measured(profiles: Sequence[Profile]) -> dict[str, int | None]:
    """The quantities a budget checks, over everything recorded for one test.

    Work adds up over several recordings; parameters are those of the largest model recorded
    (profiling one model twice must not double its parameters).
    """

    def total(name: str) -> int | None:
        values = [getattr(p, name) for p in profiles]
        return None if any(v is None for v in values) else sum(values)

    largest = max(profiles, key=lambda p: p.params)
    return {
        "flops": total("flops"),
        "macs": total("macs"),
        "sparse_flops": total("sparse_flops"),
        "params": largest.params,
        "nonzero_params": largest.nonzero_params,
        "param_bytes": largest.param_bytes,
    }


def _module_detail(profiles: Sequence[Profile], depth: int) -> list[tuple]:
    merged: dict[str, list] = {}
    for p in profiles:
        for m in p.modules.values():
            if (m.calls or m.flops or m.macs) and m.depth <= depth + 1:
                row = merged.setdefault(m.name, [m.name, m.type_name, 0, 0, 0, m.params])
                row[2] += m.calls
                row[3] += m.macs
                row[4] += m.flops
    return [tuple(row) for row in merged.values()]


def _tree(profiles: Sequence[Profile]) -> tuple[list[tuple], int]:
    """Every module that ran (over all recordings), the costliest first, at most TREE_LIMIT;
    and how many were left out."""
    merged = _module_detail(profiles, depth=10**9)
    ordered = sorted(merged, key=lambda m: (-m[4], m[0]))
    return ordered[:TREE_LIMIT], max(len(ordered) - TREE_LIMIT, 0)


def _op_detail(profiles: Sequence[Profile]) -> list[tuple[str, int, int, int]]:
    merged: dict[str, list] = {}
    for p in profiles:
        for op in p.ops.values():
            row = merged.setdefault(op.name, [op.name, 0, 0, 0])
            row[1] += op.calls
            row[2] += op.macs
            row[3] += op.flops
    return [tuple(row) for row in merged.values()]


def grown_quantities(
    row_values: Mapping[str, int | None], previous: Mapping[str, Any] | None, allowed: float
) -> list[str]:
    """ "flops" and/or "params", when grown more than `allowed` (a fraction) over `previous`."""
    grown = []
    for quantity in ("flops", "params"):
        change = delta(row_values.get(quantity), (previous or {}).get(quantity))
        if change is not None and change > allowed:
            grown.append(quantity)
    return grown


def growth_messages(
    row_values: Mapping[str, int | None],
    previous: Mapping[str, Any] | None,
    allowed: float,
    against: str,
) -> list[str]:
    """FLOPs or params that grew more than `allowed` (a fraction) over `previous` (the
    "baseline" or the "last" run: `against`)."""
    over = "last run" if against == "last" else against
    messages = []
    grown_ones = grown_quantities(row_values, previous, allowed)
    for quantity, label, unit in (("flops", "FLOPs", "FLOPs"), ("params", "params", "")):
        now, before = row_values.get(quantity), (previous or {}).get(quantity)
        grown = delta(now, before)
        if quantity in grown_ones:
            messages.append(
                f"{label} grew {format_delta(grown)} over the {over}: "
                f"{human(before, unit)} -> {human(now, unit)} (allowed {format_delta(allowed)})"
            )
    return messages


def strict_message(uncounted: Mapping[str, int]) -> str:
    """``strict: 2 ops have no cost formula: aten.foo (3 calls), aten.bar (1 call)``."""
    listed = ", ".join(
        f"{name} ({calls} call{'' if calls == 1 else 's'})" for name, calls in uncounted.items()
    )
    ops = "1 op has" if len(uncounted) == 1 else f"{len(uncounted)} ops have"
    return f"strict: {ops} no cost formula: {listed}"


def build_row(
    nodeid: str,
    location: str,
    profiles: Sequence[Profile],
    budget: Budget,
    violations: Sequence[Violation],
    growth: Sequence[str] = (),
    pinned: bool = False,
    detail_depth: int | None = None,
    strict: bool = False,
    fingerprint: str = "",
    grown: Sequence[str] = (),
    module_check: ModuleCheck | None = None,
) -> TestRow:
    """The row of one test; `detail_depth` (when a detailed report is wanted) keeps the module
    tree down to that depth and the op table; under `strict`, ops with no cost formula make a
    failure line; `grown` names the quantities behind the `growth` lines; `module_check` is the
    outcome of the test's module budgets (`module_check`)."""
    module_violations = module_check.violations if module_check is not None else []
    values = measured(profiles)
    modules = sorted(
        (m for p in profiles for m in p.top_modules(TOP_MODULES)), key=lambda m: -m.flops
    )[:TOP_MODULES]
    tree, tree_left_out = _tree(profiles)
    uncounted: dict[str, int] = {}
    for p in profiles:
        for name, calls in p.uncounted.items():
            uncounted[name] = uncounted.get(name, 0) + calls
    return TestRow(
        nodeid=nodeid,
        location=location,
        count=profiles[0].count,
        ran_torch_work=any(p.ran_torch_work for p in profiles),
        flops=values["flops"] or 0,
        macs=values["macs"] or 0,
        params=values["params"] or 0,
        nonzero_params=values["nonzero_params"],
        sparse_flops=values["sparse_flops"],
        param_bytes=values["param_bytes"] or 0,
        limits={quantity: limit.value for quantity, limit in budget.limits.items()},
        violations=[v.message() for v in [*violations, *module_violations]] + list(growth),
        violated_limits=[f"{v.limit.key} from {v.limit.source}" for v in violations],
        top_modules=[(m.name, m.type_name, m.flops) for m in modules],
        uncounted=uncounted,
        pinned=pinned,
        modules=_module_detail(profiles, detail_depth) if detail_depth is not None else [],
        ops=_op_detail(profiles),
        strict_failure=strict_message(uncounted) if strict and uncounted else "",
        tree=tree,
        tree_left_out=tree_left_out,
        fingerprint=fingerprint,
        exceeded=[v.quantity for v in violations] + (["module"] if module_violations else []),
        grown=list(grown) if growth else [],
        module_budgets=dict(module_check.results) if module_check is not None else {},
        module_errors=list(module_check.errors) if module_check is not None else [],
    )


def status(row: TestRow, previous: Mapping[str, Any] | None) -> str:
    """The kind of outcome, one of STATUSES (what code compares; status_label() says what)."""
    if row.violated_limits or row.exceeded:
        return "over"
    if row.module_errors:
        return "error"
    if row.violations:
        return "grew"
    if row.strict_failure:
        return "uncounted"
    if not row.ran_torch_work:
        return "no-torch-work"
    if previous is None:
        return "new"
    return "ok"


def status_label(row: TestRow, previous: Mapping[str, Any] | None) -> str:
    """The status as shown and exported: the kind, and for a failure what failed it:
    ``over:flops``, ``over:params+module`` (every exceeded quantity, in QUANTITIES order, then
    ``module``), ``grew:flops+params``, ``error:module``. ``label.split(":")[0]`` is the kind."""
    kind = status(row, previous)
    if kind == "over" and row.exceeded:
        return "over:" + "+".join(row.exceeded)
    if kind == "grew" and row.grown:
        return "grew:" + "+".join(row.grown)
    if kind == "error":
        return "error:module"
    return kind


def delta(now: int | None, before: int | None) -> float | None:
    """The relative change from `before` to `now`; None when either is unknown or before is 0."""
    if now is None or not before:
        return None
    return now / before - 1


def failure_text(row: TestRow, changes: Sequence[str] = ()) -> str:
    """One line per exceeded limit (and the strict line), then `changes` (the modules whose
    FLOPs changed most against the baseline or last run), the costliest modules and any
    uncounted ops."""
    lines = list(row.failure_lines)
    over_modules = [
        entry["sources"][quantity]
        for entry in row.module_budgets.values()
        for quantity in entry["over"]
    ]
    if row.violated_limits or over_modules:
        lines.append("(" + "; ".join([*row.violated_limits, *over_modules]) + ")")
    if changes:
        lines += ["", *changes]
    if row.top_modules:
        lines += ["", f"top modules by FLOPs ({row.count} convention):"]
        width = max(len(f"{name} ({kind})") for name, kind, _ in row.top_modules)
        for name, kind, flops in row.top_modules:
            share = f"{100 * flops / row.flops:5.1f}%" if row.flops else ""
            lines.append(f"  {f'{name} ({kind})':<{width}}  {human(flops, 'FLOPs'):>12}  {share}")
    if row.uncounted and not row.strict_failure:  # the strict line names them already
        listed = ", ".join(f"{name} ×{calls}" for name, calls in row.uncounted.items())
        lines += ["", f"uncounted ops (counted as 0 FLOPs): {listed}"]
    return "\n".join(lines)


def _sort_key(row: TestRow, row_status: str) -> tuple:
    over_budget = delta(row.flops, row.limits.get("flops"))
    return (
        STATUSES.index(row_status),
        -(over_budget if over_budget is not None else float("-inf")),
        row.nodeid,
    )


def _text(value: float | None) -> str:
    return "-" if value is None else format_delta(value)


def _cells(row: TestRow, row_status: str, before: Mapping[str, Any], verbose: bool) -> list[str]:
    measured_anything = row.ran_torch_work
    flops_limit = row.limits.get("flops")
    lower_bound = LOWER_BOUND if row.uncounted else ""
    cells = [
        row_status,
        lower_bound + human(row.flops) if measured_anything else "-",
        human(flops_limit),
        _text(delta(row.flops, flops_limit)) if measured_anything else "-",
        _text(delta(row.flops, before.get("flops"))) if measured_anything else "-",
        human(row.params) if measured_anything else "-",
        human(row.nonzero_params) if measured_anything else "-",
    ]
    if not verbose:
        return cells
    if not measured_anything:
        return [*cells, "-", "-"]
    return [*cells, human(row.macs), f"{human(row.param_bytes)}B"]


def _line(cells: list[str], widths: list[int], paint: Callable[[str], str] | None = None) -> str:
    """Cells padded to `widths` (the first left-aligned); `paint` colours the first cell's text
    after the padding is computed, so escape codes never count towards a width."""
    first = cells[0] if paint is None else paint(cells[0])
    return " ".join(
        [first + " " * (widths[0] - len(cells[0]))]
        + [f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:], strict=True)]
    )


Markup = Callable[..., str]  # TerminalWriter.markup: (text, red=True) -> text in escape codes


def _painter(markup: Markup | None, kind: str) -> Callable[[str], str] | None:
    colour = COLOURS.get(kind)
    if markup is None or colour is None:
        return None
    return lambda text: markup(text, **{colour: True})


def uncounted_hint(rows: Sequence[TestRow]) -> str | None:
    """The line that says how many tests ran ops with no cost formula, and where to see them."""
    n = sum(1 for row in rows if row.uncounted)
    if not n:
        return None
    tests = "1 test" if n == 1 else f"{n} tests"
    return (
        f"{tests} ran ops with no cost formula (their FLOPs, marked {LOWER_BOUND}, are a lower "
        "bound): see -v, --flop-report, or set strict"
    )


def summary_lines(
    rows: Sequence[TestRow],
    previous: Mapping[str, Mapping[str, Any]],
    verbosity: int = 0,
    width: int = 80,
    against: str = "last",
    markup: Markup | None = None,
) -> list[str]:
    """The `flop budget` section: one row per test, the worst first.

    Columns: status, FLOPs, the FLOP budget, Δ to that budget (negative is headroom), Δ against
    `previous` (the last run, or a baseline: `against` names it), params, nonzero params, and the
    node id; MACs and parameter bytes too with `verbosity` > 0. When a node id does not fit
    beside the numbers in `width` columns, every node id goes on its own line above its numbers.
    The FLOPs of a test that ran ops with no cost formula are marked as a lower bound, and a line
    under the table counts those tests (`verbosity` > 0 lists their ops). With `verbosity` < 0,
    one line of counts. The status is status_label()'s, coloured by `markup` (a TerminalWriter's,
    which colours only when pytest does): red over, error and uncounted, yellow grew, green ok.
    Columns are as wide as their widest cell; the rule under the header is as wide as the table.
    """
    statuses = {row.nodeid: status(row, previous.get(row.nodeid)) for row in rows}
    if verbosity < 0:
        counts = {s: sum(1 for v in statuses.values() if v == s) for s in STATUSES}
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        with_uncounted = sum(1 for row in rows if row.uncounted)
        if with_uncounted:
            parts.append(f"{with_uncounted} ran ops with no cost formula")
        return [f"flop budget: {len(rows)} budgeted test(s): " + ", ".join(parts)]
    verbose = verbosity > 0
    ordered = sorted(rows, key=lambda r: _sort_key(r, statuses[r.nodeid]))
    columns = ["status", "FLOPs", "budget", "Δbudget", f"Δ{against}", "params", "nonzero"]
    roomy = [13, 7, 7, 8, 8, 7, 7]  # the column widths when the table fits in `width`
    if verbose:
        columns += ["MACs", "bytes"]
        roomy += [7, 8]
    table = [
        _cells(
            row,
            status_label(row, previous.get(row.nodeid)),
            previous.get(row.nodeid) or {},
            verbose,
        )
        for row in ordered
    ]
    # each column as wide as its widest cell (header included), roomier when that still fits
    tight = [max(len(cells[i]) for cells in [columns, *table]) for i in range(len(columns))]
    widths = [max(w, t) for w, t in zip(roomy, tight, strict=True)]
    if sum(widths) + len(widths) - 1 > width:
        widths = tight
    header = _line(columns, widths)
    one_line = all(len(header) + 1 + len(r.nodeid) <= width for r in rows)
    if one_line:
        table_width = len(header) + 1 + max(len("test"), *(len(r.nodeid) for r in rows))
        lines = [f"{header} test", "-" * table_width]
    else:
        lines = ["test", header, "-" * len(header)]
    for row, cells in zip(ordered, table, strict=True):
        text = _line(cells, widths, _painter(markup, statuses[row.nodeid]))
        lines += [f"{text} {row.nodeid}"] if one_line else [row.nodeid, text]
    hint = uncounted_hint(rows)
    if hint:
        lines.append(hint)
    if verbose:
        for row in ordered:
            if row.uncounted:
                listed = ", ".join(f"{n} ×{c}" for n, c in row.uncounted.items())
                lines.append(f"{row.nodeid}: uncounted ops {listed}")
    return lines


def _parent(name: str, names: set[str]) -> str | None:
    while "." in name:
        name = name.rsplit(".", 1)[0]
        if name in names:
            return name
    return "" if name != "" and "" in names else None


def detail_lines(row: TestRow, depth: int) -> list[str]:
    """The detailed report of one test: the module tree (down to `depth` levels below the
    roots, the costliest first, children past the first few folded into "other"), the op table
    and the uncounted ops."""
    lines = [
        f"{row.nodeid}: {human(row.flops, 'FLOPs')} ({row.count}), {human(row.macs, 'MACs')}, "
        f"params {human(row.params)} ({human(row.param_bytes, 'B')})"
    ]
    names = {m[0] for m in row.modules}
    children: dict[str | None, list[tuple]] = defaultdict(list)
    for module in row.modules:
        children[_parent(module[0], names)].append(module)
    table = [("module", "calls", "params", "MACs", "FLOPs", "share")]

    def walk(parent: str | None, level: int) -> None:
        ordered = sorted(children.get(parent, []), key=lambda m: (-m[4], m[0]))
        shown, folded = ordered[:FOLD_AFTER], ordered[FOLD_AFTER:]
        for name, kind, calls, macs, flops, params in shown:
            label = module_label(name, parent or "") if name else kind
            table.append(
                (
                    "  " * level + (f"{label} ({kind})" if label != kind else kind),
                    str(calls),
                    human(params),
                    human(macs),
                    human(flops),
                    share(flops, row.flops),
                )
            )
            if level < depth:
                walk(name, level + 1)
        if folded:
            macs = sum(m[3] for m in folded)
            flops = sum(m[4] for m in folded)
            table.append(
                (
                    "  " * level + f"other ({len(folded)} modules)",
                    str(sum(m[2] for m in folded)),
                    human(sum(m[5] for m in folded)),
                    human(macs),
                    human(flops),
                    share(flops, row.flops),
                )
            )

    walk(None, 0)
    if len(table) > 1:
        lines += columns(table)
    if row.ops:
        lines += ["", *op_table(row.ops, row.flops)]
    if row.uncounted:
        listed = ", ".join(f"{n} ×{c}" for n, c in row.uncounted.items())
        lines += ["", f"uncounted ops (counted as 0 FLOPs): {listed}"]
    return lines
