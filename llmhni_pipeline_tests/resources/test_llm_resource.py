import numpy as np
import pytest

from llmhni_pipeline.llm.gateway import embed_texts
from llmhni_pipeline.resources.llm import LLMResource
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def test_openai_backend_takes_the_key_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-only")
    with FakeOpenAI(expected_key="sk-env-only") as server:
        llm = LLMResource(
            embed_backend="openai",
            judge_backend="openai",
            base_url=server.base_url,
            lake_dir=str(tmp_path),
            max_calls=4,
            embed_batch_size=2,
        )
        assert "api_key" not in LLMResource.model_fields
        log = _Log()
        options = llm.run_options(log, "embed")
        vectors, found, stats = embed_texts(
            llm.embedder(), ["a", "b", "c", "d", "e", "f"], llm.cache("embeddings"), options
        )
        assert stats.calls == 4 and stats.stopped_by_budget and found.sum() == 4
        assert np.isnan(vectors[~found]).all()
        assert (tmp_path / "_llm_cache" / "embeddings").is_dir()


def test_local_judge_without_fetched_weights_says_how_to_fetch(tmp_path):
    llm = LLMResource(judge_backend="local", lake_dir=str(tmp_path), local_judge_model="smollm2-135m")
    try:
        llm.judge()
    except (FileNotFoundError, ImportError) as exc:
        assert "llmhni fetch judge-smollm2-135m" in str(exc) or "llama-cpp-python" in str(exc)
    else:
        raise AssertionError("expected a clear error")


@pytest.mark.parametrize(
    "setting",
    [
        {"judge_batch_size": -1},
        {"judge_batch_size": 0},
        {"embed_batch_size": 0},
        {"timeout_s": 0},
        {"max_in_flight": 0},
        {"max_attempts": 0},
    ],
)
def test_the_llm_resources_numbers_are_checked(setting):
    """``judge_batch_size: -1`` once gave SUCCESS with no call, ``timeout_s: 0`` a misleading connection error."""
    from pydantic import ValidationError

    (name,) = setting
    with pytest.raises(ValidationError, match=name):
        LLMResource(**setting)
