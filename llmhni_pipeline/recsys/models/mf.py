"""Matrix factorisation: z = e⁽⁰⁾, the non-graph backbone (the graph argument is ignored)."""

from __future__ import annotations

import torch

from llmhni_pipeline.recsys.models.base import Backbone


class MF(Backbone):
    def __init__(self, n_users: int, n_items: int, dim: int = 64, n_layers: int = 0):
        super().__init__(n_users, n_items, dim)

    def encode(self, adj: torch.Tensor | None) -> torch.Tensor:
        return self.ego()
