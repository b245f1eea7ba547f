"""What every backbone shares: ID embedding tables e⁽⁰⁾ and the embed/ego interface."""

from __future__ import annotations

import torch
from torch import nn


class Backbone(nn.Module):
    """ID embeddings e⁽⁰⁾ (xavier-uniform) plus a graph encoder defined by ``embed``."""

    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__()
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items, dim)
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)

    def ego(self) -> torch.Tensor:
        """e⁽⁰⁾ of all nodes, users first: [n_users + n_items, d]."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def ego_rows(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """e⁽⁰⁾ rows of a batch's users, positives and negatives, read from the tables (no full e⁽⁰⁾ built)."""
        items = self.item_embedding.weight.index_select(0, torch.cat([pos, neg])).split(len(pos))
        return self.user_embedding.weight.index_select(0, users), items[0], items[1]

    def encode(self, adj: torch.Tensor | None) -> torch.Tensor:
        """Final representations z of all nodes, users first, on the graph ``adj`` (Â)."""
        raise NotImplementedError

    def embed(self, adj: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_U, z_I) on the graph ``adj``."""
        return self.split(self.encode(adj))

    def split(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return nodes[: self.n_users], nodes[self.n_users :]
