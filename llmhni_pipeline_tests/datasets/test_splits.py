import numpy as np
import polars as pl
import pytest

from llmhni_pipeline.datasets.splits import carve_per_user


def _edges(degrees):
    users = np.repeat(np.arange(len(degrees)), degrees)
    return pl.DataFrame({"user_id": users.astype(np.int32), "item_id": np.arange(len(users), dtype=np.int32)})


def test_every_user_keeps_train_and_shares_are_close():
    rng = np.random.default_rng(0)
    edges = _edges(rng.integers(1, 40, 2000))
    split = carve_per_user(edges, {"valid": 0.1, "test": 0.1}, seed=1)
    table = edges.with_columns(split)
    shares = table["split"].value_counts(normalize=True).sort("split")
    assert abs(shares.filter(pl.col("split") == "test")["proportion"][0] - 0.1) < 0.01
    assert abs(shares.filter(pl.col("split") == "valid")["proportion"][0] - 0.1) < 0.01
    train_users = table.filter(pl.col("split") == "train")["user_id"].n_unique()
    assert train_users == 2000


def test_single_edge_users_stay_in_train_and_seed_is_deterministic():
    edges = _edges([1, 1, 1, 10])
    a = carve_per_user(edges, {"test": 0.5}, seed=7)
    assert a[:3].to_list() == ["train"] * 3
    assert a.equals(carve_per_user(edges, {"test": 0.5}, seed=7))


def _reference_carve(
    users: np.ndarray, fractions: dict[str, float], seed: int, rest: str = "train"
) -> list[str]:
    """The split as first written (np.lexsort, object arrays): every published lake's split came from it."""
    rng = np.random.default_rng(seed)
    n = len(users)
    order = np.lexsort((rng.random(n), users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank_in_user = np.arange(n) - np.repeat(starts, counts)
    labels_sorted = np.full(n, rest, dtype=object)
    budget, offset = counts - 1, np.zeros_like(counts)
    for name, frac in fractions.items():
        take = np.minimum(np.floor(frac * counts + rng.random(len(counts))).astype(np.int64), budget)
        budget -= take
        lo, hi = np.repeat(offset, counts), np.repeat(offset + take, counts)
        labels_sorted[(rank_in_user >= lo) & (rank_in_user < hi)] = name
        offset += take
    labels = np.empty(n, dtype=object)
    labels[order] = labels_sorted
    return labels.tolist()


@pytest.mark.parametrize(
    ("seed", "n", "n_users"), [(1, 1000, 50), (2026, 100_000, 5_000), (5, 7, 7), (3, 1, 1)]
)
def test_the_faster_split_is_the_one_every_lake_was_built_with(seed, n, n_users):
    users = np.random.default_rng(seed).integers(0, n_users, n)
    fractions = {"valid": 0.1, "test": 0.1}
    fast = carve_per_user(pl.DataFrame({"user_id": users}), fractions, seed)
    assert fast.to_list() == _reference_carve(users, fractions, seed)


def test_leave_one_out_holds_out_each_users_last_item_by_time_with_ties_broken_the_same_way_every_time():
    """Issue 46: the last interaction by time is test, the one before it valid; ties in time are broken by the
    larger item id counting as later (then by row order), whatever order the rows arrive in; a user with fewer
    than three interactions keeps them all for training."""
    from llmhni_pipeline.datasets.splits import leave_one_out

    edges = pl.DataFrame(
        {
            "user_id": [0, 0, 0, 0, 1, 1, 1, 2, 2],
            "item_id": [5, 3, 9, 4, 1, 2, 7, 8, 6],
            "timestamp": [10, 30, 30, 20, 5, 5, 5, 1, 2],
        }
    )
    split = leave_one_out(edges)
    by_pair = dict(zip(zip(edges["user_id"], edges["item_id"], strict=True), split, strict=True))
    # user 0: 9 and 3 share the last time; 9 (the larger id) counts as the last
    assert (
        by_pair[(0, 9)] == "test"
        and by_pair[(0, 3)] == "valid"
        and by_pair[(0, 4)] == by_pair[(0, 5)] == "train"
    )
    assert [by_pair[(1, i)] for i in (7, 2, 1)] == ["test", "valid", "train"]  # all at one time: by item id
    assert by_pair[(2, 8)] == by_pair[(2, 6)] == "train"  # two interactions: nothing to predict from
    for seed in range(5):  # the same split for any row order
        order = np.random.default_rng(seed).permutation(edges.height)
        shuffled = edges[order]
        again = dict(
            zip(
                zip(shuffled["user_id"], shuffled["item_id"], strict=True),
                leave_one_out(shuffled),
                strict=True,
            )
        )
        assert again == by_pair
    with pytest.raises(ValueError, match="by time"):
        leave_one_out(edges.drop("timestamp"))
