"""Example models budgeted by the tests in ../tests."""

from models.decoder import TinyDecoderLM, build_decoder
from models.fused import SwiGLUFeedForward, build_feed_forward
from models.lenet import LeNet5, build_lenet
from models.pruned import build_mlp, prune_linear_weights, sparsity
from models.resnet import SmallResNet, build_resnet
from models.transformer import TinyTransformer, build_transformer

__all__ = [
    "LeNet5",
    "SmallResNet",
    "SwiGLUFeedForward",
    "TinyDecoderLM",
    "TinyTransformer",
    "build_decoder",
    "build_feed_forward",
    "build_lenet",
    "build_mlp",
    "build_resnet",
    "build_transformer",
    "prune_linear_weights",
    "sparsity",
]
