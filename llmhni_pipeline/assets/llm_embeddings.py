"""Stage 2: ``llm_embeddings`` — an LLM embedding of every profile, paid once through the gateway's cache."""

import dagster as dg
import numpy as np
import polars as pl

from llmhni_pipeline.deploy.queues import pool_tags
from llmhni_pipeline.llm.gateway import embed_texts, fit_texts
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.resources.llm import LLMResource


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="llm",
    kinds={"parquet"},
    code_version="1",
    pool="llm",
    op_tags=pool_tags("llm"),
)
def llm_embeddings(
    context: dg.AssetExecutionContext, text_profiles: pl.DataFrame, llm: LLMResource
) -> dg.Output[pl.DataFrame]:
    """``entity, id, vector``; the width is whatever the embedding model returns (MiniLM 384, ada-002 1536)."""
    embedder = llm.embedder()
    texts, cut = fit_texts(text_profiles["text"].to_list(), getattr(embedder, "max_input_bytes", None))
    if cut:
        shown = ", ".join(
            f"{text_profiles['entity'][i]} {text_profiles['id'][i]} ({before:,} → {after:,} bytes)"
            for i, before, after in cut[:5]
        )
        context.log.warning(
            f"{len(cut)} profile text(s) longer than {embedder.model} takes were cut before sending: {shown}"
        )
    vectors, found, stats = embed_texts(
        embedder, texts, llm.cache("embeddings"), llm.run_options(context.log, "embed")
    )
    if not found.all():
        raise dg.Failure(
            description=f"{int((~found).sum())} of {len(texts)} profiles have no embedding yet "
            f"({'budget reached' if stats.stopped_by_budget else 'calls failed'}); the "
            f"{stats.calls} finished are cached, re-run to continue",
            metadata=stats.as_metadata(),
        )
    table = text_profiles.select("entity", "id").with_columns(
        vector=pl.Series(vectors.tolist(), dtype=pl.List(pl.Float32))
    )
    return dg.Output(
        table,
        metadata={
            "backend": embedder.backend,
            "model": embedder.model,
            "dim": int(vectors.shape[1]),
            "mean_norm": float(np.linalg.norm(vectors, axis=1).mean()),
            "texts_cut_to_fit": len(cut),
            **stats.as_metadata(),
        },
    )
