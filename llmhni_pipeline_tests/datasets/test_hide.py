"""``-hideNN``: a share of each user's train edges held back from G as known false negatives, with validation,
test and every other partition unchanged."""

import polars as pl

from llmhni_pipeline.datasets.interactions import HIDDEN, build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.recsys.data import SplitData

KEY = ["user_id", "item_id"]


def _build(lake, data_dir, key):
    return build_raw_interactions(parse_dataset_key(key, lake), lake, data_dir).interactions


def _pairs(table, split):
    return table.filter(pl.col("split") == split).select(KEY).sort(KEY)


def test_hidden_edges_are_train_edges_held_back_and_nothing_else_moves(lake, data_dir):
    clean = _build(lake, data_dir, "ml-100k")
    hidden = _build(lake, data_dir, "ml-100k-hide10")
    held = _pairs(hidden, HIDDEN)
    # exactly the clean partition's train edges, split between G and the held-back ones
    assert pl.concat([_pairs(hidden, "train"), held]).sort(KEY).equals(_pairs(clean, "train"))
    for split in ("valid", "test"):  # validation and test are untouched
        assert _pairs(hidden, split).equals(_pairs(clean, split))
    # no held-back edge is a validation or test edge, so no test edge can come back into G′ through them
    held_out = clean.filter(pl.col("split").is_in(["valid", "test"])).select(KEY)
    assert held.join(held_out, on=KEY).height == 0
    share = held.height / clean.filter(pl.col("split") == "train").height
    assert 0.085 < share < 0.115  # about 10% of each user's train edges, stochastically rounded
    per_user = hidden.group_by("user_id").agg((pl.col("split") == "train").sum().alias("train"))
    assert per_user["train"].min() >= 1  # every user keeps part of its history in G
    assert not hidden["is_injected"].any()
    # seeded: the same key gives the same edges
    assert _build(lake, data_dir, "ml-100k-hide10").equals(hidden)


def test_hidden_edges_are_masked_at_evaluation_but_in_no_graph(lake, data_dir):
    table = _build(lake, data_dir, "ml-100k-hide10-noise10")
    data = SplitData.from_frame(table)
    held = table.filter(pl.col("split") == HIDDEN)
    train = table.filter(pl.col("split") == "train")
    assert (
        data.train.n_edges == train.height
    )  # G: the train split, injected edges included, held-back ones not
    assert data.graph_sets().nnz == train.height
    assert data.train_sets.nnz == train.height + held.height  # masked when scoring validation, as in ml-100k
    assert held.join(table.filter(pl.col("is_injected")).select(KEY), on=KEY).height == 0
