"""The registry's fingerprint: what a baseline from another counter says."""

from __future__ import annotations

import json
import re

import torch  # noqa: F401  (imported once: pytester's in-process runs drop what they import)

from pytest_flopbudget.engine.registry import Registry, _builtin_entries, fingerprint
from tests.projects import make_baseline


def test_a_conftest_formula_added_since_the_baseline_changes_the_fingerprint(pytester, monkeypatch):
    report = make_baseline(pytester, monkeypatch)
    (old,) = {t["fingerprint"] for t in report["tests"]}
    pytester.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_formulas():
            return {"aten::logcumsumexp": lambda args, kwargs, out: Cost(other_flops=out.numel())}
        """
    )
    result = pytester.runpytest("--flop-baseline=base.json", "--flop-report=json:now.json")
    result.assert_outcomes(passed=5)
    now = json.loads((pytester.path / "now.json").read_text(encoding="utf-8"))
    (new,) = {t["fingerprint"] for t in now["tests"]}
    assert new != old
    assert (
        f"flop budget: baseline made with cost formulas {old}, now cost formulas {new}: some "
        "deltas may come from the counter"
    ) in result.outlines
    # the priced op was run before too (then uncounted): its test's op set did not change
    assert not any(line.startswith("ops changed since") for line in result.outlines)


# --- the registry's fingerprint -------------------------------------------------------------------


def test_fingerprint_follows_the_formulas_not_the_registry_object():
    from pytest_flopbudget.engine.cost import Cost

    builtin = Registry(_builtin_entries())
    assert fingerprint(builtin) == fingerprint(Registry(_builtin_entries()))
    assert re.fullmatch("[0-9a-f]{12}", fingerprint(builtin))

    def factory(k: int):
        return lambda args, kwargs, out: Cost(other_flops=k)

    two = builtin.stacked({"mylib::op": factory(2)}, "conftest a/conftest.py")
    three = builtin.stacked({"mylib::op": factory(3)}, "conftest a/conftest.py")
    elsewhere = builtin.stacked({"mylib::op": factory(2)}, "conftest b/conftest.py")
    assert len({fingerprint(builtin), fingerprint(two), fingerprint(three)}) == 3
    assert fingerprint(two) == fingerprint(elsewhere)  # a checkout's path is not the formula
