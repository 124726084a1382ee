"""Chapter 4's modules: attention layers, positions, Transformer blocks, the Transformer and GPT.

Everything here is batch-first and uses the book's mask convention (boolean, True = may attend).
The public names are also exported flat from ``attnbook`` (``attnbook.MultiHeadAttention``).
"""

from .attention import KVCache, MultiHeadAttention, bottom_right_causal_mask, merge_heads, split_heads
from .blocks import FeedForward, RMSNorm, SwiGLU, TransformerDecoderLayer, TransformerEncoderLayer
from .counts import (
    decoder_layer_parameter_count,
    encoder_layer_parameter_count,
    feedforward_parameter_count,
    gpt_parameter_count,
    mha_flops,
    mha_parameter_count,
    norm_parameter_count,
    transformer_parameter_count,
)
from .gpt import GPT, GPTConfig
from .positions import LearnedPositions, apply_rope, rope_angles, sinusoidal_positions
from .transformer import Transformer

__all__ = [
    "GPT",
    "FeedForward",
    "GPTConfig",
    "KVCache",
    "LearnedPositions",
    "MultiHeadAttention",
    "RMSNorm",
    "SwiGLU",
    "Transformer",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "apply_rope",
    "bottom_right_causal_mask",
    "decoder_layer_parameter_count",
    "encoder_layer_parameter_count",
    "feedforward_parameter_count",
    "gpt_parameter_count",
    "merge_heads",
    "mha_flops",
    "mha_parameter_count",
    "norm_parameter_count",
    "rope_angles",
    "sinusoidal_positions",
    "split_heads",
    "transformer_parameter_count",
]
