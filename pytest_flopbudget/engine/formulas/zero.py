"""The ops that cost 0 FLOPs by decision, under every convention: data movement, selection,
copies, creation and random numbers (`ZERO_COST`).

Names are bare aten op names (``view`` is ``aten::view``) or full names for other namespaces
(``quantized::cat``, ``torchvision::nms``), as in `FORMULAS`.
"""

from __future__ import annotations

# Data movement, selection, copies, creation and random numbers: 0 FLOPs by decision.
ZERO_COST: frozenset[str] = frozenset(
    """
    quantized::cat quantized::cat_out _make_per_tensor_quantized_tensor
    _make_per_channel_quantized_tensor _empty_affine_quantized _empty_per_channel_affine_quantized
    empty_quantized q_per_channel_scales q_per_channel_zero_points
    _unsafe_view clone copy
    _to_copy cat stack slice_scatter
    select_scatter diagonal_scatter as_strided_scatter index _unsafe_index index_select
    gather scatter index_put _index_put_impl embedding constant_pad_nd reflection_pad1d
    reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d replication_pad3d roll
    flip repeat repeat_interleave masked_fill where tril triu zeros ones empty full empty_like
    zeros_like ones_like full_like rand randn rand_like randn_like randint randperm arange
    linspace scalar_tensor new_zeros new_ones new_empty new_empty_strided new_full empty_strided
    fill zero bernoulli uniform normal random exponential lift_fresh_copy
    pixel_shuffle pixel_unshuffle upsample_nearest1d upsample_nearest2d upsample_nearest3d
    _upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d im2col
    channel_shuffle native_channel_shuffle set resize _local_scalar_dense
    nll_loss_backward nll_loss2d_backward _foreach_copy _foreach_zero
    unsafe_split unsafe_split_with_sizes unsafe_chunk select_backward slice_backward
    """.split()
)

# Selection (comparisons that pick or order input elements; their index-only forms, argmax and
# nms, are integer work) and the backwards of shape ops (they place a gradient in zeros): 0 FLOPs
# by decision.
ZERO_COST |= frozenset(
    """
    topk sort argsort msort kthvalue median nanmedian mode torchvision::nms select_backward
    slice_backward diagonal_backward unsafe_split unsafe_split_with_sizes unsafe_chunk
    narrow_copy
    """.split()
)
