"""Losses and their backward: mse, smooth L1, Huber, binary cross-entropy, soft margin, NLL.

All of it is `other_flops` (no MACs): it counts under the "all" convention (FLOPs =
``2 * macs + other_flops``) and not under "matmul". A loss costs a fixed number of FLOPs per
element of its input (difference, |·|, comparison, branch, sum ...), plus 1 per element for each
optional weight tensor; a mean's one division is not counted, as for mse_loss.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.formulas._table import _per_input, _present, formula, register

register("mse_loss", _per_input(3))


# ---- losses: per element of the input (a mean's one division is not counted, as for mse_loss) --


def _loss(per_element: int, input_at: int = 0, weights_at: tuple[int, ...] = ()) -> Callable:
    """A loss (or its backward) of `per_element` FLOPs per element of the input at `input_at`,
    plus 1 per element for each optional weight tensor present at `weights_at`."""

    def cost(args, kwargs, out) -> Cost:
        weights = sum(_present(args[i]) for i in weights_at if i < len(args))
        return Cost(other_flops=(per_element + weights) * args[input_at].numel())

    return cost


# losses: forward (difference, |·|, comparison, branch, sum ...) and backward, per element
register("mse_loss_backward", _loss(2, input_at=1))
register(("smooth_l1_loss", "huber_loss"), _loss(5))
register(("smooth_l1_loss_backward", "huber_loss_backward"), _loss(3, input_at=1))
register("binary_cross_entropy", _loss(7, weights_at=(2,)))
register("binary_cross_entropy_backward", _loss(5, input_at=1, weights_at=(3,)))
register("binary_cross_entropy_with_logits", _loss(6, weights_at=(2, 3)))
register("soft_margin_loss", _loss(4))
register("soft_margin_loss_backward", _loss(4, input_at=1))


@formula("nll_loss_forward", "nll_loss2d_forward")
def _nll_loss(args, kwargs, out) -> Cost:
    """nll_loss_forward / nll_loss2d_forward(input, target, ...): one addition per target."""
    return Cost(other_flops=args[1].numel())
