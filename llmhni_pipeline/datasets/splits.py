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
