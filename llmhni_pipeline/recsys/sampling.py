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
        # key − (its rank within its user's run of keys): non-decreasing, so the r-th item a user has *not*
        # interacted with is found by one searchsorted (``nth_negative``)
        starts = torch.searchsorted(self.keys, (self.keys // n_items) * n_items)
        self._gaps = self.keys - (torch.arange(len(self.keys)) - starts)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users.long() * self.n_items + items.long()
        pos = torch.searchsorted(self.keys, keys).clamp_max(len(self.keys) - 1)
        return self.keys[pos] == keys

    def degrees(self, users: torch.Tensor) -> torch.Tensor:
        base = users.long() * self.n_items
        return torch.searchsorted(self.keys, base + self.n_items) - torch.searchsorted(self.keys, base)

    def nth_negative(self, users: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """The ``ranks``-th (0-based) item each user has not interacted with; ``ranks`` < n_items − degree."""
        base = users.long() * self.n_items
        before = torch.searchsorted(self._gaps, base + ranks.long(), right=True) - torch.searchsorted(
            self.keys, base
        )
        return ranks.long() + before


class NegativeSampler:
    """Base class: ``refresh`` once per epoch (score-aware samplers use it), ``sample`` per epoch of triples."""

    name = "base"
    needs_scores = False  # score-aware samplers get the current representations every epoch

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

    def propose(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` candidate negatives; a draw that hits the user's own positive is redrawn."""
        return torch.randint(0, self.n_items, (n,), generator=generator)

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        items = self.propose(users.numel(), generator).reshape(users.shape)
        todo = torch.nonzero(self.positives.contains(users, items)).flatten()
        for _ in range(_MAX_ROUNDS):
            if todo.numel() == 0:
                return items
            items[todo] = self.propose(todo.numel(), generator)
            todo = todo[self.positives.contains(users[todo], items[todo])]
        # a user who has interacted with nearly every item (a small catalogue): draw exactly from the rest
        rest = self.n_items - self.positives.degrees(users[todo])
        if bool((rest <= 0).any()):
            full = torch.unique(users[todo][rest <= 0])
            raise RuntimeError(
                f"{full.numel()} users have interacted with every item in training (user indices "
                f"{full[:5].tolist()}): no negative item to sample"
            )
        ranks = (torch.rand(todo.numel(), generator=generator) * rest).long().clamp_max(rest - 1)
        items[todo] = self.positives.nth_negative(users[todo], ranks)
        return items
