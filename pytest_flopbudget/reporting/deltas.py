"""What changed between two measurements of a test, and between two reports: pure functions over
the JSON report's shapes (a test entry's ``modules``, ``modules_left_out``, ``ops``,
``uncounted``, ``totals``, ``fingerprint``, ``phases``; a report's metadata). No torch, no pytest.

Used by the failure text of a grown or over-budget test, the Markdown report, the terminal
summary's notes and ``flopbudget diff``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flopbudget.text import format_delta, human, relative_change

__all__ = [
    "ModuleChange",
    "ModuleChanges",
    "PhaseChange",
    "TestDiff",
    "WhyItChanged",
    "change_lines",
    "compare_reports",
    "counter_note",
    "explanation",
    "heading",
    "module_changes",
    "ops_change",
    "ops_change_text",
    "phase_changes",
]

SHOWN_CHANGES = 8  # module lines per test at most; the rest are counted
# The shown modules explain at least this share of a test's FLOP change, where that many lines
# can: the largest changes are taken first until what is left unexplained is under 10%.
EXPLAINED = 0.9


@dataclass(frozen=True)
class ModuleChange:
    """One module whose FLOPs differ: `before` None for a new module, `after` None for a
    removed one."""

    name: str
    type_name: str
    before: int | None
    after: int | None

    @property
    def delta(self) -> int:
        return (self.after or 0) - (self.before or 0)

    @property
    def size(self) -> int:
        return abs(self.delta)

    def text(self) -> str:
        label = f"{self.name} ({self.type_name})" if self.name else self.type_name
        if self.before is None:
            return f"new: {label} {human(self.after)}"
        if self.after is None:
            return f"removed: {label} {human(self.before)}"
        grown = f" ({format_delta(self.after / self.before - 1)})" if self.before else ""
        return f"{label} {human(self.before)} → {human(self.after)}{grown}"


@dataclass(frozen=True)
class ModuleChanges:
    """The modules that explain a test's FLOP change, the largest change first (`changes`), and
    how many other changed modules are left out (`rest`). `delta` is the test's FLOP change
    (None when a side has no total). `comparable` is False when the earlier measurement has no
    module tree (a version 1 report)."""

    changes: list[ModuleChange] = field(default_factory=list)
    comparable: bool = True
    delta: int | None = None
    rest: int = 0

    @property
    def explained(self) -> int:
        """The FLOP change of the shown modules, together."""
        return sum(change.delta for change in self.changes)


def _modules(entry: Mapping[str, Any]) -> dict[str, tuple[str, int]] | None:
    """{name: (type, FLOPs)} of an entry's module tree; None when it has none."""
    modules = entry.get("modules")
    if not isinstance(modules, list):
        return None
    tree = {}
    for module in modules:
        if not isinstance(module, Mapping):
            continue
        name, flops = module.get("name"), module.get("flops")
        if isinstance(name, str) and isinstance(flops, int) and not isinstance(flops, bool):
            tree[name] = (str(module.get("type", "?")), flops)
    return tree


def _total(entry: Mapping[str, Any]) -> int | None:
    totals = entry.get("totals")
    flops = totals.get("flops") if isinstance(totals, Mapping) else None
    return flops if isinstance(flops, int) else None


def _left_out(entry: Mapping[str, Any]) -> int:
    value = entry.get("modules_left_out", 0)
    return value if isinstance(value, int) and value > 0 else 0


def _parent(name: str, names: set[str]) -> str | None:
    """The nearest module above `name` in the tree (an unnamed root is above every other)."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:end]) in names:
            return ".".join(parts[:end])
    return "" if name and "" in names else None


def _frontier(names: set[str], changed: Mapping[str, ModuleChange], works: set[str]) -> list[str]:
    """The changed modules that stand for the change below them, from the roots down: a changed
    module stands for its children when all of them that do work changed with it (or none did:
    the change is its own); otherwise its changed children are looked at instead."""
    children: dict[str | None, list[str]] = {}
    for name in sorted(names):
        children.setdefault(_parent(name, names), []).append(name)

    def visit(name: str) -> list[str]:
        working = [child for child in children.get(name, []) if child in works]
        moved = [child for child in working if child in changed]
        if name in changed and len(moved) in (0, len(working)):
            return [name]
        return [found for child in children.get(name, []) for found in visit(child)]

    return [found for root in children.get(None, []) for found in visit(root)]


def _explaining(ordered: list[ModuleChange], delta: int | None) -> list[ModuleChange]:
    """The fewest of `ordered` (the largest change first) that explain `delta` to EXPLAINED, at
    most SHOWN_CHANGES; the first SHOWN_CHANGES where there is no change to explain."""
    if not delta:
        return ordered[:SHOWN_CHANGES]
    shown, explained = [], 0
    for change in ordered[:SHOWN_CHANGES]:
        shown.append(change)
        explained += change.delta
        if abs(delta - explained) <= (1 - EXPLAINED) * abs(delta):
            break
    return shown


def module_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> ModuleChanges:
    """The modules that explain the FLOP change between two entries of one test: the fewest
    changed modules, the largest change first, whose changes add up to EXPLAINED (90%) of the
    test's change (at most SHOWN_CHANGES of them), a parent standing for its children when all
    of them changed; the other changed modules are counted in `rest`.

    Never a change: an unchanged module; a module holding all of the test's work on both sides
    (a root or a wrapper: its change is the test's own, so its children are looked at). A module
    missing from a side whose tree was cut (`modules_left_out`) and no costlier than that side's
    cheapest kept module may have been cut, not added or removed: it is left out too.
    """
    before_tree = _modules(before or {})
    after_tree = _modules(after)
    if before_tree is None or after_tree is None:
        return ModuleChanges(comparable=before is not None and before_tree is not None)
    before_total, after_total = _total(before or {}), _total(after)
    cut_before = min((f for _, f in before_tree.values()), default=0) if _left_out(before) else -1
    cut_after = min((f for _, f in after_tree.values()), default=0) if _left_out(after) else -1
    changed: dict[str, ModuleChange] = {}
    names = set(before_tree) | set(after_tree)
    for name in names:
        old, new = before_tree.get(name), after_tree.get(name)
        if old is not None and new is not None:
            if old[1] == new[1] or (old[1] == before_total and new[1] == after_total):
                continue
            changed[name] = ModuleChange(name, new[0], old[1], new[1])
        elif new is not None and new[1] > cut_before:
            changed[name] = ModuleChange(name, new[0], None, new[1])
        elif old is not None and old[1] > cut_after:
            changed[name] = ModuleChange(name, old[0], old[1], None)
    works = {n for n in names if before_tree.get(n, ("", 0))[1] or after_tree.get(n, ("", 0))[1]}
    ordered = sorted(
        (changed[name] for name in _frontier(names, changed, works)),
        key=lambda c: (-c.size, c.name),
    )
    delta = None if before_total is None or after_total is None else after_total - before_total
    shown = _explaining(ordered, delta)
    return ModuleChanges(shown, delta=delta, rest=len(ordered) - len(shown))


def explanation(changes: ModuleChanges) -> str:
    """``2 modules explain 96% of +12.5 MFLOPs``; empty when the test's FLOPs did not change
    (or are not known) or no module changed."""
    if not changes.delta or not changes.changes:
        return ""
    n = len(changes.changes)
    modules = "1 module explains" if n == 1 else f"{n} modules explain"
    share = int(100 * changes.explained / changes.delta)  # never rounded up to a share not had
    sign = "+" if changes.delta > 0 else "-"
    return f"{modules} {share}% of {sign}{human(abs(changes.delta), 'FLOPs')}"


def change_lines(changes: ModuleChanges) -> list[str]:
    """One line per module that explains the change, then a count of the other changed
    modules."""
    if not changes.comparable:
        return ["(the earlier report has no module tree: write it again with this version)"]
    lines = [change.text() for change in changes.changes]
    if changes.rest:
        lines.append(f"… and {changes.rest} more changed module{'s' if changes.rest > 1 else ''}")
    return lines


def heading(changes: ModuleChanges, against: str = "") -> str:
    """``FLOPs by module against the baseline: 2 modules explain 96% of +12.5 MFLOPs``."""
    explained = explanation(changes)
    return (
        "FLOPs by module"
        + (f" against {against}" if against else "")
        + (f": {explained}" if explained else "")
    )


@dataclass(frozen=True)
class PhaseChange:
    """One phase whose FLOPs (summed over its entries) or number of entries differ: `before`
    None for a phase new in this run, `after` None for one no longer entered; each side
    ``(entries, FLOPs)``."""

    name: str
    before: tuple[int, int] | None
    after: tuple[int, int] | None

    @property
    def size(self) -> int:
        return abs((self.after or (0, 0))[1] - (self.before or (0, 0))[1])

    def text(self) -> str:
        """``phase decode: 1.20K → 1.50K FLOPs (+25.0%), 3 → 4 entries``."""
        if self.before is None or self.after is None:
            entries, flops = self.after or self.before or (0, 0)
            kind = "new" if self.before is None else "gone"
            over = "1 entry" if entries == 1 else f"{entries} entries"
            return f"{kind} phase {self.name}: {human(flops, 'FLOPs')} over {over}"
        (old_entries, old), (new_entries, new) = self.before, self.after
        grown = f" ({format_delta(new / old - 1)})" if old else ""
        text = f"phase {self.name}: {human(old)} → {human(new, 'FLOPs')}{grown}"
        if old_entries != new_entries:
            text += f", {old_entries} → {new_entries} entries"
        return text


def _phases(entry: Mapping[str, Any] | None) -> dict[str, tuple[int, int]] | None:
    """{phase: (entries, FLOPs over them)} of an entry; None when it has no ``phases``."""
    phases = (entry or {}).get("phases")
    if not isinstance(phases, Mapping):
        return None
    found = {}
    for name, phase in phases.items():
        total = phase.get("total") if isinstance(phase, Mapping) else None
        flops = total.get("flops") if isinstance(total, Mapping) else None
        entries = phase.get("entries") if isinstance(phase, Mapping) else None
        if isinstance(flops, int) and isinstance(entries, int):
            found[name] = (entries, flops)
    return found


def phase_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[PhaseChange]:
    """The phases whose FLOPs or number of entries differ between two entries of one test, the
    largest FLOP change first; none when either side has no ``phases`` (an older report)."""
    old, new = _phases(before), _phases(after)
    if old is None or new is None:
        return []
    changed = [
        PhaseChange(name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]
    return sorted(changed, key=lambda c: (-c.size, c.name))


@dataclass(frozen=True)
class WhyItChanged:
    """A test's module changes against an earlier run, that run's name ("the baseline"), and
    the phases whose FLOPs changed."""

    against: str
    changes: ModuleChanges
    phases: Sequence[PhaseChange] = ()

    def lines(self) -> list[str]:
        """The heading, then the module lines, indented (none when no module changed); then
        ``FLOPs by phase against …`` and a line per changed phase."""
        lines = []
        if not (self.changes.comparable and not self.changes.changes):
            body = change_lines(self.changes)
            lines = [heading(self.changes, self.against), *(f"  {line}" for line in body)]
        if self.phases:
            against = f" against {self.against}" if self.against else ""
            lines += [f"FLOPs by phase{against}:", *(f"  {p.text()}" for p in self.phases)]
        return lines

    @property
    def names(self) -> set[str]:
        """The modules the lines name."""
        return {change.name for change in self.changes.changes}


def _op_names(entry: Mapping[str, Any]) -> set[str] | None:
    ops = entry.get("ops")
    if not isinstance(ops, Mapping):
        return None
    uncounted = entry.get("uncounted")
    return set(ops) | (set(uncounted) if isinstance(uncounted, Mapping) else set())


def ops_change(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """(ops run now and not before, ops run before and not now), uncounted ops included; both
    empty when either side did not record its ops."""
    old, new = _op_names(before or {}), _op_names(after)
    if old is None or new is None:
        return [], []
    return sorted(new - old), sorted(old - new)


def ops_change_text(added: Sequence[str], removed: Sequence[str]) -> str:
    """``new aten.gelu; gone aten.relu``."""
    parts = []
    if added:
        parts.append("new " + ", ".join(added))
    if removed:
        parts.append("gone " + ", ".join(removed))
    return "; ".join(parts)


def _fingerprints(meta: Mapping[str, Any]) -> list[str]:
    values = meta.get("fingerprints")
    return sorted(v for v in values if isinstance(v, str) and v) if isinstance(values, list) else []


def counter_note(before: Mapping[str, Any], now: Mapping[str, Any], label: str) -> str | None:
    """One line when the earlier run (`label`: "baseline", "last run") counted with another
    torch, another version of this plugin, another convention or other cost formulas; None when
    nothing differs (or the earlier run did not record it).

    Both mappings hold ``torch_version``, ``plugin_version``, ``count`` and ``fingerprints``
    (the formula fingerprints of its tests)."""
    then_parts, now_parts = [], []
    for key, name in (
        ("torch_version", "torch"),
        ("plugin_version", "pytest-flopbudget"),
        ("count", "count"),
    ):
        old, new = before.get(key), now.get(key)
        if isinstance(old, str) and old and old != new:
            joiner = "=" if key == "count" else " "
            then_parts.append(f"{name}{joiner}{old}")
            now_parts.append(f"{name}{joiner}{new}" if key == "count" else f"{new}")
    old_prints, new_prints = _fingerprints(before), _fingerprints(now)
    if old_prints and new_prints and old_prints != new_prints:
        then_parts.append("cost formulas " + "/".join(old_prints))
        now_parts.append("cost formulas " + "/".join(new_prints))
    if not then_parts:
        return None
    return (
        f"{label} made with {', '.join(then_parts)}, now {', '.join(now_parts)}: "
        "some deltas may come from the counter"
    )


@dataclass(frozen=True)
class TestDiff:
    """One test of ``flopbudget diff``: `status` is ``grew`` (past the threshold), ``changed``,
    ``unchanged``, ``new`` or ``gone``."""

    __test__ = False

    nodeid: str
    status: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    lines: list[str] = field(default_factory=list)


def compare_reports(
    base: Mapping[str, Any], new: Mapping[str, Any], threshold: float | None
) -> list[TestDiff]:
    """Every test of either report, compared: FLOPs and params before → after, the module
    changes and op-set changes; a test grew when its FLOPs or params rose by more than
    `threshold` (a fraction; None: nothing counts as grown)."""
    before = {t["nodeid"]: t for t in base.get("tests", [])}
    after = {t["nodeid"]: t for t in new.get("tests", [])}
    diffs = []
    for nodeid in sorted(set(before) | set(after)):
        old, now = before.get(nodeid), after.get(nodeid)
        if old is None:
            diffs.append(TestDiff(nodeid, "new", None, now))
            continue
        if now is None:
            diffs.append(TestDiff(nodeid, "gone", old, None))
            continue
        growth = [
            relative_change(now["totals"].get(key), old["totals"].get(key))
            for key in ("flops", "params")
        ]
        same = all(now["totals"].get(k) == old["totals"].get(k) for k in ("flops", "params"))
        grew = threshold is not None and any(g is not None and g > threshold for g in growth)
        why = WhyItChanged("", module_changes(old, now), phase_changes(old, now))
        lines = [] if same else why.lines()
        added, removed = ops_change(old, now)
        if added or removed:
            lines.append("ops changed: " + ops_change_text(added, removed))
        status = "grew" if grew else "unchanged" if same and not lines else "changed"
        diffs.append(TestDiff(nodeid, status, old, now, lines))
    return diffs
