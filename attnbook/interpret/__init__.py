"""Chapter 6, part 2: tools to look inside attention models, and to test what they show.

- :mod:`.maps`: :func:`attention_rollout` (Abnar & Zuidema 2020), :func:`gradient_x_input`,
  :func:`attention_entropy`;
- :mod:`.alibi`: :func:`alibi_slopes`, :func:`alibi_bias` (Press et al. 2021), usable as
  ``MultiHeadAttention(..., score_bias=...)``;
- :mod:`.induction`: the repeated-segment data of the induction-head experiment
  (:func:`repeated_segment_batch`) and per-head scores (:func:`previous_token_score`,
  :func:`induction_score`);
- :mod:`.ablation`: :func:`ablate_heads`, which zeroes or mean-ablates chosen heads through
  forward hooks, without touching the model's code;
- :mod:`.tiny`: :class:`AttentionOnlyTransformer`, a small causal model with no MLPs and five
  kinds of positions (learned, sinusoidal, RoPE, ALiBi, none).

All public names are exported flat from ``attnbook`` as well.
"""

from .ablation import ablate_heads, attention_layers, head_output_means
from .alibi import alibi_bias, alibi_slopes
from .induction import RepeatedSegments, induction_score, previous_token_score, repeated_segment_batch
from .maps import attention_entropy, attention_rollout, gradient_x_input
from .tiny import POSITION_KINDS, AttentionOnlyTransformer

__all__ = [
    "POSITION_KINDS",
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
