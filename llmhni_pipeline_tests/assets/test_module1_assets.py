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


def test_an_oversized_text_is_cut_to_fit_and_an_endpoints_400_is_named(lake, monkeypatch, datasets_instance):
    """One item text of 10^6 characters, and an endpoint that refuses any input over 2,000 bytes with a 400
    ``context_length_exceeded`` for the whole request (as OpenAI does): it once failed its batch's 63 other texts
    and the stage on every re-run, blaming "readable answer share". Cut to the configured limit before sending,
    every text is embedded and the stage names the cut one; with no room to cut, the failure names the 400."""
    from llmhni_pipeline.llm.gateway import fit_texts
    from llmhni_pipeline.run_report import root_cause

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    folder = _shop(lake)
    (folder / "items.csv").write_text(
        "item_id,text\n"
        + "".join(f"{i},A {GENRES[i % 4]} book number {i}\n" for i in range(29))
        + "29,"
        + "é" * 10**6
        + "\n"
    )
    instance = datasets_instance("shop")
    with FakeOpenAI(dim=12) as server:
        server.max_input_bytes = 2000
        resources = _resources(lake, server)
        resources["llm"] = LLMResource(
            embed_backend="openai", base_url=server.base_url, lake_dir=str(lake), embed_max_tokens=10**7
        )
        failed = dg.materialize(
            ASSETS[:3], partition_key="shop", instance=instance, resources=resources, raise_on_error=False
        )
        assert not failed.success
        (event,) = [e for e in failed.all_events if e.is_step_failure]
        cause = root_cause(event.step_failure_data.error)
        assert "Error code: 400" in cause and "maximum context length" in cause, cause
        resources["llm"] = LLMResource(
            embed_backend="openai", base_url=server.base_url, lake_dir=str(lake), embed_max_tokens=2000
        )
        result = dg.materialize(ASSETS[:3], partition_key="shop", instance=instance, resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("llm_embeddings")[0].metadata
    assert meta["texts_cut_to_fit"].value == 1
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level >= 30]
    assert any("1 profile text(s) longer than" in w and "2,000,000 →" in w for w in warnings), warnings
    embeddings = pl.read_parquet(table_path(lake, "llm_embeddings", "shop"))
    assert embeddings.height == pl.read_parquet(table_path(lake, "text_profiles", "shop")).height
    cut, which = fit_texts(["é" * 5, "short", "a" * 10], 6)
    assert cut == ["ééé", "short", "aaaaaa"] and which == [(0, 10, 6), (2, 10, 6)]


def test_the_embedded_model_cuts_a_huge_text_before_its_tokenizer_sees_it():
    from llmhni_pipeline.llm.gateway import fit_texts
    from llmhni_pipeline.llm.local_backends import LocalMiniLMEmbedder

    embedder = LocalMiniLMEmbedder()
    (text,), cut = fit_texts(["word " * 2_000_000], embedder.max_input_bytes)
    assert cut and len(text.encode()) <= embedder.max_input_bytes
    # the model reads the same first word pieces from the cut text as from the whole one
    assert embedder.max_input_bytes >= 16 * 256 and embedder.embed([text]).vectors.shape == (1, embedder.dim)
