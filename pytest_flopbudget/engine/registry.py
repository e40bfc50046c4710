"""One registry for every cost: the built-in table and every user's formulas, filled the same way.

A `Registry` maps full op names (``aten::mm``, ``mylib::fused``, ``mylib::fused.default``) to
entries: a formula and the source that registered it. It is built in layers, each stacked on the
one below (the order of precedence, lowest first):

1. the built-in table (`formulas.FORMULAS` and the zero-cost ops), registered as a plugin is;
2. installed packages: the entry point group ``pytest_flopbudget`` (`hookspecs`), loaded once
   per process by a standalone pluggy PluginManager;
3. ``conftest.py`` files, under pytest (the plugin passes them in with `using`);
4. `register_formula`, for the whole process;
5. a call's ``formulas=`` mapping.

A layer's formula for an op a lower layer already prices is an `ExtensionError` naming both
sources, unless it says ``override=True``. torch is never imported here.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from pytest_flopbudget.engine import hookspecs
from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas import FORMULAS, ZERO_COST

__all__ = [
    "BUILTIN_SOURCE",
    "ENTRY_POINT_GROUP",
    "ExtensionError",
    "Extensions",
    "Formula",
    "Registry",
    "current",
    "fingerprint",
    "fingerprint_for",
    "register_formula",
    "using",
]

BUILTIN_SOURCE = "pytest_flopbudget's built-in table"
ENTRY_POINT_GROUP = "pytest_flopbudget"


class ExtensionError(ValueError):
    """A formula mapping or registration that cannot be used; the message names its source."""


def zero_cost(args: Any, kwargs: Any, out: Any) -> Cost:
    """Data movement, selection, copies and creation: 0 FLOPs by decision."""
    return Cost()


@dataclass(frozen=True)
class Formula:
    """A formula with its registration flags: ``Formula(cost, override=True)`` replaces the
    formula a lower source registered for the same op."""

    cost: Callable[..., Cost]
    override: bool = False


@dataclass(frozen=True)
class Entry:
    formula: Callable[..., Cost]
    source: str


def op_key(op: Any, source: str) -> str:
    """The full name an op is registered under: ``ns::name`` or ``ns::name.overload``."""
    if isinstance(op, str):
        namespace, separator, name = op.partition("::")
        if not separator or not namespace or not name or "::" in name:
            raise ExtensionError(
                f"{source}: {op!r} is not a full op name: write 'namespace::name' (e.g. "
                f"'mylib::{op or 'op'}' or 'aten::{op or 'op'}'); a bare name could be shared by "
                "another namespace"
            )
        return op
    name = getattr(op, "_qualified_op_name", None)  # an OpOverloadPacket
    if isinstance(name, str):
        return name
    overload_name = getattr(op, "name", None)  # an OpOverload
    if callable(overload_name) and hasattr(op, "_overloadname"):
        return overload_name()
    raise ExtensionError(
        f"{source}: {op!r} ({type(op).__name__}) is not an op: use a full name "
        "('mylib::op') or a torch.ops object (torch.ops.mylib.op)"
    )


def _entries(formulas: Any, source: str) -> dict[str, tuple[Callable[..., Cost], bool]]:
    """A source's mapping, checked: {op key: (formula, override)}."""
    if not isinstance(formulas, Mapping):
        raise ExtensionError(
            f"{source}: pytest_flopbudget_formulas returned a {type(formulas).__name__}, not a "
            "mapping of ops to formulas"
        )
    checked = {}
    for op, value in formulas.items():
        key = op_key(op, source)
        formula, override = (
            (value.cost, value.override)
            if isinstance(value, Formula)
            else (
                value,
                False,
            )
        )
        if not callable(formula):
            raise ExtensionError(
                f"{source}: the formula for {key} is a {type(formula).__name__}, not a callable "
                "(args, kwargs, out) -> pytest_flopbudget.Cost"
            )
        checked[key] = (formula, override)
    return checked


class Registry:
    """Formulas by full op name, each with the source that registered it."""

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self.entries: dict[str, Entry] = dict(entries or {})
        self.handlers: dict[Any, Any] = {}  # the counter's per-op cache (see classify.handler)
        self.checked = False  # its formulas for composite ops looked for (classify)
        self.warned: set[str] = set()  # the composite ops whose formula it warned about
        self.digest: str | None = None  # its fingerprint, once computed

    def stacked(self, formulas: Any, source: str) -> Registry:
        """A new registry: this one with `source`'s formulas on top."""
        entries = dict(self.entries)
        for key, (formula, override) in _entries(formulas, source).items():
            below = entries.get(key)
            if below is not None and below.source != source and not override:
                raise ExtensionError(
                    f"{source}: a formula for {key} is already registered by {below.source}; "
                    "register it with override=True to replace it"
                )
            entries[key] = Entry(formula, source)
        return Registry(entries)

    def lookup(self, overload: str, packet: str, normalized: str) -> Entry | None:
        """The entry for an op by its overload, its packet, then (in-place) its out-of-place
        packet (``aten::add_`` costs what ``aten::add`` costs)."""
        entries = self.entries
        return entries.get(overload) or entries.get(packet) or entries.get(normalized)


def _builtin_entries() -> dict[str, Entry]:
    entries = {}
    for name in ZERO_COST:
        key = name if "::" in name else f"aten::{name}"
        entries[key] = Entry(zero_cost, BUILTIN_SOURCE)
    for name, formula in FORMULAS.items():
        key = name if "::" in name else f"aten::{name}"
        entries[key] = Entry(formula, BUILTIN_SOURCE)
    return entries


class _PluginManager(pluggy.PluginManager):
    """Outside pytest: a hook function needs no marker, as in a conftest.py."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        options = super().parse_hookimpl_opts(plugin, name)
        if options is None and name.startswith("pytest_flopbudget_"):
            return {}
        return options


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The installed packages' hooks (entry point group ``pytest_flopbudget``), loaded once."""
    manager = _PluginManager("pytest")
    manager.add_hookspecs(hookspecs)
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        source = _entry_point_source(entry_point)
        try:
            plugin = entry_point.load()
        except Exception as error:
            raise ExtensionError(
                f"{source}: loading it raised {type(error).__name__}: {error}"
            ) from error
        manager.register(plugin, name=source)
    return manager


def _entry_point_source(entry_point: Any) -> str:
    dist = getattr(entry_point, "dist", None)
    package = f" of {dist.name}" if dist is not None and getattr(dist, "name", None) else ""
    return f"entry point {entry_point.name!r}{package} ({entry_point.value})"


def hook_formulas(registry: Registry, impls: list[Any], describe: Callable[[Any], str]) -> Registry:
    """`registry` with the formulas of each ``pytest_flopbudget_formulas`` implementation in
    `impls` stacked on it (in the order given), each named by `describe(hookimpl)`."""
    for impl in impls:
        source = describe(impl)
        try:
            formulas = impl.function()
        except Exception as error:
            raise ExtensionError(
                f"{source}: pytest_flopbudget_formulas raised {type(error).__name__}: {error}"
            ) from error
        registry = registry.stacked(formulas, source)
    return registry


@functools.cache
def _installed() -> Registry:
    """The built-in table with the installed packages' formulas on top."""
    registry = Registry(_builtin_entries())
    impls = plugin_manager().hook.pytest_flopbudget_formulas.get_hookimpls()
    return hook_formulas(registry, impls, lambda impl: impl.plugin_name)


@dataclass(frozen=True)
class Extensions:
    """What a pytest test adds to the installed registry: its conftest files' formulas, and
    the module-cost hook it sees (its conftests' and the installed packages')."""

    registry: Registry
    module_cost: Callable[..., Any] | None


_PROCESS: dict[str, tuple[Callable[..., Cost], bool, str]] = {}  # register_formula's
_process_version = [0]  # bumped by each registration
_pytest_extensions: contextvars.ContextVar[Extensions | None] = contextvars.ContextVar(
    "pytest_flopbudget_extensions", default=None
)


_with_process_cache: dict[tuple[int, int], tuple[Registry, Registry]] = {}


def _with_process(registry: Registry) -> Registry:
    """`registry` with register_formula's formulas on top; the same object for the same inputs,
    so its per-op cache lives on."""
    key = (id(registry), _process_version[0])
    cached = _with_process_cache.get(key)
    if cached is not None and cached[0] is registry:
        return cached[1]
    stacked = registry
    for op, (formula, override, source) in _PROCESS.items():
        stacked = stacked.stacked({op: Formula(formula, override)}, source)
    if len(_with_process_cache) > 64:
        _with_process_cache.clear()
    _with_process_cache[key] = (registry, stacked)
    return stacked


def register_formula(op: Any, *, override: bool = False) -> Callable[[Callable], Callable]:
    """Decorator: ``@register_formula("mylib::op")`` prices an op for the whole process.

    The formula is called as ``formula(args, kwargs, out)`` and returns a `Cost`. Registering a
    formula for an op that is already priced (by the built-in table, an installed package or an
    earlier registration) is an `ExtensionError` naming both, unless ``override=True``."""

    def register(formula: Callable[..., Cost]) -> Callable[..., Cost]:
        code = getattr(formula, "__code__", None)
        where = f"{code.co_filename}:{code.co_firstlineno}" if code else repr(formula)
        source = f"register_formula({getattr(formula, '__qualname__', formula)!s} at {where})"
        key = op_key(op, source)
        _with_process(_installed()).stacked({key: Formula(formula, override)}, source)
        _PROCESS.pop(key, None)  # a re-registration (override=True) moves to the top
        _PROCESS[key] = (formula, override, source)
        _process_version[0] += 1
        return formula

    return register


def _base() -> Registry:
    """Built-ins, installed packages and register_formula's: what every call starts from (the
    same object until the next registration: `_with_process` keeps it)."""
    return _with_process(_installed())


def current(formulas: Mapping[Any, Any] | None = None) -> tuple[Registry, Callable | None]:
    """The registry and module-cost hook for one count: the base, a pytest test's conftest
    formulas (when the plugin set them with `using`), and a call's `formulas`."""
    extensions = _pytest_extensions.get()
    if extensions is not None:
        registry = _with_process(extensions.registry)
        module_cost = extensions.module_cost
    else:
        registry = _base()
        manager = plugin_manager()
        has_impls = manager.hook.pytest_flopbudget_module_cost.get_hookimpls()
        module_cost = manager.hook.pytest_flopbudget_module_cost if has_impls else None
    if formulas:
        registry = registry.stacked(formulas, "the formulas= of this call")
    return registry, module_cost


@contextlib.contextmanager
def using(extensions: Extensions) -> Iterator[None]:
    """Within the block, counts use `extensions` (the plugin sets it around a test's call)."""
    token = _pytest_extensions.set(extensions)
    try:
        yield
    finally:
        _pytest_extensions.reset(token)


def _pytest_source(impl: Any) -> str:
    name = str(impl.plugin_name)
    return f"conftest {name}" if name.endswith("conftest.py") else f"pytest plugin {name!r}"


def _first_cost(callers: list[Any]) -> Callable[..., Any]:
    def module_cost(**hook_kwargs: Any) -> Any:
        for caller in callers:
            cost = caller(**hook_kwargs)
            if cost is not None:
                return cost
        return None

    return module_cost


_for_pytest_cache: dict[tuple, Extensions] = {}


def for_pytest(ihook: Any) -> Extensions:
    """What a pytest test counts with: the installed registry with the formulas of the
    ``conftest.py`` files (and pytest plugins) that apply to it (`ihook`, the item's hook
    relay), and their module-cost hooks before the installed packages'."""
    formula_impls = ihook.pytest_flopbudget_formulas.get_hookimpls()
    cost_impls = ihook.pytest_flopbudget_module_cost.get_hookimpls()
    key = tuple(id(impl.function) for impl in (*formula_impls, *cost_impls))
    extensions = _for_pytest_cache.get(key)
    if extensions is None:
        registry = hook_formulas(_installed(), formula_impls, _pytest_source)
        installed_cost = plugin_manager().hook.pytest_flopbudget_module_cost
        callers = [ihook.pytest_flopbudget_module_cost] if cost_impls else []
        if installed_cost.get_hookimpls():
            callers.append(installed_cost)
        module_cost = _first_cost(callers) if callers else None
        extensions = _for_pytest_cache[key] = Extensions(registry, module_cost)
    return extensions


def _describe(value: Any, depth: int = 0) -> str:
    """A stable text of a formula: its module (for a built-in one, the formulas package, whichever
    family module defines it) and qualified name, and for a function a hash of its bytecode,
    constants, names and closure values (a factory's closures differ only there); nested
    functions and `functools.partial` are followed a few levels down."""
    if depth > 4:
        return type(value).__qualname__
    if isinstance(value, functools.partial):
        arguments = repr((value.args, sorted(value.keywords.items())))
        return f"partial({_describe(value.func, depth + 1)}, {arguments})"
    if isinstance(value, (int, float, str, bytes, bool, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return type(value).__name__ + "(" + ",".join(_describe(v, depth + 1) for v in value) + ")"
    code = getattr(value, "__code__", None)
    qualname = getattr(value, "__qualname__", type(value).__qualname__)
    name = f"{_canonical_module(getattr(value, '__module__', '?'))}.{qualname}"
    if code is None:
        return name
    cells = [
        _describe(cell.cell_contents, depth + 1)
        for cell in (value.__closure__ or ())
        if _filled(cell)
    ]
    return f"{name}[{_code_digest(code)};{','.join(cells)}]"


_FORMULAS_PACKAGE = "pytest_flopbudget.engine.formulas"


def _canonical_module(module: Any) -> str:
    """A module's name as a fingerprint reads it: the built-in formulas' modules all read as
    their package, so moving a formula from one family module to another changes nothing."""
    module = str(module)
    if module == _FORMULAS_PACKAGE or module.startswith(_FORMULAS_PACKAGE + "."):
        return _FORMULAS_PACKAGE
    return module


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


def _constant_text(constant: Any) -> str:
    if hasattr(constant, "co_code"):
        return _code_digest(constant)
    if isinstance(constant, frozenset):  # its order follows string hashing: sort it
        return "frozenset(" + ",".join(sorted(map(_constant_text, constant))) + ")"
    if isinstance(constant, tuple):
        return "(" + ",".join(map(_constant_text, constant)) + ")"
    return repr(constant)


def _code_digest(code: Any) -> str:
    digest = hashlib.sha256(code.co_code)
    for constant in code.co_consts:
        digest.update(_constant_text(constant).encode())
    digest.update(repr(code.co_names).encode())
    return digest.hexdigest()[:16]


def fingerprint(registry: Registry | None = None) -> str:
    """A short hash of the formulas a registry prices ops with (by default the one a count
    would use now): over its sorted entries, each op's key, whether it is built in, and its
    formula's module, qualified name and code. Another formula for any op, a user's included,
    gives another fingerprint; so may another Python version (the code is its bytecode). The
    source's text (a conftest's path) is left out, so two checkouts of one project agree."""
    registry = registry if registry is not None else current()[0]
    if registry.digest is None:
        digest = hashlib.sha256()
        for key in sorted(registry.entries):
            entry = registry.entries[key]
            builtin = "builtin" if entry.source == BUILTIN_SOURCE else "added"
            digest.update(f"{key}\0{builtin}\0{_describe(entry.formula)}\n".encode())
        registry.digest = digest.hexdigest()[:12]
    return registry.digest


def fingerprint_for(extensions: Extensions | None) -> str:
    """The fingerprint of what a pytest test counts with: the installed registry, its
    conftests' formulas and `register_formula`'s."""
    if extensions is None:
        return fingerprint(_base())
    return fingerprint(_with_process(extensions.registry))
