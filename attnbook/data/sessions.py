"""Synthetic user histories with a known latent structure, for sequential recommendation (chapter 5, section 5).

Items ``1 .. n_items`` fall into ``n_clusters`` equal **clusters** of consecutive ids (think of
a cluster as a TV series and its items as episodes in order). Within a cluster, items have a
Zipf-like **popularity** (the first items are watched most). Each user likes a few clusters
(``clusters_per_user``, drawn uniformly). A history is generated item by item:

* the first item: a popular item of one of the user's clusters;
* then, with probability ``p_next``: the **next episode** (the following id in the same cluster,
  wrapping around to its first item);
* else with probability ``p_noise``: any item, by global popularity (noise);
* else: a popular item of one of the user's clusters (possibly another one).

So a last-item (Markov) model can learn the "next episode" rule, a popularity model knows what is
popular, and only a model that reads the whole history can tell which clusters a user likes.
Item id 0 is **padding**; histories are **left**-padded, so the newest item is the last column
and ``items[:, -1]`` is every user's most recent item (the usual held-out test item). Shapes:

    items            (n_users, max_length)      int64, 0 = padding (left), items 1..n_items
    lengths          (n_users,)                 int64, real items per user, in min_length..max_length
    user_clusters    (n_users, clusters_per_user) int64, the clusters each user likes
    item_cluster     (n_items + 1,)             int64, cluster of each item id (-1 for padding)
    is_next_episode  (n_users, max_length)      bool, True where the item was made by the next-episode rule
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Sessions", "make_sessions", "next_item_examples"]


class Sessions(NamedTuple):
    """User histories and the latent structure that generated them (module docstring)."""

    items: torch.Tensor
    lengths: torch.Tensor
    user_clusters: torch.Tensor
    item_cluster: torch.Tensor
    is_next_episode: torch.Tensor


def make_sessions(n_users: int = 1000, n_items: int = 200, n_clusters: int = 10, clusters_per_user: int = 2,
                  min_length: int = 5, max_length: int = 30, p_next: float = 0.5, p_noise: float = 0.1,
                  zipf_exponent: float = 1.0, seed: int = 0) -> Sessions:
    """``n_users`` seeded histories (module docstring for the generating rules).

    Args:
        n_users: number of users (rows).
        n_items, n_clusters: items 1..n_items in n_clusters equal clusters (n_items divisible by n_clusters).
        clusters_per_user: how many distinct clusters each user likes.
        min_length, max_length: each history's length is drawn uniformly from this range.
        p_next, p_noise: probabilities of the next-episode and noise steps (sum at most 1).
        zipf_exponent: popularity of the r-th item of a cluster is proportional to 1 / r**zipf_exponent.
        seed: the same seed gives the same histories on every machine.
    """
    if n_users < 1 or n_items < 1 or n_clusters < 1:
        raise ValueError(f"n_users, n_items and n_clusters must be positive; got {n_users}, {n_items}, {n_clusters}")
    if n_items % n_clusters:
        raise ValueError(f"n_items={n_items} must be divisible by n_clusters={n_clusters}")
    if not 1 <= clusters_per_user <= n_clusters:
        raise ValueError(f"clusters_per_user must be in 1..{n_clusters}; got {clusters_per_user}")
    if not 2 <= min_length <= max_length:
        raise ValueError(f"need 2 <= min_length <= max_length; got {min_length}, {max_length}")
    if p_next < 0 or p_noise < 0 or p_next + p_noise > 1:
        raise ValueError(f"p_next and p_noise must be probabilities with a sum of at most 1; got {p_next}, {p_noise}")
    rng = np.random.default_rng(seed)
    size = n_items // n_clusters
    item_cluster = np.concatenate([[-1], np.repeat(np.arange(n_clusters), size)])  # (n_items + 1,)
    within = 1.0 / np.arange(1, size + 1) ** zipf_exponent  # (size,) popularity of a cluster's r-th item
    within /= within.sum()
    global_popularity = np.concatenate([[0.0], np.tile(within, n_clusters) / n_clusters])  # (n_items + 1,)

    def popular_item_of(cluster: int) -> int:
        return 1 + cluster * size + int(rng.choice(size, p=within))

    items = np.zeros((n_users, max_length), dtype=np.int64)
    is_next = np.zeros((n_users, max_length), dtype=bool)
    lengths = rng.integers(min_length, max_length + 1, size=n_users)  # (n_users,)
    user_clusters = np.stack([rng.choice(n_clusters, size=clusters_per_user, replace=False)
                              for _ in range(n_users)])  # (n_users, clusters_per_user)
    for user in range(n_users):
        history, made_by_next = [popular_item_of(int(rng.choice(user_clusters[user])))], [False]
        while len(history) < lengths[user]:
            draw = rng.random()
            last = history[-1]
            if draw < p_next:
                cluster = item_cluster[last]
                history.append(1 + cluster * size + (last - 1 - cluster * size + 1) % size)
                made_by_next.append(True)
                continue
            if draw < p_next + p_noise:
                history.append(int(rng.choice(n_items + 1, p=global_popularity)))
            else:
                history.append(popular_item_of(int(rng.choice(user_clusters[user]))))
            made_by_next.append(False)
        items[user, max_length - lengths[user]:] = history
        is_next[user, max_length - lengths[user]:] = made_by_next
    return Sessions(torch.from_numpy(items), torch.from_numpy(lengths).to(torch.int64),
                    torch.from_numpy(user_clusters).to(torch.int64), torch.from_numpy(item_cluster).to(torch.int64),
                    torch.from_numpy(is_next))


def next_item_examples(items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets for training a next-item model on left-padded histories (n_users, L).

    ``inputs = items[:, :-1]`` and ``targets = items[:, 1:]``, with the target set to 0 (ignored)
    wherever the input is padding: position t predicts the item that follows item t.
    Hold out the last column (``items[:, -1]``) first if it is the test item.
    """
    if not isinstance(items, torch.Tensor) or items.ndim != 2 or items.dtype != torch.int64 or items.shape[1] < 2:
        raise ValueError(f"items must be an int64 tensor (n_users, length >= 2); got "
                         f"{tuple(getattr(items, 'shape', ()))} {getattr(items, 'dtype', '')}")
    if items.shape[0] == 0:
        raise ValueError("items is empty: no users")
    inputs, targets = items[:, :-1], items[:, 1:].clone()
    targets[inputs == 0] = 0
    return inputs, targets
