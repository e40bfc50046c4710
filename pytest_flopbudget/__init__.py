"""pytest-flopbudget: a compute budget (FLOPs, MACs, parameters) for PyTorch models, as a test.

Importing this package is cheap: torch is imported only when `profile` or `counting` is used,
because pytest loads the plugin in every run of every project where it is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Cost",
    "Formula",
    "ModuleStats",
    "OpStats",
    "Profile",
    "UncountedOpsError",
    "counting",
    "profile",
    "register_formula",
]

_LAZY = {
    "Cost": "formulas",
    "Formula": "registry",
    "register_formula": "registry",
    "profile": "counter",
    "counting": "counter",
    "UncountedOpsError": "counter",
    "Profile": "result",
    "ModuleStats": "result",
    "OpStats": "result",
}

if TYPE_CHECKING:
    from .counter import UncountedOpsError, counting, profile
    from .formulas import Cost
    from .registry import Formula, register_formula
    from .result import ModuleStats, OpStats, Profile


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
