"""The Markdown report, for pull-request comments and the GitHub job summary. No torch.

The Markdown report: its first line is the verdict (a heading: how many budgeted tests failed,
over budget, grown past the threshold, uncounted under strict, failed for their own reason),
then what it compares with (the baseline's path, when it was made, its commit; the threshold),
a line when the baseline counted with another torch, plugin version, convention or formulas,
then the table of the failing and changed tests (unchanged ones only as a count; tests whose set
of ops changed are marked †), the ops with no cost formula, a collapsible `<details>` per failing
or grown test with the modules that explain its FLOP change, and the gone tests. It is capped (rows,
gone tests, details; and at GitHub's 1 MiB step-summary limit as a whole), with a count of what
was left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_flopbudget.budgets.verdict import TestRow, status, status_label
from pytest_flopbudget.reporting.deltas import (
    change_lines,
    counter_note,
    heading,
    module_changes,
    ops_change,
    ops_change_text,
    phase_changes,
)
from pytest_flopbudget.reporting.json_report import row_detail
from pytest_flopbudget.reporting.terminal import LOWER_BOUND
from pytest_flopbudget.text import format_delta, human, op_name, relative_change

__all__ = ["GONE_SHOWN", "MARKDOWN_ROWS", "capped", "markdown_report", "verdict"]

MARKDOWN_LIMIT = 1_000_000  # bytes: under GitHub's 1 MiB job-summary limit, with room to spare
MARKDOWN_ROWS = 100  # table rows shown; the rest counted
MARKDOWN_DETAILS = 20  # <details> blocks shown
GONE_SHOWN = 20  # gone tests named in the terminal and the Markdown; the rest counted
MARKS = {
    "failed": "💥 failed",
    "over": "🔴 over",
    "grew": "🟠 grew",
    "uncounted": "🟣 uncounted",
    "warn": "⚠️ warn",
    "updated": "✏️ updated",
    "no-module-work": "⚪ no module work",
    "new": "🆕 new",
    "ok": "✅ ok",
    "error": "⛔ error",
}


def capped(names: Sequence[str], shown: int = GONE_SHOWN, quote: str = "") -> str:
    """``a, b, … and 98 more``: at most `shown` names."""
    listed = ", ".join(f"{quote}{n}{quote}" for n in names[:shown])
    rest = len(names) - shown
    return listed + (f" … and {rest} more" if rest > 0 else "")


def _cell(value: float | None) -> str:
    return "" if value is None else format_delta(value)


def _base(row_status: str) -> str:
    return row_status.split(":")[0]


def verdict(statuses: Sequence[str], threshold: float | None) -> str:
    """``❌ 3 budgeted tests failed: 1 over budget, 2 grew past +5.0%`` or
    ``✅ 12 budgeted tests within budget``; a test that failed for its own reason is counted
    apart (``1 failed for its own reason``); tests grown past warn_on_increase are counted after
    (``; 1 warned``), and a run whose only news is those starts ⚠️ (``⚠️ 12 budgeted tests
    within budget, 1 warned``)."""
    bases = [_base(s) for s in statuses]
    over, grew, uncounted, own = (bases.count(s) for s in ("over", "grew", "uncounted", "failed"))
    failed = over + grew + uncounted + own
    warned = bases.count("warn")
    if not failed:
        n = len(bases)
        within = f"{n} budgeted test{'' if n == 1 else 's'} within budget"
        return f"⚠️ {within}, {warned} warned" if warned else f"✅ {within}"
    past = f" past {format_delta(threshold)}" if threshold is not None else ""
    parts = [
        text
        for n, text in (
            (over, f"{over} over budget"),
            (grew, f"{grew} grew{past}"),
            (uncounted, f"{uncounted} ran ops with no cost formula (strict)"),
            (own, f"{own} failed for {'its' if own == 1 else 'their'} own reason"),
        )
        if n
    ]
    warnings = f"; {warned} warned" if warned else ""
    return (
        f"❌ {failed} budgeted test{'' if failed == 1 else 's'} failed: "
        + ", ".join(parts)
        + warnings
    )


def _compared_line(
    against: str,
    source: str,
    context: Mapping[str, Any] | None,
    threshold: float | None,
    earlier_run: bool = True,
) -> str:
    """What the report compares with (`earlier_run`: whether there is a last run) and the
    allowed growth."""
    allowed = (
        f"growth allowed: {format_delta(threshold)}"
        if threshold is not None
        else "growth not checked (no --flop-fail-on-increase)"
    )
    if against == "last" and not earlier_run:
        return f"No earlier run to compare with (a first run, or pytest's cache is off); {allowed}."
    if against == "last":
        what = "the last run"
    else:
        made = []
        if context and context.get("created"):
            made.append(f"made {context['created']}")
        if context and context.get("commit"):
            made.append(f"commit `{str(context['commit'])[:12]}`")
        what = f"the baseline `{source}`" + (f" ({', '.join(made)})" if made else "")
    return f"Compared with {what}; {allowed}."


def markdown_report(
    rows: Sequence[TestRow],
    previous: Mapping[str, Mapping[str, Any]],
    against: str,
    gone: Sequence[str] = (),
    *,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    context: Mapping[str, Any] | None = None,
    now: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    source: str = "",
) -> str:
    """The pull-request comment (shape in the module docstring): the verdict, what it compares
    with, the failing and changed rows (over budget first, then the largest change), the rest
    as a count, then the uncounted ops, the changed op sets, the modules behind each failing or
    grown test and the gone tests. `details` are the earlier run's test entries, `context`
    how it was made (`report_context`), `now` this run's (`run_context`), `threshold` the
    allowed growth, `source` the baseline's path."""
    details = details or {}
    statuses = {row.nodeid: status(row, previous.get(row.nodeid)) for row in rows}
    compared = "the last run" if against == "last" else f"the {against}"

    def change(row: TestRow) -> float:
        moved = relative_change(row.flops, (previous.get(row.nodeid) or {}).get("flops"))
        return abs(moved) if moved else 0.0

    def unchanged(row: TestRow) -> bool:
        before = previous.get(row.nodeid)
        return (
            _base(statuses[row.nodeid]) == "ok"
            and before is not None
            and before.get("flops") == row.flops
            and before.get("params") == row.params
        )

    failing = ("failed", "over", "error", "grew", "uncounted")
    ordered = sorted(
        (row for row in rows if not unchanged(row)),
        key=lambda r: (
            failing.index(_base(statuses[r.nodeid]))
            if _base(statuses[r.nodeid]) in failing
            else len(failing),
            -change(r),
            r.nodeid,
        ),
    )
    same = len(rows) - len(ordered)
    ops_changed = {}
    for row in ordered:
        if row.nodeid in details:
            added, removed = ops_change(details[row.nodeid], row_detail(row))
            if added or removed:
                ops_changed[row.nodeid] = ops_change_text(added, removed)
    mark, _, outcome = verdict(list(statuses.values()), threshold).partition(" ")
    labels = {row.nodeid: status_label(row, previous.get(row.nodeid)) for row in rows}
    lines = [
        f"### {mark} FLOP budget: {outcome}",
        "",
        _compared_line(against, source, context, threshold, earlier_run=bool(previous)),
    ]
    note = counter_note(context or {}, now or {}, "baseline" if against != "last" else "last run")
    if note:
        lines += ["", f"⚠️ {note[0].upper()}{note[1:]}."]
    lines += [
        "",
        f"| status | test | FLOPs | budget | Δ budget | Δ {against} | params | Δ params |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in ordered[:MARKDOWN_ROWS]:
        before = previous.get(row.nodeid) or {}
        lower_bound = LOWER_BOUND if row.uncounted else ""
        row_status = statuses[row.nodeid]
        mark = MARKS.get(row_status) or f"{MARKS[_base(row_status)].split()[0]} {row_status}"
        dagger = " †" if row.nodeid in ops_changed else ""
        lines.append(
            f"| {mark}{labels[row.nodeid][len(statuses[row.nodeid]) :]}{dagger} "
            f"| `{row.nodeid}` | {lower_bound}{human(row.flops)} | "
            f"{human(row.limits.get('flops'))} | "
            f"{_cell(relative_change(row.flops, row.limits.get('flops')))} | "
            f"{_cell(relative_change(row.flops, before.get('flops')))} | {human(row.params)} | "
            f"{_cell(relative_change(row.params, before.get('params')))} |"
        )
    not_shown = []
    if len(ordered) > MARKDOWN_ROWS:
        not_shown.append(f"{len(ordered) - MARKDOWN_ROWS} more changed tests")
    if same:
        not_shown.append(f"{same} unchanged test{'' if same == 1 else 's'}")
    if not_shown:
        lines += ["", " and ".join(not_shown) + " not shown."]
    hidden = sorted((row for row in rows if unchanged(row)), key=lambda r: r.nodeid)
    uncounted = [row for row in [*ordered, *hidden] if row.uncounted]
    if uncounted:  # in the table's order, then the unchanged tests
        lines += [
            "",
            f"Ops with no cost formula (these FLOPs, marked {LOWER_BOUND}, are a lower bound):",
        ]
        for row in uncounted[:MARKDOWN_ROWS]:
            listed = ", ".join(f"`{op_name(key)}` ×{calls}" for key, calls in row.uncounted.items())
            lines.append(f"- `{row.nodeid}`: {listed}")
        if len(uncounted) > MARKDOWN_ROWS:
            lines.append(f"- … and {len(uncounted) - MARKDOWN_ROWS} more tests")
    lines += _varying_lines([*ordered, *hidden])
    if ops_changed:
        lines += ["", f"† The set of ops changed since {compared} (a delta may come from it):"]
        lines += [f"- `{nodeid}`: {text}" for nodeid, text in list(ops_changed.items())[:50]]
    blocks = 0
    for row in ordered:
        grown = (relative_change(row.flops, (previous.get(row.nodeid) or {}).get("flops")) or 0) > 0
        if row.nodeid not in details or not (_base(statuses[row.nodeid]) in failing or grown):
            continue
        changes = module_changes(details[row.nodeid], row_detail(row))
        phases = phase_changes(details[row.nodeid], row_detail(row))
        if changes.comparable and not changes.changes and not phases:
            continue
        if blocks == MARKDOWN_DETAILS:
            lines += ["", "(more tests changed: see `flopbudget diff` on the JSON reports)"]
            break
        blocks += 1
        lines += [
            "",
            f"<details><summary><code>{row.nodeid}</code>: {heading(changes, compared)}</summary>",
            "",
            *(f"- `{line}`" for line in change_lines(changes)),
            *(f"- `{phase.text()}`" for phase in phases),
            "",
            "</details>",
        ]
    if gone:
        names = sorted(gone)
        lines += ["", f"Gone since {compared} ({len(names)}): " + capped(names, quote="`")]
    return _within_limit(lines)


def _varying_lines(rows: Sequence[TestRow]) -> list[str]:
    """What the tests gated on a statistic over inputs and the phases they entered measured:
    ``- `t`: FLOPs over 100 inputs, gated on p95: mean 1.2M, p95 1.5M, max 2.0M`` and
    ``- `t`: phase decode ×32: 1.1M FLOPs per entry at most, 0.9M mean, 1.1M last``."""
    lines = []
    for row in rows:
        dist = row.distribution
        if dist:
            shown = ", ".join(
                f"{name} {human(dist[name]['flops'])}" for name in ("mean", "p95", "max")
            )
            lines.append(
                f"- `{row.nodeid}`: FLOPs over {dist['count']} inputs, gated on "
                f"{row.statistic}: {shown}"
            )
        for name, phase in row.phases.items():
            lines.append(
                f"- `{row.nodeid}`: phase {name} ×{phase['entries']}: "
                f"{human(phase['max']['flops'])} FLOPs per entry at most, "
                f"{human(phase['mean']['flops'])} mean, {human(phase['last']['flops'])} last"
            )
    if not lines:
        return []
    cut = len(lines) - MARKDOWN_ROWS
    lines = lines[:MARKDOWN_ROWS] + ([f"- … and {cut} more"] if cut > 0 else [])
    return ["", "Statistics over inputs and phases:", *lines]


def _within_limit(lines: list[str]) -> str:
    """The lines as text, cut at whole lines (and outside a `<details>` block) when longer than
    MARKDOWN_LIMIT bytes, saying so."""
    text = "\n".join(lines) + "\n"
    if len(text.encode("utf-8")) <= MARKDOWN_LIMIT:
        return text
    kept, size, open_block = [], 0, False
    room = MARKDOWN_LIMIT - 200
    for line in lines:
        size += len(line.encode("utf-8")) + 1
        if size > room:
            break
        kept.append(line)
        open_block = line.startswith("<details>") or (open_block and line != "</details>")
    if open_block:
        kept.append("</details>")
    kept += ["", f"(report cut: {len(lines) - len(kept) + open_block} more lines past 1 MB)"]
    return "\n".join(kept) + "\n"
