"""Negative samplers: vectorised over a whole epoch, never looping over users in Python."""

from __future__ import annotations

import torch

from llmhni_pipeline.recsys.graph import InteractionGraph

_MAX_ROUNDS = 50


class PositiveSet:
    """Membership test for (user, item) pairs via sorted int64 keys u·n_items + i."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_items: int):
        self.n_items = n_items
        self.keys = torch.unique(users.long() * n_items + items.long())  # sorted

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, keys).clamp_max(len(self.keys) - 1)
        return self.keys[pos] == keys


class NegativeSampler:
    """Base class: ``refresh`` once per epoch (score-aware samplers use it), ``sample`` per epoch of triples."""

    name = "base"

    def refresh(self, user_emb: torch.Tensor, item_emb: torch.Tensor, epoch: int) -> None:
        """Called at the start of every epoch with the current (detached) representations."""

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


class UniformNegativeSampler(NegativeSampler):
    """One item per positive, uniform over the items the user has not interacted with in training."""

    name = "uniform"

    def __init__(self, graph: InteractionGraph):
        self.n_items = graph.n_items
        self.positives = PositiveSet(graph.users, graph.items, graph.n_items)

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        items = torch.randint(0, self.n_items, users.shape, generator=generator)
        todo = torch.nonzero(self.positives.contains(users, items)).flatten()
        for _ in range(_MAX_ROUNDS):
            if todo.numel() == 0:
                return items
            items[todo] = torch.randint(0, self.n_items, todo.shape, generator=generator)
            todo = todo[self.positives.contains(users[todo], items[todo])]
        raise RuntimeError(f"{todo.numel()} users have (almost) no non-interacted item to sample")
