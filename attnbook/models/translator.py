"""A complete encoder–decoder translation model around :class:`attnbook.Transformer` (chapter 4, section 5).

``Seq2SeqTransformer`` adds what ``nn.Transformer`` leaves to the user, as in Vaswani et al.
(2017): one token embedding shared by source and target and tied to the output layer (the
vocabulary is shared), embeddings scaled by ``sqrt(d_model)``, sinusoidal positions, the masks
(source padding for the encoder and for cross-attention, causal for the decoder), a
teacher-forced loss with label smoothing, and greedy decoding.

Token ids: ``pad_id`` pads sources and targets; a target is ``BOS, tokens..., EOS``. Shapes:

    src         (batch, n_src)            int64
    tgt         (batch, n_tgt)            int64, BOS ... EOS (then PAD)
    logits      (batch, n_tgt, vocab)
    weights     list over decoder layers of (batch, heads, n_tgt, n_src)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention
from .positions import sinusoidal_positions
from .transformer import Transformer

__all__ = ["Seq2SeqTransformer"]


class Seq2SeqTransformer(nn.Module):
    """Embeddings + sinusoidal positions + :class:`attnbook.Transformer` + tied output layer.

    Args:
        vocab_size: size of the shared source/target vocabulary.
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
            activation, norm_first: passed to :class:`attnbook.Transformer`.
        max_len: the longest source or target sequence (size of the position table).
        pad_id, bos_id, eos_id: the special token ids.
        use_sdpa: compute attention with ``F.scaled_dot_product_attention`` (same result, faster;
            calls that ask for the weights still use the book's attention, which returns them).
    """

    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = True, max_len: int = 64,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, use_sdpa: bool = False):
        super().__init__()
        if len({pad_id, bos_id, eos_id}) != 3 or not all(0 <= i < vocab_size for i in (pad_id, bos_id, eos_id)):
            raise ValueError(f"pad_id, bos_id, eos_id must be distinct ids below vocab_size={vocab_size}; "
                             f"got {pad_id}, {bos_id}, {eos_id}")
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.embedding = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)  # times sqrt(d_model): unit scale
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                       dropout, activation, norm_first=norm_first)
        for module in self.transformer.modules():
            if isinstance(module, MultiHeadAttention):
                module.use_sdpa = use_sdpa
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, vocab_size, bias=False)
        self.output.weight = self.embedding.weight  # tied: one V x d matrix for all three uses

    def _check_tokens(self, name: str, tokens: torch.Tensor) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 tensor (batch, n); got "
                             f"{getattr(tokens, 'shape', type(tokens).__name__)} {getattr(tokens, 'dtype', '')}")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"{name} has length {tokens.shape[1]} > max_len={self.max_len}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"{name} ids must be in 0..{self.vocab_size - 1}; got {int(tokens.min())}..{int(tokens.max())}")

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token embedding times sqrt(d_model) plus sinusoidal positions: (batch, n) -> (batch, n, d_model)."""
        n = tokens.shape[1]
        return self.dropout(self.embedding(tokens) * math.sqrt(self.d_model) + self.positions[:n])

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """(batch, 1, 1, n_src) boolean, True where the source is a real token (not padding)."""
        return (src != self.pad_id)[:, None, None, :]

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """Memory (batch, n_src, d_model) for source ids (batch, n_src)."""
        self._check_tokens("src", src)
        return self.transformer.encode(self.embed(src), self.source_mask(src))

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, need_weights: bool = False):
        """Logits (batch, n_tgt, vocab) for decoder inputs ``tgt_in``; causal, cross-attending to ``memory``.

        With ``need_weights`` returns ``(logits, cross_weights)``, one (batch, heads, n_tgt, n_src)
        tensor per decoder layer.
        """
        self._check_tokens("tgt", tgt_in)
        result = self.transformer.decode(self.embed(tgt_in), memory, memory_mask=src_mask, tgt_is_causal=True,
                                         need_weights=need_weights)
        hidden, weights = result if need_weights else (result, None)
        logits = self.output(hidden)  # (batch, n_tgt, vocab)
        return (logits, weights) if need_weights else logits

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (batch, n_tgt, vocab) for every position of ``tgt_in`` at once."""
        return self.decode(tgt_in, self.encode(src), self.source_mask(src))

    def loss(self, src: torch.Tensor, tgt: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean cross-entropy of predicting ``tgt[:, 1:]`` from ``tgt[:, :-1]`` (padding ignored).

        ``F.cross_entropy(label_smoothing=eps)`` mixes the one-hot target with a uniform
        distribution over the vocabulary; it works on log-softmax, so no ``log(0)`` appears.
        """
        if src.shape[0] != tgt.shape[0] or tgt.ndim != 2 or tgt.shape[1] < 2:
            raise ValueError(f"need src (batch, n_src) and tgt (batch, n_tgt >= 2) with one batch size; got "
                             f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        logits = self(src, tgt[:, :-1])  # (batch, n_tgt - 1, vocab)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), tgt[:, 1:].reshape(-1),
                               ignore_index=self.pad_id, label_smoothing=label_smoothing)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int | None = None, need_weights: bool = False):
        """The most likely token at each step, fed back in, until every row has produced EOS.

        Returns tokens (batch, n_out) without the leading BOS (after EOS a row holds PAD); with
        ``need_weights`` also the last decoder layer's cross-attention weights
        (batch, heads, n_out, n_src) of the final step's pass.
        """
        was_training = self.training
        self.eval()
        max_len = self.max_len - 1 if max_len is None else max_len
        if not 1 <= max_len < self.max_len:
            raise ValueError(f"max_len must be in 1..{self.max_len - 1}; got {max_len}")
        memory, src_mask = self.encode(src), self.source_mask(src)
        ys = torch.full((src.shape[0], 1), self.bos_id, dtype=torch.int64, device=src.device)  # (batch, 1)
        finished = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.decode(ys, memory, src_mask)[:, -1]  # (batch, vocab): only the last position
            next_token = logits.argmax(dim=-1)  # (batch,)
            next_token = torch.where(finished, torch.full_like(next_token, self.pad_id), next_token)
            ys = torch.cat([ys, next_token[:, None]], dim=1)
            finished |= next_token == self.eos_id
            if finished.all():
                break
        self.train(was_training)
        tokens = ys[:, 1:]
        if not need_weights:
            return tokens
        _, weights = self.decode(ys[:, :-1], memory, src_mask, need_weights=True)
        return tokens, weights[-1]
