"""The module tree: containers carry their children's work."""

from __future__ import annotations

import re

import torch
from torch import nn

from pytest_flopbudget import counting, profile
from pytest_flopbudget.budgets.check import Budget
from pytest_flopbudget.budgets.verdict import verdict
from pytest_flopbudget.reporting.terminal import detail_lines
from pytest_flopbudget.text import human
from tests.support import (
    linear_flops,
    linear_macs,
    linear_params,
)

# ---- models -----------------------------------------------------------------------------------

B, D = 4, 8  # batch, width


LIN_MACS, LIN_FLOPS, LIN_PARAMS = linear_macs(B, D, D), linear_flops(B, D, D), linear_params(D, D)


class Block(nn.Module):
    """Two Linear(D, D) kept in a ModuleDict that Block's forward reaches into directly."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.ModuleDict({"up": nn.Linear(D, D), "down": nn.Linear(D, D)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp["down"](self.mlp["up"](x))


class Stack(nn.Module):
    """embed, `n` Blocks in a ModuleList (never called itself), head: a transformer's layout."""

    def __init__(self, n: int = 3) -> None:
        super().__init__()
        self.embed = nn.Linear(D, D)
        self.blocks = nn.ModuleList([Block() for _ in range(n)])
        self.head = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class Nested(nn.Module):
    """A ModuleList of two ModuleLists of two Linear(D, D) each; only the Linears are called."""

    def __init__(self) -> None:
        super().__init__()
        self.groups = nn.ModuleList(
            [nn.ModuleList([nn.Linear(D, D), nn.Linear(D, D)]) for _ in range(2)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for group in self.groups:
            for layer in group:
                x = layer(x)
        return x


class SharedChild(nn.Module):
    """Two ModuleLists that both hold `shared`; each list also has one Linear of its own. The
    forward calls shared once, then the two others."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(D, D)
        self.pair = nn.ModuleDict(
            {
                "a": nn.ModuleList([shared, nn.Linear(D, D)]),
                "b": nn.ModuleList([shared, nn.Linear(D, D)]),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pair["a"][0](x)
        return self.pair["b"][1](self.pair["a"][1](x))


def x() -> torch.Tensor:
    return torch.randn(B, D)


# ---- 5. the module tree: containers carry their children's work -------------------------------


def test_module_list_row_is_the_sum_of_its_blocks():
    n = 3
    result = profile(Stack(n), x())
    blocks = result.modules["blocks"]
    assert blocks.type_name == "ModuleList"
    assert blocks.calls == 0
    assert (blocks.macs, blocks.flops) == (n * 2 * LIN_MACS, n * 2 * LIN_FLOPS)
    assert (blocks.forward_flops, blocks.backward_flops) == (n * 2 * LIN_FLOPS, 0)
    assert blocks.params == n * 2 * LIN_PARAMS
    for i in range(n):
        assert result.modules[f"blocks.{i}"].flops == 2 * LIN_FLOPS
        mlp = result.modules[f"blocks.{i}.mlp"]  # a ModuleDict its Block reaches into
        assert (mlp.calls, mlp.macs, mlp.flops) == (0, 2 * LIN_MACS, 2 * LIN_FLOPS)


def test_shares_add_up_at_every_depth():
    result = profile(Stack(3), x())
    assert result.flops == (2 + 3 * 2) * LIN_FLOPS
    modules = result.modules

    def children_sum(parent: str, field: str) -> int:
        depth = modules[parent].depth + 1
        prefix = f"{parent}." if parent else ""
        return sum(
            getattr(m, field)
            for name, m in modules.items()
            if name.startswith(prefix) and m.depth == depth
        )

    for parent in ["", "blocks", "blocks.0", "blocks.0.mlp"]:
        for field in ("macs", "flops", "forward_flops"):
            assert children_sum(parent, field) == getattr(modules[parent], field), (parent, field)
    assert modules[""].flops == result.flops


def test_nested_containers_carry_their_descendants_work():
    result = profile(Nested(), x())
    assert result.modules["groups"].macs == 4 * LIN_MACS
    assert result.modules["groups"].flops == 4 * LIN_FLOPS
    for i in range(2):
        assert result.modules[f"groups.{i}"].flops == 2 * LIN_FLOPS
        assert result.modules[f"groups.{i}"].calls == 0


def test_a_shared_child_counts_once_in_a_container():
    result = profile(SharedChild(), x())
    # pair holds shared (called once) and two Linears: 3 calls' work, not pair.a + pair.b = 4
    assert result.modules["pair"].flops == 3 * LIN_FLOPS
    assert result.modules["pair"].params == 3 * LIN_PARAMS
    for half in ("pair.a", "pair.b"):  # each holds shared and one Linear of its own, as its params
        assert result.modules[half].flops == 2 * LIN_FLOPS
        assert result.modules[half].params == 2 * LIN_PARAMS
    assert result.modules[""].flops == result.flops == 3 * LIN_FLOPS


def test_a_called_module_is_not_double_counted():
    model = nn.Sequential(nn.Linear(D, D), nn.Sequential(nn.Linear(D, D), nn.Linear(D, D)))
    result = profile(model, x())
    assert result.modules["1"].flops == 2 * LIN_FLOPS
    assert result.modules[""].flops == result.flops == 3 * LIN_FLOPS


def test_a_container_carries_forward_and_backward_of_a_training_step():
    model = Stack(2)
    with counting(model) as counted:
        model(x()).sum().backward()
    modules = counted.profile.modules
    blocks = modules["blocks"]
    assert blocks.forward_flops == sum(modules[f"blocks.{i}"].forward_flops for i in range(2))
    assert blocks.backward_flops == sum(modules[f"blocks.{i}"].backward_flops for i in range(2))
    # each block's backward: dX and dW of two Linear(D, D) (the input of blocks.0 needs a grad:
    # embed's output); so 2 · 2 · B·D·D backward MACs per block
    assert blocks.macs == 2 * (2 * LIN_MACS + 2 * 2 * LIN_MACS)
    assert blocks.flops == blocks.forward_flops + blocks.backward_flops


def test_a_root_never_called_carries_its_called_children():
    model = Stack(1)
    with counting(model) as counted:
        model.head(model.embed(x()))
    root = counted.profile.modules[""]
    assert (root.calls, root.flops) == (0, 2 * LIN_FLOPS)
    assert counted.profile.modules["blocks"].flops == 0  # nothing in it ran


def test_profile_table_names_indexed_rows_by_their_container():
    table = profile(Stack(2), x()).table()
    rows = table.split("\n\n")[0].splitlines()[3:]  # the module table, below its header
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in rows]
    assert "blocks.0 (Block)" in labels and "blocks.1 (Block)" in labels
    assert not any(re.fullmatch(r"\d+ \(.*\)", label) for label in labels)


def test_detailed_report_names_indexed_rows_by_their_container():
    result = profile(Stack(2), x())
    row = verdict("t.py::t", "t.py:1", [result], Budget(), detail_depth=3)
    lines = detail_lines(row, 3)
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in lines[3:] if line.strip()]
    assert labels[:3] == ["Stack", "blocks (ModuleList)", "blocks.0 (Block)"]
    assert not any(re.fullmatch(r"\d+ \(.*\)", label) for label in labels)
    blocks = next(line for line in lines if line.strip().startswith("blocks (ModuleList)"))
    assert blocks.split()[2:4] == ["0", human(2 * 2 * LIN_PARAMS)]  # calls, params
