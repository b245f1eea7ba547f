"""From a ``raw_interactions`` table to what training and evaluation need, as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from llmhni_pipeline.recsys.graph import InteractionGraph


@dataclass(frozen=True)
class UserItemSets:
    """Per-user item sets in CSR form over all users: items of user u are indices[indptr[u]:indptr[u+1]]."""

    indptr: torch.Tensor  # int64 [n_users + 1]
    indices: torch.Tensor  # int64 [nnz]
    n_users: int
    n_items: int

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> UserItemSets:
        order = np.lexsort((items, users))
        counts = np.bincount(users, minlength=n_users)
        indptr = np.r_[0, np.cumsum(counts)]
        return cls(
            torch.from_numpy(indptr.astype(np.int64)),
            torch.from_numpy(items[order].astype(np.int64)),
            n_users,
            n_items,
        )

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, n_users: int, n_items: int) -> UserItemSets:
        return cls.from_pairs(
            frame["user_id"].to_numpy().astype(np.int64),
            frame["item_id"].to_numpy().astype(np.int64),
            n_users,
            n_items,
        )

    def counts(self) -> torch.Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    @property
    def nnz(self) -> int:
        return int(self.indices.numel())

    def block(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row within block, item) pairs of the users start..stop-1."""
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        rows = torch.repeat_interleave(torch.arange(stop - start), self.counts()[start:stop])
        return rows, self.indices[lo:hi]

    def union(self, other: UserItemSets) -> UserItemSets:
        users = torch.cat([self.row_ids(), other.row_ids()]).numpy()
        items = torch.cat([self.indices, other.indices]).numpy()
        return UserItemSets.from_pairs(users, items, self.n_users, self.n_items)

    def row_ids(self) -> torch.Tensor:
        return torch.repeat_interleave(torch.arange(self.n_users), self.counts())


@dataclass(frozen=True)
class SplitData:
    """Train graph, validation/test ground truth and the items to mask at each stage."""

    n_users: int
    n_items: int
    train: InteractionGraph
    valid: UserItemSets
    test: UserItemSets
    train_sets: UserItemSets  # masked when evaluating on valid
    train_valid_sets: UserItemSets  # masked when evaluating on test

    @classmethod
    def from_frame(
        cls, table: pl.DataFrame, n_users: int | None = None, n_items: int | None = None
    ) -> SplitData:
        n_users = n_users or int(table["user_id"].max()) + 1
        n_items = n_items or int(table["item_id"].max()) + 1
        parts = {s: table.filter(pl.col("split") == s) for s in ("train", "valid", "test")}
        train_sets = UserItemSets.from_frame(parts["train"], n_users, n_items)
        valid = UserItemSets.from_frame(parts["valid"], n_users, n_items)
        return cls(
            n_users,
            n_items,
            InteractionGraph.from_frame(parts["train"], n_users, n_items),
            valid,
            UserItemSets.from_frame(parts["test"], n_users, n_items),
            train_sets,
            train_sets.union(valid),
        )
