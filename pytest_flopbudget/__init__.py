"""pytest-flopbudget: a compute budget (FLOPs, MACs, parameters) for PyTorch models, as a test.

Importing this package is cheap: torch is imported only when `profile` or `counting` is used,
because pytest loads the plugin in every run of every project where it is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Cost",
    "Distribution",
    "Formula",
    "Hardware",
    "ModuleStats",
    "OpStats",
    "PhaseStats",
    "Profile",
    "Stat",
    "Totals",
    "UncountedOpsError",
    "counting",
    "phase",
    "profile",
    "profile_each",
    "profile_generate",
    "register_formula",
]

_LAZY = {
    "Cost": "engine.cost",
    "Formula": "engine.registry",
    "register_formula": "engine.registry",
    "Hardware": "engine.hardware",
    "profile": "engine.counter",
    "counting": "engine.counter",
    "UncountedOpsError": "engine.counter",
    "Profile": "engine.profile",
    "ModuleStats": "engine.profile",
    "OpStats": "engine.profile",
    "phase": "engine.phases",
    "PhaseStats": "engine.phases",
    "Totals": "engine.phases",
    "profile_generate": "engine.generate",
    "profile_each": "engine.distribution",
    "Distribution": "engine.distribution",
    "Stat": "engine.distribution",
}

if TYPE_CHECKING:
    from pytest_flopbudget.engine.cost import Cost
    from pytest_flopbudget.engine.counter import UncountedOpsError, counting, profile
    from pytest_flopbudget.engine.distribution import Distribution, Stat, profile_each
    from pytest_flopbudget.engine.generate import profile_generate
    from pytest_flopbudget.engine.hardware import Hardware
    from pytest_flopbudget.engine.phases import PhaseStats, Totals, phase
    from pytest_flopbudget.engine.profile import ModuleStats, OpStats, Profile
    from pytest_flopbudget.engine.registry import Formula, register_formula


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
