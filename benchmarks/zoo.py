"""Count a zoo of real models and compare with the numbers their authors publish.

Every torchvision model of every family (classification, video, segmentation, optical flow,
detection, quantized), Hugging Face architectures built from small configs, and recurrent and
quantized cases. One table: MACs, params, uncounted ops, seconds, and the ratio to torchvision's
published numbers (its weights' ``meta["_ops"]``, GFLOPS in its words, MACs in ours, and
``meta["num_params"]``) or to a closed form written here.

Run:  python benchmarks/zoo.py [--family detection] [--only resnet18,vit_*] [--json PATH]
Needs: pip install -e ".[zoo]" (torchvision and transformers; torchvision wants the torch it was
built for: pip install torch==2.14.1 torchvision==0.29.1 first. Each library missing is skipped
with its models). No weights are downloaded: every model is built with ``weights=None``.

Input sizes are those torchvision's published numbers used (its script fed a 3×512×512 random
image through each weights' transforms): classification and video at the transforms' crop
(video 16 frames), segmentation at the resize (520), optical flow at 512×512, detection a
512×512 image that the model's own transform resizes (800 for the R-CNNs, 320 / 300 for the
mobile and SSD models). A model is counted on the meta device when it can run there, otherwise
on the CPU (the `device` column; the reason is in the notes).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_map_only

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from pytest_flopbudget import profile

FAMILIES = (
    "classification",
    "video",
    "segmentation",
    "optical_flow",
    "detection",
    "quantized",
    "huggingface",
    "rnn",
)
DETECTION_IMAGE = 512  # the random image torchvision's _ops script fed every model
FLOW_IMAGE = 512
VIDEO_FRAMES = 16
GIGA = 1e9
HALF_LAST_DIGIT = 0.0005 * GIGA  # torchvision publishes GMACs with 3 decimals

# Builders that pick FrozenBatchNorm2d (buffers, no parameters) when weights are given
# (`norm_layer = FrozenBatchNorm2d if is_trained else nn.BatchNorm2d` in torchvision's source):
# the published parameter counts are those of the trained model, so the zoo freezes them too.
FROZEN_BATCH_NORM_WHEN_TRAINED = {
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fcos_resnet50_fpn",
    "keypointrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
    "retinanet_resnet50_fpn",
}


@dataclass(frozen=True)
class Reference:
    """Published or closed-form numbers to compare with; `macs_tolerance` in MACs."""

    source: str
    macs: float | None = None
    params: int | None = None
    macs_tolerance: float = 0.0


Built = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One model: `build()` runs under the device context and returns (model, args, kwargs)."""

    name: str
    family: str
    build: Callable[[], Built]
    input: str
    devices: tuple[str, ...] = ("meta", "cpu")
    reference: Reference | None = None


@dataclass
class Row:
    name: str
    family: str
    input: str
    device: str = "-"
    macs: int | None = None
    flops: int | None = None
    params: int | None = None
    uncounted: dict[str, int] = field(default_factory=dict)
    count_seconds: float = 0.0
    total_seconds: float = 0.0
    reference: Reference | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def macs_match(self) -> bool | None:
        ref = self.reference
        if ref is None or ref.macs is None or self.macs is None:
            return None
        return abs(self.macs - ref.macs) <= ref.macs_tolerance

    def params_match(self) -> bool | None:
        ref = self.reference
        if ref is None or ref.params is None or self.params is None:
            return None
        return self.params == ref.params


# ---- torchvision ---------------------------------------------------------------------------


def _default_weights(name: str) -> Any:
    from torchvision.models import get_model_weights

    weights = get_model_weights(name)
    return getattr(weights, "DEFAULT", None) or next(iter(weights))


def _torchvision_reference(name: str) -> Reference | None:
    try:
        meta = _default_weights(name).meta
    except (ValueError, KeyError, StopIteration):
        return None
    ops = meta.get("_ops")
    return Reference(
        source="torchvision",
        macs=None if ops is None else ops * GIGA,
        params=meta.get("num_params"),
        macs_tolerance=HALF_LAST_DIGIT,
    )


def _crop(name: str) -> tuple[int, int]:
    crop = list(_default_weights(name).transforms().crop_size)
    return (crop[0], crop[-1])


def _freeze_batch_norms(module: nn.Module) -> None:
    from torchvision.ops.misc import FrozenBatchNorm2d

    for child_name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            setattr(module, child_name, FrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            _freeze_batch_norms(child)


def _classification(name: str) -> Case:
    from torchvision.models import get_model

    height, width = _crop(name)
    kwargs: dict[str, Any] = {}
    if name.startswith("vit_"):
        kwargs["image_size"] = height  # the builder sets it from the weights; no weights here
    if name == "googlenet":
        kwargs["aux_logits"] = False  # the published weights drop the auxiliary heads

    def build() -> Built:
        model = get_model(name, weights=None, **kwargs).eval()
        return model, (torch.randn(1, 3, height, width),), {}

    return Case(
        name,
        "classification",
        build,
        f"1×3×{height}×{width}",
        reference=_torchvision_reference(name),
    )


def _video(name: str) -> Case:
    from torchvision.models import get_model

    height, width = _crop(name)

    def build() -> Built:
        model = get_model(name, weights=None).eval()
        return model, (torch.randn(1, 3, VIDEO_FRAMES, height, width),), {}

    return Case(
        name,
        "video",
        build,
        f"1×3×{VIDEO_FRAMES}×{height}×{width}",
        reference=_torchvision_reference(name),
    )


def _segmentation(name: str) -> Case:
    from torchvision.models import get_model

    size = next(iter(_default_weights(name).transforms().resize_size))
    # the published weights carry the auxiliary classifier (it runs in eval too)
    kwargs = {} if name.startswith("lraspp") else {"aux_loss": True}

    def build() -> Built:
        model = get_model(name, weights=None, weights_backbone=None, **kwargs).eval()
        return model, (torch.randn(1, 3, size, size),), {}

    return Case(
        name, "segmentation", build, f"1×3×{size}×{size}", reference=_torchvision_reference(name)
    )


def _optical_flow(name: str) -> Case:
    from torchvision.models import get_model

    def build() -> Built:
        model = get_model(name, weights=None).eval()
        image = (1, 3, FLOW_IMAGE, FLOW_IMAGE)
        return model, (torch.randn(*image), torch.randn(*image)), {}

    return Case(
        name,
        "optical_flow",
        build,
        f"2 × 1×3×{FLOW_IMAGE}×{FLOW_IMAGE}",
        reference=_torchvision_reference(name),
    )


# What a data-dependent model did on the run (proposals, detections), for the notes.
OBSERVED: dict[str, str] = {}


def _observe_detections(name: str, model: nn.Module) -> None:
    """Note how many proposals the R-CNN box head and the mask / keypoint heads ran on: with
    random weights these differ from the run torchvision published."""

    def proposals(module: nn.Module, args: tuple[Any, ...]) -> None:
        OBSERVED[name] = f"box head on {len(args[1][0])} proposals"

    def detections(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        found = f"{len(out[0]['boxes'])} detections"
        OBSERVED[name] = f"{OBSERVED[name]}, {found}" if name in OBSERVED else found

    if hasattr(model, "roi_heads"):
        model.roi_heads.register_forward_pre_hook(proposals)
    model.register_forward_hook(detections)


def _detection(name: str) -> Case:
    from torchvision.models import get_model

    def build() -> Built:
        model = get_model(name, weights=None, weights_backbone=None).eval()
        if name in FROZEN_BATCH_NORM_WHEN_TRAINED:
            _freeze_batch_norms(model.backbone)
        _observe_detections(name, model)
        return model, ([torch.rand(3, DETECTION_IMAGE, DETECTION_IMAGE)],), {}

    return Case(
        name,
        "detection",
        build,
        f"[3×{DETECTION_IMAGE}×{DETECTION_IMAGE}]",
        reference=_torchvision_reference(name),
    )


def _quantized(name: str) -> Case:
    """torchvision's quantize=True needs no weights: it fuses, calibrates on one random batch
    and converts (torchvision.models.quantization.utils.quantize_model). CPU only."""
    from torchvision.models import get_model

    height, width = _crop(name)
    kwargs = {"aux_logits": False} if name == "quantized_googlenet" else {}

    def build() -> Built:
        model = get_model(name, weights=None, quantize=True, **kwargs).eval()
        return model, (torch.rand(1, 3, height, width),), {}

    return Case(
        name,
        "quantized",
        build,
        f"1×3×{height}×{width}",
        devices=("cpu",),
        reference=_torchvision_reference(name),
    )


def torchvision_cases() -> list[Case]:
    try:
        import torchvision.models as tv
    except Exception as error:  # torchvision built for another torch raises more than ImportError
        print(f"torchvision unavailable ({type(error).__name__}: {error}); skipping its models")
        return []
    families = [
        (tv, _classification),
        (tv.video, _video),
        (tv.segmentation, _segmentation),
        (tv.optical_flow, _optical_flow),
        (tv.detection, _detection),
        (tv.quantization, _quantized),
    ]
    return [make(name) for module, make in families for name in tv.list_models(module=module)]


# ---- Hugging Face (small configs, no hub access) -------------------------------------------

TOKENS, VOCAB, DIM, HEADS, LAYERS, FFN = 32, 1000, 128, 4, 2, 512
KV_HEADS, GATED_FFN, EXPERTS, TOP_K, IMAGE, PATCH = 2, 256, 4, 2, 64, 16


def _tokens(n: int = TOKENS) -> torch.Tensor:
    return torch.zeros(1, n, dtype=torch.long)


def _decoder_macs(tokens: int, layers: int, per_token: int, dim: int, vocab: int) -> int:
    """Per-token projections, dense attention (Q·Kᵀ and A·V), and the LM head."""
    return layers * (tokens * per_token + 2 * tokens * tokens * dim) + tokens * dim * vocab


def _hf_closed_forms() -> dict[str, int]:
    head_dim = DIM // HEADS
    gqa_projections = 2 * DIM * DIM + 2 * DIM * KV_HEADS * head_dim  # q, o; k, v
    vit_tokens = (IMAGE // PATCH) ** 2 + 1
    return {
        # attention 4d², MLP 2·d·4d
        "gpt2": _decoder_macs(TOKENS, LAYERS, 4 * DIM * DIM + 2 * DIM * FFN, DIM, VOCAB),
        "llama": _decoder_macs(TOKENS, LAYERS, gqa_projections + 3 * DIM * GATED_FFN, DIM, VOCAB),
        # the router (d·E) and TOP_K SwiGLU experts per token
        "mixtral": _decoder_macs(
            TOKENS,
            LAYERS,
            gqa_projections + DIM * EXPERTS + TOP_K * 3 * DIM * GATED_FFN,
            DIM,
            VOCAB,
        ),
        # no LM head; the pooler is one d×d linear on the first token
        "bert": _decoder_macs(TOKENS, LAYERS, 4 * DIM * DIM + 2 * DIM * FFN, DIM, 0) + DIM * DIM,
        # patch embedding, the encoder, the pooler
        "vit": (vit_tokens - 1) * 3 * PATCH * PATCH * DIM
        + _decoder_macs(vit_tokens, LAYERS, 4 * DIM * DIM + 2 * DIM * FFN, DIM, 0)
        + DIM * DIM,
    }


def huggingface_cases() -> list[Case]:
    try:
        import transformers
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
    except Exception as error:
        print(f"transformers unavailable ({type(error).__name__}: {error}); skipping its models")
        return []
    transformers.logging.set_verbosity_error()
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    decoder = dict(
        num_hidden_layers=LAYERS,
        hidden_size=DIM,
        num_attention_heads=HEADS,
        vocab_size=VOCAB,
        max_position_embeddings=128,
        **ids,
    )
    encoder = dict(
        num_hidden_layers=LAYERS, hidden_size=DIM, num_attention_heads=HEADS, intermediate_size=FFN
    )
    specs: dict[str, tuple[Callable[[], Any], Callable[[], dict[str, Any]], str]] = {
        "gpt2": (
            lambda: AutoModelForCausalLM.from_config(
                AutoConfig.for_model(
                    "gpt2",
                    n_layer=LAYERS,
                    n_embd=DIM,
                    n_head=HEADS,
                    n_inner=FFN,
                    vocab_size=VOCAB,
                    n_positions=128,
                    bos_token_id=1,
                    eos_token_id=2,
                )
            ),
            lambda: {"input_ids": _tokens()},
            f"1×{TOKENS} tokens",
        ),
        "bert": (
            lambda: AutoModel.from_config(
                AutoConfig.for_model(
                    "bert", **encoder, vocab_size=VOCAB, max_position_embeddings=128
                )
            ),
            lambda: {"input_ids": _tokens()},
            f"1×{TOKENS} tokens",
        ),
        "t5": (
            lambda: AutoModel.from_config(
                AutoConfig.for_model(
                    "t5",
                    num_layers=LAYERS,
                    num_decoder_layers=LAYERS,
                    d_model=DIM,
                    d_kv=DIM // HEADS,
                    num_heads=HEADS,
                    d_ff=FFN,
                    vocab_size=VOCAB,
                    decoder_start_token_id=0,
                )
            ),
            lambda: {"input_ids": _tokens(), "decoder_input_ids": _tokens(16)},
            f"1×{TOKENS} + 1×16 tokens",
        ),
        "llama": (
            lambda: AutoModelForCausalLM.from_config(
                AutoConfig.for_model(
                    "llama", **decoder, num_key_value_heads=KV_HEADS, intermediate_size=GATED_FFN
                )
            ),
            lambda: {"input_ids": _tokens()},
            f"1×{TOKENS} tokens",
        ),
        "mixtral": (
            lambda: AutoModelForCausalLM.from_config(
                AutoConfig.for_model(
                    "mixtral",
                    **decoder,
                    num_key_value_heads=KV_HEADS,
                    intermediate_size=GATED_FFN,
                    num_local_experts=EXPERTS,
                    num_experts_per_tok=TOP_K,
                )
            ),
            lambda: {"input_ids": _tokens()},
            f"1×{TOKENS} tokens",
        ),
        "whisper": (
            lambda: AutoModel.from_config(
                AutoConfig.for_model(
                    "whisper",
                    encoder_layers=LAYERS,
                    decoder_layers=LAYERS,
                    d_model=DIM,
                    encoder_attention_heads=HEADS,
                    decoder_attention_heads=HEADS,
                    encoder_ffn_dim=FFN,
                    decoder_ffn_dim=FFN,
                    vocab_size=VOCAB,
                    num_mel_bins=80,
                    max_source_positions=100,
                    max_target_positions=64,
                    decoder_start_token_id=1,
                    suppress_tokens=[],
                    begin_suppress_tokens=[],
                    **ids,
                )
            ),
            lambda: {"input_features": torch.randn(1, 80, 200), "decoder_input_ids": _tokens(16)},
            "1×80×200 mel + 1×16 tokens",
        ),
        "vit": (
            lambda: AutoModel.from_config(
                AutoConfig.for_model("vit", **encoder, image_size=IMAGE, patch_size=PATCH)
            ),
            lambda: {"pixel_values": torch.randn(1, 3, IMAGE, IMAGE)},
            f"1×3×{IMAGE}×{IMAGE}",
        ),
        "clip": (
            lambda: AutoModel.from_config(
                AutoConfig.for_model(
                    "clip",
                    projection_dim=64,
                    text_config={
                        **encoder,
                        "vocab_size": VOCAB,
                        "max_position_embeddings": 64,
                        **ids,
                    },
                    vision_config={**encoder, "image_size": IMAGE, "patch_size": PATCH},
                )
            ),
            lambda: {"input_ids": _tokens(16), "pixel_values": torch.randn(1, 3, IMAGE, IMAGE)},
            f"1×16 tokens + 1×3×{IMAGE}×{IMAGE}",
        ),
    }
    closed_forms = _hf_closed_forms()
    cases = []
    for name, (make_model, make_inputs, described) in specs.items():

        def build(make_model=make_model, make_inputs=make_inputs) -> Built:
            return make_model().eval(), (), make_inputs()

        macs = closed_forms.get(name)
        reference = None if macs is None else Reference("closed form", macs=macs)
        cases.append(Case(f"hf_{name}", "huggingface", build, described, reference=reference))
    return cases


# ---- recurrent and quantized cases ----------------------------------------------------------

EMBED, HIDDEN, CLASSES, STEPS = 64, 128, 10, 32


class Tagger(nn.Module):
    """A sequence tagger: embedding, one recurrent layer, a per-step classifier."""

    def __init__(self, rnn: type[nn.RNNBase]) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, EMBED)
        self.rnn = rnn(EMBED, HIDDEN, batch_first=True)
        self.classify = nn.Linear(HIDDEN, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classify(self.rnn(self.embed(tokens))[0])


def _tagger_macs(gates: int) -> int:
    """gates · h · (input + h) per step (both matmuls of every gate), plus the classifier."""
    return gates * HIDDEN * (EMBED + HIDDEN) * STEPS + STEPS * HIDDEN * CLASSES


class SmallCNN(nn.Module):
    """Two convolutions and a classifier, ready for eager-mode static quantization."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv1, self.relu1 = nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classify = nn.Linear(32, CLASSES)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(self.quant(x)))))
        return self.dequant(self.classify(torch.flatten(self.pool(x), 1)))


SMALL_CNN_MACS = 32 * 32 * 16 * 3 * 9 + 16 * 16 * 32 * 16 * 9 + 32 * CLASSES  # at 1×3×32×32


def _static_quantized_cnn() -> Built:
    model = SmallCNN().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
    torch.ao.quantization.fuse_modules(
        model, [["conv1", "relu1"], ["conv2", "relu2"]], inplace=True
    )
    torch.ao.quantization.prepare(model, inplace=True)
    model(torch.rand(4, 3, 32, 32))  # calibration
    torch.ao.quantization.convert(model, inplace=True)
    return model, (torch.rand(1, 3, 32, 32),), {}


def _dynamic_quantized_tagger() -> Built:
    model = Tagger(nn.LSTM).eval()
    quantized = torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, torch.qint8)
    return quantized, (_tokens(STEPS),), {}


def rnn_and_quantized_cases() -> list[Case]:
    lstm, gru = Reference("closed form", _tagger_macs(4)), Reference("closed form", _tagger_macs(3))
    steps = f"1×{STEPS} tokens"
    return [
        # On the CPU an LSTM runs one fused kernel; on meta it decomposes into its matmuls:
        # both rows, as each is what a user on that device gets.
        Case(
            "lstm_tagger",
            "rnn",
            lambda: (Tagger(nn.LSTM).eval(), (_tokens(STEPS),), {}),
            steps,
            devices=("cpu",),
            reference=lstm,
        ),
        Case(
            "lstm_tagger_on_meta",
            "rnn",
            lambda: (Tagger(nn.LSTM).eval(), (_tokens(STEPS),), {}),
            steps,
            devices=("meta",),
            reference=lstm,
        ),
        Case(
            "gru_tagger",
            "rnn",
            lambda: (Tagger(nn.GRU).eval(), (_tokens(STEPS),), {}),
            steps,
            devices=("cpu",),
            reference=gru,
        ),
        Case(
            "lstm_tagger_dynamic_int8",
            "rnn",
            _dynamic_quantized_tagger,
            steps,
            devices=("cpu",),
            reference=lstm,
        ),
        Case(
            "small_cnn_static_int8",
            "quantized",
            _static_quantized_cnn,
            "1×3×32×32",
            devices=("cpu",),
            reference=Reference("closed form", SMALL_CNN_MACS),
        ),
    ]


# ---- running ---------------------------------------------------------------------------------


def _short_error(error: BaseException) -> str:
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line[:120]}"


def _build_on(case: Case, device: str, notes: list[str]) -> Built:
    """Build under the device; a model whose constructor cannot run on meta (it reads values of
    tensors it creates) is built on the CPU and then moved to meta."""
    try:
        with torch.device(device):
            return case.build()
    except Exception as error:
        if device != "meta":
            raise
        notes.append(f"meta: built on cpu, then moved to meta ({_short_error(error)})")
    model, args, kwargs = case.build()
    to_meta = partial(tree_map_only, torch.Tensor, lambda t: t.to("meta"))
    return model.to("meta"), to_meta(args), to_meta(kwargs)


def count(case: Case) -> Row:
    row = Row(case.name, case.family, case.input, reference=case.reference)
    start = time.perf_counter()
    for device in case.devices:
        torch.manual_seed(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, args, kwargs = _build_on(case, device, row.notes)
                counted_from = time.perf_counter()
                with torch.device(device):
                    result = profile(model, *args, **kwargs)
        except Exception as error:
            row.notes.append(f"{device}: {_short_error(error)}")
            continue
        row.device = device
        row.macs, row.flops, row.params = result.macs, result.flops, result.params
        row.uncounted = dict(result.uncounted)
        row.count_seconds = time.perf_counter() - counted_from
        if case.name in OBSERVED:
            row.notes.append(f"{device}: {OBSERVED.pop(case.name)}")
        break
    else:
        row.error = "; ".join(row.notes)
    row.total_seconds = time.perf_counter() - start
    return row


def select(cases: list[Case], families: list[str], only: list[str]) -> list[Case]:
    if families:
        cases = [c for c in cases if c.family in families]
    if only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in only)]
    return cases


def _macs_text(value: float | None) -> str:
    """G with torchvision's 3 decimals; M below 0.01 G, where 3 decimals of G say little."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value / GIGA:.3f}G" if value >= 0.01 * GIGA else f"{value / 1e6:.3f}M"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return "-"
    return f"{ours / theirs:.4f}"


def _mark(match: bool | None) -> str:
    return {None: "-", True: "ok", False: "MISMATCH"}[match]


def _uncounted_text(uncounted: dict[str, int]) -> str:
    return ", ".join(f"{name.removeprefix('aten.')}×{calls}" for name, calls in uncounted.items())


COLUMNS = (
    ("model", "<"),
    ("family", "<"),
    ("device", "<"),
    ("input", "<"),
    ("MACs", ">"),
    ("params", ">"),
    ("ref MACs", ">"),
    ("ratio", ">"),
    ("match", "<"),
    ("ref params", ">"),
    ("ratio", ">"),
    ("match", "<"),
    ("ref", "<"),
    ("s", ">"),
    ("uncounted ops", "<"),
)


def _cells(row: Row) -> list[str]:
    ref = row.reference
    if row.error is not None:
        return [row.name, row.family, "failed", row.input] + ["-"] * 10 + [row.error]
    macs_mark = _mark(row.macs_match())
    if row.macs == 0 and ref is not None and ref.macs:
        macs_mark = "ZERO"
    return [
        row.name,
        row.family,
        row.device,
        row.input,
        _macs_text(row.macs),
        f"{row.params:,}",
        _macs_text(ref.macs if ref else None),
        _ratio(row.macs, ref.macs if ref else None),
        macs_mark,
        "-" if ref is None or ref.params is None else f"{ref.params:,}",
        _ratio(row.params, ref.params if ref else None),
        _mark(row.params_match()),
        "-" if ref is None else ref.source,
        f"{row.total_seconds:.1f}",
        _uncounted_text(row.uncounted),
    ]


def print_table(rows: list[Row]) -> None:
    table = [[name for name, _ in COLUMNS]] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    for line in table:
        parts = [
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(line, COLUMNS, widths, strict=False)
        ]
        print("  ".join([*parts, line[-1]]).rstrip())


def summarize(rows: list[Row]) -> dict[str, Any]:
    def matches(source: str) -> list[bool]:
        return [
            match
            for r in rows
            if r.reference is not None and r.reference.source == source
            for match in (r.macs_match(), r.params_match())
            if match is not None
        ]

    published, closed_form = matches("torchvision"), matches("closed form")
    return {
        "models": len(rows),
        "with_uncounted_ops": sum(1 for r in rows if r.uncounted),
        "published_matched": sum(published),
        "published_mismatched": len(published) - sum(published),
        "closed_form_matched": sum(closed_form),
        "closed_form_mismatched": len(closed_form) - sum(closed_form),
        "failed": sum(1 for r in rows if r.error is not None),
        "on_meta": sum(1 for r in rows if r.device == "meta"),
        "on_cpu": sum(1 for r in rows if r.device == "cpu"),
        "zero_macs": sum(1 for r in rows if r.macs == 0),
        "seconds": round(sum(r.total_seconds for r in rows), 1),
    }


def print_details(rows: list[Row]) -> None:
    by_op: dict[str, list[str]] = {}
    for row in rows:
        for op, calls in row.uncounted.items():
            by_op.setdefault(op, []).append(f"{row.name} ×{calls}")
    if by_op:
        print("\nuncounted ops across the zoo (op: models, calls):")
        for op in sorted(by_op, key=lambda o: (-len(by_op[o]), o)):
            print(f"  {op} ({len(by_op[op])}): {', '.join(by_op[op])}")
    noted = [r for r in rows if r.notes]
    if noted:
        print("\nnotes (why a device could not run the model, what a data-dependent one did):")
        for row in noted:
            print(f"  {row.name}: {' | '.join(row.notes)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--family",
        action="append",
        default=[],
        choices=FAMILIES,
        help="only this family (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="model names or globs, comma-separated (repeatable)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    options = parser.parse_args(argv)
    only = [name for value in options.only for name in value.split(",") if name]

    cases = torchvision_cases() + huggingface_cases() + rnn_and_quantized_cases()
    cases = select(cases, options.family, only)
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, {len(cases)} models")
    rows = []
    for case in cases:
        rows.append(count(case))
        print(f"  counted {case.name} in {rows[-1].total_seconds:.1f} s", file=sys.stderr)
    print_table(rows)
    print_details(rows)
    summary = summarize(rows)
    print(
        f"\n{summary['models']} models, {summary['with_uncounted_ops']} with uncounted ops, "
        f"{summary['published_matched']} published numbers matched, "
        f"{summary['published_mismatched']} mismatched; closed forms: "
        f"{summary['closed_form_matched']} matched, {summary['closed_form_mismatched']} mismatched "
        f"({summary['on_meta']} on meta, {summary['on_cpu']} on cpu, {summary['failed']} failed, "
        f"{summary['zero_macs']} with 0 MACs; {summary['seconds']} s)"
    )
    if options.json:
        document = {
            "torch_version": torch.__version__,
            "summary": summary,
            "rows": [
                {
                    "model": r.name,
                    "family": r.family,
                    "input": r.input,
                    "device": r.device,
                    "macs": r.macs,
                    "flops": r.flops,
                    "params": r.params,
                    "uncounted": r.uncounted,
                    "seconds": round(r.total_seconds, 2),
                    "reference": None if r.reference is None else vars(r.reference),
                    "macs_match": r.macs_match(),
                    "params_match": r.params_match(),
                    "notes": r.notes,
                    "error": r.error,
                }
                for r in rows
            ],
        }
        with open(options.json, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
