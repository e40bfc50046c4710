"""The counting engine against closed forms written out here (never the code's own output)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.nn.utils import prune

from pytest_flopbudget import UncountedOpsError, counting, profile
from pytest_flopbudget.engine.classify import DECOMPOSE, ZERO, classify
from pytest_flopbudget.engine.formulas import ZERO_COST
from pytest_flopbudget.engine.registry import current
from tests.formulas.helpers import attention_macs, attention_other_flops
from tests.models import (
    MLP,
    FunctionalAttention,
    LeNet5,
    Llama,
    SmallResNet,
    TiedLinear,
    TwoBranches,
)

# LeNet-5 on 1×1×28×28: conv1 → 6×24×24, pool → 12×12, conv2 → 16×8×8, pool → 4×4 (256 features).
LENET_CONV1_MACS = 6 * 24 * 24 * (1 * 5 * 5)


LENET_CONV2_MACS = 16 * 8 * 8 * (6 * 5 * 5)


LENET_FC_MACS = 256 * 120 + 120 * 84 + 84 * 10


LENET_MACS = LENET_CONV1_MACS + LENET_CONV2_MACS + LENET_FC_MACS


LENET_WEIGHTS = [6 * 1 * 5 * 5, 16 * 6 * 5 * 5, 256 * 120, 120 * 84, 84 * 10]


LENET_BIASES = [6, 16, 120, 84, 10]


LENET_PARAMS = sum(LENET_WEIGHTS) + sum(LENET_BIASES)


# "all": bias adds (1 per output element), ReLU (1 per element), max pool (1 per output element)
LENET_BIAS_ADDS = 6 * 24 * 24 + 16 * 8 * 8 + 120 + 84 + 10


LENET_RELUS = 6 * 24 * 24 + 16 * 8 * 8 + 120 + 84


LENET_POOLS = 6 * 12 * 12 + 16 * 4 * 4


# ---- LeNet-5 ------------------------------------------------------------------------------------


def test_lenet5_params_and_macs_match_the_seed_numbers():
    assert LENET_PARAMS == 44_426 and LENET_MACS == 281_640  # the seed's published numbers
    result = profile(LeNet5(), torch.randn(1, 1, 28, 28))
    assert result.params == 44_426
    assert result.trainable_params == 44_426
    assert result.macs == 281_640
    assert result.uncounted == {}


def test_lenet5_flops_under_each_convention():
    model, x = LeNet5(), torch.randn(1, 1, 28, 28)
    assert profile(model, x, count="matmul").flops == 2 * LENET_MACS
    expected = 2 * LENET_MACS + LENET_BIAS_ADDS + LENET_RELUS + LENET_POOLS
    assert profile(model, x).flops == expected


def test_lenet5_modules_are_named_as_named_modules_with_their_own_work():
    model = LeNet5()
    result = profile(model, torch.randn(1, 1, 28, 28))
    assert list(result.modules) == [name for name, _ in model.named_modules()]
    assert result.modules["conv1"].macs == LENET_CONV1_MACS
    assert result.modules["conv2"].macs == LENET_CONV2_MACS
    assert result.modules["fc1"].macs == 256 * 120
    assert result.modules["fc1"].params == 256 * 120 + 120
    assert result.modules[""].macs == LENET_MACS
    assert result.modules[""].calls == 1
    assert result.modules["conv1"].type_name == "Conv2d"


def test_lenet5_per_op_table():
    result = profile(LeNet5(), torch.randn(1, 1, 28, 28), count="matmul")
    assert result.ops["aten.convolution"].calls == 2
    assert result.ops["aten.convolution"].macs == LENET_CONV1_MACS + LENET_CONV2_MACS
    assert result.ops["aten.addmm"].calls == 3
    assert result.ops["aten.addmm"].flops == 2 * LENET_FC_MACS


def test_table_renders_tree_ops_and_human_units():
    text = profile(LeNet5(), torch.randn(1, 1, 28, 28)).table(depth=1)
    assert "conv1 (Conv2d)" in text
    assert "282K" in text  # 281,640 MACs at three significant figures
    assert "aten.convolution" in text
    assert str(profile(LeNet5(), torch.randn(1, 1, 28, 28))).startswith("LeNet5: ")


# ---- sharing ------------------------------------------------------------------------------------


def test_tied_linear_counts_params_once_and_macs_twice():
    dim, rows = 16, 4
    result = profile(TiedLinear(dim), torch.randn(rows, dim))
    assert result.params == dim * dim
    assert result.macs == 2 * rows * dim * dim
    assert result.modules["shared"].calls == 2


def test_shared_module_is_listed_once_with_all_its_calls():
    dim, rows = 8, 3
    result = profile(TwoBranches(dim), torch.randn(rows, dim))
    assert "right" not in result.modules
    assert result.modules["left"].calls == 2
    assert result.modules["left"].macs == 2 * rows * dim * dim
    assert result.params == dim * dim


# ---- pruning and sparsity -----------------------------------------------------------------------


def pruned_lenet() -> LeNet5:
    model = LeNet5()
    for module in (model.conv1, model.conv2, model.fc1, model.fc2, model.fc3):
        prune.l1_unstructured(module, "weight", amount=0.5)
    return model


def test_pruned_lenet_params_stay_dense_and_nonzero_counts_the_mask():
    result = profile(pruned_lenet(), torch.randn(1, 1, 28, 28))
    pruned_away = sum(round(0.5 * n) for n in LENET_WEIGHTS)
    assert result.params == LENET_PARAMS
    assert result.nonzero_params == LENET_PARAMS - pruned_away


def test_pruned_lenet_sparse_macs_skip_the_zero_weights():
    result = profile(pruned_lenet(), torch.randn(1, 1, 28, 28), count="matmul")
    # every layer keeps exactly half its weights, and every weight element is used equally often
    assert result.macs == LENET_MACS
    assert result.sparse_macs == LENET_MACS // 2
    assert result.sparse_flops == LENET_MACS  # 2 per remaining MAC


def test_dense_model_sparse_counts_equal_dense_counts():
    result = profile(LeNet5(), torch.randn(1, 1, 28, 28))
    assert result.nonzero_params == LENET_PARAMS
    assert (result.sparse_macs, result.sparse_flops) == (result.macs, result.flops)


def test_zeroed_rows_of_a_plain_weight_are_skipped():
    layer = nn.Linear(10, 6, bias=False)
    with torch.no_grad():
        layer.weight[:2] = 0
    result = profile(layer, torch.randn(7, 10))
    assert result.sparse_macs == 7 * 10 * (6 - 2)
    assert result.nonzero_params == 10 * (6 - 2)


# ---- meta and fake tensors ----------------------------------------------------------------------


MODELS = {
    "lenet": (LeNet5, (1, 1, 28, 28)),
    "resnet": (SmallResNet, (2, 3, 16, 16)),
    "encoder": (lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), (2, 7, 32)),
    "functional_attention": (lambda: FunctionalAttention(32, 4), (2, 7, 32)),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("train", [False, True])
def test_meta_cpu_and_fake_runs_agree_exactly(name, train):
    build, shape = MODELS[name]

    def run(device=None):
        with torch.device(device or "cpu"):
            model = build().train(train)
            x = torch.randn(shape)
        return model, profile(model, x)

    (cpu_model, cpu), (_, meta) = run(), run("meta")
    with FakeTensorMode():
        _, fake = run()
    for other in (meta, fake):
        assert (other.macs, other.flops, other.params) == (cpu.macs, cpu.flops, cpu.params)
        assert other.nonzero_params is None and other.sparse_macs is None
    # BatchNorm biases start at zero: nonzero is read from the values
    assert cpu.nonzero_params == sum(int((p != 0).sum()) for p in cpu_model.parameters())


def test_llama_7b_on_meta_is_exact():
    vocab, dim, layers, heads, hidden, seq = 32_000, 4096, 32, 32, 11_008, 2048
    with torch.device("meta"):
        model = Llama(vocab, dim, layers, heads, hidden)
        tokens = torch.zeros(1, seq, dtype=torch.long)
    result = profile(model, tokens)
    per_layer_params = 4 * dim * dim + 3 * dim * hidden + 2 * dim
    assert result.params == 2 * vocab * dim + layers * per_layer_params + dim
    assert result.params > 6.7e9
    per_layer_macs = 4 * seq * dim * dim + 3 * seq * dim * hidden
    per_layer_macs += attention_macs(1, heads, seq, seq, dim // heads)
    assert result.macs == layers * per_layer_macs + seq * dim * vocab
    assert result.uncounted == {}


def test_small_llama_all_flops_follow_the_conventions():
    vocab, dim, layers, heads, hidden, seq = 50, 32, 2, 4, 48, 10
    torch.manual_seed(0)
    model = Llama(vocab, dim, layers, heads, hidden)
    result = profile(model, torch.randint(0, vocab, (1, seq)))
    head_dim = dim // heads
    # RMSNorm as torch runs it: x², mean (n adds + 1 divide per row), +eps, rsqrt, ×rsqrt, ×weight
    rms_norm = 4 * seq * dim + 3 * seq
    attention = attention_other_flops(1, heads, seq, seq, head_dim, masked=True)
    residuals, silu_and_product = 2 * seq * dim, 2 * seq * hidden
    per_layer_other = 2 * rms_norm + attention + residuals + silu_and_product
    per_layer_macs = 4 * seq * dim * dim + 3 * seq * dim * hidden
    per_layer_macs += attention_macs(1, heads, seq, seq, head_dim)
    macs = layers * per_layer_macs + seq * dim * vocab
    assert result.macs == macs
    assert result.flops == 2 * macs + layers * per_layer_other + rms_norm


# ---- training steps -----------------------------------------------------------------------------


def test_counting_splits_a_training_step_into_forward_and_backward():
    rows, sizes = 5, (8, 32, 3)
    model = MLP(sizes, bias=False)
    x = torch.randn(rows, sizes[0])
    with counting(model, count="matmul") as counted:
        model(x).sum().backward()
    result = counted.profile
    fc1, fc2 = rows * 8 * 32, rows * 32 * 3
    assert result.forward_flops == 2 * (fc1 + fc2)
    # fc2: grad of its input and of its weight; fc1: its input needs no grad, only the weight's
    assert result.backward_flops == 2 * (2 * fc2 + fc1)
    assert result.modules["layers.1"].backward_flops == 2 * 2 * fc2
    assert result.modules["layers.0"].backward_flops == 2 * fc1
    assert result.modules["layers.0"].forward_flops == 2 * fc1


def test_counting_without_a_model_names_top_level_modules_by_class():
    model = MLP((4, 6, 2))
    with counting() as counted:
        model(torch.randn(3, 4))
    result = counted.profile
    assert "MLP" in result.modules and "MLP.layers.0" in result.modules
    assert result.params == 4 * 6 + 6 + 6 * 2 + 2
    assert result.backward_flops is None


def test_counting_result_is_not_available_inside_the_block():
    with counting() as counted, pytest.raises(RuntimeError, match="after the with block"):
        _ = counted.profile


def test_counting_result_holds_what_ran_before_the_block_raised():
    """What a failing test measured (issue 17, 8): the work before the exception, exactly."""
    model = MLP((4, 6, 2), bias=False)
    with pytest.raises(ValueError, match="after the model"), counting(model) as counted:
        model(torch.randn(3, 4))
        raise ValueError("after the model")
    assert counted.profile.macs == 3 * 4 * 6 + 3 * 6 * 2


def test_profile_reports_no_backward():
    result = profile(LeNet5(), torch.randn(1, 1, 28, 28))
    assert result.backward_flops is None
    assert result.forward_flops == result.flops


# ---- the model is left as it was ----------------------------------------------------------------


def global_hook_counts() -> tuple[int, int]:
    from torch.nn.modules import module

    return len(module._global_forward_pre_hooks), len(module._global_forward_hooks)


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        self.fc(x)
        raise ValueError("the model's own error")


def test_a_raising_model_leaves_no_hook_mode_or_flag_behind():
    before = global_hook_counts()
    model = Exploding()
    with pytest.raises(ValueError, match="the model's own error") as info:
        profile(model, torch.randn(2, 4))
    assert global_hook_counts() == before
    assert torch._C._len_torch_dispatch_stack() == 0
    assert torch.is_grad_enabled()
    assert model.training
    assert any("Exploding" in note for note in getattr(info.value, "__notes__", []))


def test_inputs_that_do_not_fit_surface_the_models_error_with_context():
    with pytest.raises(RuntimeError) as info:
        profile(LeNet5(), torch.randn(1, 3, 28, 28))
    assert "pytest_flopbudget.profile" in " ".join(getattr(info.value, "__notes__", []))
    assert global_hook_counts() == (0, 0)


def test_profile_leaves_flags_grads_and_running_stats_as_they_were():
    model = SmallResNet().train()
    model.head.weight.requires_grad_(False)
    grad = torch.ones_like(model.stem.weight)
    model.stem.weight.grad = grad
    running_mean = model.bn.running_mean.clone()
    batches = int(model.bn.num_batches_tracked)
    weights = model.stem.weight.detach().clone()
    profile(model, torch.randn(2, 3, 8, 8))
    assert model.training and model.block.bn1.training
    assert not model.head.weight.requires_grad and model.stem.weight.requires_grad
    assert model.stem.weight.grad is grad
    assert torch.equal(model.bn.running_mean, running_mean)
    assert int(model.bn.num_batches_tracked) == batches
    assert torch.equal(model.stem.weight, weights)


# ---- bad input ----------------------------------------------------------------------------------


def test_a_non_callable_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"nn\.Module or a callable; got int"):
        profile(42, torch.randn(2))


def test_an_unknown_convention_is_named():
    with pytest.raises(ValueError, match="count='flops' is not a counting convention"):
        profile(LeNet5(), torch.randn(1, 1, 28, 28), count="flops")


def test_a_model_with_no_parameters_is_an_honest_count():
    result = profile(nn.ReLU(), torch.randn(3, 5))
    assert result.params == 0 and result.nonzero_params == 0
    assert result.flops == 15 and result.macs == 0


def test_integer_only_work_costs_zero_and_is_not_uncounted():
    result = profile(lambda t: (t * 3 + 1) // 2, torch.arange(12))
    assert result.flops == 0 and result.uncounted == {}


def test_ops_without_a_formula_are_listed_never_silently_zero():
    result = profile(torch.logcumsumexp, torch.randn(16), 0)
    assert result.uncounted == {"aten.logcumsumexp": 1}
    with pytest.raises(UncountedOpsError, match=r"aten::logcumsumexp \(1 call\)"):
        profile(torch.logcumsumexp, torch.randn(16), 0, strict=True)


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(lambda t: t.squeeze_(1), id="squeeze_"),
        pytest.param(lambda t: t.unsqueeze_(0), id="unsqueeze_"),
        pytest.param(lambda t: t.t_(), id="t_"),
        pytest.param(lambda t: t.resize_as_(torch.empty(2, 3)), id="resize_as_"),
        pytest.param(lambda t: t.resize_(6), id="resize_"),
    ],
)
def test_in_place_views_and_resizes_cost_nothing_and_list_nothing(step):
    result = profile(step, torch.randn(3, 1), strict=True)
    assert (result.flops, result.uncounted) == (0, {})


def _aten_overloads() -> list[torch._ops.OpOverload]:
    overloads = []
    for qualified in torch._C._dispatch_get_all_op_names():
        namespace, _, rest = qualified.partition("::")
        name, _, overload = rest.partition(".")
        if namespace == "aten":
            overloads.append(getattr(getattr(torch.ops.aten, name), overload or "default"))
    return overloads


def _moves_no_data(func: torch._ops.OpOverload) -> bool:
    return func.is_view or torch.Tag.inplace_view in func.tags


def test_every_view_and_in_place_view_costs_nothing_by_rule_not_by_list():
    """Each aten op whose schema returns an alias of an input, or tagged inplace_view, costs 0
    (or, composite, is run as its parts); and the zero-cost list names no op that the rule
    prices already in every overload."""
    registry = current()[0]
    views = [func for func in _aten_overloads() if _moves_no_data(func)]
    assert views
    priced = [str(func) for func in views if classify(func, registry) not in (ZERO, DECOMPOSE)]
    assert priced == []
    # TorchScript's list and string overloads (slice.t, split.str) never reach the counter
    tensor_overloads = {
        name: [
            getattr(getattr(torch.ops.aten, name), overload)
            for overload in getattr(torch.ops.aten, name).overloads()
            if overload not in ("t", "str")
        ]
        for name in ZERO_COST
        if "::" not in name
    }
    covered = [name for name, funcs in tensor_overloads.items() if all(map(_moves_no_data, funcs))]
    assert covered == []


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_torchscript_module_is_counted_exactly():
    rows, dim = 3, 8
    scripted = torch.jit.script(nn.Sequential(nn.Linear(dim, dim), nn.ReLU()))
    result = profile(scripted, torch.randn(rows, dim))
    assert result.macs == rows * dim * dim
    assert result.params == dim * dim + dim
    assert result.flops == 2 * rows * dim * dim + rows * dim + rows * dim  # bias add, relu


def test_counting_sees_a_pruning_mask_change_between_steps():
    layer = nn.Linear(10, 10, bias=False)
    prune.l1_unstructured(layer, "weight", amount=0.5)
    rows = 3
    with counting(layer) as counted:
        with torch.no_grad():
            layer(torch.randn(rows, 10))
            layer.weight_mask[:] = 0  # everything pruned away before the second step
            layer(torch.randn(rows, 10))
    # first step: half the 100 weights left; second: none
    assert counted.profile.sparse_macs == rows * 10 * 10 // 2 + 0
    assert counted.profile.macs == 2 * rows * 10 * 10
