"""LightGCN (He et al., SIGIR 2020): e⁽ˡ⁺¹⁾ = Â e⁽ˡ⁾,  z = mean_{l=0..L} e⁽ˡ⁾."""

from __future__ import annotations

import torch

from llmhni_pipeline.recsys.graph import propagate
from llmhni_pipeline.recsys.models.base import Backbone


class LightGCN(Backbone):
    def __init__(self, n_users: int, n_items: int, dim: int = 64, n_layers: int = 3):
        super().__init__(n_users, n_items, dim)
        self.n_layers = n_layers

    def encode(self, adj: torch.Tensor | None) -> torch.Tensor:
        e = self.ego()
        z = e
        for _ in range(self.n_layers):
            e = propagate(adj, e)
            z = z + e
        return z / (self.n_layers + 1)
