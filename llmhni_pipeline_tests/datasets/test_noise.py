import numpy as np
import polars as pl

from llmhni_pipeline.datasets.noise import inject_noise


def test_injected_edges_are_new_unique_and_counted():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 50, 2000)
    items = rng.integers(0, 60, 2000)
    edges = (
        pl.DataFrame({"user_id": users, "item_id": items})
        .unique()
        .with_columns(
            split=pl.when(pl.col("item_id") % 5 == 0).then(pl.lit("test")).otherwise(pl.lit("train"))
        )
    )
    n_train = edges.filter(pl.col("split") == "train").height
    fake = inject_noise(edges, n_items=60, ratio=0.2, seed=11)
    assert fake.height == round(0.2 * n_train)
    assert fake.unique().height == fake.height  # no pair injected twice
    assert fake.join(edges, on=["user_id", "item_id"]).height == 0  # never a train/valid/test pair
    assert fake.equals(inject_noise(edges, 60, 0.2, seed=11))
    # users are drawn in proportion to their train degree: every injected user has train edges
    assert set(fake["user_id"].to_list()) <= set(
        edges.filter(pl.col("split") == "train")["user_id"].to_list()
    )
