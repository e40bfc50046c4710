"""The other op families (README "Counting conventions") against closed forms written out here."""

from __future__ import annotations

from math import floor, log2

import pytest
import torch
import torch.nn.functional as F

from pytest_flopbudget import counting, profile


def op_flops(result, name: str) -> int:
    return result.ops[name].flops


def training_step(fn, *inputs):
    """Count fn(*inputs) and a backward through it; the leaf inputs require grad."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    with counting() as c:
        out = fn(*leaves)
        out = out[0] if isinstance(out, tuple) else out
        out.backward(torch.randn_like(out))
    return c.profile


X = torch.randn(2, 4, 6, 6)
ELEMENTS = X.numel()


# ---- elementwise ops torch does not tag pointwise, and in-place variants -----------------------


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("aten.hardswish", F.hardswish),
        ("aten.hardswish_", lambda x: F.hardswish(x.clone(), inplace=True)),
        ("aten.mish_", lambda x: F.mish(x.clone(), inplace=True)),
        ("aten.gelu_", lambda x: torch.ops.aten.gelu_(x.clone())),
        ("aten.threshold_", lambda x: F.threshold(x.clone(), 0.1, 0.0, inplace=True)),
        ("aten.abs_", lambda x: x.clone().abs_()),
        ("aten.log_sigmoid_forward", F.logsigmoid),
        ("aten.rrelu_with_noise", lambda x: F.rrelu(x, training=False)),
        ("aten._prelu_kernel", lambda x: F.prelu(x, torch.full((4,), 0.25))),
    ],
)
def test_untagged_elementwise_ops_cost_one_per_element(op, fn):
    result = profile(fn, X)
    assert op_flops(result, op) == ELEMENTS
    assert result.uncounted == {}


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("aten.hardswish_backward", F.hardswish),
        ("aten.hardsigmoid_backward", F.hardsigmoid),
        ("aten.hardtanh_backward", F.relu6),
        ("aten.leaky_relu_backward", F.leaky_relu),
        ("aten.elu_backward", F.elu),
        ("aten.elu_backward", F.selu),
        ("aten.softplus_backward", F.softplus),
        ("aten.mish_backward", F.mish),
        ("aten.log_sigmoid_backward", F.logsigmoid),
        ("aten.softshrink_backward", F.softshrink),
        ("aten.hardshrink_backward", F.hardshrink),
        ("aten.rrelu_with_noise_backward", lambda x: F.rrelu(x, training=True)),
    ],
)
def test_elementwise_backwards_cost_one_per_element(op, fn):
    result = training_step(fn, X)
    assert op_flops(result, op) == ELEMENTS
    assert result.uncounted == {}


def test_prelu_backward_costs_a_product_for_each_gradient():
    result = training_step(F.prelu, X, torch.full((4,), 0.25))
    assert op_flops(result, "aten._prelu_kernel_backward") == 2 * ELEMENTS
    assert result.uncounted == {}


def test_glu_is_a_sigmoid_and_a_product_per_output_element():
    result = training_step(F.glu, X)  # halves dim -1: 6 -> 3
    half = ELEMENTS // 2
    assert op_flops(result, "aten.glu") == (4 + 1) * half
    assert op_flops(result, "aten.glu_backward") == 4 * half + ELEMENTS  # sigmoid again + grads
    assert result.uncounted == {}


# ---- selection and shape backwards: 0 by decision ----------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.topk(2),
        lambda x: x.sort(),
        lambda x: x.argsort(),
        lambda x: x.msort(),
        lambda x: x.kthvalue(2),
        lambda x: x.median(),
        lambda x: x.median(1),
        lambda x: x.nanmedian(),
        lambda x: x.mode(1),
    ],
)
def test_selection_ops_cost_nothing_and_are_not_uncounted(fn):
    result = profile(fn, torch.randn(5, 6))
    assert result.flops == 0 and result.uncounted == {}


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x[1],
        lambda x: x[1:3],
        lambda x: x.narrow(0, 1, 2),
        lambda x: x.diagonal(),
        lambda x: torch.unsafe_split(x, 2)[1],
        lambda x: torch.unsafe_chunk(x, 3)[2],
    ],
)
def test_backwards_of_shape_ops_cost_nothing(fn):
    result = training_step(fn, torch.randn(6, 6))
    assert result.flops == 0 and result.uncounted == {}


# ---- embedding bags ----------------------------------------------------------------------------

BAG_ROWS, BAG_DIM = 10, 4
INDICES = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
OFFSETS = torch.tensor([0, 4])  # two bags of 4
LOOKED_UP = INDICES.numel() * BAG_DIM
BAG_OUTPUTS = 2 * BAG_DIM


@pytest.mark.parametrize(
    ("mode", "forward", "backward"),
    [
        ("sum", LOOKED_UP, LOOKED_UP),
        ("mean", LOOKED_UP + BAG_OUTPUTS, 2 * LOOKED_UP),  # ÷ bag size: per output, per gradient
        ("max", LOOKED_UP, BAG_OUTPUTS),  # the gradient goes to each maximum's row only
    ],
)
def test_embedding_bag_costs_per_looked_up_element(mode, forward, backward):
    weight = torch.randn(BAG_ROWS, BAG_DIM)
    result = training_step(lambda w: F.embedding_bag(INDICES, w, OFFSETS, mode=mode), weight)
    assert op_flops(result, "aten._embedding_bag") == forward
    assert op_flops(result, "aten._embedding_bag_backward") == backward


def test_embedding_bag_per_sample_weights_add_a_product_per_looked_up_element():
    def bag(weight, sample_weights):
        return F.embedding_bag(
            INDICES, weight, OFFSETS, mode="sum", per_sample_weights=sample_weights
        )

    result = training_step(bag, torch.randn(BAG_ROWS, BAG_DIM), torch.rand(INDICES.numel()))
    assert op_flops(result, "aten._embedding_bag") == 2 * LOOKED_UP
    assert op_flops(result, "aten._embedding_bag_backward") == 2 * LOOKED_UP
    assert op_flops(result, "aten._embedding_bag_per_sample_weights_backward") == 2 * LOOKED_UP


def test_embedding_bag_module_in_eval_is_counted():
    bag = torch.nn.EmbeddingBag(BAG_ROWS, BAG_DIM, mode="mean")
    result = profile(bag, INDICES, OFFSETS)
    assert result.flops == LOOKED_UP + BAG_OUTPUTS and result.uncounted == {}


# ---- interpolation -----------------------------------------------------------------------------

IMAGE = torch.randn(1, 2, 8, 8)


def test_bicubic_upsampling_is_seven_per_output_element_per_dimension():
    """4 taps per dimension: 4 products and 3 additions."""
    result = training_step(lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic"), IMAGE)
    outputs = 2 * 12 * 12
    assert op_flops(result, "aten.upsample_bicubic2d") == 7 * 2 * outputs
    assert op_flops(result, "aten.upsample_bicubic2d_backward") == 7 * 2 * outputs


def test_linear_and_nearest_upsampling_backwards():
    bilinear = training_step(lambda x: F.interpolate(x, size=(3, 5), mode="bilinear"), IMAGE)
    assert op_flops(bilinear, "aten.upsample_bilinear2d_backward") == 3 * 2 * (2 * 3 * 5)
    nearest = training_step(lambda x: F.interpolate(x, scale_factor=2), IMAGE)
    assert op_flops(nearest, "aten.upsample_nearest2d_backward") == 2 * 16 * 16
    assert bilinear.uncounted == {} and nearest.uncounted == {}


def test_antialiased_downsampling_counts_the_taps_of_the_widened_filter():
    """8 → 3 per dimension, scale 8/3: the bilinear filter's support widens to ±8/3 pixels and the
    output positions (centres 1.33, 4, 6.67) see 4, 6 and 4 input pixels: Σ (2t − 1) = 25 per
    line; the two dimensions' lines over 3 positions of the other, for 2 channels."""
    fn = lambda x: F.interpolate(x, size=(3, 3), mode="bilinear", antialias=True)  # noqa: E731
    result = training_step(fn, IMAGE)
    per_line = (2 * 4 - 1) + (2 * 6 - 1) + (2 * 4 - 1)
    expected = 2 * (per_line * 3 + per_line * 3)
    assert op_flops(result, "aten._upsample_bilinear2d_aa") == expected
    assert op_flops(result, "aten._upsample_bilinear2d_aa_backward") == expected


def test_antialiased_upsampling_clips_the_filter_at_the_borders():
    """4 → 8, scale 1/2: the filter keeps its 2 taps except at the first and last output."""
    fn = lambda x: F.interpolate(x, size=(8, 8), mode="bilinear", antialias=True)  # noqa: E731
    result = profile(fn, torch.randn(1, 1, 4, 4))
    per_line = 1 + 6 * 3 + 1
    assert result.flops == per_line * 8 + per_line * 8


def test_antialiased_bicubic_has_twice_the_support():
    """8 → 4, scale 2: support ±4 pixels; centres 1, 3, 5, 7 see 5, 7, 7 and 5 input pixels."""
    fn = lambda x: F.interpolate(x, size=(4, 4), mode="bicubic", antialias=True)  # noqa: E731
    result = profile(fn, torch.randn(1, 1, 8, 8))
    per_line = (2 * 5 - 1) + (2 * 7 - 1) + (2 * 7 - 1) + (2 * 5 - 1)
    assert result.flops == per_line * 4 + per_line * 4


GRID = (torch.rand(1, 4, 5, 2) * 2 - 1).requires_grad_()
GRID_OUTPUTS = 2 * 4 * 5  # channels × grid points


@pytest.mark.parametrize(
    ("mode", "per_output", "grad_input", "grad_grid"),
    [("bilinear", 3 * 2, 3 * 2, 3 * 2), ("bicubic", 7 * 2, 7 * 2, 7 * 2), ("nearest", 0, 1, 0)],
)
def test_grid_sampler_interpolates_per_output_and_scales_the_grid(
    mode, per_output, grad_input, grad_grid
):
    def sample(image, grid):
        return F.grid_sample(image, grid, mode=mode, align_corners=False)

    result = training_step(sample, IMAGE, GRID)
    grid_scaling = 2 * GRID.numel()
    forward = per_output * GRID_OUTPUTS + grid_scaling
    backward = (grad_input + grad_grid) * GRID_OUTPUTS + grid_scaling
    assert op_flops(result, "aten.grid_sampler_2d") == forward
    assert op_flops(result, "aten.grid_sampler_2d_backward") == backward


def test_grid_sampler_3d_is_trilinear():
    volume, grid = torch.randn(1, 2, 4, 4, 4), torch.rand(1, 2, 3, 3, 3) * 2 - 1
    result = profile(lambda v, g: F.grid_sample(v, g, align_corners=False), volume, grid)
    assert op_flops(result, "aten.grid_sampler_3d") == 3 * 3 * (2 * 2 * 3 * 3) + 2 * grid.numel()


# ---- FFT ---------------------------------------------------------------------------------------


def nearest(value: float) -> int:
    return floor(value + 0.5)


def test_real_fft_is_two_and_a_half_n_log2_n():
    assert profile(torch.fft.rfft, torch.randn(16)).flops == 2.5 * 16 * 4


def test_batched_multidimensional_complex_fft_with_normalization():
    """3 signals of 8×6 complex values: 5·N·log₂(48), N = 144, rounded; ortho scales each
    complex output element: 2 real products."""
    signal = torch.randn(3, 8, 6, dtype=torch.complex64)
    result = profile(lambda s: torch.fft.fftn(s, dim=(1, 2), norm="ortho"), signal)
    assert result.flops == nearest(5 * 144 * log2(48)) + 2 * 144


def test_inverse_real_fft_counts_its_real_output_and_the_one_over_n():
    result = profile(lambda s: torch.fft.irfft(s, n=8), torch.randn(3, 5, dtype=torch.complex64))
    assert result.flops == 2.5 * (3 * 8) * 3 + 3 * 8


def test_stft_and_istft_are_counted_whole():
    signal, window = torch.randn(2, 400), torch.hann_window(64)
    spectrum = torch.stft(signal, 64, window=window, return_complex=True)  # 2 × 33 bins × 26
    forward = profile(lambda s: torch.stft(s, 64, window=window, return_complex=True), signal)
    assert op_flops(forward, "aten._fft_r2c") == 2.5 * (2 * 26 * 64) * 6
    inverse = profile(lambda s: torch.istft(s, 64, window=window), spectrum)
    assert op_flops(inverse, "aten._fft_c2r") == 2.5 * (2 * 26 * 64) * 6 + 2 * 26 * 64
    # overlap-add of the frames (and of the squared window): 1 per frame element
    assert op_flops(inverse, "aten.unfold_backward") == 2 * 26 * 64 + 26 * 64
    assert forward.uncounted == {} and inverse.uncounted == {}


# ---- complex and batched-sum matmuls -----------------------------------------------------------


def test_a_complex_matmul_is_four_real_macs_per_complex_mac():
    a = torch.randn(3, 4, dtype=torch.complex64)
    b = torch.randn(4, 5, dtype=torch.complex64)
    result = profile(torch.mm, a, b)
    assert result.macs == 4 * (3 * 4 * 5)
    assert result.flops == 8 * (3 * 4 * 5)


def test_addbmm_sums_the_batch_products_and_adds_the_input():
    result = profile(torch.addbmm, torch.randn(3, 5), torch.randn(4, 3, 2), torch.randn(4, 2, 5))
    assert result.macs == 4 * 3 * 2 * 5
    assert result.flops == 2 * result.macs + 3 * 5


# ---- accumulating scatters, histograms, distances, weight norm ---------------------------------


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")
def test_accumulating_scatters_cost_one_per_source_element():
    index = torch.tensor([0, 2, 2, 4])
    added = profile(lambda s: torch.zeros(5, 3).index_add_(0, index, s, alpha=2), torch.randn(4, 3))
    assert added.flops == 2 * 4 * 3  # an addition and alpha's product
    rows = torch.tensor([[0, 2, 2]])
    scattered = profile(lambda s: torch.zeros(5, 3).scatter_add(0, rows, s), torch.randn(4, 3))
    assert scattered.flops == 3  # only the index's elements of src are used
    mean = profile(
        lambda s: torch.zeros(5, 3).scatter_reduce(0, rows, s, "mean"), torch.randn(4, 3)
    )
    assert mean.flops == 3 + 5 * 3
    amax = profile(
        lambda s: torch.zeros(5, 3).index_reduce_(0, index, s, "amax"), torch.randn(4, 3)
    )
    assert amax.flops == 4 * 3


def test_gather_and_index_select_backwards_are_accumulations():
    gathered = training_step(lambda x: x.gather(0, torch.tensor([[1, 2]])), torch.randn(6, 4))
    assert op_flops(gathered, "aten.scatter_add") == 2
    selected = training_step(lambda x: x.index_select(0, torch.tensor([1, 2])), torch.randn(6, 4))
    assert op_flops(selected, "aten.index_add") == 2 * 4


def test_histc_is_one_per_input_element():
    assert profile(lambda x: torch.histc(x, bins=10), torch.randn(100)).flops == 100


def test_cdist_direct_path_and_its_backward():
    """p=1 (and small inputs at p=2) compute directly: 3 per (pair, coordinate) + 1 per pair;
    the backward runs once for each input."""
    pairs, coordinates = 2 * 30 * 40, 5
    result = training_step(
        lambda a, b: torch.cdist(a, b, p=1), torch.randn(2, 30, 5), torch.randn(2, 40, 5)
    )
    expected = 3 * pairs * coordinates + pairs
    assert op_flops(result, "aten._cdist_forward") == expected
    assert op_flops(result, "aten._cdist_backward") == 2 * expected  # once per input


def test_euclidean_cdist_is_one_matmul_over_the_coordinates_and_the_norms():
    x1, x2 = torch.randn(2, 30, 5), torch.randn(2, 40, 5)
    result = profile(lambda a, b: torch.cdist(a, b), x1, x2)
    pairs = 2 * 30 * 40
    assert result.ops["aten._euclidean_dist"].macs == pairs * (5 + 2)
    other = 3 * x1.numel() + 2 * x2.numel() + 2 * pairs
    assert op_flops(result, "aten._euclidean_dist") == 2 * pairs * 7 + other


def test_weight_norm_and_its_backward():
    linear = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3))
    with counting() as c:
        linear(torch.randn(2, 4)).sum().backward()
    v, norms = 3 * 4, 3
    assert op_flops(c.profile, "aten._weight_norm_interface") == 3 * v + 2 * norms
    assert op_flops(c.profile, "aten._weight_norm_interface_backward") == 2 * (3 * v + 2 * norms)
    assert c.profile.uncounted == {}


# ---- torchvision's ops (skipped without torchvision) -------------------------------------------


def boxes():
    return torch.tensor([[0, 0.0, 0.0, 8.0, 8.0], [0, 2.0, 2.0, 5.0, 11.0]])


FEATURES = torch.randn(1, 3, 16, 16)
POOLED = 2 * 3 * 4 * 4  # boxes × channels × 4×4 bins


def test_roi_align_with_a_fixed_grid():
    ops = pytest.importorskip("torchvision.ops")
    result = training_step(lambda f: ops.roi_align(f, boxes(), 4, 1.0, 2), FEATURES)
    per_output = 2 * 2 * (6 + 1) + 1  # 2×2 bilinear samples (6 each) and their sum, one division
    assert op_flops(result, "torchvision.roi_align") == per_output * POOLED
    assert op_flops(result, "torchvision._roi_align_backward") == per_output * POOLED


def test_roi_align_adaptive_grid_is_read_from_the_boxes():
    """Box 1 is 8×8: ceil(8/4)² = 4 samples per bin; box 2 is 3 wide, 9 high: 1·3 = 3."""
    ops = pytest.importorskip("torchvision.ops")
    result = profile(lambda f: ops.roi_align(f, boxes(), 4, 1.0, -1), FEATURES)
    samples = 3 * 16 * (4 + 3)
    assert result.flops == (6 + 1) * samples + POOLED


def test_roi_align_adaptive_grid_on_meta_is_listed_uncounted():
    ops = pytest.importorskip("torchvision.ops")
    features, rois = FEATURES.to("meta"), boxes().to("meta")
    result = profile(lambda f, b: ops.roi_align(f, b, 4, 1.0, -1), features, rois)
    assert result.uncounted == {"torchvision.roi_align (formula failed)": 1}


def test_roi_pool_is_one_per_output_element():
    ops = pytest.importorskip("torchvision.ops")
    result = training_step(lambda f: ops.roi_pool(f, boxes(), 4, 1.0), FEATURES)
    assert op_flops(result, "torchvision.roi_pool") == POOLED
    assert op_flops(result, "torchvision._roi_pool_backward") == POOLED


def test_position_sensitive_roi_ops():
    ops = pytest.importorskip("torchvision.ops")
    features = torch.randn(1, 8, 16, 16)  # 8 channels = 2 outputs × 2×2 bins
    outputs = 2 * 2 * 2 * 2
    aligned = training_step(lambda f: ops.ps_roi_align(f, boxes(), 2, 1.0, 2), features)
    per_output = 2 * 2 * (6 + 1) + 1
    assert op_flops(aligned, "torchvision.ps_roi_align") == per_output * outputs
    assert op_flops(aligned, "torchvision._ps_roi_align_backward") == per_output * outputs
    pooled = training_step(lambda f: ops.ps_roi_pool(f, boxes(), 2, 1.0), features)
    assert op_flops(pooled, "torchvision.ps_roi_pool") == outputs
    assert op_flops(pooled, "torchvision._ps_roi_pool_backward") == outputs


def test_deform_conv2d_is_a_convolution_plus_bilinear_sampling():
    ops = pytest.importorskip("torchvision.ops")
    x, weight = torch.randn(1, 4, 8, 8), torch.randn(6, 4, 3, 3)
    offset, mask = torch.randn(1, 2 * 9, 6, 6), torch.rand(1, 9, 6, 6)

    def deform(x, offset, weight, bias, mask):
        return ops.deform_conv2d(x, offset, weight, bias, mask=mask)

    result = training_step(deform, x, offset, weight, torch.zeros(6), mask)
    positions = 6 * 6
    macs = positions * weight.numel()
    samples = positions * 4 * 9  # every input channel at every tap of every output position
    outputs = 6 * positions
    assert result.ops["torchvision.deform_conv2d"].macs == macs
    assert op_flops(result, "torchvision.deform_conv2d") == 2 * macs + (6 + 1) * samples + outputs
    backward = result.ops["torchvision._deform_conv2d_backward"]
    assert backward.macs == 2 * macs
    assert backward.flops == 2 * 2 * macs + 3 * 6 * samples + outputs


def test_nms_costs_nothing_and_is_not_uncounted():
    ops = pytest.importorskip("torchvision.ops")
    result = profile(ops.nms, boxes()[:, 1:], torch.tensor([0.9, 0.8]), 0.5)
    assert result.flops == 0 and result.uncounted == {}
