"""A partition's judging inputs, read from the lake as ``llm_logical_scores`` reads them: its candidate pairs in
judging order, its profiles, the prompts of both perspectives, a batch round's prompts. Every table through the
lake's lineage check (``lake.read_table``): stale prompts never go into a paid batch. Plain polars, no Dagster;
the CLI's judge commands and the benchmarks call it."""

from __future__ import annotations

import polars as pl

from llmhni_pipeline.denoise.judging import ordered_pairs, round_prompts
from llmhni_pipeline.denoise.prompts import build_prompts
from llmhni_pipeline.lake import LakePath, read_table
from llmhni_pipeline.llm.batch import BACKEND
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.labels import LabelThresholds


def judge_tables(lake: LakePath, dataset: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The partition's ``candidate_pairs`` and ``text_profiles``; ``FileNotFoundError`` or ``StaleTableError``
    naming the table that is missing or stale."""
    return read_table(lake, "candidate_pairs", dataset), read_table(lake, "text_profiles", dataset)


def judged_pairs(lake: LakePath, dataset: str, order: str = "id", seed: int = 2026) -> pl.DataFrame:
    """The candidate pairs in the order the stage judges them."""
    return ordered_pairs(judge_tables(lake, dataset)[0], order, seed)


def partition_prompts(
    lake: LakePath, dataset: str, pairs: pl.DataFrame | None = None
) -> tuple[list[JudgePrompt], list[JudgePrompt]]:
    """Both perspectives' prompts of ``pairs`` (the partition's candidate pairs, as stored, by default)."""
    candidates, profiles = judge_tables(lake, dataset)
    return build_prompts(candidates if pairs is None else pairs, profiles)


def batch_round(
    lake: LakePath,
    dataset: str,
    model: str,
    cache: CallCache,
    both_views: bool,
    thresholds: LabelThresholds,
    order: str = "id",
    seed: int = 2026,
) -> list[JudgePrompt]:
    """The judge prompts a batch round of the partition sends, as the stage would (``judging.round_prompts``)."""
    pairs = judged_pairs(lake, dataset, order, seed)
    user, item = partition_prompts(lake, dataset, pairs)
    return round_prompts(
        user, item, pairs["user_id"].to_numpy(), cache, BACKEND, model, thresholds, both_views
    )
