"""text_profiles → llm_embeddings → aligned_projector on an incoming dataset, embedded by the fake server."""

import dagster as dg
import polars as pl

from llmhni_pipeline.assets.aligned_projector import aligned_projector
from llmhni_pipeline.assets.llm_embeddings import llm_embeddings
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.assets.text_profiles import text_profiles
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline_tests.conftest import write_incoming
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

GENRES = ["horror", "romance", "space", "cooking"]
ASSETS = [raw_interactions, text_profiles, llm_embeddings, aligned_projector]
CONFIG = {"ops": {"aligned_projector": {"config": {"epochs": 3, "batch_size": 64, "d": 8}}}}


def _shop(lake, with_text=True):
    rows = [f"{u},{i}" for u in range(40) for i in range(30) if i % 4 == u % 4 and (u + i) % 3]
    folder = write_incoming(lake, "shop", "user_id,item_id\n" + "\n".join(rows) + "\n")
    if with_text:
        (folder / "items.csv").write_text(
            "item_id,text\n" + "".join(f"{i},A {GENRES[i % 4]} book number {i}\n" for i in range(30))
        )
    return folder


def _resources(lake, server):
    resources = build_resources(str(lake), device="cpu")
    resources["llm"] = LLMResource(embed_backend="openai", base_url=server.base_url, lake_dir=str(lake))
    return resources


def test_text_stages_materialize_and_rerun_makes_zero_calls(lake, monkeypatch, datasets_instance):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _shop(lake)
    instance = datasets_instance("shop")
    with FakeOpenAI(dim=12) as server:
        result = dg.materialize(
            ASSETS,
            partition_key="shop",
            instance=instance,
            resources=_resources(lake, server),
            run_config=CONFIG,
        )
        assert result.success
        profiles = pl.read_parquet(table_path(lake, "text_profiles", "shop"))
        assert dict(profiles.group_by("entity", "source").len().select("entity", "source").iter_rows()) == {
            "item": "provided",
            "user": "template",
        }
        embeddings = pl.read_parquet(table_path(lake, "llm_embeddings", "shop"))
        assert embeddings.height == profiles.height and len(embeddings["vector"][0]) == 12
        meta = result.asset_materializations_for_node("aligned_projector")[0].metadata
        assert 0 <= meta["valid_auc_projected_cosine"].value <= 1 and meta["d_llm"].value == 12
        projected = pl.read_parquet(table_path(lake, "aligned_projector", "shop"))
        assert len(projected["vector"][0]) == 8
        paid = sum(server.paid.values())
        again = dg.materialize(
            [raw_interactions, text_profiles, llm_embeddings],
            partition_key="shop",
            instance=instance,
            resources=_resources(lake, server),
            selection=[llm_embeddings.key],
        )
        meta = again.asset_materializations_for_node("llm_embeddings")[0].metadata
        assert meta["llm_calls"].value == 0 and meta["llm_cache_hits"].value == profiles.height
        assert sum(server.paid.values()) == paid


def test_a_dataset_without_text_fails_text_profiles_and_skips_what_needs_text(lake, datasets_instance):
    _shop(lake, with_text=False)
    instance = datasets_instance("shop")
    with FakeOpenAI() as server:
        result = dg.materialize(
            ASSETS,
            partition_key="shop",
            instance=instance,
            resources=_resources(lake, server),
            raise_on_error=False,
        )
    assert not result.success
    assert "has no text for users or items" in str(result.failure_data_for_node("text_profiles").error)
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"raw_interactions", "text_profiles"}  # nothing that needs text ran, nothing was faked
    assert table_path(lake, "raw_interactions", "shop").is_file()
    assert not table_path(lake, "llm_embeddings", "shop").exists()


def test_the_projector_config_builds_its_settings_by_name_with_the_core_defaults():
    import dataclasses

    from llmhni_pipeline.assets.aligned_projector import ProjectorConfig
    from llmhni_pipeline.semantic.projector import ProjectorSettings

    assert ProjectorConfig().settings() == ProjectorSettings()
    changed = ProjectorConfig(lr=0.01, holdout=0.2, pseudo_quantile=0.7).settings()
    assert changed == dataclasses.replace(ProjectorSettings(), lr=0.01, holdout=0.2)
    # every core setting is configurable from the UI
    assert {f.name for f in dataclasses.fields(ProjectorSettings)} <= set(ProjectorConfig.model_fields)
