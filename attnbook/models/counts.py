"""Parameter and FLOP counts as formulas (pure arithmetic, no modules).

The tests check each parameter formula against ``sum(p.numel() for p in module.parameters())``
of the matching module, so a chapter can compute the size of a model it never builds (the
2017 Transformer base and big, GPT-2 small).

Notation: ``d`` = d_model, ``h`` = num_heads, ``d_head = d / h``, ``h_kv`` = num_kv_heads,
``ff`` = dim_feedforward, ``V`` = vocabulary size.
"""

from __future__ import annotations

from .blocks import ACTIVATIONS, NORMS


def _heads(d_model: int, num_heads: int, num_kv_heads: int | None) -> tuple[int, int]:
    """``(d_head, num_kv_heads)``, with the same divisibility checks as the attention module."""
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads < 1 or d_model % num_heads != 0:
        raise ValueError(f"d_model must be divisible by num_heads: got d_model={d_model}, num_heads={num_heads}")
    if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
        raise ValueError(
            f"num_heads must be divisible by num_kv_heads: got num_heads={num_heads}, num_kv_heads={num_kv_heads}"
        )
    return d_model // num_heads, num_kv_heads


def mha_parameter_count(
    d_model: int,
    num_heads: int,
    num_kv_heads: int | None = None,
    bias: bool = True,
    kdim: int | None = None,
    vdim: int | None = None,
) -> int:
    """Parameters of :class:`attnbook.MultiHeadAttention`.

    ``W_Q`` and ``W_O`` are d × d; ``W_K`` is kdim × (h_kv·d_head) and ``W_V`` vdim × (h_kv·d_head);
    plus one bias per output feature. Classic MHA (h_kv = h, kdim = vdim = d): ``4d² + 4d``.
    """
    d_head, num_kv_heads = _heads(d_model, num_heads, num_kv_heads)
    kdim = d_model if kdim is None else kdim
    vdim = d_model if vdim is None else vdim
    kv_features = num_kv_heads * d_head
    weights = d_model * d_model + kdim * kv_features + vdim * kv_features + d_model * d_model
    biases = (d_model + 2 * kv_features + d_model) if bias else 0
    return weights + biases


def mha_flops(
    n_q: int,
    n_k: int,
    d_model: int,
    num_heads: int,
    num_kv_heads: int | None = None,
    kdim: int | None = None,
    vdim: int | None = None,
) -> int:
    """Floating-point operations of one forward pass of multi-head attention, batch size 1.

    Counted as 2 × multiply-adds of the matrix products (the convention of
    ``torch.utils.flop_counter``): projections ``n_q·d·d`` (Q), ``n_k·kdim·h_kv·d_head`` (K),
    ``n_k·vdim·h_kv·d_head`` (V), ``n_q·d·d`` (output); scores ``h·n_q·n_k·d_head = n_q·n_k·d``;
    weights @ V another ``n_q·n_k·d``. Softmax, scaling and bias additions (O(h·n_q·n_k) and
    O(n·d)) are left out. For self-attention (n_q = n_k = n): ``2·(4·n·d² + 2·n²·d)``.
    """
    d_head, num_kv_heads = _heads(d_model, num_heads, num_kv_heads)
    kdim = d_model if kdim is None else kdim
    vdim = d_model if vdim is None else vdim
    kv_features = num_kv_heads * d_head
    projections = n_q * d_model * d_model + n_k * kdim * kv_features + n_k * vdim * kv_features
    projections += n_q * d_model * d_model  # output projection
    attention = 2 * n_q * n_k * d_model  # q k^T and weights @ v, summed over heads
    return 2 * (projections + attention)


def norm_parameter_count(d_model: int, norm: str = "layernorm", bias: bool = True) -> int:
    """LayerNorm: a scale and a shift per feature (2d, or d without bias); RMSNorm: a scale only (d)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    return 2 * d_model if norm == "layernorm" and bias else d_model


def feedforward_parameter_count(d_model: int, dim_feedforward: int, activation: str = "relu", bias: bool = True) -> int:
    """Two matrices d × ff and ff × d (+ biases ff and d); SwiGLU has a third d × ff matrix (+ ff)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
    matrices = 3 if activation == "swiglu" else 2
    biases = ((matrices - 1) * dim_feedforward + d_model) if bias else 0
    return matrices * d_model * dim_feedforward + biases


def encoder_layer_parameter_count(
    d_model: int,
    nhead: int,
    dim_feedforward: int,
    bias: bool = True,
    activation: str = "relu",
    norm: str = "layernorm",
    num_kv_heads: int | None = None,
) -> int:
    """One :class:`attnbook.TransformerEncoderLayer`: self-attention + feed-forward + 2 norms."""
    return (
        mha_parameter_count(d_model, nhead, num_kv_heads, bias)
        + feedforward_parameter_count(d_model, dim_feedforward, activation, bias)
        + 2 * norm_parameter_count(d_model, norm, bias)
    )


def decoder_layer_parameter_count(
    d_model: int,
    nhead: int,
    dim_feedforward: int,
    bias: bool = True,
    activation: str = "relu",
    norm: str = "layernorm",
    num_kv_heads: int | None = None,
) -> int:
    """One :class:`attnbook.TransformerDecoderLayer`: self- and cross-attention + feed-forward + 3 norms."""
    return (
        2 * mha_parameter_count(d_model, nhead, num_kv_heads, bias)
        + feedforward_parameter_count(d_model, dim_feedforward, activation, bias)
        + 3 * norm_parameter_count(d_model, norm, bias)
    )


def transformer_parameter_count(
    d_model: int = 512,
    nhead: int = 8,
    num_encoder_layers: int = 6,
    num_decoder_layers: int = 6,
    dim_feedforward: int = 2048,
    bias: bool = True,
    vocab_size: int = 0,
    tie_embeddings: bool = True,
    final_norms: bool = True,
    output_bias: bool = False,
) -> int:
    """Encoder–decoder Transformer with a shared vocabulary of ``vocab_size`` tokens.

    ``vocab_size=0`` counts only the stacks (what ``nn.Transformer`` / :class:`attnbook.Transformer`
    hold). With a vocabulary: ``tie_embeddings=True`` shares one V × d matrix between the source
    embedding, the target embedding and the pre-softmax output layer (Vaswani et al. 2017,
    section 3.4); ``False`` counts three. Sinusoidal positions add no parameters.
    ``final_norms``: the LayerNorm after each stack that ``nn.Transformer`` has.
    ``output_bias``: a V-vector bias on the output layer.
    """
    stacks = num_encoder_layers * encoder_layer_parameter_count(d_model, nhead, dim_feedforward, bias)
    stacks += num_decoder_layers * decoder_layer_parameter_count(d_model, nhead, dim_feedforward, bias)
    if final_norms:
        stacks += 2 * norm_parameter_count(d_model, "layernorm", bias)
    embeddings = (1 if tie_embeddings else 3) * vocab_size * d_model
    return stacks + embeddings + (vocab_size if output_bias else 0)


def gpt_parameter_count(config) -> int:
    """Parameters of :class:`attnbook.GPT` built from ``config`` (a :class:`attnbook.GPTConfig`).

    Token embedding V·d; learned positions context·d (none for rope, sinusoidal, none);
    per layer one pre-norm block; a final norm; the output layer V·d unless tied.
    """
    c = config
    blocks = c.num_layers * encoder_layer_parameter_count(
        c.d_model, c.num_heads, c.feedforward_size, c.bias, c.activation, c.norm, c.num_kv_heads
    )
    token_embedding = c.vocab_size * c.d_model
    positions = c.context_length * c.d_model if c.positions == "learned" else 0
    lm_head = 0 if c.tie_weights else c.vocab_size * c.d_model
    return token_embedding + positions + blocks + norm_parameter_count(c.d_model, c.norm, c.bias) + lm_head
