"""A decoder-only language model (GPT): token embeddings, pre-norm causal blocks, a tied output layer.

One class covers GPT-2 (Radford et al. 2019: LayerNorm, GELU, learned positions, biases) and the
Llama style (Touvron et al. 2023: RMSNorm, SwiGLU, rotary positions, no biases) through
:class:`GPTConfig`. Both are pre-norm: ``x = x + attention(norm(x))``, ``x = x + mlp(norm(x))``,
with a final norm before the output layer.

Generation with a KV cache (:meth:`GPT.generate`): the first step runs the prompt through the
model and stores every layer's keys and values; each later step feeds only the newest token,
which attends to the cached keys and values. Greedy decoding gives the same tokens with and
without the cache. Once the text is longer than ``context_length``, both crop it to its last
``context_length`` tokens; every position then shifts at each step, so the cache is rebuilt
from the cropped window (exactly what recomputation does, but no faster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import KVCache
from .blocks import ACTIVATIONS, NORMS, TransformerEncoderLayer, make_norm
from .positions import LearnedPositions, sinusoidal_positions

POSITIONS = ("learned", "rope", "sinusoidal", "none")


@dataclass
class GPTConfig:
    """Hyper-parameters of :class:`GPT`.

    ``dim_feedforward=None`` means ``4 * d_model`` for relu/gelu and, for swiglu, about
    ``8/3 * d_model`` rounded up to a multiple of 8 (three matrices instead of two, so about
    the same parameters). ``positions``: ``"learned"`` (GPT-2), ``"rope"`` (Llama),
    ``"sinusoidal"`` (the 2017 paper) or ``"none"``.
    """

    vocab_size: int
    context_length: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 4
    num_kv_heads: int | None = None
    dim_feedforward: int | None = None
    dropout: float = 0.0
    bias: bool = True
    norm: str = "layernorm"
    activation: str = "gelu"
    positions: str = "learned"
    tie_weights: bool = True
    use_sdpa: bool = False
    rope_theta: float = 10000.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        if self.vocab_size < 1 or self.context_length < 1 or self.num_layers < 0:
            raise ValueError(
                f"need vocab_size >= 1, context_length >= 1, num_layers >= 0; got vocab_size={self.vocab_size}, "
                f"context_length={self.context_length}, num_layers={self.num_layers}"
            )
        if self.num_heads < 1 or self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model must be divisible by num_heads: got d_model={self.d_model}, num_heads={self.num_heads}"
            )
        kv_heads = self.num_heads if self.num_kv_heads is None else self.num_kv_heads
        if kv_heads < 1 or self.num_heads % kv_heads != 0:
            raise ValueError(
                f"num_heads must be divisible by num_kv_heads: got num_heads={self.num_heads}, "
                f"num_kv_heads={self.num_kv_heads}"
            )
        for field, value, choices in (
            ("norm", self.norm, NORMS),
            ("activation", self.activation, ACTIVATIONS),
            ("positions", self.positions, POSITIONS),
        ):
            if value not in choices:
                raise ValueError(f"{field} must be one of {choices}; got {value!r}")
        if self.positions == "rope" and self.d_head % 2 != 0:
            raise ValueError(
                f"rotary positions need an even d_head; got d_head={self.d_head} "
                f"(d_model={self.d_model} / num_heads={self.num_heads})"
            )

    @property
    def d_head(self) -> int:
        return self.d_model // self.num_heads

    @property
    def feedforward_size(self) -> int:
        """``dim_feedforward``, or its default (see the class docstring)."""
        if self.dim_feedforward is not None:
            return self.dim_feedforward
        if self.activation == "swiglu":
            return 8 * math.ceil(8 * self.d_model / 3 / 8)
        return 4 * self.d_model

    @classmethod
    def gpt2_small(cls, **overrides) -> GPTConfig:
        """GPT-2 small: 50257 tokens, 1024 positions, d_model 768, 12 heads, 12 layers (124M parameters, tied)."""
        settings = dict(
            vocab_size=50257, context_length=1024, d_model=768, num_heads=12, num_layers=12,
            activation="gelu", norm="layernorm", positions="learned", bias=True, tie_weights=True,
        )
        return cls(**{**settings, **overrides})

    @classmethod
    def llama_style(cls, **settings) -> GPTConfig:
        """Llama-style variant: RMSNorm, SwiGLU, rotary positions, no biases; pass vocab_size, context_length, ..."""
        defaults = dict(norm="rmsnorm", activation="swiglu", positions="rope", bias=False)
        return cls(**{**defaults, **settings})


class GPT(nn.Module):
    """Decoder-only Transformer language model.

    Submodules: ``token_embedding``, ``position_embedding`` (learned positions only), ``layers``
    (pre-norm :class:`attnbook.TransformerEncoderLayer` blocks with causal self-attention),
    ``final_norm``, ``lm_head`` (its weight is ``token_embedding.weight`` when ``tie_weights``).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        c = config
        self.token_embedding = nn.Embedding(c.vocab_size, c.d_model)
        if c.positions == "learned":
            self.position_embedding = LearnedPositions(c.context_length, c.d_model)
        if c.positions == "sinusoidal":
            self.register_buffer("sinusoidal", sinusoidal_positions(c.context_length, c.d_model), persistent=False)
        self.dropout = nn.Dropout(c.dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                c.d_model,
                c.num_heads,
                dim_feedforward=c.feedforward_size,
                dropout=c.dropout,
                activation=c.activation,
                layer_norm_eps=c.layer_norm_eps,
                norm_first=True,
                bias=c.bias,
                num_kv_heads=c.num_kv_heads,
                norm=c.norm,
                rope_theta=c.rope_theta if c.positions == "rope" else None,
                use_sdpa=c.use_sdpa,
            )
            for _ in range(c.num_layers)
        )
        self.final_norm = make_norm(c.norm, c.d_model, c.layer_norm_eps, c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():  # GPT-2: scale the residual projections
            if name.endswith(("out_proj.weight", "ff.linear2.weight")):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * max(c.num_layers, 1)))
        if c.tie_weights:
            self.lm_head.weight = self.token_embedding.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation: normal(0, 0.02) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Number of trained parameters (a tied matrix counts once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, return_weights: bool = False):
        """Logits for every position of ``idx`` (batch, n) long, n <= context_length.

        Returns ``(logits (batch, n, vocab), loss)``: the mean cross-entropy against
        ``targets`` (batch, n) (entries equal to -100 are ignored), or None without targets.
        With ``return_weights`` also a list of per-layer attention weights (batch, heads, n, n).
        """
        self._check_tokens(idx)
        if idx.shape[1] > self.config.context_length:
            raise ValueError(
                f"sequence of length {idx.shape[1]} is longer than the context length "
                f"{self.config.context_length}; crop it to idx[:, -{self.config.context_length}:]"
            )
        result = self._run(idx, caches=None, need_weights=return_weights)
        logits, weights = result if return_weights else (result, None)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets of shape {tuple(targets.shape)} must match idx of shape {tuple(idx.shape)}")
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return (logits, loss, weights) if return_weights else (logits, loss)

    def _run(self, idx: torch.Tensor, caches: list[KVCache] | None, need_weights: bool = False):
        """Logits for the tokens ``idx`` (batch, n), which follow the ``caches[0].length`` cached tokens."""
        offset = 0 if caches is None else caches[0].length
        n = idx.shape[1]
        x = self.token_embedding(idx)  # (batch, n, d_model)
        if self.config.positions == "learned":
            x = x + self.position_embedding(n, offset)
        elif self.config.positions == "sinusoidal":
            x = x + self.sinusoidal[offset : offset + n]
        x = self.dropout(x)
        positions = torch.arange(offset, offset + n, device=idx.device)  # used by RoPE
        all_weights = []
        for i, layer in enumerate(self.layers):
            cache = None if caches is None else caches[i]
            result = layer(x, is_causal=True, positions=positions, cache=cache, need_weights=need_weights)
            if need_weights:
                x, weights = result
                all_weights.append(weights)
            else:
                x = result
        logits = self.lm_head(self.final_norm(x))  # (batch, n, vocab)
        return (logits, all_weights) if need_weights else logits

    def _check_tokens(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.dtype not in (torch.int64, torch.int32):
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(
                f"idx must be an integer tensor of shape (batch, n); got {shape} "
                f"of dtype {getattr(idx, 'dtype', None)}"
            )
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must be in 0..{self.config.vocab_size - 1} (vocab_size={self.config.vocab_size}); "
                f"got ids from {int(idx.min())} to {int(idx.max())}"
            )

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` tokens to ``idx`` (batch, n); returns (batch, n + max_new_tokens).

        ``temperature=0`` is greedy (argmax); otherwise sample from ``softmax(logits / temperature)``
        restricted to the ``top_k`` most likely tokens if given, using ``generator``. Runs in eval
        mode (no dropout) and restores the previous mode. ``use_cache`` feeds only the newest
        token at each step (see the module docstring); the tokens are the same either way.
        """
        self._check_tokens(idx)
        if idx.shape[1] < 1:
            raise ValueError("generate needs a prompt of at least one token per row; got n=0")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy); got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None; got {top_k}")
        was_training = self.training
        self.eval()
        context = self.config.context_length
        caches = None
        for _ in range(max_new_tokens):
            window = idx[:, -context:]  # crop to the context length
            if not use_cache:
                logits = self._run(window, caches=None)
            elif caches is None or caches[0].length >= context:  # first step, or the window moved: rebuild
                caches = [KVCache() for _ in self.layers]
                logits = self._run(window, caches)
            else:
                logits = self._run(idx[:, -1:], caches)  # only the newest token
            next_token = self._pick(logits[:, -1, :], temperature, top_k, generator)  # (batch, 1)
            idx = torch.cat((idx, next_token), dim=1)
        self.train(was_training)
        return idx

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, generator) -> torch.Tensor:
        """Next token ids (batch, 1) from the last position's logits (batch, vocab)."""
        if temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)
        logits = logits / temperature
        if top_k is not None:
            kth_largest = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (batch, 1)
            logits = logits.masked_fill(logits < kth_largest, float("-inf"))
        probabilities = F.softmax(logits, dim=-1)
        return torch.multinomial(probabilities, num_samples=1, generator=generator)
