"""Entity vectors between the lake's long tables (``entity, id, vector``) and dense matrices."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch


def entity_matrix(table: pl.DataFrame, entity: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows 0..n-1 of one entity's vectors, and a mask of ids that have one (others stay zero)."""
    rows = table.filter(pl.col("entity") == entity)
    dim = len(rows["vector"][0]) if rows.height else 0
    matrix = np.zeros((n, dim), dtype=np.float32)
    ids = rows["id"].to_numpy()
    matrix[ids] = np.asarray(rows["vector"].to_list(), dtype=np.float32)
    present = np.zeros(n, dtype=bool)
    present[ids] = True
    return torch.from_numpy(matrix), torch.from_numpy(present)


def user_item_matrices(table: pl.DataFrame, n_users: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """User and item vector matrices of one long table (ids without a vector get zeros)."""
    return entity_matrix(table, "user", n_users)[0], entity_matrix(table, "item", n_items)[0]


def vectors_table(users: torch.Tensor, items: torch.Tensor) -> pl.DataFrame:
    parts = []
    for entity, matrix in (("user", users), ("item", items)):
        parts.append(
            pl.DataFrame(
                {
                    "entity": entity,
                    "id": pl.Series(range(len(matrix)), dtype=pl.Int32),
                    "vector": pl.Series(matrix.detach().cpu().numpy().tolist(), dtype=pl.List(pl.Float32)),
                }
            )
        )
    return pl.concat(parts)
