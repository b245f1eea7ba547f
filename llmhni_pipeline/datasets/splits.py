"""Split protocols, vectorised over users: no Python loop per user."""

from __future__ import annotations

import numpy as np
import polars as pl


def carve_per_user(
    edges: pl.DataFrame, fractions: dict[str, float], seed: int, rest: str = "train"
) -> pl.Series:
    """Assign each edge a split label, stratified per user.

    Each user's edges are shuffled (seeded); user u with n_u edges gives ``floor(f·n_u + U_u)`` edges to the
    split with fraction f (stochastic rounding, so exactly f in expectation even for short histories) and the
    rest to ``rest``. Every user keeps at least one ``rest`` edge, so every evaluated user has history.
    Returns the labels aligned with ``edges`` rows.
    """
    rng = np.random.default_rng(seed)
    n = edges.height
    users = edges["user_id"].to_numpy().astype(np.int64)
    # shuffled within user: the order of np.lexsort((random, users)), as one int64 sort (1.5x faster at 10^7)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(rng.random(n))] = np.arange(n)
    order = np.argsort(users * max(n, 1) + rank)  # keys are unique, so any sort gives the same order
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank_in_user = np.arange(n) - np.repeat(starts, counts)

    names = [rest, *fractions]
    codes_sorted = np.zeros(n, dtype=np.int8)  # index into names; 0 = rest
    budget = counts - 1  # leave one edge to `rest`
    offset = np.zeros_like(counts)
    for code, frac in enumerate(fractions.values(), start=1):
        take = np.floor(frac * counts + rng.random(len(counts))).astype(np.int64)
        take = np.minimum(take, budget)
        budget -= take
        lo = np.repeat(offset, counts)
        hi = np.repeat(offset + take, counts)
        codes_sorted[(rank_in_user >= lo) & (rank_in_user < hi)] = code
        offset += take
    codes = np.empty(n, dtype=np.int8)
    codes[order] = codes_sorted
    return pl.Series("split", names, dtype=pl.String).gather(codes).alias("split")


def leave_one_out(edges: pl.DataFrame) -> pl.Series:
    """The sequential papers' split by time (SASRec, BERT4Rec): each user's last interaction is ``test``, the one
    before it ``valid``, the rest ``train``; a user with fewer than three interactions keeps them all in train (no
    history to predict from). Ties in ``timestamp`` are broken by ``item_id``, then by row order, so the split is
    the same on every run and machine. ``edges``: ``user_id``, ``item_id``, ``timestamp``. Returns the labels
    aligned with ``edges`` rows; one sort, no loop over users."""
    missing = {"user_id", "item_id", "timestamp"} - set(edges.columns)
    if missing:
        raise ValueError(f"leave-one-out needs column(s) {sorted(missing)}: the split is by time")
    from_last = (
        edges.with_row_index("_row")
        .sort("user_id", "timestamp", "item_id", "_row", descending=[False, True, True, True])
        .with_columns(
            _back=pl.int_range(pl.len()).over("user_id"),  # 0 = the user's last interaction
            _n=pl.len().over("user_id"),
        )
        .with_columns(
            split=pl.when(pl.col("_n") < 3)
            .then(pl.lit("train"))
            .when(pl.col("_back") == 0)
            .then(pl.lit("test"))
            .when(pl.col("_back") == 1)
            .then(pl.lit("valid"))
            .otherwise(pl.lit("train"))
        )
        .sort("_row")
    )
    return from_last["split"]
