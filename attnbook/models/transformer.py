"""The encoder–decoder Transformer (Vaswani et al. 2017), equal to ``torch.nn.Transformer``.

Like ``nn.Transformer`` it works on embedded inputs ``(batch, n, d_model)`` (the token
embeddings, positions and output layer belong to the model that wraps it) and ends each stack
with a LayerNorm (torch adds it for post-norm too; the 2017 paper's post-norm model has none).

Mask translation from ``torch.nn.Transformer`` (True = blocked) to ours (True = may attend):

* ``src_key_padding_mask`` (batch, n_src), True = padding → ``src_mask = ~pad[:, None, None, :]``;
  the same for ``memory_key_padding_mask`` → ``memory_mask``;
* ``tgt_key_padding_mask`` → ``~pad[:, None, None, :]``, combined with a causal mask by ``&``
  (or pass ``tgt_is_causal=True``);
* a boolean ``tgt_mask`` / ``src_mask`` / ``memory_mask`` → ``~mask``; a float additive mask
  (0 = keep, -inf = blocked, as ``nn.Transformer.generate_square_subsequent_mask`` makes) →
  ``mask == 0``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import TransformerDecoderLayer, TransformerEncoderLayer


class Transformer(nn.Module):
    """Encoder and decoder stacks with final LayerNorms; arguments as ``torch.nn.Transformer`` (batch-first).

    ``encode(src, src_mask)`` → memory (batch, n_src, d_model);
    ``decode(tgt, memory, tgt_mask, memory_mask, tgt_is_causal)`` → (batch, n_tgt, d_model);
    ``forward(src, tgt, ...)`` does both. Masks are boolean, True = may attend, broadcasting to
    (batch, heads, n_queries, n_keys): ``src_mask`` for encoder self-attention, ``tgt_mask`` for
    decoder self-attention, ``memory_mask`` for cross-attention (usually the source padding
    mask). ``decode(..., need_weights=True)`` also returns the per-layer cross-attention weights
    (batch, heads, n_tgt, n_src), for alignment heatmaps.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        self.d_model = d_model
        self.nhead = nhead
        layer_args = dict(
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            norm_first=norm_first,
            bias=bias,
        )
        self.encoder_layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, nhead, **layer_args) for _ in range(num_encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.decoder_layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, nhead, **layer_args) for _ in range(num_decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform for every matrix, as ``nn.Transformer`` does."""
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the encoder stack on embedded ``src`` (batch, n_src, d_model); returns the memory."""
        _check_embedded("src", src, self.d_model)
        x = src
        for layer in self.encoder_layers:
            x = layer(x, src_mask)
        return self.encoder_norm(x)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        tgt_is_causal: bool = False,
        *,
        need_weights: bool = False,
    ):
        """Run the decoder stack on embedded ``tgt`` (batch, n_tgt, d_model) attending to ``memory``.

        Returns (batch, n_tgt, d_model), or ``(output, cross_weights)`` when ``need_weights``:
        a list with one (batch, heads, n_tgt, n_src) tensor per decoder layer.
        """
        _check_embedded("tgt", tgt, self.d_model)
        _check_embedded("memory", memory, self.d_model)
        if tgt.shape[0] != memory.shape[0]:
            raise ValueError(f"tgt {tuple(tgt.shape)} and memory {tuple(memory.shape)} need one batch size")
        x = tgt
        cross_weights = []
        for layer in self.decoder_layers:
            if need_weights:
                x, (_, weights) = layer(x, memory, tgt_mask, memory_mask, tgt_is_causal, need_weights=True)
                cross_weights.append(weights)
            else:
                x = layer(x, memory, tgt_mask, memory_mask, tgt_is_causal)
        x = self.decoder_norm(x)
        return (x, cross_weights) if need_weights else x

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        tgt_is_causal: bool = False,
    ) -> torch.Tensor:
        """Encode ``src``, decode ``tgt``; returns (batch, n_tgt, d_model)."""
        memory = self.encode(src, src_mask)
        return self.decode(tgt, memory, tgt_mask, memory_mask, tgt_is_causal)

    @classmethod
    def from_torch(cls, t: nn.Transformer) -> Transformer:
        """A copy of a ``torch.nn.Transformer`` whose output equals its output (transpose if not batch_first).

        Masks translate as in this module's docstring. Every layer is copied with the layers'
        ``from_torch``; both final norms are copied.
        """
        if not isinstance(t, nn.Transformer):
            raise ValueError(f"from_torch expects an nn.Transformer; got {type(t).__name__}")
        if t.encoder.norm is None or t.decoder.norm is None:
            raise ValueError("only an nn.Transformer with its final encoder and decoder norms can be copied")
        first = t.encoder.layers[0]
        ours = cls(
            d_model=t.d_model,
            nhead=t.nhead,
            num_encoder_layers=len(t.encoder.layers),
            num_decoder_layers=len(t.decoder.layers),
            dim_feedforward=first.linear1.out_features,
            dropout=first.dropout.p,
            layer_norm_eps=first.norm1.eps,
            norm_first=first.norm_first,
            bias=first.linear1.bias is not None,
        )
        ours.encoder_layers = nn.ModuleList(TransformerEncoderLayer.from_torch(layer) for layer in t.encoder.layers)
        ours.decoder_layers = nn.ModuleList(TransformerDecoderLayer.from_torch(layer) for layer in t.decoder.layers)
        reference = first.linear1.weight
        ours.to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            for target, source in ((ours.encoder_norm, t.encoder.norm), (ours.decoder_norm, t.decoder.norm)):
                target.weight.copy_(source.weight)
                if source.bias is not None:
                    target.bias.copy_(source.bias)
        ours.train(t.training)
        return ours


def _check_embedded(name: str, x: torch.Tensor, d_model: int) -> None:
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(
            f"{name} must be embedded, of shape (batch, n, d_model={d_model}) (batch-first); got shape {tuple(x.shape)}"
        )
