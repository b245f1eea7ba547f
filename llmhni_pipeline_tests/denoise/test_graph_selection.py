import sys

import polars as pl
import pytest
import torch

from llmhni_pipeline.denoise.graph_selection import (
    GraphRule,
    apply_rule,
    check_of,
    choose_rule,
    paired_z,
    relabel,
)
from llmhni_pipeline.recsys.baselines import ease_graph_check, ease_valid_per_user
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline_tests.recsys.test_train import _clustered_table


def _noisy_case(judge_right: bool, with_frame: bool = False):
    """The clustered table plus 4 cross-block (noise) training edges per user; candidates: every noise edge and
    6 true edges per user as low-scored positives, 2 cross-block non-edges per user as high-scored negatives."""
    table = _clustered_table()
    g = torch.Generator().manual_seed(1)
    noise = []
    for u in range(60):
        other = (1 - u % 2) * 20
        noise += [(u, int(i) + other, "train") for i in torch.randperm(20, generator=g)[:6].tolist()]
    noise_frame = pl.DataFrame(noise, schema=table.schema, orient="row")
    full = pl.concat([table, noise_frame]).unique(["user_id", "item_id"], keep="first")
    data = SplitData.from_frame(full)
    train = full.filter(pl.col("split") == "train").select("user_id", "item_id")
    true_edges = table.filter(pl.col("split") == "train").group_by("user_id").head(6)
    good, bad = (0.9, -0.8) if judge_right else (-0.8, 0.9)
    rows = [(u, i, "pos_low", bad) for u, i, _ in noise_frame.head(4 * 60).iter_rows()]
    rows += [(u, i, "pos_low", good) for u, i, _ in true_edges.iter_rows()]
    rows += [(u, i, "neg_high", -0.8) for u, i, _ in noise_frame.tail(60).iter_rows()]
    schema = {"user_id": pl.Int32, "item_id": pl.Int32, "kind": pl.String, "m": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    scores = frame.with_columns(
        user_p_high=(1 + pl.col("m")) / 2, user_p_low=(1 - pl.col("m")) / 2, item_p_high=(1 + pl.col("m")) / 2
    ).with_columns(item_p_low=pl.col("user_p_low"))
    return (data, train, scores, full) if with_frame else (data, train, scores)


def test_a_judge_that_finds_the_noise_gives_a_g_prime_chosen_over_g():
    data, train, scores = _noisy_case(judge_right=True)
    chosen, table = choose_rule(data, train, scores, [0.5], l2=10.0)
    assert chosen.rule in ("remove_only", "remove_and_add") and chosen.high == 0.5
    none = table.filter(pl.col("rule") == "none")["ease_valid_recall@20"][0]
    assert table["ease_valid_recall@20"].max() > none
    assert table.filter(pl.col("rule") == "remove_only")["removed"][0] == 240
    # the check read from the table is the one a refit of G and the chosen G′ gives
    edges, _ = apply_rule(train, scores, chosen)
    refit = ease_graph_check(data, InteractionGraph.from_frame(edges, data.n_users, data.n_items), l2=10.0)
    assert check_of(table, chosen) == refit and refit["ease_valid_recall@20_gain"] > 0
    z = table.filter(pl.col("rule") == "remove_only")["z_vs_G"][0]
    assert z >= 2 and table.filter(pl.col("rule") == "none")["z_vs_G"][0] == 0
    # the same gain held to a bar it cannot reach keeps G
    strict, _ = choose_rule(data, train, scores, [0.5], l2=10.0, min_z=z + 1)
    assert strict.rule == "none"


def test_a_judge_that_reached_some_users_reports_them_apart():
    data, train, scores = _noisy_case(judge_right=True)
    _, full = choose_rule(data, train, scores, [0.5], l2=10.0)
    assert "z_judged_users" not in full.columns  # every user judged: no subset to report
    half = scores.with_columns(  # users 30+ not reached yet: their probabilities are NaN
        [
            pl.when(pl.col("user_id") < 30).then(pl.col(c)).otherwise(float("nan")).alias(c)
            for c in scores.columns[4:]
        ]
    )
    _, table = choose_rule(data, train, half, [0.5], l2=10.0)
    none = table.filter(pl.col("rule") == "none")
    removed = table.filter(pl.col("rule") == "remove_only")
    assert removed["removed"][0] == 30 * 6 and none["z_judged_users"][0] == 0
    mask = torch.zeros(60, dtype=torch.bool)
    mask[:30] = True
    # every clustered user has a valid item, so the per-user vector is indexed by user id
    per_user = ease_valid_per_user(data, data.train, 10.0)["recall@20"]
    assert abs(none["ease_valid_recall@20_judged_users"][0] - round(float(per_user[mask].mean()), 5)) < 1e-9
    # the edits sit on the judged users, so the gain there is larger than over everyone
    gain_judged = (
        removed["ease_valid_recall@20_judged_users"][0] - none["ease_valid_recall@20_judged_users"][0]
    )
    assert gain_judged > removed["ease_valid_recall@20"][0] - none["ease_valid_recall@20"][0] > 0


def test_paired_z_is_the_mean_difference_in_standard_errors():
    ref = torch.zeros(4, dtype=torch.float64)
    moved = torch.tensor([0.1, 0.3, 0.1, 0.3], dtype=torch.float64)
    # mean 0.2, sample std sqrt(0.04 / 3), n 4: z = 0.2 / (sqrt(0.04 / 3) / 2) = 2·sqrt(3)
    assert abs(paired_z(moved, ref) - 2 * 3**0.5) < 1e-9
    assert paired_z(ref, ref) == 0.0 and paired_z(-moved, ref) < -3


def test_a_judge_that_is_wrong_leaves_g_unchanged():
    data, train, scores = _noisy_case(judge_right=False)
    chosen, table = choose_rule(data, train, scores, [0.5], l2=10.0)
    assert chosen.rule == "none", table
    edges, removed = apply_rule(train, scores, chosen)
    assert removed.height == 0 and edges.height == train.height


def test_relabel_uses_the_threshold_and_leaves_a_missing_view_undecided():
    scores = pl.DataFrame(
        {
            "user_p_high": [0.9, 0.7, 0.9, 0.1],
            "user_p_low": [0.0, 0.1, 0.0, 0.8],
            "item_p_high": [0.9, 0.9, float("nan"), float("nan")],
            "item_p_low": [0.0, 0.0, float("nan"), float("nan")],
        }
    )
    assert relabel(scores, 0.5)["label"].to_list() == ["hard", "hard", "unjudged", "noisy"]
    assert relabel(scores, 0.8)["label"].to_list() == ["hard", "noisy", "unjudged", "noisy"]
    with pytest.raises(ValueError, match="known: remove_and_add"):
        GraphRule("drop_everything")


def test_above_the_dense_bound_augmented_graph_keeps_g_and_says_why(monkeypatch):
    """EASE, the check that validates the judge's edits, is refused on a catalogue over the bound: the judge's
    right edits are then not applied unchecked, and the metadata and the log say why."""
    import dagster as dg

    from llmhni_pipeline.assets.augmented_graph import AugmentedGraphConfig, augmented_graph

    _, _, scores, full = _noisy_case(judge_right=True, with_frame=True)
    raw = full.with_columns(is_injected=pl.lit(False))
    monkeypatch.setitem(sys.modules, "sansa", None)  # without the scale extra (SANSA): refused
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "1e-6")
    with dg.build_asset_context(partition_key="shop") as context:
        graph, removed = augmented_graph(context, AugmentedGraphConfig(ease_l2=10.0), raw, scores)
    assert graph.metadata["rule"].value == "none" and removed.value.height == 0
    assert "over the bound" in graph.metadata["ease_check_refused"].value
    assert "pip install -e '.[scale]'" in graph.metadata["ease_check_refused"].value
    assert graph.value.height == raw.filter(pl.col("split") == "train").height
    monkeypatch.delenv("LLMHNI_MAX_DENSE_GB")
    with dg.build_asset_context(partition_key="shop") as context:
        graph, _ = augmented_graph(context, AugmentedGraphConfig(ease_l2=10.0), raw, scores)
    assert graph.metadata["rule"].value != "none" and "ease_check_refused" not in graph.metadata
