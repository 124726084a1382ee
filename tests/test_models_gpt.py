"""Unit tests for attnbook/models/gpt.py and the GPT parameter formula.

Generation with the KV cache must give exactly the tokens of recomputation (greedy), also after
the text outgrows the context length; the model must be causal; parameter formulas must equal
``numel`` sums; bad input must raise ValueErrors naming the numbers.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attnbook
from attnbook import GPT, GPTConfig, gpt_parameter_count

VOCAB = 23


def small_config(**overrides) -> GPTConfig:
    settings = dict(vocab_size=VOCAB, context_length=12, d_model=32, num_heads=4, num_layers=2)
    return GPTConfig(**{**settings, **overrides})


def build(config: GPTConfig, seed: int = 0, dtype=torch.float32) -> GPT:
    torch.manual_seed(seed)
    model = GPT(config).to(dtype).eval()
    with torch.no_grad():  # larger weights than GPT-2's init: sharper logits, greedy ties are unlikely
        for parameter in model.parameters():
            parameter.mul_(8.0)
    return model


def prompt(batch=2, n=4, seed=1):
    return torch.randint(0, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


CONFIGS = {
    "gpt2 (learned, layernorm, gelu)": lambda: small_config(),
    "rope": lambda: small_config(positions="rope"),
    "sinusoidal": lambda: small_config(positions="sinusoidal", activation="relu"),
    "llama style (rmsnorm, swiglu, rope, no bias, gqa)": lambda: GPTConfig.llama_style(
        vocab_size=VOCAB, context_length=12, d_model=32, num_heads=4, num_kv_heads=2, num_layers=2
    ),
    "no positions, sdpa": lambda: small_config(positions="none", use_sdpa=True),
}


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("name", CONFIGS)
def test_forward_shapes_loss_and_causality(name):
    model = build(CONFIGS[name]())
    idx = prompt(n=7)
    targets = prompt(n=7, seed=2)
    logits, loss = model(idx, targets)
    assert logits.shape == (2, 7, VOCAB)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1)))
    changed = idx.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % VOCAB  # change the future
    changed_logits, _ = model(changed)
    torch.testing.assert_close(changed_logits[:, :4], logits[:, :4])  # the past does not see it
    assert not torch.allclose(changed_logits[:, 4:], logits[:, 4:])


def test_return_weights_are_causal_and_normalised():
    model = build(small_config())
    logits, loss, weights = model(prompt(n=6), return_weights=True)
    assert loss is None and len(weights) == 2 and weights[0].shape == (2, 4, 6, 6)
    for layer_weights in weights:
        assert (layer_weights.triu(1) == 0).all()
        torch.testing.assert_close(layer_weights.sum(-1), torch.ones(2, 4, 6))


def test_sdpa_switch_gives_the_same_logits():
    plain = build(small_config(positions="rope", num_kv_heads=1))
    fused = GPT(small_config(positions="rope", num_kv_heads=1, use_sdpa=True)).eval()
    fused.load_state_dict(plain.state_dict())
    idx = prompt(n=9)
    torch.testing.assert_close(fused(idx)[0], plain(idx)[0], rtol=1e-4, atol=1e-4)


def test_weights_are_tied():
    model = GPT(small_config())
    assert model.lm_head.weight is model.token_embedding.weight
    untied = GPT(small_config(tie_weights=False))
    assert untied.lm_head.weight is not untied.token_embedding.weight


def test_blocks_equal_a_causal_pre_norm_torch_encoder_stack():
    """GPT's layers are torch's pre-norm encoder layers with a causal mask (what the benchmark compares)."""
    torch.manual_seed(0)
    stack = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(32, 4, 128, dropout=0.0, activation="gelu", norm_first=True, batch_first=True),
        num_layers=2,
        enable_nested_tensor=False,
    )
    model = GPT(small_config(positions="none"))
    model.layers = nn.ModuleList(attnbook.TransformerEncoderLayer.from_torch(layer) for layer in stack.layers)
    x = torch.randn(2, 7, 32)
    causal_blocked = nn.Transformer.generate_square_subsequent_mask(7)
    expected = stack(x, mask=causal_blocked, is_causal=True)
    got = x
    for layer in model.layers:
        got = layer(got, is_causal=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=2e-6)


# ---------------------------------------------------------------- generation


@pytest.mark.parametrize("name", CONFIGS)
def test_greedy_generation_with_cache_equals_recomputation(name):
    model = build(CONFIGS[name]())
    start = prompt(n=3)
    with_cache = model.generate(start, 6, temperature=0, use_cache=True)
    without_cache = model.generate(start, 6, temperature=0, use_cache=False)
    assert with_cache.shape == (2, 9)
    assert torch.equal(with_cache[:, :3], start)
    assert torch.equal(with_cache, without_cache)


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_cache_equals_recomputation_across_the_context_crop(positions):
    model = build(small_config(positions=positions, context_length=8))
    start = prompt(n=5)
    with_cache = model.generate(start, 10, temperature=0, use_cache=True)  # 15 tokens > 8 positions
    without_cache = model.generate(start, 10, temperature=0, use_cache=False)
    assert torch.equal(with_cache, without_cache)
    long_prompt = prompt(n=11, seed=3)  # the prompt itself is longer than the context
    assert torch.equal(
        model.generate(long_prompt, 3, temperature=0, use_cache=True),
        model.generate(long_prompt, 3, temperature=0, use_cache=False),
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_cached_logits_equal_full_forward_logits(name):
    model = build(CONFIGS[name](), dtype=torch.float64)
    idx = prompt(n=7)
    full, _ = model(idx)
    caches = [attnbook.KVCache() for _ in model.layers]
    steps = [model._run(idx[:, :4], caches)] + [model._run(idx[:, i : i + 1], caches) for i in range(4, 7)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-10, atol=1e-10)
    assert caches[0].length == 7


def test_sampling_is_reproducible_and_top_k_one_is_greedy():
    model = build(small_config())
    model.train()  # generate switches to eval and back
    start = prompt(n=3)
    first = model.generate(start, 5, temperature=1.0, generator=torch.Generator().manual_seed(0))
    second = model.generate(start, 5, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, second) and model.training
    top_one = model.generate(start, 5, temperature=0.7, top_k=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(top_one, model.generate(start, 5, temperature=0))


# ---------------------------------------------------------------- errors


def test_forward_errors_name_the_numbers():
    model = GPT(small_config())
    with pytest.raises(ValueError, match=r"0\.\.22 \(vocab_size=23\).*23"):
        model(torch.tensor([[1, 23]]))
    with pytest.raises(ValueError, match=r"-1"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match=r"length 13 .* context length 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(1, 3\).*\(1, 4\)"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer tensor"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 1, temperature=-1.0)


def test_config_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"d_model=30, num_heads=4"):
        small_config(d_model=30)
    with pytest.raises(ValueError, match=r"num_heads=4, num_kv_heads=3"):
        small_config(num_kv_heads=3)
    with pytest.raises(ValueError, match=r"d_head=5"):
        small_config(d_model=20, num_heads=4, positions="rope")
    with pytest.raises(ValueError, match="'alibi'"):
        small_config(positions="alibi")


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("overrides", [
    {},
    {"tie_weights": False},
    {"positions": "rope", "num_kv_heads": 2, "bias": False},
    {"norm": "rmsnorm", "activation": "swiglu", "dim_feedforward": 40},
    {"activation": "swiglu"},
    {"positions": "sinusoidal", "activation": "relu", "num_layers": 3},
])
def test_gpt_parameter_formula_equals_numel(overrides):
    config = small_config(**overrides)
    assert GPT(config).num_parameters() == gpt_parameter_count(config)
    assert GPT(config).num_parameters() == sum(p.numel() for p in GPT(config).parameters())


def test_llama_style_parameter_formula():
    config = GPTConfig.llama_style(vocab_size=VOCAB, context_length=16, d_model=48, num_heads=6, num_kv_heads=2)
    assert config.feedforward_size == 128  # 8/3 * 48 = 128
    assert GPT(config).num_parameters() == gpt_parameter_count(config)


def test_gpt2_small_on_the_meta_device():
    """GPT-2 small built without memory: formula, numel and the published 124,439,808 agree."""
    config = GPTConfig.gpt2_small()
    with torch.device("meta"):
        model = GPT(config)
    assert model.num_parameters() == gpt_parameter_count(config) == 124_439_808
