"""Teaching the counter: the hooks a ``conftest.py`` or an installed package implements.

pytest-flopbudget prices every aten op from one registry of formulas. The built-in table is
registered in it like any plugin's; these hooks add to it. Implement them in

- a ``conftest.py`` (pytest finds it; its formulas apply to the tests it applies to), or
- an installed package, through the entry point group ``pytest_flopbudget``::

      [project.entry-points.pytest_flopbudget]
      mylib = "mylib.flopbudget"          # a module defining the hook functions below

  loaded by the pytest plugin, by ``pytest_flopbudget.profile()`` / ``counting()`` and by the
  ``flopbudget`` command alike.

(The Python API has two more doors: ``@pytest_flopbudget.register_formula("mylib::op")`` for the
whole process, and ``profile(..., formulas={...})`` / ``counting(..., formulas={...})`` for one
call.)

**Precedence.** A formula is looked up by the op's overload (``mylib::op.default``), then by its
packet (``mylib::op``, every overload). Sources stack in this order, each above the one before:
the built-in table, installed packages (entry points), ``conftest.py`` files,
``register_formula``, a call's ``formulas=``. A formula for an op that a lower source already
prices is an error naming both sources, unless it is registered with ``override=True``
(``Formula(cost, override=True)`` in a mapping, ``register_formula(op, override=True)``).

**A formula** is called as ``formula(args, kwargs, out)`` with the op's actual arguments and
output: real, meta or fake tensors, so it must read only shapes, dtypes and flags, never values.
It returns a ``pytest_flopbudget.Cost(macs=..., other_flops=..., weight_uses=...,
separate_weight_uses=...)``: the multiply-accumulates, the other floating-point operations
(FLOPs under the default convention are ``2 * macs + other_flops``), and optionally
``((operand, uses), ...)`` pairs saying every element of that operand takes part in ``uses``
MACs, so that pruned weights lower the sparse counts: in ``weight_uses`` the operands of one
product (the first that is a parameter decides), in ``separate_weight_uses`` weights that each
have MACs of their own. A formula that raises, or returns anything but a Cost, leaves the op
listed as uncounted with the reason (``mylib.op (formula failed: ZeroDivisionError: ...)``),
so ``strict`` fails on it; the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pytest_flopbudget.engine.cost import Cost

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_flopbudget_formulas() -> Mapping[Any, Callable[..., Cost]]:
    """Return ``{op: formula}``: the cost of ops the built-in table does not know (or, with
    ``override=True``, prices differently).

    An op is a full name, ``"mylib::fused_gelu"`` (every overload) or
    ``"mylib::fused_gelu.default"`` (one overload), or a ``torch.ops`` object
    (``torch.ops.mylib.fused_gelu`` or ``torch.ops.mylib.fused_gelu.default``). A bare name
    without its namespace is refused: another namespace could share it. A value is a formula
    ``(args, kwargs, out) -> Cost``, or ``pytest_flopbudget.Formula(formula, override=True)``.

    Example (``conftest.py``)::

        from pytest_flopbudget import Cost

        def fused_gelu_cost(args, kwargs, out):
            return Cost(other_flops=8 * out.numel())

        def pytest_flopbudget_formulas():
            return {"mylib::fused_gelu": fused_gelu_cost}

    A mapping that is not one (a key that is no op name, a value that is not callable) is a
    usage error naming the plugin: the ``conftest.py`` path or the entry point.
    """


@hookspec(firstresult=True)
def pytest_flopbudget_module_cost(module: Any, args: tuple, output: Any) -> Cost | None:
    """Price a module as a unit: return a ``Cost`` for this call of ``module`` (its positional
    ``args`` and its ``output``), or None to count the ops inside it as usual.

    When a Cost is returned, the ops that ran inside the module's forward count nothing (they
    are neither priced nor listed as uncounted) and the Cost stands for them, attributed to the
    module; its backward, if one runs, is counted op by op as usual. Use it for work the
    dispatch mode cannot see (a kernel launched outside torch's dispatcher) or for a module the
    user wants counted by its own formula. The first implementation that returns a Cost wins
    (``conftest.py`` files before installed packages). A hook that raises, or returns anything
    but a Cost or None, is listed as uncounted with the reason, and the ops inside are counted.
    """
