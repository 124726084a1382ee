"""attnbook: the reusable code of *Attention, from Scratch to GPU*.

Chapters build each idea step by step in the notebook, then import the package's copy
(tests keep the two in step), so later chapters reuse one source of truth.
"""

from . import data  # attnbook.data: data generators made in code
from .attention import causal_mask, padding_mask, scaled_dot_product_attention
from .device import pick_device
from .interpret import (  # chapter 6, part 2: interpretability and length
    AttentionOnlyTransformer,
    RepeatedSegments,
    ablate_heads,
    alibi_bias,
    alibi_slopes,
    attention_entropy,
    attention_layers,
    attention_rollout,
    gradient_x_input,
    head_output_means,
    induction_score,
    previous_token_score,
    repeated_segment_batch,
)
from .jacobian import attention_backward, softmax_backward, softmax_jacobian
from .kernels import (  # chapter 6: efficient attention
    flash_attention,
    flash_attention_forward,
    flash_attention_numpy,
    linear_attention,
    linear_attention_recurrent,
    merge_attention_partials,
    ring_attention,
    run_ring_attention,
    sliding_window_mask,
    triton_flash_attention,
)
from .models import (
    GPT,
    FeedForward,
    GPTConfig,
    KVCache,
    LearnedPositions,
    MultiHeadAttention,
    RMSNorm,
    SwiGLU,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    apply_rope,
    gpt_parameter_count,
    merge_heads,
    mha_flops,
    mha_parameter_count,
    sinusoidal_positions,
    split_heads,
    transformer_parameter_count,
)
from .models.classifier import TransformerClassifier  # chapter 5
from .models.sasrec import SASRec
from .models.translator import Seq2SeqTransformer
from .models.vit import VisionTransformer, patchify
from .online import merge_softmax_stats, online_softmax, online_softmax_stats
from .plotting import show_heatmap
from .pooling import LearnedBandwidthPooling, gaussian_kernel_weights, leave_one_out_mask, nadaraya_watson
from .scoring import (
    AdditiveScorer,
    Attention,
    CosineScorer,
    DotProductScorer,
    MultiplicativeScorer,
    ScaledDotProductScorer,
)
from .softmax import log_softmax, logsumexp, softmax
from .sparsemax import sparsemax
from .training import train

__version__ = "0.1.0"

__all__ = [
    "FeedForward",
    "GPT",
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
    "gpt_parameter_count",
    "merge_heads",
    "mha_flops",
    "mha_parameter_count",
    "sinusoidal_positions",
    "split_heads",
    "transformer_parameter_count",
    "flash_attention",
    "flash_attention_forward",
    "flash_attention_numpy",
    "linear_attention",
    "linear_attention_recurrent",
    "merge_attention_partials",
    "ring_attention",
    "run_ring_attention",
    "sliding_window_mask",
    "triton_flash_attention",
    "AdditiveScorer",
    "Attention",
    "CosineScorer",
    "DotProductScorer",
    "LearnedBandwidthPooling",
    "MultiplicativeScorer",
    "ScaledDotProductScorer",
    "attention_backward",
    "causal_mask",
    "gaussian_kernel_weights",
    "leave_one_out_mask",
    "log_softmax",
    "logsumexp",
    "merge_softmax_stats",
    "nadaraya_watson",
    "online_softmax",
    "online_softmax_stats",
    "padding_mask",
    "pick_device",
    "scaled_dot_product_attention",
    "show_heatmap",
    "softmax",
    "softmax_backward",
    "softmax_jacobian",
    "sparsemax",
    "train",
    "Seq2SeqTransformer",
    "SASRec",
    "TransformerClassifier",
    "VisionTransformer",
    "patchify",
    "data",
    "AttentionOnlyTransformer",
    "RepeatedSegments",
    "ablate_heads",
    "alibi_bias",
    "alibi_slopes",
    "attention_entropy",
    "attention_layers",
    "attention_rollout",
    "gradient_x_input",
    "head_output_means",
    "induction_score",
    "previous_token_score",
    "repeated_segment_batch",
]
