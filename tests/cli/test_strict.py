"""The flopbudget command's --strict."""

from __future__ import annotations

import json

import torch
from torch import nn

from pytest_flopbudget.cli import main
from tests.custom_ops import NOCOST, NOCOST_OP
from tests.support import (
    linear_flops,
    linear_macs,
    linear_params,
)

# ---- models -----------------------------------------------------------------------------------

B, D = 4, 8  # batch, width


LIN_MACS, LIN_FLOPS, LIN_PARAMS = linear_macs(B, D, D), linear_flops(B, D, D), linear_params(D, D)


def x() -> torch.Tensor:
    return torch.randn(B, D)


# ---- the flopbudget command: --strict ---------------------------------------------------------


class WithNoCost(nn.Module):
    """Linear(D, D), then fbtest.nocost once."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.fbtest.nocost(self.lin(x))


def with_nocost() -> WithNoCost:
    return WithNoCost()


def plain() -> nn.Linear:
    return nn.Linear(D, D)


def cli_run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_strict_exits_3_and_names_the_uncounted_ops_on_stderr(capsys):
    spec = f"{__name__}:with_nocost"
    code, out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}")
    assert (code, err) == (0, "")
    code, strict_out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}", "--strict")
    assert code == 3
    assert err == (
        f"flopbudget: strict: 1 op has no cost formula: {NOCOST_OP} (1 call); teach it with "
        f'@pytest_flopbudget.register_formula("{NOCOST_OP}") where the model is defined, or '
        "with pytest_flopbudget_formulas() in an installed package (entry point group "
        "pytest_flopbudget)\n"
    )
    assert strict_out == out  # the counts are printed all the same
    assert f"totals: flops {LIN_FLOPS}, macs {LIN_MACS}," in out
    code, out, err = cli_run(capsys, spec, "--input-shape", f"{B},{D}", "--strict", "--json")
    assert code == 3
    assert json.loads(out)["models"][0]["uncounted"] == {NOCOST: 1}


def test_cli_strict_exits_0_when_every_op_has_a_formula(capsys):
    code, out, err = cli_run(capsys, f"{__name__}:plain", "--input-shape", f"{B},{D}", "--strict")
    assert (code, err) == (0, "")
    assert f"totals: flops {LIN_FLOPS}, macs {LIN_MACS}," in out
