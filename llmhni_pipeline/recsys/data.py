"""From a ``raw_interactions`` table to what training and evaluation need, as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from llmhni_pipeline.recsys.graph import InteractionGraph

if TYPE_CHECKING:  # frames are only read, never built: the engine imports where only torch is installed
    import polars as pl


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
    # masked when evaluating on valid: the train edges, and on a -hideNN partition the held-back ones too (known
    # interactions of the user, masked as in the clean partition, so a judge that adds them back is not punished)
    train_sets: UserItemSets
    train_valid_sets: UserItemSets  # masked when evaluating on test: train_sets and the validation items

    def graph_sets(self) -> UserItemSets:
        """The train graph G's own edges per user (``train_sets`` less any held-back edges)."""
        return UserItemSets.from_pairs(
            self.train.users.numpy(), self.train.items.numpy(), self.n_users, self.n_items
        )

    @classmethod
    def from_frame(
        cls, table: pl.DataFrame, n_users: int | None = None, n_items: int | None = None
    ) -> SplitData:
        n_users = n_users or int(table["user_id"].max()) + 1
        n_items = n_items or int(table["item_id"].max()) + 1
        splits = {}
        for name in ("train", "valid", "test", "hidden"):
            part = table.filter(table["split"] == name)
            if part.height or name != "hidden":
                splits[name] = (part["user_id"].to_numpy(), part["item_id"].to_numpy())
        return cls.from_splits(splits, n_users, n_items)

    @classmethod
    def from_splits(
        cls, splits: dict[str, tuple[np.ndarray, np.ndarray]], n_users: int, n_items: int
    ) -> SplitData:
        """From (user ids, item ids) arrays per split name ``train``/``valid``/``test`` (and ``hidden``, the
        held-back edges of a -hideNN partition: in no graph, only in the evaluation masks)."""
        users, items = ({k: np.asarray(v[j], dtype=np.int64) for k, v in splits.items()} for j in (0, 1))
        seen = ("train", "hidden") if "hidden" in splits else ("train",)
        train_sets = UserItemSets.from_pairs(
            np.concatenate([users[k] for k in seen]),
            np.concatenate([items[k] for k in seen]),
            n_users,
            n_items,
        )
        valid = UserItemSets.from_pairs(users["valid"], items["valid"], n_users, n_items)
        return cls(
            n_users,
            n_items,
            InteractionGraph(
                torch.from_numpy(users["train"]), torch.from_numpy(items["train"]), n_users, n_items
            ),
            valid,
            UserItemSets.from_pairs(users["test"], items["test"], n_users, n_items),
            train_sets,
            train_sets.union(valid),
        )
