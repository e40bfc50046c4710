"""What each aten op costs: one table from op names to small pure functions of shapes.

This package imports no torch. An op's cost is a `Cost`: its multiply-accumulates (`macs`), the
other floating-point work it does (`other_flops`), and which operands are used as weights and how
often each of their elements is used (`weight_uses`, for sparse counting). The conventions are the
docs' tables (docs/conventions.md, one per family); every number here follows them:

- FLOPs under the "all" convention are ``2 * macs + other_flops``; under "matmul", ``2 * macs``.
- Elementwise ops cost 1 per output element, except tanh (5) and sigmoid (4).
- Ops in `ZERO_COST` move, copy, select or create data and cost 0 by decision.

Adapters in `FORMULAS` receive the op's actual ``(args, kwargs, out)``; they read only shapes and
flags, so they work the same on real, meta and fake tensors.

The formulas live by family, each registered where it is defined (`_table.formula` and
`_table.register`): `matmul` (matrix products, grouped matmuls, distances), `conv`, `attention`,
`normalization` (norms, softmax, pooling), `pointwise` (elementwise ops, reductions, dropout,
_foreach_, scatters, embedding bags), `recurrent`, `quantized` (and integer matmuls),
`sampling` (interpolation, grid sampling), `fft`, `losses`, `vision` (torchvision's ops) and
`zero` (the zero-cost ops). This module imports them all and assembles `FORMULAS`.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas import (  # noqa: F401  (each registers its formulas)
    attention,
    conv,
    fft,
    losses,
    matmul,
    normalization,
    pointwise,
    quantized,
    recurrent,
    sampling,
    vision,
    zero,
)
from pytest_flopbudget.engine.formulas._table import (
    REGISTERED,
    arg,
    normalized_op_name,
    per_output,
)
from pytest_flopbudget.engine.formulas.attention import attention_backward_cost, attention_cost
from pytest_flopbudget.engine.formulas.conv import conv_macs
from pytest_flopbudget.engine.formulas.fft import fft_flops
from pytest_flopbudget.engine.formulas.matmul import cdist_flops
from pytest_flopbudget.engine.formulas.normalization import (
    adaptive_pool_window_total,
    norm_flops,
    softmax_backward_flops,
    softmax_flops,
)
from pytest_flopbudget.engine.formulas.pointwise import (
    ELEMENTWISE_COST,
    FOREACH_COST,
    FOREACH_PREFIX,
)
from pytest_flopbudget.engine.formulas.quantized import INTEGER_MATMULS
from pytest_flopbudget.engine.formulas.recurrent import (
    recurrent_stack_cost,
    rnn_cell_backward_flops,
    rnn_cell_flops,
    rnn_layer_backward_flops,
    rnn_layer_flops,
    rnn_macs,
)
from pytest_flopbudget.engine.formulas.sampling import antialias_flops, antialias_taps
from pytest_flopbudget.engine.formulas.vision import (
    deform_conv2d_cost,
    roi_align_cost,
    roi_align_samples,
)
from pytest_flopbudget.engine.formulas.zero import ZERO_COST

__all__ = [
    "ELEMENTWISE_COST",
    "FOREACH_COST",
    "FOREACH_PREFIX",
    "FORMULAS",
    "INTEGER_MATMULS",
    "ZERO_COST",
    "Cost",
    "adaptive_pool_window_total",
    "antialias_flops",
    "antialias_taps",
    "arg",
    "attention_backward_cost",
    "attention_cost",
    "cdist_flops",
    "conv_macs",
    "deform_conv2d_cost",
    "fft_flops",
    "norm_flops",
    "normalized_op_name",
    "per_output",
    "recurrent_stack_cost",
    "rnn_cell_backward_flops",
    "rnn_cell_flops",
    "rnn_layer_backward_flops",
    "rnn_layer_flops",
    "rnn_macs",
    "roi_align_cost",
    "roi_align_samples",
    "softmax_backward_flops",
    "softmax_flops",
]

# Op name -> adapter: a bare name is an aten op (the registry adds ``aten::``), any other op is
# named in full. Every family module above has registered its formulas by now.
FORMULAS: dict[str, Callable[..., Cost]] = dict(REGISTERED)
