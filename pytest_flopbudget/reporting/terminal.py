"""The terminal: the `flop budget` summary table, the failure text of a test, and the detailed
per-module report of `--flop-report`. No torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_flopbudget.budgets.quantities import TABLE, Quantity, scaled
from pytest_flopbudget.budgets.verdict import (
    DISTRIBUTION_STATISTICS,
    STATUSES,
    TestRow,
    status,
    status_label,
)
from pytest_flopbudget.engine.profile import flop_per_byte, intensity, module_label, op_table
from pytest_flopbudget.reporting.deltas import WhyItChanged
from pytest_flopbudget.text import (
    columns,
    format_delta,
    human,
    relative_change,
    share,
    times_listed,
)

__all__ = [
    "LOWER_BOUND",
    "detail_lines",
    "failure_text",
    "summary_lines",
    "uncounted_hint",
]

# the colour of each status in the terminal (when pytest colours its output)
COLOURS = {
    **dict.fromkeys(("failed", "over", "error", "uncounted"), "red"),
    **dict.fromkeys(("grew", "warn"), "yellow"),
    "updated": "cyan",
    "ok": "green",
}
LOWER_BOUND = "≥"  # marks the FLOPs of a test that ran ops with no cost formula
ELLIPSIS = "…"  # where the summary cut the middle of a node id
SHARED_PREFIX = "node ids below are in "  # the line above the table when ids are shortened
ID_ROOM = 12  # the least room a node id gets in the summary (a narrower terminal wraps the line)
FOLD_AFTER = 8  # children shown per module in the detailed tree; the rest fold into "other"
# the summary's columns of plain numbers, from the table of quantities: -v only ones last
PLAIN_COLUMNS = sorted((q for q in TABLE if q.column), key=lambda q: q.verbose)


def failure_text(row: TestRow, why: WhyItChanged | None = None) -> str:
    """One line per exceeded limit (and the strict line), then `why` (the modules that explain
    the FLOP change against the baseline or last run), the costliest modules besides those and
    any uncounted ops."""
    lines = list(row.failure_lines)
    over_modules = [
        entry["sources"][quantity]
        for entry in [*row.module_budgets.values(), *row.phase_budgets.values()]
        for quantity in entry["over"]
    ]
    if row.violated_limits or over_modules:
        lines.append("(" + "; ".join([*row.violated_limits, *over_modules]) + ")")
    explained = why.lines() if why is not None else []
    if explained:
        lines += ["", *explained]
    named = why.names if explained and why is not None else set()
    top = [module for module in row.top_modules if module[0] not in named]
    if top:
        besides = ", besides those above" if len(top) < len(row.top_modules) else ""
        lines += ["", f"top modules by FLOPs ({row.count} convention{besides}):"]
        width = max(len(f"{name} ({kind})") for name, kind, _ in top)
        for name, kind, flops in top:
            whole = row.recorded_flops
            share = f"{100 * flops / whole:5.1f}%" if whole else ""
            lines.append(f"  {f'{name} ({kind})':<{width}}  {human(flops, 'FLOPs'):>12}  {share}")
    if row.uncounted and not row.strict_failure:  # the strict line names them already
        lines += ["", f"uncounted ops (counted as 0 FLOPs): {times_listed(row.uncounted)}"]
    return "\n".join(lines)


def _sort_key(row: TestRow, row_status: str) -> tuple:
    over_budget = relative_change(row.flops, row.limits.get("flops"))
    return (
        STATUSES.index(row_status),
        -(over_budget if over_budget is not None else float("-inf")),
        row.nodeid,
    )


def _text(value: float | None) -> str:
    return "-" if value is None else format_delta(value)


def _plain_columns(rows: list[TestRow], verbose: bool) -> list[Quantity]:
    """The columns of plain numbers: -v ones under -v only, an estimate's only where some test
    has one (a device is set)."""
    return [
        q
        for q in PLAIN_COLUMNS
        if (verbose or not q.verbose)
        and (not q.needs_hardware or any(r.totals.get(q.name) is not None for r in rows))
    ]


def _cell(q: Quantity, value: int | None) -> str:
    if value is None:
        return "-"
    return scaled(q.name, value) if q.scale else f"{human(value)}{q.cell_unit}"


def _cells(
    row: TestRow, row_status: str, before: Mapping[str, Any], plain: list[Quantity]
) -> list[str]:
    measured_anything = row.ran_torch_work
    flops_limit = row.limits.get("flops")
    lower_bound = LOWER_BOUND if row.uncounted else ""
    gated = f"{row.statistic}:" if row.statistic else ""  # a distribution's gated statistic
    cells = [
        row_status,
        gated + lower_bound + human(row.flops) if measured_anything else "-",
        human(flops_limit),
        _text(relative_change(row.flops, flops_limit)) if measured_anything else "-",
        _text(relative_change(row.flops, before.get("flops"))) if measured_anything else "-",
    ]
    for q in plain:
        cells.append(_cell(q, row.totals.get(q.name)) if measured_anything else "-")
    return cells


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


def _elided(text: str, room: int) -> str:
    """`text` in at most `room` characters: its middle replaced by "…", the end (where a test's
    name is) keeping two thirds of the room."""
    if len(text) <= room:
        return text
    head = (room - 1) // 3
    return f"{text[:head]}{ELLIPSIS}{text[len(text) - (room - 1 - head) :]}"


def _shared_prefix(nodeids: Sequence[str]) -> str:
    """What all `nodeids` start with: their file (``tests/test_x.py::``) when they are all in
    one, else the directory their files are in (``tests/models/``), or ""."""
    files = {nodeid.partition("::")[0] for nodeid in nodeids}
    if len(files) == 1 and all("::" in nodeid for nodeid in nodeids):
        return f"{files.pop()}::"
    directories = [nodeid.split("::")[0].split("/")[:-1] for nodeid in nodeids]
    shared = []
    for names in zip(*directories, strict=False):  # as deep as the shallowest
        if len(set(names)) > 1:
            break
        shared.append(names[0])
    return "".join(f"{name}/" for name in shared)


def _test_column(nodeids: Sequence[str], room: int, verbose: bool) -> tuple[str, list[str]]:
    """What all the node ids shown start with ("" when nothing), and each node id as shown in
    `room` characters (at least ID_ROOM): whole when they all fit, and always when `verbose`;
    else without the file or directory they share and, where still too long, with the middle
    elided."""
    if verbose or all(len(nodeid) <= room for nodeid in nodeids):
        return "", list(nodeids)
    shared = _shared_prefix(nodeids)
    room = max(room, ID_ROOM)
    return shared, [_elided(nodeid[len(shared) :], room) for nodeid in nodeids]


def uncounted_hint(
    rows: Sequence[TestRow], verbose: bool = False, report: bool = False
) -> str | None:
    """The line that says how many tests ran ops with no cost formula, and what shows or fails
    them: -v and --flop-report unless on (`verbose`, `report`), strict unless every such test
    ran under it (its row has the strict line)."""
    uncounted = [row for row in rows if row.uncounted]
    if not uncounted:
        return None
    tests = "1 test" if len(uncounted) == 1 else f"{len(uncounted)} tests"
    line = (
        f"{tests} ran ops with no cost formula (their FLOPs, marked {LOWER_BOUND}, are a lower "
        "bound)"
    )
    shows = [option for option, on in (("-v", verbose), ("--flop-report", report)) if not on]
    strict = any(not row.strict_failure for row in uncounted)
    if shows and strict:
        return f"{line}: see {', '.join(shows)}, or set strict"
    if shows:
        return f"{line}: see {' or '.join(shows)}"
    return f"{line}: set strict" if strict else line


def summary_lines(
    rows: Sequence[TestRow],
    previous: Mapping[str, Mapping[str, Any]],
    verbosity: int = 0,
    width: int = 80,
    against: str = "last",
    markup: Markup | None = None,
    report: bool = False,
) -> list[str]:
    """The `flop budget` section: one row per test, the worst first.

    Columns: status, FLOPs, the FLOP budget, Δ to that budget (negative is headroom), Δ against
    `previous` (the last run, or a baseline: `against` names it), params, nonzero params, and the
    node id last; MACs and parameter bytes too with `verbosity` > 0. One test, one line: when the
    node ids do not fit beside the numbers in `width` columns, the file or directory they share
    is said once, above the table (``node ids below are in tests/models/``), and the middle of
    an id still too long is elided (`_test_column`); with `verbosity` > 0 they are whole.

    The FLOPs of a test that recorded a distribution name the statistic gated (``p95:1.20M``).
    The FLOPs of a test that ran ops with no cost formula are marked as a lower bound, and a
    line under the table counts those tests (`verbosity` > 0 lists their ops; `report`: the
    detailed report follows, so the line does not suggest it). With `verbosity` < 0, one line
    of counts. The status is status_label()'s, coloured by `markup` (a TerminalWriter's, which
    colours only when pytest does): red failed, over, error and uncounted, yellow grew and warn,
    cyan updated, green ok. Columns are as wide as their widest cell (roomier when every whole node
    id still fits); the rule under the header is as wide as the table.
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
    shown = _plain_columns(rows, verbose)
    columns = ["status", "FLOPs", "budget", "Δbudget", f"Δ{against}", *(q.column for q in shown)]
    # the column widths when the table fits in `width`
    roomy = [13, 7, 7, 8, 8, *(q.width for q in shown)]
    table = [
        _cells(
            row,
            status_label(row, previous.get(row.nodeid)),
            previous.get(row.nodeid) or {},
            shown,
        )
        for row in ordered
    ]
    # each column as wide as its widest cell (header included), roomier when every whole node
    # id still fits beside the numbers
    tight = [max(len(cells[i]) for cells in [columns, *table]) for i in range(len(columns))]
    widths = [max(w, t) for w, t in zip(roomy, tight, strict=True)]
    longest = max(len(row.nodeid) for row in rows)
    if sum(widths) + len(widths) + longest > width:
        widths = tight
    header = _line(columns, widths)
    shared, nodeids = _test_column(
        [row.nodeid for row in ordered], width - len(header) - 1, verbose
    )
    lines = [f"{SHARED_PREFIX}{shared}"] if shared else []
    table_width = len(header) + 1 + max(len("test"), *map(len, nodeids))
    lines += [f"{header} test", "-" * table_width]
    for row, cells, nodeid in zip(ordered, table, nodeids, strict=True):
        text = _line(cells, widths, _painter(markup, statuses[row.nodeid]))
        lines.append(f"{text} {nodeid}")
    hint = uncounted_hint(rows, verbose, report)
    if hint:
        lines.append(hint)
    if verbose:
        for row in ordered:
            if row.uncounted:
                lines.append(f"{row.nodeid}: uncounted ops {times_listed(row.uncounted)}")
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
    latency = row.totals.get("latency_ns")
    estimated = (
        ""
        if latency is None
        else f", est. latency on {row.hardware} {scaled('latency_ns', latency)} ms"
    )
    lines = [
        f"{row.nodeid}: {human(row.flops, 'FLOPs')} ({row.count}), "
        f"{human(row.totals.get('macs'), 'MACs')}, "
        f"params {human(row.params)} ({human(row.totals.get('param_bytes'), 'B')}), "
        f"{human(row.totals.get('bytes_moved'), 'B')} moved{estimated}"
    ]
    if row.distribution:
        lines[0] += f" ({row.statistic} over {row.distribution['count']} inputs)"
        lines.append(
            f"the module tree and the ops below: the {row.distribution['count']} inputs together, "
            f"{human(row.recorded_flops, 'FLOPs')}"
        )
    names = {m[0] for m in row.modules}
    children: dict[str | None, list[tuple]] = defaultdict(list)
    for module in row.modules:
        children[_parent(module[0], names)].append(module)
    estimate = latency is not None
    table = [
        ("module", "calls", "params", "MACs", "FLOPs", "bytes", "FLOP/B", "share")
        + (("est. ms",) if estimate else ())
    ]

    def add(label: str, modules: list[tuple]) -> None:
        """One row of the table: `modules` summed (one module, or those folded into "other")."""
        calls, macs, flops, params, moved = (sum(m[i] for m in modules) for i in (2, 3, 4, 5, 6))
        cells = (label, str(calls), human(params), human(macs), human(flops), human(moved) + "B")
        cells += (flop_per_byte(intensity(flops, moved)), share(flops, row.recorded_flops))
        if estimate:
            cells += (scaled("latency_ns", sum(m[7] or 0 for m in modules)),)
        table.append(cells)

    def walk(parent: str | None, level: int) -> None:
        ordered = sorted(children.get(parent, []), key=lambda m: (-m[4], m[0]))
        shown, folded = ordered[:FOLD_AFTER], ordered[FOLD_AFTER:]
        for module in shown:
            name, kind = module[0], module[1]
            label = module_label(name, parent or "") if name else kind
            add("  " * level + (f"{label} ({kind})" if label != kind else kind), [module])
            if level < depth:
                walk(name, level + 1)
        if folded:
            add("  " * level + f"other ({len(folded)} modules)", folded)

    walk(None, 0)
    if len(table) > 1:
        lines += columns(table)
    if row.phases:
        lines += ["", *_phase_table(row)]
    if row.distribution:
        lines += ["", *_distribution_table(row)]
    if row.ops:
        lines += ["", *op_table(row.ops, row.recorded_flops)]
    if row.uncounted:
        lines += ["", f"uncounted ops (counted as 0 FLOPs): {times_listed(row.uncounted)}"]
    return lines


def _phase_table(row: TestRow) -> list[str]:
    """Each phase the test entered: its entries, FLOPs in all, per entry (mean, max) and last."""
    header = ("phase", "entries", "FLOPs", "mean/entry", "max/entry", "last", "share")
    return columns(
        [header]
        + [
            (
                name,
                str(phase["entries"]),
                human(phase["total"]["flops"]),
                human(phase["mean"]["flops"]),
                human(phase["max"]["flops"]),
                human(phase["last"]["flops"]),
                share(phase["total"]["flops"], row.recorded_flops),
            )
            for name, phase in row.phases.items()
        ]
    )


def _distribution_table(row: TestRow) -> list[str]:
    """The statistics of the FLOPs, MACs and params over the inputs of a profile_each."""
    summary = row.distribution
    names = [name for name in DISTRIBUTION_STATISTICS if summary.get(name)]
    gated = f", gated on {row.statistic}" if row.statistic else ""
    title = f"over {summary['count']} inputs{gated}:"
    table = [("", *names)] + [
        (quantity, *(human(summary[name].get(quantity)) for name in names))
        for quantity in ("flops", "macs", "params")
    ]
    return [title, *columns(table)]
