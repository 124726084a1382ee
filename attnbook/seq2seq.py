"""A small GRU encoder-decoder, with or without attention, on a synthetic sequence task (chapter 1).

The task: read a sequence of random tokens and write it out reversed (or copied). Without
attention the decoder sees the input only through the encoder's final hidden state, one
fixed-size vector; with attention it may look at every encoder state at every step.

Token 0 is reserved as the begin-of-sequence token ``BOS`` that starts the decoder; the data
use tokens ``1 .. vocab_size - 1``. Shapes (batch first):

    sources, targets    (batch, length)              int64
    logits              (batch, length, vocab_size)
    attention weights   (batch, target_length, source_length)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import scaled_dot_product_attention

__all__ = [
    "BOS",
    "Seq2Seq",
    "exact_match_accuracy",
    "make_batch",
    "shift_right",
    "train_seq2seq",
]

BOS = 0
TASKS = ("reverse", "copy")


def make_batch(batch_size: int, length: int, vocab_size: int = 10, task: str = "reverse",
               generator: torch.Generator | None = None, device=None):
    """Random source sequences and their targets, both (batch_size, length) int64.

    Tokens are drawn uniformly from ``1 .. vocab_size - 1`` (0 is ``BOS``). ``task`` is
    ``"reverse"`` (target = source backwards) or ``"copy"`` (target = source).
    Pass a seeded ``torch.Generator`` (on the CPU) for reproducible data.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}")
    if batch_size < 1 or length < 1:
        raise ValueError(f"batch_size and length must be positive; got {batch_size} and {length}")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (BOS plus one token); got {vocab_size}")
    sources = torch.randint(1, vocab_size, (batch_size, length), generator=generator)
    targets = sources.flip(-1) if task == "reverse" else sources.clone()
    return sources.to(device), targets.to(device)


def shift_right(targets):
    """Decoder inputs for teacher forcing: ``BOS`` followed by the targets without their last token."""
    bos = torch.full_like(targets[:, :1], BOS)  # (batch, 1)
    return torch.cat([bos, targets[:, :-1]], dim=1)  # (batch, length)


class Seq2Seq(nn.Module):
    """GRU encoder-decoder. ``attention=False``: the decoder sees only the final encoder state.

    ``attention=True`` adds, at every decoder step t, a context vector
    ``c_t = sum_j a_tj e_j`` over the encoder states ``e_j``, with weights
    ``a_t = softmax_j((W d_t) . e_j / sqrt(hidden))`` from the decoder state ``d_t``
    (Luong et al.'s "general" score, scaled), and predicts from ``tanh(W_c [d_t; c_t])``.
    Both variants start the decoder from the final encoder state; attention is the only change.
    """

    def __init__(self, vocab_size: int = 10, hidden_size: int = 32, attention: bool = True):
        super().__init__()
        self.vocab_size, self.hidden_size, self.attention = vocab_size, hidden_size, attention
        self.embedding = nn.Embedding(vocab_size, hidden_size)  # shared by encoder and decoder
        self.encoder = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.decoder = nn.GRU(hidden_size, hidden_size, batch_first=True)
        if attention:
            self.query = nn.Linear(hidden_size, hidden_size, bias=False)
            self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    def encode(self, sources):
        """sources (batch, S) -> encoder states (batch, S, hidden), final state (1, batch, hidden)."""
        return self.encoder(self.embedding(sources))

    def decode(self, decoder_inputs, encoder_states, state):
        """One or more decoder steps; returns logits (batch, T, vocab), new state, weights or None."""
        decoder_states, state = self.decoder(self.embedding(decoder_inputs), state)  # (batch, T, hidden)
        if not self.attention:
            return self.output(decoder_states), state, None
        context, weights = scaled_dot_product_attention(
            self.query(decoder_states), encoder_states, encoder_states, return_weights=True
        )  # (batch, T, hidden), (batch, T, S)
        features = torch.tanh(self.combine(torch.cat([decoder_states, context], dim=-1)))  # (batch, T, hidden)
        return self.output(features), state, weights

    def forward(self, sources, targets):
        """Teacher forcing: logits (batch, T, vocab) for every target position at once."""
        encoder_states, state = self.encode(sources)
        logits, _, _ = self.decode(shift_right(targets), encoder_states, state)
        return logits

    @torch.no_grad()
    def greedy_decode(self, sources, n_steps: int | None = None):
        """Generate ``n_steps`` tokens (default: the source length), each step feeding back its argmax.

        Returns tokens (batch, n_steps) and the attention weights (batch, n_steps, S), or None
        for the model without attention.
        """
        n_steps = sources.shape[1] if n_steps is None else n_steps
        encoder_states, state = self.encode(sources)
        token = torch.full_like(sources[:, :1], BOS)  # (batch, 1)
        tokens, weights = [], []
        for _ in range(n_steps):
            logits, state, step_weights = self.decode(token, encoder_states, state)
            token = logits.argmax(dim=-1)  # (batch, 1)
            tokens.append(token)
            weights.append(step_weights)
        all_weights = None if weights[0] is None else torch.cat(weights, dim=1)
        return torch.cat(tokens, dim=1), all_weights


def exact_match_accuracy(model: Seq2Seq, sources, targets) -> float:
    """Fraction of sequences whose greedy output equals the target at every position."""
    was_training = model.training
    model.eval()
    predictions, _ = model.greedy_decode(sources, targets.shape[1])
    model.train(was_training)
    return (predictions == targets).all(dim=1).float().mean().item()


def train_seq2seq(model: Seq2Seq, lengths, steps: int = 400, batch_size: int = 64, task: str = "reverse",
                  lr: float = 1e-2, seed: int = 0, device=None, cpu_threads: int | None = 1) -> list[float]:
    """Train with teacher forcing and Adam; every step draws a batch of one length from ``lengths``.

    The data come from a CPU ``torch.Generator`` seeded with ``seed``, so the batches are the
    same on every machine and device. Returns the training loss of every step.

    ``cpu_threads``: on the CPU, train with this many torch threads and restore the previous
    setting afterwards (``None`` leaves it alone). The matrices of a model this small are too
    tiny to gain from a second thread, and on a busy machine extra threads that wait for each
    other made training several times slower.
    """
    lengths = list(lengths)
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be a non-empty list of positive integers; got {lengths}")
    device = torch.device(next(model.parameters()).device if device is None else device)
    previous_threads = torch.get_num_threads()
    if cpu_threads is not None and device.type == "cpu":
        torch.set_num_threads(cpu_threads)
    try:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        losses = []
        for _ in range(steps):
            length = lengths[int(torch.randint(len(lengths), (1,), generator=generator))]
            sources, targets = make_batch(batch_size, length, model.vocab_size, task, generator, device)
            logits = model(sources, targets)  # (batch, length, vocab)
            loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(previous_threads)
    return losses
