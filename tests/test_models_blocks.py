"""Unit tests for attnbook/models/blocks.py, transformer.py and the parameter formulas of counts.py.

The references are ``torch.nn.TransformerEncoderLayer``, ``TransformerDecoderLayer``,
``Transformer`` and ``RMSNorm``, copied with ``from_torch``. Torch's masks say True = blocked;
ours say True = may attend, so every comparison converts them (``~mask``, ``mask == 0``).
Outputs at padded source positions are not compared: torch's fast path may zero them.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attnbook
from attnbook import RMSNorm, SwiGLU, Transformer, TransformerDecoderLayer, TransformerEncoderLayer
from attnbook.models import (
    FeedForward,
    decoder_layer_parameter_count,
    encoder_layer_parameter_count,
    feedforward_parameter_count,
    transformer_parameter_count,
)

D_MODEL, NHEAD, FF = 16, 4, 24
TOLERANCE = dict(rtol=1e-5, atol=2e-6)


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def padding(lengths, n):
    """Torch's key padding mask (batch, n), True = padding."""
    return torch.arange(n)[None, :] >= torch.tensor(lengths)[:, None]


def randomise_norms(module: nn.Module) -> None:
    """Give LayerNorms non-trivial weights and biases, so a wrong copy or a swapped norm shows."""
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.LayerNorm):
                sub.weight.copy_(1 + 0.3 * torch.randn(sub.weight.shape, generator=generator))
                if sub.bias is not None:
                    sub.bias.copy_(0.3 * torch.randn(sub.bias.shape, generator=generator))


LAYER_CASES = [  # (norm_first, activation, bias)
    (False, "relu", True),
    (True, "relu", True),
    (False, "gelu", True),
    (True, "gelu", False),
]


# ---------------------------------------------------------------- norms and feed-forward


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rmsnorm_equals_torch(dtype):
    reference = nn.RMSNorm(D_MODEL, eps=1e-6, dtype=dtype)
    with torch.no_grad():
        reference.weight.copy_(randn(D_MODEL, seed=1))
    ours = RMSNorm(D_MODEL, eps=1e-6).to(dtype)
    with torch.no_grad():
        ours.weight.copy_(reference.weight)
    x = 3 * randn(2, 5, D_MODEL, seed=2).to(dtype)
    tolerance = TOLERANCE if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x), reference(x), **tolerance)


def test_swiglu_formula_and_feedforward_variant():
    torch.manual_seed(0)
    swiglu = SwiGLU(D_MODEL, FF)
    x = randn(2, 3, D_MODEL)
    expected = F.silu(x @ swiglu.w1.weight.T) * (x @ swiglu.w3.weight.T) @ swiglu.w2.weight.T
    torch.testing.assert_close(swiglu(x), expected, **TOLERANCE)
    ff = FeedForward(D_MODEL, FF, activation="swiglu", bias=False)
    with torch.no_grad():
        ff.linear1.weight.copy_(swiglu.w1.weight)
        ff.linear3.weight.copy_(swiglu.w3.weight)
        ff.linear2.weight.copy_(swiglu.w2.weight)
    torch.testing.assert_close(ff(x), swiglu(x), **TOLERANCE)
    with pytest.raises(ValueError, match="'tanh'"):
        FeedForward(D_MODEL, FF, activation="tanh")


# ---------------------------------------------------------------- layers equal to torch.nn


@pytest.mark.parametrize("norm_first, activation, bias", LAYER_CASES)
def test_encoder_layer_equals_torch(norm_first, activation, bias):
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(
        D_MODEL, NHEAD, FF, dropout=0.0, activation=activation, norm_first=norm_first, bias=bias, batch_first=True
    ).eval()
    randomise_norms(reference)
    ours = TransformerEncoderLayer.from_torch(reference)
    assert not ours.training and ours.norm_first == norm_first
    x = randn(3, 6, D_MODEL, seed=1)
    pad = padding([6, 4, 2], 6)
    causal_blocked = torch.ones(6, 6, dtype=torch.bool).triu(1)  # boolean, True = blocked
    expected = reference(x, src_mask=causal_blocked, src_key_padding_mask=pad, is_causal=True)
    got = ours(x, src_mask=~pad[:, None, None, :], is_causal=True)
    valid = ~pad  # (batch, n): torch's fast path may zero the padded positions
    torch.testing.assert_close(got[valid], expected[valid], **TOLERANCE)
    additive = nn.Transformer.generate_square_subsequent_mask(6)  # float, -inf above the diagonal
    torch.testing.assert_close(ours(x, src_mask=additive == 0), reference(x, src_mask=additive), **TOLERANCE)
    torch.testing.assert_close(ours(x), reference(x), **TOLERANCE)


def test_encoder_layer_sequence_first_and_gradients_equal_torch():
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, activation="gelu")  # batch_first=False
    randomise_norms(reference)
    ours = TransformerEncoderLayer.from_torch(reference)
    x = randn(3, 5, D_MODEL, seed=1)
    x_ours, x_torch = x.clone().requires_grad_(), x.clone().requires_grad_()
    pad = padding([5, 3, 4], 5)
    got = ours(x_ours, src_mask=~pad[:, None, None, :])
    expected = reference(x_torch.transpose(0, 1), src_key_padding_mask=pad).transpose(0, 1)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    (got * randn(*got.shape, seed=2)).sum().backward()
    (expected * randn(*got.shape, seed=2)).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_torch.grad, **TOLERANCE)
    torch.testing.assert_close(ours.ff.linear1.weight.grad, reference.linear1.weight.grad, **TOLERANCE)


@pytest.mark.parametrize("norm_first, activation, bias", LAYER_CASES)
def test_decoder_layer_equals_torch(norm_first, activation, bias):
    torch.manual_seed(0)
    reference = nn.TransformerDecoderLayer(
        D_MODEL, NHEAD, FF, dropout=0.0, activation=activation, norm_first=norm_first, bias=bias, batch_first=True
    ).eval()
    randomise_norms(reference)
    ours = TransformerDecoderLayer.from_torch(reference)
    tgt, memory = randn(3, 5, D_MODEL, seed=1), randn(3, 7, D_MODEL, seed=2)
    memory_pad = padding([7, 3, 5], 7)
    causal_blocked = torch.ones(5, 5, dtype=torch.bool).triu(1)  # boolean, True = blocked
    expected = reference(tgt, memory, tgt_mask=causal_blocked, memory_key_padding_mask=memory_pad)
    memory_mask = ~memory_pad[:, None, None, :]
    torch.testing.assert_close(ours(tgt, memory, ~causal_blocked, memory_mask), expected, **TOLERANCE)
    torch.testing.assert_close(ours(tgt, memory, memory_mask=memory_mask, tgt_is_causal=True), expected, **TOLERANCE)
    got, (self_weights, cross_weights) = ours(tgt, memory, memory_mask=memory_mask, tgt_is_causal=True, need_weights=True)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert self_weights.shape == (3, NHEAD, 5, 5) and cross_weights.shape == (3, NHEAD, 5, 7)
    assert (cross_weights[1, :, :, 3:] == 0).all() and (self_weights.triu(1) == 0).all()


NESTED_TENSOR_NOTE = "ignore:enable_nested_tensor is True:UserWarning"  # torch's note on its own fast path


@pytest.mark.filterwarnings(NESTED_TENSOR_NOTE)
@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_equals_torch(norm_first, activation):
    torch.manual_seed(0)
    reference = nn.Transformer(
        D_MODEL, NHEAD, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF, dropout=0.0,
        activation=activation, norm_first=norm_first, batch_first=True,
    ).eval()
    randomise_norms(reference)
    ours = Transformer.from_torch(reference)
    assert len(ours.encoder_layers) == 2 and len(ours.decoder_layers) == 2
    src, tgt = randn(3, 7, D_MODEL, seed=1), randn(3, 5, D_MODEL, seed=2)
    src_pad, tgt_pad = padding([7, 4, 6], 7), padding([5, 5, 3], 5)
    causal_blocked = torch.ones(5, 5, dtype=torch.bool).triu(1)  # boolean, True = blocked
    expected = reference(
        src, tgt, tgt_mask=causal_blocked, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
        memory_key_padding_mask=src_pad, tgt_is_causal=True,
    )
    src_mask = ~src_pad[:, None, None, :]
    tgt_mask = ~causal_blocked & ~tgt_pad[:, None, None, :]
    got = ours(src, tgt, src_mask=src_mask, tgt_mask=tgt_mask, memory_mask=src_mask)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    memory = ours.encode(src, src_mask)
    decoded, cross = ours.decode(tgt, memory, tgt_mask, src_mask, need_weights=True)
    torch.testing.assert_close(decoded, got, **TOLERANCE)
    assert len(cross) == 2 and cross[0].shape == (3, NHEAD, 5, 7)


def test_post_norm_and_pre_norm_are_the_documented_formulas():
    torch.manual_seed(0)
    x = randn(2, 4, D_MODEL, seed=1)
    for norm_first in (False, True):
        layer = TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, norm_first=norm_first).eval()
        randomise_norms(layer)
        attend, ff, norm1, norm2 = layer.self_attn, layer.ff, layer.norm1, layer.norm2
        if norm_first:
            h = x + attend(norm1(x))
            expected = h + ff(norm2(h))
        else:
            h = norm1(x + attend(x))
            expected = norm2(h + ff(h))
        torch.testing.assert_close(layer(x), expected, **TOLERANCE)


def test_transformer_rejects_unembedded_input():
    model = Transformer(D_MODEL, NHEAD, 1, 1, FF)
    with pytest.raises(ValueError, match=r"d_model=16.*\(2, 5\)"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 3, D_MODEL))
    with pytest.raises(ValueError, match=r"d_model=10, num_heads=4"):
        TransformerEncoderLayer(10, 4)


# ---------------------------------------------------------------- parameter formulas


@pytest.mark.parametrize("activation, norm, bias, num_kv_heads", [
    ("relu", "layernorm", True, None), ("gelu", "layernorm", False, 2), ("swiglu", "rmsnorm", False, 1),
    ("swiglu", "layernorm", True, None),
])
def test_layer_parameter_formulas(activation, norm, bias, num_kv_heads):
    encoder = TransformerEncoderLayer(
        D_MODEL, NHEAD, FF, activation=activation, norm=norm, bias=bias, num_kv_heads=num_kv_heads
    )
    formula = encoder_layer_parameter_count(D_MODEL, NHEAD, FF, bias, activation, norm, num_kv_heads)
    assert numel(encoder) == formula
    assert numel(FeedForward(D_MODEL, FF, activation, bias=bias)) == feedforward_parameter_count(
        D_MODEL, FF, activation, bias
    )
    decoder = TransformerDecoderLayer(
        D_MODEL, NHEAD, FF, activation=activation, norm=norm, bias=bias, num_kv_heads=num_kv_heads
    )
    assert numel(decoder) == decoder_layer_parameter_count(D_MODEL, NHEAD, FF, bias, activation, norm, num_kv_heads)


@pytest.mark.filterwarnings(NESTED_TENSOR_NOTE)
@pytest.mark.parametrize("bias", [True, False])
def test_transformer_parameter_formula_matches_torch_and_ours(bias):
    settings = dict(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=FF, bias=bias)
    formula = transformer_parameter_count(**settings)
    assert numel(Transformer(**settings)) == formula
    assert numel(nn.Transformer(**settings, batch_first=True)) == formula


class TiedTranslator(nn.Module):
    """An encoder-decoder with one shared vocabulary and one matrix for both embeddings and the output layer."""

    def __init__(self, vocab_size, tie):
        super().__init__()
        self.source_embedding = nn.Embedding(vocab_size, D_MODEL)
        self.target_embedding = self.source_embedding if tie else nn.Embedding(vocab_size, D_MODEL)
        self.transformer = Transformer(D_MODEL, NHEAD, 2, 2, FF)
        self.output = nn.Linear(D_MODEL, vocab_size, bias=False)
        if tie:
            self.output.weight = self.source_embedding.weight


@pytest.mark.parametrize("tie", [True, False])
def test_encoder_decoder_with_shared_vocabulary_count(tie):
    model = TiedTranslator(vocab_size=37, tie=tie)
    formula = transformer_parameter_count(D_MODEL, NHEAD, 2, 2, FF, vocab_size=37, tie_embeddings=tie)
    assert numel(model) == formula
    assert transformer_parameter_count(D_MODEL, NHEAD, 2, 2, FF, vocab_size=37, output_bias=True) == (
        transformer_parameter_count(D_MODEL, NHEAD, 2, 2, FF, vocab_size=37) + 37
    )


def test_base_configuration_builds_to_the_formula_on_meta():
    """The 2017 base model's stacks, built without memory, have as many parameters as the formula."""
    with torch.device("meta"):
        stacks = Transformer()  # d_model 512, 8 heads, 6 + 6 layers, ff 2048
    vocabulary = 37000 * 512  # one shared, tied matrix
    assert numel(stacks) + vocabulary == transformer_parameter_count(vocab_size=37000)
    assert attnbook.mha_parameter_count(512, 8) == 4 * 512 * 512 + 4 * 512
