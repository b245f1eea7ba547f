import numpy as np
import polars as pl

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
