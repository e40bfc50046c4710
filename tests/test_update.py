"""update_pyproject's rewrite rule at its boundary: a limit is tightened only when it stands more
than 20% above the value that would be written (README, "Updating budgets")."""

from __future__ import annotations

import pytest

from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.budgets.update import update_pyproject
from pytest_flopbudget.budgets.verdict import TestRow

NODE = "tests/test_x.py::test_a"


def row(flops: int) -> TestRow:
    return TestRow(
        nodeid=NODE,
        location="tests/test_x.py:1",
        count="all",
        ran_torch_work=True,
        totals={
            "flops": flops,
            "macs": flops // 2,
            "params": 100,
            "nonzero_params": 100,
            "sparse_flops": flops,
            "param_bytes": 0,
        },
    )


@pytest.mark.parametrize(
    ("limit", "rewritten"),
    [(1200, False), (1201, True), (1000, False), (999, True)],  # 1000 measured: +20% is the edge
)
def test_a_limit_is_tightened_only_past_twenty_percent_of_slack(tmp_path, limit, rewritten):
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[tool.flopbudget.tests."{NODE}"]\nmax_flops = {limit}  # kept\n')
    before = path.read_text()
    result = update_pyproject(path, load_config(path), [row(1000)], {}, None)
    assert (result.updated == [NODE]) is rewritten
    expected = before.replace(f"= {limit}", "= 1000") if rewritten else before
    assert path.read_text() == expected
