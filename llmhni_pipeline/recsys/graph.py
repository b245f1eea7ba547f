"""The user–item bipartite graph and its symmetric normalisation Â = D^{-1/2} A D^{-1/2}.

Nodes are users 0..n_u−1 followed by items n_u..n_u+n_i−1; A = [[0, R], [Rᵀ, 0]] with no self loops.
Degree-0 nodes get a zero row. Edge dropout removes each edge independently and re-normalises.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # frames are only read: the engine imports where only torch is installed (GPU machine)
    import polars as pl


@dataclass(frozen=True)
class InteractionGraph:
    """Training edges (one entry per user–item pair) of a bipartite graph."""

    users: torch.Tensor  # int64 [E]
    items: torch.Tensor  # int64 [E]
    n_users: int
    n_items: int

    @classmethod
    def from_frame(cls, edges: pl.DataFrame, n_users: int, n_items: int) -> InteractionGraph:
        return cls.from_arrays(edges["user_id"].to_numpy(), edges["item_id"].to_numpy(), n_users, n_items)

    @classmethod
    def from_arrays(
        cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
    ) -> InteractionGraph:
        return cls(
            torch.from_numpy(np.asarray(users).astype(np.int64)),
            torch.from_numpy(np.asarray(items).astype(np.int64)),
            n_users,
            n_items,
        )

    @property
    def n_nodes(self) -> int:
        return self.n_users + self.n_items

    @property
    def n_edges(self) -> int:
        return int(self.users.numel())

    def same_edges(self, other: InteractionGraph) -> bool:
        """The same set of user–item pairs (in any order)."""
        if (self.n_users, self.n_items, self.n_edges) != (other.n_users, other.n_items, other.n_edges):
            return False
        keys = [torch.sort(g.users * g.n_items + g.items).values for g in (self, other)]
        return bool(torch.equal(*keys))

    def user_degree(self) -> torch.Tensor:
        return torch.bincount(self.users, minlength=self.n_users)

    def item_degree(self) -> torch.Tensor:
        return torch.bincount(self.items, minlength=self.n_items)

    def norm_adj(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Â as a sparse CSR tensor of shape [n_nodes, n_nodes]."""
        return normalized_adjacency(self.users, self.items, self.n_users, self.n_items).to(device)

    def dropped(self, p: float, generator: torch.Generator) -> InteractionGraph:
        """A copy with each edge removed independently with probability ``p`` (both directions together)."""
        keep = torch.rand(self.n_edges, generator=generator) >= p
        return InteractionGraph(self.users[keep], self.items[keep], self.n_users, self.n_items)


def dropped_entries(adj: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Â (sparse CSR) with each stored entry zeroed independently with probability ``p``: RLMRec's
    ``SpAdjEdgeDrop`` (the two directions of an edge drop independently; the kept values are not rescaled). The
    sparsity pattern is kept, so no index is rebuilt: O(nnz) per call."""
    values = adj.values()
    keep = torch.rand(values.shape, generator=generator) >= p
    return torch.sparse_csr_tensor(
        adj.crow_indices(), adj.col_indices(), values * keep.to(values.device, values.dtype), adj.shape
    )


def normalized_adjacency(
    users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int
) -> torch.Tensor:
    n = n_users + n_items
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    degree = torch.bincount(rows, minlength=n).to(torch.float32)
    inv_sqrt = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    values = inv_sqrt[rows] * inv_sqrt[cols]
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()
    with warnings.catch_warnings():  # torch flags CSR as beta; products and autograd here are tested
        warnings.simplefilter("ignore", UserWarning)
        return coo.to_sparse_csr()


class _SymmetricSpmm(torch.autograd.Function):
    """y = Â x for a symmetric sparse Â; the gradient is Â g, so no transposed copy is ever built."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(adj)
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (adj,) = ctx.saved_tensors
        return None, adj @ grad


def propagate(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One message-passing step e⁽ˡ⁺¹⁾ = Â e⁽ˡ⁾ (Â symmetric: every normalised adjacency here is)."""
    return _SymmetricSpmm.apply(adj, x)
