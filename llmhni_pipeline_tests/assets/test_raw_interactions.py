import dagster as dg
import polars as pl
import pytest

from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.partitions import register_datasets
from llmhni_pipeline_tests.conftest import write_incoming


def _materialize(lake, key, instance):
    register_datasets(instance, [key])
    return dg.materialize(
        [raw_interactions],
        partition_key=key,
        instance=instance,
        resources=build_resources(str(lake)),
        raise_on_error=False,
    )


def test_writes_hive_partition_with_metadata_and_passing_checks(lake, datasets_instance):
    instance = datasets_instance()
    result = _materialize(lake, "ml-100k", instance)
    assert result.success
    path = table_path(lake, "raw_interactions", "ml-100k")
    assert path.parent.name == "dataset=ml-100k"
    table = pl.read_parquet(path)
    assert table.schema["user_id"] == pl.Int32 and table.schema["is_injected"] == pl.Boolean
    assert pl.read_parquet(table_path(lake, "id_mappings", "ml-100k"))[
        "entity"
    ].unique().sort().to_list() == ["item", "user"]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 4 and all(c.passed for c in checks)
    meta = result.asset_materializations_for_node("raw_interactions")[0].metadata
    assert (
        meta["train_interactions"].value + meta["valid_interactions"].value + meta["test_interactions"].value
        == table.height
    )
    assert meta["protocol"].value == "random"


def test_failed_run_keeps_the_previous_materialization(lake, datasets_instance):
    instance = datasets_instance()
    write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(5) for i in range(6))
    )
    assert _materialize(lake, "shop", instance).success
    path = table_path(lake, "raw_interactions", "shop")
    before = path.read_bytes()
    write_incoming(lake, "shop", "user_id,item_id\n1,2\n1,2\n")  # duplicate rows now
    result = _materialize(lake, "shop", instance)
    assert not result.success
    failure = result.failure_data_for_node("raw_interactions")
    assert "duplicate" in str(failure.error) and "interactions.csv" in str(failure.error)
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.tmp"))


def test_unknown_partition_fails_with_the_known_list(lake, datasets_instance):
    result = _materialize(lake, "nope", datasets_instance())
    assert not result.success
    assert "unknown dataset 'nope'" in str(result.failure_data_for_node("raw_interactions").error)


@pytest.mark.parametrize("key", ["amazon-book-llard-noise05"])
def test_noise_partition_records_injected_count(lake, shared_data, key, datasets_instance):
    resources = build_resources(str(lake))
    resources["lake"] = resources["lake"].model_copy(update={"shared_data_dir": str(shared_data)})
    instance = datasets_instance(key)
    result = dg.materialize([raw_interactions], partition_key=key, instance=instance, resources=resources)
    meta = result.asset_materializations_for_node("raw_interactions")[0].metadata
    assert meta["injected_edges"].value == round(0.05 * 144_729)


def test_a_table_built_from_an_older_stage_0_refuses_to_be_read(lake, datasets_instance):
    from llmhni_pipeline.assets.llm_embeddings import llm_embeddings
    from llmhni_pipeline.assets.text_profiles import text_profiles
    from llmhni_pipeline.resources.io_managers import LINEAGE_KEY

    rows = "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(6) for i in range(8))
    folder = write_incoming(lake, "shop", rows)
    (folder / "items.csv").write_text("item_id,text\n" + "".join(f"{i},book {i}\n" for i in range(9)))
    instance = datasets_instance("shop")
    resources = build_resources(str(lake))
    assert dg.materialize(
        [raw_interactions, text_profiles], partition_key="shop", instance=instance, resources=resources
    ).success
    lineage = pl.read_parquet_metadata(table_path(lake, "text_profiles", "shop"))[LINEAGE_KEY]
    assert lineage == pl.read_parquet_metadata(table_path(lake, "raw_interactions", "shop"))[LINEAGE_KEY]
    write_incoming(lake, "shop", rows + "6,8\n6,0\n6,1\n")  # one more user: every id after it shifts
    assert _materialize(lake, "shop", instance).success
    result = dg.materialize(
        [raw_interactions, text_profiles, llm_embeddings],
        partition_key="shop",
        instance=instance,
        resources=resources,
        selection=[llm_embeddings],
        raise_on_error=False,
    )
    assert not result.success
    error = str(result.failure_data_for_node("llm_embeddings").error)
    assert "text_profiles was built from another version of raw_interactions" in error
