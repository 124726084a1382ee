"""CPU benchmark of chapter 4's language model: training and generation tokens per second.

Usage: python benchmarks/transformer_cpu.py [--d-model 128] [--layers 4] [--heads 4] [--batch 16]
       [--seq-len 128] [--new-tokens 256] [--repeats 5] [--threads 1]

Training (one AdamW step on a batch of random tokens, forward + backward + update), side by side:

* ``attnbook``: :class:`attnbook.GPT` with the book's own attention core (masked softmax),
* ``attnbook + F.sdpa``: the same model with ``use_sdpa=True`` (PyTorch's fused kernel inside),
* ``nn.TransformerEncoder``: token and position embeddings, a stack of
  ``nn.TransformerEncoderLayer(norm_first=True, activation="gelu")`` with a causal mask, a final
  LayerNorm and a tied output layer: the same architecture and parameter count, torch's code.

Generation (greedy, batch 1, one-token prompt, ``--new-tokens`` new tokens) with
:meth:`attnbook.GPT.generate`, with and without the KV cache.

Figures are medians over ``--repeats`` runs after a warm-up. They depend on the machine and on
what else runs on it; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch import nn

import attnbook
from attnbook.bench import median_seconds

VOCAB_SIZE = 65  # a character vocabulary, as in the chapter's language model


class TorchEncoderLM(nn.Module):
    """The GPT architecture built from ``nn.TransformerEncoder``: pre-norm, GELU, causal mask, tied head."""

    def __init__(self, config: attnbook.GPTConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.context_length, config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.num_heads, config.feedforward_size, dropout=0.0, activation="gelu",
            norm_first=True, batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight

    def forward(self, idx, targets):
        n = idx.shape[1]
        x = self.token_embedding(idx) + self.position_embedding.weight[:n]  # (batch, n, d_model)
        causal = nn.Transformer.generate_square_subsequent_mask(n)  # float, -inf above the diagonal
        x = self.encoder(x, mask=causal, is_causal=True)
        logits = self.lm_head(self.final_norm(x))  # (batch, n, vocab)
        return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def make_config(args, use_sdpa: bool = False) -> attnbook.GPTConfig:
    return attnbook.GPTConfig(
        vocab_size=VOCAB_SIZE,
        context_length=max(args.seq_len, args.new_tokens + 1),
        d_model=args.d_model,
        num_heads=args.heads,
        num_layers=args.layers,
        use_sdpa=use_sdpa,
    )


def training_step_function(model: nn.Module, args):
    """A zero-argument function doing one AdamW step on a fixed random batch."""
    generator = torch.Generator().manual_seed(0)
    idx = torch.randint(0, VOCAB_SIZE, (args.batch, args.seq_len), generator=generator)
    targets = torch.randint(0, VOCAB_SIZE, (args.batch, args.seq_len), generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step():
        _, loss = model(idx, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def benchmark_training(args) -> list[tuple[str, int, float, float]]:
    """(name, parameters, median wall and CPU seconds per step) for the three training variants."""
    rows = []
    for name in ("attnbook", "attnbook + F.sdpa", "nn.TransformerEncoder"):
        torch.manual_seed(0)
        if name == "nn.TransformerEncoder":
            model = TorchEncoderLM(make_config(args))
        else:
            model = attnbook.GPT(make_config(args, use_sdpa=name.endswith("sdpa")))
        parameters = sum(p.numel() for p in model.parameters())
        wall, cpu = median_seconds(training_step_function(model, args), args.repeats, warmup=2)
        rows.append((name, parameters, wall, cpu))
        print(f"  measured {name}", file=sys.stderr, flush=True)
    return rows


def benchmark_generation(args) -> list[tuple]:
    """(name, median wall and CPU seconds for args.new_tokens tokens) without and with the KV cache, then
    ("same tokens", bool)."""
    torch.manual_seed(0)
    model = attnbook.GPT(make_config(args)).eval()
    start = torch.zeros(1, 1, dtype=torch.long)
    rows = []
    for name, use_cache in (("without KV cache", False), ("with KV cache", True)):
        wall, cpu = median_seconds(
            lambda use_cache=use_cache: model.generate(start, args.new_tokens, temperature=0, use_cache=use_cache),
            repeats=max(1, args.repeats // 2), warmup=1,
        )
        rows.append((name, wall, cpu))
        print(f"  measured generation {name}", file=sys.stderr, flush=True)
    same = torch.equal(
        model.generate(start, args.new_tokens, temperature=0, use_cache=True),
        model.generate(start, args.new_tokens, temperature=0, use_cache=False),
    )
    rows.append(("same tokens", same))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1: steady on a busy machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"GPT: d_model={args.d_model}, layers={args.layers}, heads={args.heads}, vocab={VOCAB_SIZE}; "
        f"training batch {args.batch} x {args.seq_len} tokens; torch {torch.__version__}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    training = benchmark_training(args)
    tokens_per_step = args.batch * args.seq_len
    _, _, reference_wall, reference_cpu = training[-1]
    print("\nTraining (forward + backward + AdamW step); tokens/s from wall time")
    print(
        f"{'model':<24} {'parameters':>11} {'wall ms':>9} {'CPU ms':>9} {'tokens/s':>10} "
        f"{'wall vs nn':>11} {'CPU vs nn':>10}"
    )
    for name, parameters, wall, cpu in training:
        print(
            f"{name:<24} {parameters:>11,} {wall * 1e3:>9.1f} {cpu * 1e3:>9.1f} {tokens_per_step / wall:>10,.0f} "
            f"{wall / reference_wall:>10.2f}x {cpu / reference_cpu:>9.2f}x"
        )
    generation = benchmark_generation(args)
    (_, slow_wall, slow_cpu), (_, fast_wall, fast_cpu), (_, same) = generation
    print(f"\nGeneration (greedy, batch 1, {args.new_tokens} new tokens, attnbook.GPT.generate)")
    print(f"{'':<24} {'wall s':>9} {'CPU s':>9} {'tokens/s':>10}")
    for name, wall, cpu in generation[:2]:
        print(f"{name:<24} {wall:>9.2f} {cpu:>9.2f} {args.new_tokens / wall:>10,.0f}")
    print(
        f"KV cache speed-up: {slow_wall / fast_wall:.1f}x wall, {slow_cpu / fast_cpu:.1f}x CPU; "
        f"identical tokens: {same}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
