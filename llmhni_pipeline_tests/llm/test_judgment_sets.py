import json

import polars as pl
import pytest

from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.judgment_sets import (
    META_KEY,
    JudgmentSetError,
    export_judgments,
    import_judgments,
    read_judgment_set,
)


def _rows(keys, status="ok"):
    return pl.DataFrame(
        {
            "p_high": [0.6] * len(keys),
            "p_mid": [0.3] * len(keys),
            "p_low": [0.1] * len(keys),
            "label_mass": [0.9] * len(keys),
            "raw": ["High"] * len(keys),
            "status": [status] * len(keys),
            "tokens_in": pl.Series([20] * len(keys), dtype=pl.Int32),
            "tokens_out": pl.Series([1] * len(keys), dtype=pl.Int32),
            "backend": ["llama.cpp"] * len(keys),
            "model": ["qwen"] * len(keys),
            "prompt_version": ["user-centric-v2"] * len(keys),
            "key": keys,
        }
    )


def test_export_import_round_trip_pays_nothing_twice(tmp_path):
    source = CallCache(tmp_path / "a", "judgments")
    source.put(_rows(["k1", "k2"]))
    source.put(_rows(["k3"]))
    path = tmp_path / "set.parquet"
    description = export_judgments(source, path)
    assert description["rows"] == 3 and description["models"] == ["qwen"]
    target = CallCache(tmp_path / "b", "judgments")
    target.put(_rows(["k1"]))
    assert import_judgments(target, path) == 2  # k1 was there already
    assert sorted(target.load()["key"].to_list()) == ["k1", "k2", "k3"]
    assert import_judgments(target, path) == 0


@pytest.mark.parametrize("damage", ["truncate", "foreign", "edited"])
def test_a_truncated_foreign_or_edited_file_fails_clearly_and_writes_nothing(tmp_path, damage):
    source = CallCache(tmp_path / "a", "judgments")
    source.put(_rows([f"k{i}" for i in range(50)]))
    path = tmp_path / "set.parquet"
    export_judgments(source, path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        problem = "truncated or damaged"
    elif damage == "foreign":
        pl.DataFrame({"a": [1]}).write_parquet(path)
        problem = "not a judgment set"
    else:
        frame = pl.read_parquet(path)
        meta = pl.read_parquet_metadata(path)[META_KEY]
        frame.head(40).write_parquet(path, metadata={META_KEY: meta})
        assert json.loads(meta)["rows"] == 50
        problem = "40 rows against 50 recorded"
    target = CallCache(tmp_path / "b", "judgments")
    with pytest.raises(JudgmentSetError, match=problem) as err:
        import_judgments(target, path)
    assert str(path) in str(err.value) and len(target) == 0 and not target.segments()


def test_only_valid_answers_are_published(tmp_path):
    cache = CallCache(tmp_path, "judgments")
    cache.put(_rows(["good"]))
    cache.put(_rows(["bad"], status="malformed"))
    path = tmp_path / "set.parquet"
    export_judgments(cache, path)
    assert read_judgment_set(path)[0]["key"].to_list() == ["good"]


def test_a_dataset_export_holds_only_its_prompts_judgments(tmp_path):
    from llmhni_pipeline.denoise.prompts import user_centric
    from llmhni_pipeline.llm.judgment_sets import prompt_keys

    ours = [user_centric("likes sci-fi", f"book {i}") for i in range(3)]
    other = [user_centric("likes romance", "book 9")]
    cache = CallCache(tmp_path / "a", "judgments")
    assert prompt_keys(cache, ours) == []  # nothing cached: no judge to key by
    cache.put(_rows(["placeholder"]))  # the cache's judge: backend llama.cpp, model qwen
    keys = prompt_keys(cache, ours + other)
    assert len(keys) == 4 and len(set(keys)) == 4
    cache.put(_rows(keys))
    path = tmp_path / "set.parquet"
    description = export_judgments(cache, path, prompt_keys(cache, ours))
    frame, _ = read_judgment_set(path)
    assert description["rows"] == 3 and sorted(frame["key"].to_list()) == sorted(keys[:3])
    with pytest.raises(JudgmentSetError, match="none of the 1 prompts"):
        export_judgments(cache, path, ["not-cached"])
