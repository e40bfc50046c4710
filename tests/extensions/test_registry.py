"""Teaching the counter from Python: `register_formula`, `formulas=`, precedence, conflicts, and
formulas that fail (pytest_flopbudget.registry). The pytester and entry-point tests are in
test_extension_plugins.py.

The custom op here, `fbext::scaled_gelu`, is made with torch.library.custom_op and has a fake
(meta) kernel; its formula prices it at 9 FLOPs per output element (gelu's 8 and the scale).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb
from pytest_flopbudget.engine import registry
from pytest_flopbudget.engine.cost import Cost
from pytest_flopbudget.engine.counter import Counter
from pytest_flopbudget.engine.registry import ExtensionError, Formula


@torch.library.custom_op("fbext::scaled_gelu", mutates_args=())
def scaled_gelu(x: torch.Tensor, scale: float) -> torch.Tensor:
    return nn.functional.gelu(x) * scale


@scaled_gelu.register_fake
def _(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("fbext::fused_linear", mutates_args=())
def fused_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ weight.t())


@fused_linear.register_fake
def _(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x.new_empty((x.shape[0], weight.shape[0]))


def gelu_cost(args, kwargs, out) -> Cost:
    return Cost(other_flops=9 * out.numel())


def fused_linear_cost(args, kwargs, out) -> Cost:
    x, weight = args
    rows, inner = x.shape
    return Cost(
        macs=rows * inner * weight.shape[0], other_flops=out.numel(), weight_uses=((weight, rows),)
    )


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.fbext.scaled_gelu(torch.ops.fbext.fused_linear(x, self.weight), 0.5)


ROWS, IN, OUT = 4, 5, 6
MACS = ROWS * IN * OUT
FLOPS = 2 * MACS + ROWS * OUT + 9 * ROWS * OUT  # the relu inside fused_linear, then the gelu
FORMULAS = {"fbext::scaled_gelu": gelu_cost, "fbext::fused_linear": fused_linear_cost}


@pytest.fixture(autouse=True)
def clean_process_registry():
    """register_formula is process-wide: each test starts and ends without registrations."""
    saved = dict(registry._PROCESS)
    registry._PROCESS.clear()
    registry._process_version[0] += 1
    yield
    registry._PROCESS.clear()
    registry._PROCESS.update(saved)
    registry._process_version[0] += 1


def test_without_a_formula_a_custom_op_is_listed_as_uncounted():
    result = fb.profile(Block(), torch.randn(ROWS, IN))
    assert result.uncounted == {"fbext.fused_linear": 1, "fbext.scaled_gelu": 1}
    assert result.flops == 0


def test_formulas_for_one_call_count_a_custom_op_exactly():
    result = fb.profile(Block(), torch.randn(ROWS, IN), formulas=FORMULAS)
    assert (result.macs, result.flops) == (MACS, FLOPS)
    assert result.uncounted == {}
    assert result.ops["fbext.fused_linear"].macs == MACS
    # one call only: the next call knows nothing of them
    assert fb.profile(Block(), torch.randn(ROWS, IN)).uncounted


def test_ops_may_be_named_by_torch_ops_objects_and_by_overload():
    formulas = {
        torch.ops.fbext.scaled_gelu: gelu_cost,
        torch.ops.fbext.fused_linear.default: fused_linear_cost,
    }
    result = fb.profile(Block(), torch.randn(ROWS, IN), formulas=formulas)
    assert (result.macs, result.flops) == (MACS, FLOPS)


def test_meta_fake_and_cpu_runs_of_the_custom_op_model_agree():
    cpu = fb.profile(Block(), torch.randn(ROWS, IN), formulas=FORMULAS)
    with torch.device("meta"):
        model = Block()
    meta = fb.profile(model, torch.randn(ROWS, IN, device="meta"), formulas=FORMULAS)
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fake = fb.profile(Block(), torch.randn(ROWS, IN), formulas=FORMULAS)
    assert (cpu.macs, cpu.flops) == (meta.macs, meta.flops) == (fake.macs, fake.flops)
    assert (cpu.macs, cpu.flops) == (MACS, FLOPS)


def test_weight_uses_of_a_user_formula_drive_the_sparse_counts():
    model = Block()
    with torch.no_grad():
        model.weight[:3] = 0  # half the weight's rows
    result = fb.profile(model, torch.randn(ROWS, IN), formulas=FORMULAS)
    assert result.sparse_macs == MACS - 3 * IN * ROWS


def test_register_formula_prices_an_op_for_the_whole_process():
    fb.register_formula("fbext::scaled_gelu")(gelu_cost)
    fb.register_formula(torch.ops.fbext.fused_linear)(fused_linear_cost)
    result = fb.profile(Block(), torch.randn(ROWS, IN))
    assert (result.macs, result.flops) == (MACS, FLOPS)
    with fb.counting() as counted:
        Block()(torch.randn(ROWS, IN))
    assert counted.profile.macs == MACS


def test_a_second_formula_for_an_op_is_an_error_naming_both_sources():
    fb.register_formula("fbext::scaled_gelu")(gelu_cost)
    with pytest.raises(ExtensionError) as refused:
        fb.register_formula("fbext::scaled_gelu")(lambda args, kwargs, out: Cost())
    message = str(refused.value)
    assert "fbext::scaled_gelu is already registered by register_formula(gelu_cost" in message
    assert "test_registry.py" in message and "override=True" in message
    with pytest.raises(ExtensionError, match="already registered by register_formula"):
        fb.profile(Block(), torch.randn(ROWS, IN), formulas={"fbext::scaled_gelu": gelu_cost})


def test_a_builtin_formula_is_replaced_only_with_override():
    def mm_counts_nothing(args, kwargs, out) -> Cost:
        return Cost()

    with pytest.raises(
        ExtensionError, match="aten::mm is already registered by pytest_flopbudget's"
    ):
        fb.register_formula("aten::mm")(mm_counts_nothing)
    x, w = torch.randn(3, 4), torch.randn(4, 5)
    assert fb.profile(torch.mm, x, w).macs == 3 * 4 * 5
    formulas = {"aten::mm": Formula(lambda args, kwargs, out: Cost(macs=1), override=True)}
    assert fb.profile(torch.mm, x, w, formulas=formulas).macs == 1
    fb.register_formula("aten::mm", override=True)(lambda args, kwargs, out: Cost(macs=7))
    assert fb.profile(torch.mm, x, w).macs == 7
    # the call's formulas= sit above register_formula's, again only with override
    assert fb.profile(torch.mm, x, w, formulas=formulas).macs == 1


def test_a_zero_cost_op_is_a_builtin_formula_too():
    with pytest.raises(ExtensionError, match="aten::cat is already registered"):
        fb.register_formula("aten::cat")(gelu_cost)


@pytest.mark.parametrize(
    ("formulas", "message"),
    [
        ({"scaled_gelu": gelu_cost}, "'scaled_gelu' is not a full op name"),
        ({"fbext::": gelu_cost}, "is not a full op name"),
        ({3: gelu_cost}, "3 (int) is not an op"),
        ({"fbext::scaled_gelu": 3}, "the formula for fbext::scaled_gelu is a int, not a callable"),
        ([("fbext::scaled_gelu", gelu_cost)], "returned a list, not a mapping"),
    ],
)
def test_a_malformed_mapping_is_an_error_naming_its_source(formulas, message):
    with pytest.raises(ExtensionError) as refused:
        fb.profile(Block(), torch.randn(ROWS, IN), formulas=formulas)
    assert message in str(refused.value)
    assert str(refused.value).startswith("the formulas= of this call: ")


def test_a_formula_that_raises_leaves_the_op_uncounted_with_the_reason():
    def broken(args, kwargs, out) -> Cost:
        return Cost(other_flops=out.numel() // 0)

    formulas = {**FORMULAS, "fbext::scaled_gelu": broken}
    result = fb.profile(Block(), torch.randn(ROWS, IN), formulas=formulas)
    reason = "ZeroDivisionError: integer division or modulo by zero"
    assert result.uncounted == {f"fbext.scaled_gelu (formula failed: {reason})": 1}
    assert result.macs == MACS  # the rest is counted
    with pytest.raises(fb.UncountedOpsError, match="formula failed: ZeroDivisionError"):
        fb.profile(Block(), torch.randn(ROWS, IN), formulas=formulas, strict=True)


def test_a_formula_that_returns_no_cost_leaves_the_op_uncounted():
    formulas = {**FORMULAS, "fbext::scaled_gelu": lambda args, kwargs, out: 42}
    result = fb.profile(Block(), torch.randn(ROWS, IN), formulas=formulas)
    assert result.uncounted == {"fbext.scaled_gelu (formula returned int, not a Cost)": 1}


def test_cost_formula_and_register_formula_are_public_api():
    assert fb.Cost is Cost and fb.Formula is Formula
    assert {"Cost", "Formula", "register_formula"} <= set(fb.__all__)


UNUSED = (
    r"the formula for aten::linear from the formulas= of this call is not used: aten::linear "
    r"is a composite op, which torch runs as the ops it is made of \(aten::linear, say, as "
    r"aten::addmm or aten::mm\).*register formulas for them instead of aten::linear, or price "
    r"the module that calls it with the pytest_flopbudget_module_cost hook"
)


def test_a_formula_for_a_composite_op_is_not_used_and_says_so_under_no_grad():
    """The issue's example: profile() runs under no_grad, where torch runs aten::linear as
    addmm before the counter sees anything; the formula is not used, and a warning says so."""
    with pytest.warns(UserWarning, match=UNUSED) as recorded:
        result = fb.profile(
            nn.Linear(4, 4),
            torch.randn(2, 4),
            formulas={"aten::linear": lambda a, k, o: fb.Cost(macs=1)},
        )
    assert result.macs == 2 * 4 * 4
    assert recorded[0].filename == __file__  # it points at the formula, where it can change


@pytest.mark.parametrize("mode", ["gradients", "inference_mode"])
def test_a_formula_for_a_composite_op_warns_with_gradients_and_under_inference_mode(mode):
    """With gradients (a training step) torch decomposes it too; under inference_mode the
    counter runs its parts itself, so both modes agree; one warning either way."""
    formulas = {"aten::linear": lambda args, kwargs, out: Cost(macs=1)}
    layer, x = nn.Linear(4, 3), torch.randn(2, 4)
    with pytest.warns(UserWarning, match="the formula for aten::linear from the formulas= of"):
        if mode == "gradients":
            with fb.counting(layer, formulas=formulas) as counted:
                layer(x).sum().backward()
            result = counted.profile
        else:
            with torch.inference_mode():
                result = fb.profile(layer, x, formulas=formulas)
    assert result.forward_macs == 2 * 4 * 3


def test_a_formula_for_a_composite_op_warns_once_per_registry():
    """A conftest's or register_formula's registry lives for the process: one warning."""
    stacked = registry.current({"aten::matmul.default": lambda a, k, o: Cost(macs=1)})[0]
    with pytest.warns(UserWarning, match="the formula for aten::matmul from") as recorded:
        for _ in range(2):
            Counter([], "all", False, registry=stacked)
    assert len(recorded) == 1
