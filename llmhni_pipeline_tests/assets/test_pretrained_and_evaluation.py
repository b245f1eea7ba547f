import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline.assets.evaluation import evaluation
from llmhni_pipeline.assets.pretrained_recommender import CHECKPOINT, pretrained_recommender
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import artifact_dir, table_path
from llmhni_pipeline.recsys.checkpoint import load_checkpoint
from llmhni_pipeline_tests.conftest import instance_with_datasets

RUN_CONFIG = {"ops": {"pretrained_recommender": {"config": {"epochs": 3, "lr": 0.005}}}}


@pytest.fixture(scope="module")
def trained_lake(tmp_path_factory, ml100k_raw):
    lake = tmp_path_factory.mktemp("lake") / "data_lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "ml-100k").symlink_to(ml100k_raw, target_is_directory=True)
    instance = instance_with_datasets("ml-100k")
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
    assert meta["training_curve"].value.startswith("![lightgcn pretraining](data:image/svg+xml;base64,")
    assert meta["cold_items"].value > 0  # ml-100k has items that only appear in valid/test
    model, payload = load_checkpoint(artifact_dir(lake, "pretrained_recommender", "ml-100k") / CHECKPOINT)
    assert payload["backbone"] == "lightgcn" and model.n_users == 942


def test_evaluation_table_compares_models_on_test(trained_lake):
    lake, result = trained_lake
    table = pl.read_parquet(table_path(lake, "evaluation", "ml-100k"))
    assert set(table["model"]) == {"lightgcn (pretrained)", "MostPop", "EASE (λ=100)"}
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


def test_pretrained_state_warm_starts_the_same_backbone_and_refuses_another(trained_lake):
    from llmhni_pipeline.assets.pretrained_recommender import pretrained_state
    from llmhni_pipeline.resources.lake import LakeResource

    lake, _ = trained_lake
    resource = LakeResource(lake_dir=str(lake))
    state = pretrained_state(resource, "ml-100k", "lightgcn", {"dim": 64, "n_layers": 3})
    saved = load_checkpoint(artifact_dir(lake, "pretrained_recommender", "ml-100k") / CHECKPOINT)[0]
    assert all((state[k] == v).all() for k, v in saved.state_dict().items())
    with pytest.raises(ValueError, match="cannot initialise ngcf.*init_from_pretrained: false"):
        pretrained_state(resource, "ml-100k", "ngcf", {"dim": 64, "n_layers": 3})
