"""What the plugin keeps on a budgeted test, and the `flop_budget` fixture over it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flopbudget.budgets.check import Budget
    from pytest_flopbudget.engine.counter import Counting
    from pytest_flopbudget.engine.distribution import Distribution
    from pytest_flopbudget.engine.profile import Profile
    from pytest_flopbudget.engine.registry import Extensions

__all__ = ["BUDGET_KEY", "ROW_KEY", "FlopBudgetFixture", "TestBudget"]


class TestBudget:
    """What the plugin knows about one budgeted test; kept in `item.stash`."""

    __test__ = False

    def __init__(self, budget: Budget, count: str, pinned: bool, extensions: Extensions) -> None:
        self.budget = budget
        self.count = count
        self.pinned = pinned
        self.recorded: list[Profile] = []
        self.distributions: list[Distribution] = []  # what the fixture's profile_each recorded
        self.extensions = extensions  # the formulas its conftest files add


BUDGET_KEY = pytest.StashKey[TestBudget]()
ROW_KEY = pytest.StashKey[dict]()


class FlopBudgetFixture:
    """The `flop_budget` fixture: explicit control over what a test's budget measures.

    When it recorded something, only that counts for the test (not the marker's whole-call
    counting).
    """

    def __init__(self, state: TestBudget, node: pytest.Item | None = None) -> None:
        self._state = state
        self._node = node  # the test: for profile_each's progress bar on pytest's terminal

    @property
    def budget(self) -> Budget:
        """The resolved limits (marker > pyproject entry > defaults)."""
        return self._state.budget

    def profile(self, model: Any, *args: Any, **kwargs: Any) -> Profile:
        """`pytest_flopbudget.profile(model, *args, **kwargs)`, recorded for this test."""
        from pytest_flopbudget.engine.counter import profile

        result = profile(model, *args, count=self._state.count, **kwargs)
        self._state.recorded.append(result)
        return result

    @property
    def phase(self) -> Callable[[str], contextlib.AbstractContextManager[None]]:
        """`pytest_flopbudget.phase`: ``with flop_budget.phase("decode"): ...`` tags the work
        counted in the block (the marker's count, `profile`, `counting`) with a phase."""
        from pytest_flopbudget.engine.phases import phase

        return phase

    def profile_each(
        self,
        model: Any,
        samples: Any,
        limit: int | None = None,
        *,
        strict: bool = False,
        formulas: Any = None,
    ) -> Distribution:
        """`pytest_flopbudget.profile_each(model, samples, limit=limit)`, its distribution
        recorded for this test (a progress bar on pytest's terminal past two seconds)."""
        from pytest_flopbudget.engine.distribution import profile_each
        from pytest_flopbudget.plugin.progress import terminal_progress

        result = profile_each(
            model,
            samples,
            limit=limit,
            count=self._state.count,
            strict=strict,
            formulas=formulas,
            progress=terminal_progress(self._node) if self._node is not None else False,
        )
        self._state.distributions.append(result)
        return result

    @contextlib.contextmanager
    def counting(self, model: Any = None) -> Iterator[Counting]:
        """`pytest_flopbudget.counting(model)`: count a block, recorded for this test."""
        from pytest_flopbudget.engine.counter import counting

        with counting(model, count=self._state.count) as counted:
            yield counted
        self._state.recorded.append(counted.profile)
