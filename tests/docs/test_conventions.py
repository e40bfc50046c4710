"""docs/conventions.md against the code: every row of its tables is run and checked.

A row names the aten ops it prices in `code` (a backticked word that names no op is prose: `@`,
`pointwise`) and states their MACs and other FLOPs as terms added up, each a formula per unit,
``3 per input element + 1 per output element``, ``2 + a per element``, or a formula alone; a
parenthesis after a space is a remark (where the letters are defined). For every op of every
row, CASES holds small calls and what the row's letters and units stand for in each (the closed
form, written out here); the op runs under profile() and its MACs and other FLOPs must be what
the row says. "output element" is the op's (first) output's elements and "input element" and
"element" its first argument's, unless a case says otherwise. The rows no small call can check
are in EXCEPTIONS, each with the reason and the tests that check it instead.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_flopbudget import profile

CONVENTIONS = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"


# ---- reading the tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    section: str
    ops: str  # the first cell, as written
    macs: str
    other: str

    def __str__(self) -> str:
        return f"{self.section}: {self.ops[:60]}"


def table_rows(text: str) -> list[Row]:
    """The body rows of every ops table, with the section they are in."""
    rows, section = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and not line.startswith("| ops |"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            assert len(cells) == 3, f"{section}: a row of {len(cells)} cells: {line}"
            rows.append(Row(section, *cells))
    return rows


def names_an_op(word: str) -> bool:
    if "::" in word:
        return True
    try:
        getattr(torch.ops.aten, word)
    except (AttributeError, RuntimeError):
        return False
    return True


def op_names(row: Row) -> list[str]:
    """The ops a row prices: its first cell's backticked words that name an op."""
    return [word for word in re.findall(r"`([^`]+)`", row.ops) if names_an_op(word)]


REMARK = re.compile(r" \([^()]*\)")


def without_remarks(cell: str) -> str:
    while (shorter := REMARK.sub("", cell)) != cell:
        cell = shorter
    return cell.strip()


def terms(cell: str) -> list[tuple[str, str | None]]:
    """(formula, unit) terms of a cost cell: ``F per U + G per V`` or a formula alone (unit
    None). A unit runs to the next " + "; a formula runs to the next " per "."""
    parts = without_remarks(cell).split(" per ")
    if len(parts) == 1:
        return [(parts[0], None)]
    formulas, units = [parts[0]], []
    for middle in parts[1:-1]:
        unit, _, formula = middle.partition(" + ")
        assert formula, f"no formula after the unit {unit!r} in {cell!r}"
        units.append(unit)
        formulas.append(formula)
    units.append(parts[-1])
    return list(zip(formulas, units, strict=True))


def _python(formula: str) -> str:
    formula = re.sub(r"(?<![\w.])(\d+(?:\.\d+)?)(?=[A-Za-z(])", r"\1*", formula)  # 3n -> 3*n
    return formula.replace("·", "*").replace("−", "-").replace("log₂", "log2")


def evaluate(formula: str, names: dict[str, Any]) -> float:
    """A formula of numbers, letters (from `names`), + − · / and log₂(…)."""

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            assert node.id in names, f"the case gives no value for {node.id!r} in {formula!r}"
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "log2" and len(node.args) == 1:
            return math.log2(value(node.args[0]))
        raise AssertionError(f"not a formula: {formula!r} ({ast.unparse(node)})")

    return value(ast.parse(_python(formula), mode="eval").body)


OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def cost(cell: str, names: dict[str, Any]) -> float:
    """What a cost cell says for one call: its terms, each formula times its unit's count."""
    total = 0.0
    for formula, unit in terms(cell):
        count = 1
        if unit is not None:
            assert unit in names, f"the case gives no count for the unit {unit!r} of {cell!r}"
            count = names[unit]
        total += evaluate(formula, names) * count
    return total


# ---- the calls ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    args: tuple
    names: dict[str, Any]  # the row's letters and units, in this call
    kwargs: dict[str, Any] = field(default_factory=dict)


def case(*args: Any, per: dict[str, int] | None = None, kwargs=None, **letters: Any) -> Case:
    return Case(args, {**letters, **(per or {})}, kwargs or {})


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def i(*values: int) -> torch.Tensor:
    return torch.tensor(values)


X = r(2, 3, 6, 6)
CUBE = r(1, 2, 4, 4, 4)
RUNNING = (torch.zeros(3), torch.ones(3))  # a batch norm's running mean and variance
ALL = [True, True, True]  # a backward's output_mask: every gradient
POOL2_INDICES = torch.ops.aten.max_pool2d_with_indices(X, [2, 2])[1]
POOL3_INDICES = torch.ops.aten.max_pool3d_with_indices(CUBE, [2, 2, 2])[1]
BAG_WEIGHT, BAG_INDICES, BAG_OFFSETS = r(10, 3), i(1, 2, 4, 5, 4, 3, 2, 9), i(0, 4)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # quantized tensors' deprecation notice
    QUANTIZED = torch.quantize_per_tensor(r(4, 6), 0.1, 0, torch.quint8)


def convolution(x, weight, bias, transposed=False, groups=1, **letters) -> Case:
    """convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
    groups), stride 1, no padding."""
    return case(x, weight, bias, [1, 1], [0, 0], [1, 1], transposed, [0, 0], groups, **letters)


CASES: dict[str, list[Case]] = {
    # ---- matrix products
    "mm": [case(r(2, 3), r(3, 4), m=2, k=3, n=4, per={"matrix product": 1})],
    "bmm": [case(r(5, 2, 3), r(5, 3, 4), m=2, k=3, n=4, per={"matrix product": 5})],
    "matmul": [case(r(5, 2, 3), r(3, 4), m=2, k=3, n=4, per={"matrix product": 5})],
    "einsum": [
        case("bij,bjk->bik", [r(5, 2, 3), r(5, 3, 4)], m=2, k=3, n=4, per={"matrix product": 5})
    ],
    "linear": [case(r(2, 3), r(4, 3), m=2, k=3, n=4, per={"matrix product": 1})],
    "addmm": [case(r(4), r(2, 3), r(3, 4), m=2, k=3, n=4, per={"matrix product": 1})],
    "baddbmm": [case(r(5, 2, 4), r(5, 2, 3), r(5, 3, 4), m=2, k=3, n=4, per={"matrix product": 5})],
    "mv": [case(r(3, 4), r(4), m=3, n=4)],
    "dot": [case(r(4), r(4), m=1, n=4)],
    "vdot": [case(r(4), r(4), m=1, n=4)],
    "addmv": [case(r(3), r(3, 4), r(4), m=3, n=4)],
    "addbmm": [case(r(3, 5), r(4, 3, 2), r(4, 2, 5), b=4, n=3, m=2, p=5)],
    "_cdist_forward": [
        case(r(2, 3, 5), r(2, 4, 5), 1.0, None, per={"pair and coordinate": 24 * 5, "pair": 24})
    ],
    "_cdist_backward": [
        case(
            r(2, 3, 4),
            r(2, 3, 5),
            r(2, 4, 5),
            1.0,
            r(2, 3, 4),
            per={"pair and coordinate": 24 * 5, "pair": 24},
        )
    ],
    "_euclidean_dist": [
        case(r(3, 5), r(4, 5), M=5, per={"pair": 12, "element of x1": 15, "element of x2": 20})
    ],
    "_trilinear": [
        case(r(2, 3), r(5, 3, 4), r(2, 4), [1, 3], [0], [1, 2], [2, 3], N=2, out=5, in1=3, in2=4)
    ],
    # ---- convolution: a 3×3 kernel from 3 to 4 channels has W = 4·3·9 = 108 elements
    "convolution": [
        convolution(r(2, 3, 6, 6), r(4, 3, 3, 3), r(4), N=2, P=4 * 4, W=108, b=1),
        # transposed: the input's 4×4 positions
        convolution(r(2, 4, 4, 4), r(4, 3, 3, 3), None, transposed=True, N=2, P=16, W=108, b=0),
        convolution(r(2, 4, 5, 5), r(6, 2, 3, 3), None, groups=2, N=2, P=3 * 3, W=6 * 2 * 9, b=0),
    ],
    # (grad, input, weight, bias_sizes, stride, padding, dilation, transposed,
    # output_padding, groups, mask)
    "convolution_backward": [
        case(
            r(2, 4, 4, 4),
            r(2, 3, 6, 6),
            r(4, 3, 3, 3),
            [4],
            [1, 1],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            1,
            ALL,
            N=2,
            P=16,
            W=108,
            per={"grad_output element": 2 * 4 * 16},
        )
    ],
    # ---- normalization, softmax, pooling
    "_softmax": [case(r(4, 6), 1, False, n=6, per={"row of n": 4})],
    "_safe_softmax": [case(r(4, 6), 1, n=6, per={"row of n": 4})],
    "_log_softmax": [case(r(4, 6), 1, False, n=6, per={"row of n": 4})],
    "_softmax_backward_data": [case(r(4, 6), r(4, 6), 1, torch.float32, n=6, per={"row of n": 4})],
    "_log_softmax_backward_data": [
        case(r(4, 6), r(4, 6), 1, torch.float32, n=6, per={"row of n": 4})
    ],
    "_native_batch_norm_legit_no_training": [
        case(X, r(3), r(3), *RUNNING, 0.1, 1e-5, a=2),
        case(X, None, None, *RUNNING, 0.1, 1e-5, a=0),
    ],
    "_native_batch_norm_legit": [
        case(X, r(3), r(3), *RUNNING, True, 0.1, 1e-5, a=2),
        case(X, None, None, *RUNNING, True, 0.1, 1e-5, a=0),
    ],
    "native_layer_norm": [
        case(r(2, 3, 4), [4], r(4), r(4), 1e-5, a=2),
        case(r(2, 3, 4), [4], r(4), None, 1e-5, a=1),
        case(r(2, 3, 4), [4], None, None, 1e-5, a=0),
    ],
    "native_group_norm": [
        case(r(2, 4, 3, 3), r(4), r(4), 2, 4, 9, 2, 1e-5, a=2),
        case(r(2, 4, 3, 3), None, None, 2, 4, 9, 2, 1e-5, a=0),
    ],
    # (grad, input, weight, running mean and var, saved mean and invstd, train, eps, mask)
    "native_batch_norm_backward": [
        case(r(2, 3, 6, 6), X, r(3), *RUNNING, r(3), r(3), True, 1e-5, ALL, s=3, a=2),
        case(r(2, 3, 6, 6), X, None, *RUNNING, None, None, False, 1e-5, ALL, s=0, a=0),  # eval
    ],
    # (grad, input, normalized_shape, mean, rstd, weight, bias, mask)
    "native_layer_norm_backward": [
        case(r(2, 3, 4), r(2, 3, 4), [4], r(2, 3, 1), r(2, 3, 1), r(4), r(4), ALL, s=3, a=2)
    ],
    # (grad, input, mean, rstd, weight, N, C, HxW, groups, mask)
    "native_group_norm_backward": [
        case(r(2, 4, 3, 3), r(2, 4, 3, 3), r(2, 2), r(2, 2), r(4), 2, 4, 9, 2, ALL, s=3, a=2)
    ],
    "_weight_norm_interface": [case(r(3, 4), r(3, 1), 0, per={"element of v": 12, "norm": 3})],
    "_weight_norm_interface_backward": [
        case(r(3, 4), r(3, 4), r(3, 1), r(3, 1), 0, per={"element of v": 12, "norm": 3})
    ],
    "max_pool2d_with_indices": [case(X, [2, 2])],
    "max_pool3d_with_indices": [case(CUBE, [2, 2, 2])],
    "adaptive_max_pool2d": [case(X, [3, 3])],
    "adaptive_max_pool3d": [case(CUBE, [2, 2, 2])],
    "max_pool2d_with_indices_backward": [
        case(
            r(2, 3, 3, 3),
            X,
            [2, 2],
            [2, 2],
            [0, 0],
            [1, 1],
            False,
            POOL2_INDICES,
            per={"grad_output element": 54},
        )
    ],
    "max_pool3d_with_indices_backward": [
        case(
            r(1, 2, 2, 2, 2),
            CUBE,
            [2, 2, 2],
            [2, 2, 2],
            [0, 0, 0],
            [1, 1, 1],
            False,
            POOL3_INDICES,
            per={"grad_output element": 16},
        )
    ],
    "avg_pool2d": [case(X, [2, 2], k=4)],
    "avg_pool3d": [case(CUBE, [2, 2, 2], k=8)],
    "avg_pool2d_backward": [
        case(
            r(2, 3, 3, 3),
            X,
            [2, 2],
            [2, 2],
            [0, 0],
            False,
            True,
            None,
            k=4,
            per={"grad_output element": 54},
        )
    ],
    "avg_pool3d_backward": [
        case(
            r(1, 2, 2, 2, 2),
            CUBE,
            [2, 2, 2],
            [2, 2, 2],
            [0, 0, 0],
            False,
            True,
            None,
            k=8,
            per={"grad_output element": 16},
        )
    ],
    "_adaptive_avg_pool2d": [case(X, [3, 3], w=2 * 2)],  # 6 -> 3: windows of 2 a side
    "_adaptive_avg_pool3d": [case(CUBE, [2, 2, 2], w=2 * 2 * 2)],
    # ---- pointwise ops and reductions
    "relu": [case(r(2, 3))],
    "add": [case(r(2, 3), r(2, 3))],
    "mul": [case(r(2, 3), r(3))],
    "gelu": [case(r(2, 3))],
    "silu": [case(r(2, 3))],
    "exp": [case(r(2, 3))],
    "tanh": [case(r(2, 3))],
    "sigmoid": [case(r(2, 3))],
    "hardswish": [case(r(2, 3))],
    "log_sigmoid": [case(r(2, 3))],
    "rrelu": [case(r(2, 3))],
    "prelu": [case(r(2, 3, 4), r(3))],
    "gelu_": [case(r(2, 3))],
    "mish_": [case(r(2, 3))],
    "threshold_": [case(r(2, 3), 0.1, 0.0)],
    "abs_": [case(r(2, 3))],
    "hardswish_backward": [case(r(2, 3), r(2, 3))],
    "hardtanh_backward": [case(r(2, 3), r(2, 3), 0.0, 6.0)],
    "elu_backward": [case(r(2, 3), 1.0, 1.0, 1.0, False, r(2, 3))],
    "softplus_backward": [case(r(2, 3), r(2, 3), 1.0, 20.0)],
    "leaky_relu_backward": [case(r(2, 3), r(2, 3), 0.01, False)],
    "_prelu_kernel_backward": [
        case(r(2, 3, 4), r(2, 3, 4), r(3, 1), per={"grad_output element": 24})
    ],
    "glu": [case(r(2, 6), -1)],
    "glu_backward": [case(r(2, 3), r(2, 6), -1, per={"grad_output element": 6})],
    "native_dropout": [case(r(2, 3), 0.5, True)],
    "native_dropout_backward": [case(r(2, 3), torch.ones(2, 3, dtype=torch.bool), 2.0)],
    "sum": [case(r(2, 3))],
    "prod": [case(r(2, 3))],
    "amax": [case(r(2, 3), [1])],
    "amin": [case(r(2, 3), [1])],
    "max": [case(r(2, 3)), case(r(2, 3), 1)],
    "min": [case(r(2, 3)), case(r(2, 3), 1)],
    "cumsum": [case(r(2, 3), 1)],
    "mean": [case(r(2, 3), [1])],
    "var": [case(r(2, 3), [1])],
    "std": [case(r(2, 3), [1])],
    "linalg_vector_norm": [case(r(2, 3), 2, [1])],
    "_foreach_add": [case([r(2, 3), r(4)], 1.0, per={"element of each tensor": 6 + 4})],
    "_foreach_mul": [case([r(2, 3), r(4)], 2.0, per={"element of each tensor": 6 + 4})],
    # (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights):
    # 8 indices into rows of 3, in 2 bags; mode 0 sum, 1 mean, 2 max
    "_embedding_bag": [
        case(
            BAG_WEIGHT,
            BAG_INDICES,
            BAG_OFFSETS,
            False,
            0,
            w=0,
            m=0,
            per={"looked-up element": 8 * 3},
        ),
        case(
            BAG_WEIGHT,
            BAG_INDICES,
            BAG_OFFSETS,
            False,
            1,
            w=0,
            m=1,
            per={"looked-up element": 8 * 3},
        ),
        case(
            BAG_WEIGHT,
            BAG_INDICES,
            BAG_OFFSETS,
            False,
            2,
            w=0,
            m=0,
            per={"looked-up element": 8 * 3},
        ),
        case(
            BAG_WEIGHT,
            BAG_INDICES,
            BAG_OFFSETS,
            False,
            0,
            False,
            r(8),
            w=1,
            m=0,
            per={"looked-up element": 8 * 3},
        ),
    ],
    "index_add": [
        case(r(5, 3), 0, i(0, 2, 4), r(3, 3), a=0, per={"source element": 9}),
        case(r(5, 3), 0, i(0, 2, 4), r(3, 3), kwargs={"alpha": 2}, a=1, per={"source element": 9}),
    ],
    "scatter_add": [case(r(3, 5), 1, i(0, 2).expand(3, 2), r(3, 4), per={"index element": 6})],
    "scatter_reduce": [
        case(r(3, 5), 1, i(0, 2).expand(3, 2), r(3, 4), "sum", m=0, per={"index element": 6}),
        case(r(3, 5), 1, i(0, 2).expand(3, 2), r(3, 4), "mean", m=1, per={"index element": 6}),
    ],
    "index_reduce": [
        case(r(5, 3), 0, i(0, 2, 4), r(3, 3), "prod", m=0, per={"source element": 9}),
        case(r(5, 3), 0, i(0, 2, 4), r(3, 3), "mean", m=1, per={"source element": 9}),
    ],
    "histc": [case(r(20), 5)],
    # a length-10 signal in windows of 4, step 2: 4 windows
    "unfold_backward": [case(r(4, 4), [10], 0, 4, 2, per={"grad element": 16})],
    # (columns, output_size, kernel_size, dilation, padding, stride): 3 channels, 2×2 kernel,
    # 2 rows; stride 1 on 4×4 puts all 3×3 blocks inside; stride 2, padding 1 puts 4 of the 6
    # (block, tap) places a side inside
    "col2im": [
        case(
            r(2, 12, 9),
            [4, 4],
            [2, 2],
            [1, 1],
            [0, 0],
            [1, 1],
            per={"column element inside the output": 2 * 12 * 9},
        ),
        case(
            r(2, 12, 9),
            [4, 4],
            [2, 2],
            [1, 1],
            [1, 1],
            [2, 2],
            per={"column element inside the output": 2 * 3 * 4 * 4},
        ),
    ],
    # ---- quantize and dequantize
    "quantize_per_tensor": [case(r(4, 6), 0.1, 0, torch.quint8)],
    "quantize_per_channel": [
        case(r(4, 6), torch.full((4,), 0.1), torch.zeros(4, dtype=torch.long), 0, torch.quint8)
    ],
    "quantize_per_tensor_dynamic": [case(r(4, 6), torch.quint8, False)],
    "dequantize": [case(QUANTIZED)],
    # ---- sampling: (input, output_size, align_corners); backward (grad, output_size,
    # input_size, align_corners)
    "upsample_linear1d": [case(r(2, 3, 4), [8], False, d=1)],
    "upsample_bilinear2d": [case(r(2, 3, 4, 4), [8, 8], False, d=2)],
    "upsample_trilinear3d": [case(r(1, 2, 2, 2, 2), [4, 4, 4], False, d=3)],
    "upsample_bicubic2d": [case(r(2, 3, 4, 4), [8, 8], False, d=2)],
    "upsample_linear1d_backward": [
        case(r(2, 3, 8), [8], [2, 3, 4], False, t=3, d=1, per={"grad_output element": 48})
    ],
    "upsample_bilinear2d_backward": [
        case(r(2, 3, 8, 8), [8, 8], [2, 3, 4, 4], False, t=3, d=2, per={"grad_output element": 384})
    ],
    "upsample_trilinear3d_backward": [
        case(
            r(1, 2, 4, 4, 4),
            [4, 4, 4],
            [1, 2, 2, 2, 2],
            False,
            t=3,
            d=3,
            per={"grad_output element": 128},
        )
    ],
    "upsample_bicubic2d_backward": [
        case(r(2, 3, 8, 8), [8, 8], [2, 3, 4, 4], False, t=7, d=2, per={"grad_output element": 384})
    ],
    "upsample_nearest1d_backward": [
        case(r(2, 3, 8), [8], [2, 3, 4], per={"grad_output element": 48})
    ],
    "upsample_nearest2d_backward": [
        case(r(2, 3, 8, 8), [8, 8], [2, 3, 4, 4], per={"grad_output element": 384})
    ],
    "upsample_nearest3d_backward": [
        case(r(1, 2, 4, 4, 4), [4, 4, 4], [1, 2, 2, 2, 2], per={"grad_output element": 128})
    ],
    # (input, grid, interpolation_mode 0 bilinear / 1 nearest / 2 bicubic, padding_mode,
    # align_corners): a 3×3 grid of 2 coordinates
    "grid_sampler_2d": [
        case(r(1, 2, 4, 4), r(1, 3, 3, 2), mode, 0, False, t=t, d=2, per={"grid coordinate": 18})
        for mode, t in ((0, 3), (1, 0), (2, 7))
    ],
    "grid_sampler_3d": [
        case(r(1, 2, 3, 3, 3), r(1, 2, 2, 2, 3), 0, 0, False, t=3, d=3, per={"grid coordinate": 24})
    ],
    "grid_sampler_2d_backward": [
        case(
            r(1, 2, 3, 3),
            r(1, 2, 4, 4),
            r(1, 3, 3, 2),
            mode,
            0,
            False,
            [True, True],
            i=grad_input,
            g=grad_grid,
            per={"grad_output element": 18, "grid coordinate": 18},
        )
        for mode, grad_input, grad_grid in ((0, 6, 6), (1, 1, 0))
    ],
    "grid_sampler_3d_backward": [
        case(
            r(1, 2, 2, 2, 2),
            r(1, 2, 3, 3, 3),
            r(1, 2, 2, 2, 3),
            0,
            0,
            False,
            [True, True],
            i=9,
            g=9,
            per={"grad_output element": 16, "grid coordinate": 24},
        )
    ],
    # ---- FFT: (input, dims, normalization 0 none / 1 by 1/√n / 2 by 1/n, ...): 4 signals of 8
    "_fft_c2c": [
        case(
            torch.randn(4, 8, dtype=torch.complex64),
            [1],
            norm,
            True,
            M=8,
            z=min(norm, 1),
            per={"signal element": 32},
        )
        for norm in (0, 2)
    ],
    "_fft_r2c": [
        case(r(4, 8), [1], norm, True, M=8, r=2, z=min(norm, 1), per={"signal element": 32})
        for norm in (0, 1)
    ],  # its output: 4 × 5 complex elements
    "_fft_c2r": [
        case(
            torch.randn(4, 5, dtype=torch.complex64),
            [1],
            2,
            8,
            M=8,
            r=1,
            z=1,
            per={"signal element": 32},
        )
    ],
    # ---- losses: reduction 1 (mean); a backward's input is the loss's input (the second)
    "mse_loss": [case(r(4, 5), r(4, 5), 1)],
    "nll_loss_forward": [case(r(4, 5), i(0, 1, 2, 3), None, 1, -100, per={"target element": 4})],
    "nll_loss2d_forward": [
        case(
            r(2, 3, 4, 4),
            torch.zeros(2, 4, 4, dtype=torch.long),
            None,
            1,
            -100,
            per={"target element": 32},
        )
    ],
    "mse_loss_backward": [case(r(()), r(4, 5), r(4, 5), 1, per={"input element": 20})],
    "smooth_l1_loss": [case(r(4, 5), r(4, 5), 1, 1.0)],
    "huber_loss": [case(r(4, 5), r(4, 5), 1, 1.0)],
    "smooth_l1_loss_backward": [case(r(()), r(4, 5), r(4, 5), 1, 1.0, per={"input element": 20})],
    "huber_loss_backward": [case(r(()), r(4, 5), r(4, 5), 1, 1.0, per={"input element": 20})],
    "binary_cross_entropy": [
        case(torch.rand(4, 5), torch.rand(4, 5), None, 1, w=0),
        case(torch.rand(4, 5), torch.rand(4, 5), r(4, 5), 1, w=1),
    ],
    "binary_cross_entropy_backward": [
        case(r(()), torch.rand(4, 5), torch.rand(4, 5), None, 1, w=0, per={"input element": 20}),
        case(r(()), torch.rand(4, 5), torch.rand(4, 5), r(4, 5), 1, w=1, per={"input element": 20}),
    ],
    "binary_cross_entropy_with_logits": [
        case(r(4, 5), torch.rand(4, 5), None, None, 1, w=0),
        case(r(4, 5), torch.rand(4, 5), r(4, 5), r(5), 1, w=2),
    ],
    "soft_margin_loss": [case(r(4, 5), r(4, 5), 1)],
    "soft_margin_loss_backward": [case(r(()), r(4, 5), r(4, 5), 1, per={"input element": 20})],
    # ---- zero-cost ops
    "reshape": [case(r(2, 3, 4), [6, 4])],
    "cat": [case([r(2, 3), r(2, 3)])],
    "stack": [case([r(2, 3), r(2, 3)])],
    "split": [case(r(4, 3), 2)],
    "clone": [case(r(2, 3))],
    "squeeze_": [case(r(1, 3))],
    "unsqueeze_": [case(r(2, 3), 0)],
    "t_": [case(r(2, 3))],
    "resize_": [case(r(2, 3), [3, 2])],
    "resize_as_": [case(r(2, 3), r(3, 2))],
    "copy_": [case(r(2, 3), r(2, 3))],
    "_to_copy": [case(r(2, 3), kwargs={"dtype": torch.float64})],
    "gather": [case(r(3, 4), 1, i(0, 2).expand(3, 2))],
    "scatter": [case(r(3, 4), 1, i(0, 2).expand(3, 2), r(3, 2))],
    "embedding": [case(r(10, 3), i(1, 2, 4))],
    "where": [case(torch.ones(2, 3, dtype=torch.bool), r(2, 3), r(2, 3))],
    "masked_fill": [case(r(2, 3), torch.ones(2, 3, dtype=torch.bool), 0.0)],
    "tril": [case(r(3, 3))],
    "triu": [case(r(3, 3))],
    "pixel_shuffle": [case(r(1, 4, 2, 2), 2)],
    "im2col": [case(r(1, 2, 4, 4), [2, 2], [1, 1], [0, 0], [1, 1])],
    "topk": [case(r(2, 5), 2)],
    "sort": [case(r(2, 5))],
    "argsort": [case(r(2, 5))],
    "msort": [case(r(2, 5))],
    "kthvalue": [case(r(2, 5), 2)],
    "median": [case(r(2, 5))],
    "mode": [case(r(2, 5))],
    "torchvision::nms": [case(torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 3]]), r(2), 0.5)],
    "select_backward": [case(r(4), [3, 4], 0, 1)],
    "slice_backward": [case(r(2, 4), [3, 4], 0, 1, 3, 1)],
    "diagonal_backward": [case(r(3), [3, 3], 0, 0, 1)],
    "unsafe_split": [case(r(4, 3), 2)],
    "unsafe_chunk": [case(r(4, 3), 2)],
    "narrow": [case(r(4, 3), 0, 1, 2)],
}

# The rows no small call can check, by a piece of their first cell: why, and what checks them.
EXCEPTIONS: dict[str, str] = {
    "complex matrix products": "the ops of the rows above on complex tensors; "
    "tests/formulas/test_matmul.py checks them",
    "`_grouped_mm`": "the rows counted depend on the offsets' values; tests/formulas/test_moe.py",
    "ops only torch's registry knows": "ops with no CPU kernel here (fp8 matmuls, flash and flex "
    "attention), priced by torch.utils.flop_counter's own formulas",
    "scaled dot-product attention": "several terms over q, k, v, the mask and dropout; "
    "tests/formulas/test_attention.py checks them against closed forms",
    "attention backward": "as the forward; tests/formulas/test_attention.py",
    "`_native_multi_head_attention`": "a whole layer, tested equal to its decomposed path in "
    "tests/formulas/test_attention.py",
    "embedding bag backward": "its arguments (bag offsets and sizes, the max indices) are the "
    "forward's outputs; tests/formulas/test_embedding.py",
    "LSTM, GRU, RNN": "per layer, direction, step and row of a whole stack; "
    "tests/formulas/test_recurrent.py",
    "RNN backward": "per layer, direction, step and row; tests/formulas/test_recurrent.py",
    "quantized conv and linear": "packed weights; tests/formulas/test_quantized.py",
    "`quantized_lstm`": "packed cell parameters; tests/formulas/test_quantized.py",
    "`_int_mm`": "int8 and packed int4 weights; tests/formulas/test_quantized.py",
    "quantized elementwise": "quantized tensors and modules; tests/formulas/test_quantized.py",
    "`quantized::cat`": "quantized tensors; tests/formulas/test_quantized.py",
    "antialiased interpolation": "taps per output position, computed from the scale; "
    "tests/formulas/test_sampling.py",
    "`torchvision::roi_align`": "adaptive sampling reads the boxes' values; "
    "tests/formulas/test_vision.py (with torchvision)",
    "`torchvision::roi_pool`": "torchvision is optional; tests/formulas/test_vision.py",
    "`torchvision::deform_conv2d`": "offsets and masks per sample; tests/formulas/test_vision.py",
    "`torchvision::_deform_conv2d_backward`": "as the forward; tests/formulas/test_vision.py",
    "anything else producing floating-point output": "not a cost: the uncounted list, "
    "tested in tests/engine/test_counter.py and tests/extensions/test_registry.py",
}


ROWS = table_rows(CONVENTIONS.read_text(encoding="utf-8"))


def excepted(row: Row) -> bool:
    return any(key in row.ops for key in EXCEPTIONS)


CHECKED = [row for row in ROWS if not excepted(row)]
OPS = [(row, name) for row in CHECKED for name in op_names(row)]


def _fresh(value: Any) -> Any:
    """A call's own copy of its tensors (in-place ops change them)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _numel(value: Any) -> int | None:
    value = value[0] if isinstance(value, (tuple, list)) and value else value
    return value.numel() if isinstance(value, torch.Tensor) else None


@pytest.mark.parametrize(("row", "name"), OPS, ids=[f"{name}" for _, name in OPS])
def test_the_row_states_what_the_op_costs(row: Row, name: str):
    namespace, _, bare = name.rpartition("::")
    if namespace == "torchvision":
        pytest.importorskip("torchvision")
    assert CASES.get(name), f"{row}: no call of {name} in CASES to check the row with"
    op = getattr(getattr(torch.ops, namespace or "aten"), bare)
    for call in CASES[name]:
        args = [_fresh(a) for a in call.args]
        result = profile(lambda *a, op=op, kw=call.kwargs: op(*a, **kw), *args)
        assert result.uncounted == {}, f"{name}: uncounted {result.uncounted}"
        with torch.no_grad():
            out = op(*[_fresh(a) for a in call.args], **call.kwargs)
        names = {"input element": _numel(args[0]), "element": _numel(args[0])}
        names |= {"output element": _numel(out)} | call.names
        macs, other = result.macs, result.flops - 2 * result.macs
        said = (cost(row.macs, names), cost(row.other, names))
        assert (macs, other) == said, (
            f"{row}\n{name}{call.names}: the code counts {macs} MACs and {other} other FLOPs, "
            f"the row says {said[0]:g} and {said[1]:g}"
        )


def test_every_row_is_checked_or_excepted_with_its_reason():
    for row in CHECKED:
        assert op_names(row), f"{row}: names no op in `code` and is not in EXCEPTIONS"
    for key in EXCEPTIONS:
        matching = [row for row in ROWS if key in row.ops]
        assert len(matching) == 1, f"EXCEPTIONS[{key!r}] matches {len(matching)} rows"


def test_each_op_is_priced_by_one_row_and_every_call_is_of_a_row():
    named = [name for _, name in OPS]
    assert sorted({n for n in named if named.count(n) > 1}) == []
    assert sorted(set(CASES) - set(named)) == []


def test_the_rules_the_tables_are_read_by():
    assert terms("3 per input element + 1 per output element") == [
        ("3", "input element"),
        ("1", "output element"),
    ]
    assert terms("2 + a per element (subtract, scale; a = 2 (with affine))") == [
        ("2 + a", "element")
    ]
    assert terms("N·out·in2·(in1 + 1) (a remark)") == [("N·out·in2·(in1 + 1)", None)]
    assert evaluate("3n−1", {"n": 6}) == 17
    assert evaluate("2.5·N·log₂(M)", {"N": 4, "M": 8}) == 30
    assert cost("k+1 per output element (k = kernel elements)", {"k": 4, "output element": 3}) == 15
    with pytest.raises(AssertionError, match="no value for 'q'"):
        evaluate("q + 1", {})
