import sys

import dagster as dg
import polars as pl
import pytest
import torch

from llmhni_pipeline.assets.evaluation import evaluation
from llmhni_pipeline.assets.pretrained_recommender import pretrained_recommender
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.recsys.checkpoint import ModelStore
from llmhni_pipeline_tests.conftest import instance_with_datasets

RUN_CONFIG = {"ops": {"pretrained_recommender": {"config": {"epochs": 3, "lr": 0.005}}}}


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory, ml100k_raw):
    lake = tmp_path_factory.mktemp("lake") / "data_lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "ml-100k").symlink_to(ml100k_raw, target_is_directory=True)
    with instance_with_datasets("ml-100k") as instance:  # disposed here, not by the garbage collector later
        result = dg.materialize(
            [raw_interactions, pretrained_recommender, evaluation],
            partition_key="ml-100k",
            instance=instance,
            resources=build_resources(str(lake), device="cpu"),
            run_config=RUN_CONFIG,
        )
    assert result.success
    return lake, result


def test_pretraining_writes_history_checkpoint_and_curve(trained_lake):
    lake, result = trained_lake
    history = pl.read_parquet(table_path(lake, "pretrained_recommender", "ml-100k"))
    assert history["epoch"].to_list() == [1, 2, 3]
    assert history["valid_recall@20"].is_not_null().all()
    meta = result.asset_materializations_for_node("pretrained_recommender")[0].metadata
    assert meta["epochs_run"].value == 3 and meta["device"].value == "cpu"
    curve = meta["training_curve"].value
    assert curve.startswith("![lightgcn pretraining](data:image/png;base64,")
    import base64

    assert base64.b64decode(curve.split(",", 1)[1].rstrip(")"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert meta["cold_items"].value > 0  # ml-100k has items that only appear in valid/test
    model, payload = ModelStore(lake).load("pretrained_recommender", "ml-100k")
    assert payload["backbone"] == "lightgcn" and model.n_users == 942


def test_evaluation_table_compares_models_on_test(trained_lake):
    lake, result = trained_lake
    table = pl.read_parquet(table_path(lake, "evaluation", "ml-100k"))
    assert set(table["model"]) == {
        "lightgcn (pretrained)",
        "MostPop",
        "EASE (λ=100)",
    }  # no joint, no baselines
    assert set(table["protocol"]) == {"held-out validation", "closed form"}
    assert table.height == 3 * 16
    r20 = {
        m: table.filter((pl.col("model") == m) & (pl.col("metric") == "recall") & (pl.col("k") == 20))[
            "value"
        ][0]
        for m in table["model"].unique()
    }
    assert r20["EASE (λ=100)"] > r20["MostPop"] > 0
    assert (
        "| EASE (λ=100) |"
        in result.asset_materializations_for_node("evaluation")[0].metadata["test_metrics"].value
    )


def test_the_model_store_serves_the_pretrained_model_to_its_consumers(trained_lake):
    lake, _ = trained_lake
    store = ModelStore(lake)
    assert store.exists("pretrained_recommender", "ml-100k") and not store.exists("joint_model", "ml-100k")
    model, payload = store.load("pretrained_recommender", "ml-100k")
    table = pl.read_parquet(table_path(lake, "raw_interactions", "ml-100k"))
    from llmhni_pipeline.recsys.data import SplitData

    train = SplitData.from_frame(table).train
    z_u, z_i, _ = store.embeddings("pretrained_recommender", "ml-100k", train)
    expected_u, expected_i = model.embed(train.norm_adj())
    assert torch.allclose(z_u, expected_u) and torch.allclose(z_i, expected_i)
    with pytest.raises(FileNotFoundError, match="materialize joint_model for ml-100k first"):
        store.load("joint_model", "ml-100k")


def test_above_the_dense_bound_evaluation_leaves_ease_out_and_says_why(trained_lake, monkeypatch):
    lake, _ = trained_lake
    monkeypatch.setitem(sys.modules, "sansa", None)  # without the scale extra (SANSA): refused
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "0.001")  # ml-100k's 1,682 items need 3 × 21.6 MiB for EASE
    with instance_with_datasets("ml-100k") as instance:
        result = dg.materialize(
            [raw_interactions, pretrained_recommender, evaluation],
            selection=[evaluation],
            partition_key="ml-100k",
            instance=instance,
            resources=build_resources(str(lake), device="cpu"),
        )
        warnings = [
            e.message
            for e in instance.all_logs(result.run_id)
            if e.level >= 30 and "EASE left out" in e.message
        ]
    assert result.success and warnings and "LLMHNI_MAX_DENSE_GB" in warnings[0]
    table = pl.read_parquet(table_path(lake, "evaluation", "ml-100k"))
    assert set(table["model"]) == {"lightgcn (pretrained)", "MostPop"}


def test_evaluation_leaves_out_a_baselines_table_built_from_another_version_of_the_data(
    lake, datasets_instance
):
    """New data, everything re-materialized but ``baselines``: its rows (of the old split) are not merged."""
    from llmhni_pipeline.assets.baselines import baselines
    from llmhni_pipeline_tests.conftest import write_incoming

    rows = "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(30) for i in range(20) if (u + i) % 3)
    write_incoming(lake, "shop", rows)
    instance = datasets_instance("shop")
    small = {"epochs": 2, "dim": 8, "n_layers": 1}
    config = {
        "ops": {
            "pretrained_recommender": {"config": small},
            "baselines": {"config": {**small, "methods": ["wbpr"], "seeds": [1]}},
        }
    }
    assets = [raw_interactions, pretrained_recommender, baselines, evaluation]
    resources = build_resources(str(lake), device="cpu")
    first = dg.materialize(
        assets, partition_key="shop", instance=instance, resources=resources, run_config=config
    )
    assert first.success
    models = set(pl.read_parquet(table_path(lake, "evaluation", "shop"))["model"])
    assert "wbpr (lightgcn, seed 1)" in models
    write_incoming(lake, "shop", rows + "30,0\n30,1\n30,2\n")  # new data: a new stage-0 fingerprint
    again = dg.materialize(
        [raw_interactions, pretrained_recommender, evaluation],
        partition_key="shop",
        instance=instance,
        resources=resources,
        run_config={"ops": {"pretrained_recommender": {"config": small}}},
    )
    assert again.success
    models = set(pl.read_parquet(table_path(lake, "evaluation", "shop"))["model"])
    assert not any(m.startswith("wbpr") for m in models) and "MostPop" in models
    warnings = [
        e.message
        for e in instance.all_logs(again.run_id)
        if e.level >= 30 and "baselines left out" in (e.message or "")
    ]
    assert warnings and "built from another version of raw_interactions" in warnings[0]
