"""Per-module budgets: limits on one part of a model, as Lighthouse budgets limit one resource
type of a page.

    @pytest.mark.flop_budget(max_gflops=10, modules={"backbone": {"max_gflops": 3}})

    [tool.flopbudget.tests."tests/test_models.py::test_resnet".modules."layer4"]
    max_gflops = 1.5

A module is named by its qualified name in the profile's module tree (``named_modules()``:
``backbone``, ``blocks.0``). The marker's whole-call counting names each model called at top
level by its class (``Net.backbone``); a name matches both forms there. A name is matched in
every profile the test recorded: FLOPs and MACs add up over all matching modules, params are
those of the largest one (a model profiled twice does not double its parameters).

Module budgets take the limit keys of the quantities a module's row knows (``per_module`` in
the table of quantities: FLOPs, MACs and params, any unit); the test's tolerance applies.
There are no top-level module defaults: module names belong to one model, not to every test.
A test that recorded a distribution (``profile_each``) has each module measured on each input
(zero where it did not run) and checked on the test's ``statistic`` of those values.
Pure Python, no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_flopbudget.budgets.check import Budget, check, exceeded_text
from pytest_flopbudget.budgets.quantities import (
    LIMIT_KEYS,
    MODULE_LIMIT_KEYS,
    MODULE_QUANTITIES,
    combine,
)
from pytest_flopbudget.budgets.values import (
    BudgetError,
    Distribution,
    Limit,
    parse_limits,
    statistic_of,
)
from pytest_flopbudget.text import suggest

if TYPE_CHECKING:
    from pytest_flopbudget.engine.profile import ModuleStats, Profile

__all__ = [
    "MODULE_LIMIT_KEYS",
    "MODULE_QUANTITIES",
    "ModuleCheck",
    "ModuleViolation",
    "check_modules",
    "merge_module_budgets",
    "parse_module_budgets",
]

NEAREST = 5  # module names offered for a name that matched nothing


def named_tables(
    value: object, where: str, kind: str, example: str, accepted: Sequence[str]
) -> Iterator[tuple[str, Mapping[str, object], str]]:
    """Each ``(name, keys, source)`` of a table of named budgets (``modules``, ``phases``: the
    `kind` and an `example` for messages) found in `where` (a marker source or a TOML table
    name), its keys among `accepted`; :class:`BudgetError` naming the name and key if invalid.
    The source of ``"decode"`` is ``[tool.flopbudget.tests."x".phases."decode"]`` for a TOML
    table, else ``marker on x, phase 'decode'``."""
    if not isinstance(value, Mapping):
        raise BudgetError(
            f"'{kind}s' in {where} must map {kind} names to budgets, e.g. {example}, got {value!r}"
        )
    for name, keys in value.items():
        if not isinstance(name, str) or not name.strip():
            raise BudgetError(f"'{kind}s' in {where} has an empty {kind} name {name!r}")
        table = where.startswith("[") and where.endswith("]")
        source = f'{where[:-1]}.{kind}s."{name}"]' if table else f"{where}, {kind} {name!r}"
        if not isinstance(keys, Mapping):
            raise BudgetError(f"budget of {source} must be a table of limit keys, got {keys!r}")
        for key in keys:
            if key in accepted:
                continue
            if key in LIMIT_KEYS:
                reason = f"{LIMIT_KEYS[key][0]} is not measured per {kind}"
            else:
                reason = "not a budget key" + suggest(str(key), list(accepted))
            raise BudgetError(
                f"budget key {key!r} in {source}: {reason}; {kind} budgets accept "
                f"{', '.join(accepted)}"
            )
        yield name, keys, source


def parse_module_budgets(value: object, where: str) -> dict[str, dict[str, Limit]]:
    """``{module name: {quantity: Limit}}`` from a ``modules`` value found in `where` (a marker
    source or a TOML table name); :class:`BudgetError` naming the module and key if invalid."""
    example = "{'backbone': {'max_gflops': 3}}"
    budgets: dict[str, dict[str, Limit]] = {}
    for name, keys, source in named_tables(value, where, "module", example, MODULE_LIMIT_KEYS):
        if not keys:
            raise BudgetError(f"budget of {source} has no limit keys")
        budgets[name] = parse_limits(keys, source)
    return budgets


def merge_module_budgets(
    layers: Sequence[Mapping[str, Mapping[str, Limit]]],
) -> dict[str, dict[str, Limit]]:
    """The module budgets of one test from its layers, the strongest first (marker, exact
    entry, globs): per module and per quantity, the strongest layer wins."""
    merged: dict[str, dict[str, Limit]] = {}
    for layer in reversed(layers):
        for name, limits in layer.items():
            merged.setdefault(name, {}).update(limits)
    return merged


@dataclass(frozen=True)
class ModuleViolation:
    """A module's measured quantity above its limit (tolerance included)."""

    module: str
    quantity: str
    measured: int
    limit: Limit

    def message(self) -> str:
        """``module backbone: 3.40 GFLOPs > 3.00 GFLOPs (+13.3%)``."""
        text = exceeded_text(self.quantity, self.measured, self.limit.value)
        return f"module {self.module}: {text}"


@dataclass(frozen=True)
class ModuleCheck:
    """The outcome of a test's module budgets: what each module measured, the limits exceeded,
    and the names that matched no recorded module."""

    results: dict[str, dict[str, Any]]
    violations: list[ModuleViolation]
    errors: list[str]


def _relative(name: str, profile: Profile) -> str:
    """The name below its root: a profile of a given model has the root ``""``; the whole-call
    counting names each top-level model by its class (``Net.backbone`` -> ``backbone``)."""
    return name if "" in profile.modules else name.partition(".")[2]


def _matches(name: str, profile: Profile) -> list[ModuleStats]:
    return [
        stats
        for key, stats in profile.modules.items()
        if key and (key == name or _relative(key, profile) == name)
    ]


def _unknown(name: str, profiles: Sequence[Profile]) -> str:
    names = list(
        dict.fromkeys(_relative(key, p) or key for p in profiles for key in p.modules if key).keys()
    )
    names = [n for n in names if n]
    import difflib  # only for a message

    nearest = difflib.get_close_matches(name, names, n=NEAREST)
    if nearest:
        offered = "nearest: " + ", ".join(nearest)
    elif names:
        top = [n for n in names if "." not in n][:NEAREST] or names[:NEAREST]
        offered = "its top-level modules: " + ", ".join(top)
    else:
        offered = "the test recorded no modules"
    return f"module budget {name!r}: no recorded module has that name ({offered})"


def _over_inputs(name: str, distribution: Distribution, statistic: str) -> dict[str, int]:
    """Each module quantity of `name` on each input of `distribution` (zero on an input where
    no module of that name ran), then `statistic` of them, rounded up."""
    import math

    per_input = []
    for p in distribution.profiles:
        matched = _matches(name, p)
        per_input.append(
            combine(matched, MODULE_QUANTITIES) if matched else dict.fromkeys(MODULE_QUANTITIES, 0)
        )
    return {
        q: math.ceil(statistic_of([values[q] for values in per_input], statistic))
        for q in MODULE_QUANTITIES
    }


class _Values:
    def __init__(self, values: Mapping[str, int]) -> None:
        self.__dict__.update(values)


def check_modules(
    profiles: Sequence[Profile], budget: Budget, distributions: Sequence[Distribution] = ()
) -> ModuleCheck:
    """Measure and check each module budget of `budget` against `profiles` and, on the budget's
    statistic over their inputs, `distributions`."""
    results: dict[str, dict[str, Any]] = {}
    violations: list[ModuleViolation] = []
    errors: list[str] = []
    for name, limits in budget.modules.items():
        entry: dict[str, Any] = {
            "limits": {q: limit.value for q, limit in limits.items()},
            "sources": {q: f"{limit.key} from {limit.source}" for q, limit in limits.items()},
            "measured": None,
            "over": [],
        }
        results[name] = entry
        every = [*profiles, *(p for d in distributions for p in d.profiles)]
        matched = [stats for p in every for stats in _matches(name, p)]
        if not matched:
            errors.append(_unknown(name, every))
            continue
        direct = [stats for p in profiles for stats in _matches(name, p)]
        parts = [
            *direct,
            *(_Values(_over_inputs(name, d, budget.statistic)) for d in distributions),
        ]
        values = combine(parts, MODULE_QUANTITIES)
        entry["measured"] = values
        for over in check(values, Budget(limits=limits, tolerance=budget.tolerance)):
            violations.append(ModuleViolation(name, over.quantity, over.measured, over.limit))
            entry["over"].append(over.quantity)
    return ModuleCheck(results=results, violations=violations, errors=errors)
