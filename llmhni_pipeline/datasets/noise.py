"""Noise injection (method_spec §2.3, RocSE "add" protocol): fake training edges, flagged ``is_injected``."""

from __future__ import annotations

import numpy as np
import polars as pl

_MAX_ROUNDS = 100


def inject_noise(edges: pl.DataFrame, n_items: int, ratio: float, seed: int) -> pl.DataFrame:
    """Fake train edges: ``round(ratio·|E_train|)`` of them.

    Users are drawn by sampling existing train edges uniformly (noise proportional to degree); items
    uniformly among those the user has in none of train, valid or test, so no true positive is injected and
    no pair is injected twice. Returns ``user_id, item_id`` (int32).
    """
    train_users = edges.filter(pl.col("split") == "train")["user_id"].to_numpy()
    n_fake = round(ratio * len(train_users))
    if n_fake == 0:
        return pl.DataFrame(schema={"user_id": pl.Int32, "item_id": pl.Int32})
    rng = np.random.default_rng(seed)
    users = train_users[rng.integers(0, len(train_users), n_fake)].astype(np.int64)
    taken = np.sort(edges["user_id"].to_numpy().astype(np.int64) * n_items + edges["item_id"].to_numpy())
    items = np.full(n_fake, -1, dtype=np.int64)
    pending = np.arange(n_fake)
    for _ in range(_MAX_ROUNDS):
        if len(pending) == 0:
            break
        items[pending] = rng.integers(0, n_items, len(pending))
        keys = users * n_items + items
        pos = np.searchsorted(taken, keys)
        clash = (pos < len(taken)) & (taken[np.minimum(pos, len(taken) - 1)] == keys)
        # keep the first of any pair drawn twice; redraw the rest
        first = np.zeros(n_fake, dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        bad = clash | ~first
        bad[items < 0] = True
        pending = np.flatnonzero(bad)
    if len(pending):
        raise RuntimeError(f"noise injection could not place {len(pending)} edges after {_MAX_ROUNDS} rounds")
    return pl.DataFrame({"user_id": users.astype(np.int32), "item_id": items.astype(np.int32)})
