"""NGCF (Wang et al., SIGIR 2019), in RecBole's form.

Each layer: e⁽ˡ⁺¹⁾ = normalize(dropout(LeakyReLU_0.2( W1 (Â + I) e⁽ˡ⁾ + W2 (Â e⁽ˡ⁾ ⊙ e⁽ˡ⁾) ))),
and z = [e⁽⁰⁾ ‖ e⁽¹⁾ ‖ … ‖ e⁽ᴸ⁾] (concatenation, so z has d·(L+1) columns).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from llmhni_pipeline.recsys.graph import propagate
from llmhni_pipeline.recsys.models.base import Backbone


class BiGNNLayer(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.w1 = nn.Linear(dim_in, dim_out)  # neighbourhood + self term
        self.w2 = nn.Linear(dim_in, dim_out)  # element-wise affinity term

    def forward(self, adj: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        side = propagate(adj, e)
        return self.w1(side + e) + self.w2(side * e)


class NGCF(Backbone):
    def __init__(
        self, n_users: int, n_items: int, dim: int = 64, n_layers: int = 3, message_dropout: float = 0.1
    ):
        super().__init__(n_users, n_items, dim)
        self.layers = nn.ModuleList(BiGNNLayer(dim, dim) for _ in range(n_layers))
        self.message_dropout = nn.Dropout(message_dropout)

    def encode(self, adj: torch.Tensor | None) -> torch.Tensor:
        e = self.ego()
        layers = [e]
        for layer in self.layers:
            e = F.normalize(self.message_dropout(F.leaky_relu(layer(adj, e), 0.2)), p=2, dim=1)
            layers.append(e)
        return torch.cat(layers, dim=1)
