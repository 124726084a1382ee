"""attnbook: the reusable code of *Attention, from Scratch to GPU*.

Chapters build each idea step by step in the notebook, then import the package's copy
(tests keep the two in step), so later chapters reuse one source of truth.
"""

from .attention import causal_mask, padding_mask, scaled_dot_product_attention
from .device import pick_device
from .jacobian import attention_backward, softmax_backward, softmax_jacobian
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

__version__ = "0.1.0"

__all__ = [
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
]
