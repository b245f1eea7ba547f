"""Batch files: export → (OpenAI's or vLLM's runner) → import, against the synchronous path and the fake server."""

import json
import random

import pytest

from llmhni_pipeline.llm.batch import (
    MAX_LINES,
    PendingBatches,
    batch_lines,
    export_judge_batch,
    import_judge_batch,
    split_files,
)
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI, batch_output

MODEL = "gpt-4o-mini"
PROMPTS = [
    JudgePrompt("Rate: High, Mid or Low.", f"pair {i} [gold:{g}]", "user-centric-v3")
    for i, g in enumerate(["High", "Mid", "Low"] * 8)
]


def _judge(server) -> OpenAIJudge:
    return OpenAIJudge(
        OpenAISettings(base_url=server.base_url, api_key="k", judge_model=MODEL, max_in_flight=2)
    )


def _options() -> RunOptions:
    return RunOptions(batch_size=8, report=lambda m: None)


def _export(tmp_path, prompts=PROMPTS):
    cache, pending = CallCache(tmp_path / "_llm_cache", "judgments"), PendingBatches(tmp_path)
    written = export_judge_batch(prompts, MODEL, cache, pending, "shop", tmp_path / "round1.jsonl")
    lines = [json.loads(t) for path, _, _ in written for t in path.read_text().splitlines()]
    return cache, pending, written, lines


def _write(path, lines, cut_last=False):
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_text(text[:-40] if cut_last else text)
    return path


def test_a_batch_line_is_the_synchronous_request_byte_for_byte(tmp_path):
    with FakeOpenAI() as server:
        judge_prompts(_judge(server), PROMPTS[:3], CallCache(tmp_path, "sync"), _options())
        sent = {b["messages"][-1]["content"]: b for b in server.chat_bodies}
    lines = batch_lines(PROMPTS[:3], MODEL)
    assert len(lines) == 3 and {line["url"] for line in lines} == {"/v1/chat/completions"}
    for line, prompt in zip(lines, PROMPTS[:3], strict=True):
        assert line["method"] == "POST" and len(line["custom_id"]) == 64
        assert json.dumps(line["body"], sort_keys=True) == json.dumps(sent[prompt.user], sort_keys=True)
        assert (
            line["body"]["max_tokens"] == 1 and line["body"]["temperature"] == 0 and line["body"]["logprobs"]
        )


def test_files_split_at_the_batch_apis_limits(tmp_path):
    lines = [{"custom_id": str(i), "body": {"messages": []}} for i in range(MAX_LINES + 3)]
    files = split_files(lines, tmp_path / "all.jsonl")
    assert [p.name for p, _ in files] == ["all-001.jsonl", "all-002.jsonl"]
    assert [len(chunk) for _, chunk in files] == [MAX_LINES, 3]
    assert split_files(lines[:5], tmp_path / "all.jsonl")[0][0].name == "all.jsonl"


def test_export_import_round_trip_caches_as_the_synchronous_path_and_then_costs_nothing(tmp_path):
    cache, pending, written, lines = _export(tmp_path)
    assert len(written) == 1 and written[0][1] == len(PROMPTS) and len(pending.load()) == len(PROMPTS)
    output = batch_output(lines, errors={lines[5]["custom_id"]})
    random.Random(1).shuffle(output)  # the Batch API writes lines in any order
    report = import_judge_batch([_write(tmp_path / "out.jsonl", output)], cache, pending)
    assert report.added == len(PROMPTS) - 1 and sum(report.error_lines.values()) == 1 and report.missing == 1
    assert report.error_lines == {"500": 1} and report.cost_usd > 0
    # re-exporting sends only what is still missing
    _, _, _, rest = _export(tmp_path)
    assert [line["custom_id"] for line in rest] == [lines[5]["custom_id"]]
    # the synchronous run afterwards pays only for the prompt whose line was an error
    with FakeOpenAI() as server:
        results, stats = judge_prompts(_judge(server), PROMPTS, cache, _options())
        assert stats.cache_hits == len(PROMPTS) - 1 and stats.calls == 1 and server.requests == 1
        # and a batch-imported answer is the answer the synchronous path caches for the same prompt
        fresh, _ = judge_prompts(
            _judge(server), PROMPTS, CallCache(tmp_path / "fresh", "judgments"), _options()
        )
    for a, b in zip(results, fresh, strict=True):
        assert (a.p_high, a.p_mid, a.p_low, a.raw, a.status) == pytest.approx(
            (b.p_high, b.p_mid, b.p_low, b.raw, b.status)
        )
    again = import_judge_batch([tmp_path / "out.jsonl"], cache, pending)
    assert again.added == 0 and again.already_cached == len(PROMPTS) - 1


def test_unknown_repeated_foreign_and_cut_lines_are_refused_and_never_cached(tmp_path):
    cache, pending, _, lines = _export(tmp_path)
    good = batch_output(lines[:10])
    stranger = batch_output([{**lines[10], "custom_id": "f" * 64}])
    foreign = batch_output(lines[11:13], model="llama-3-8b")
    _write(tmp_path / "a.jsonl", good + stranger + [good[0]] + foreign)
    _write(tmp_path / "b.jsonl", batch_output(lines[13:16]), cut_last=True)
    report = import_judge_batch([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], cache, pending)
    assert report.added == 10 + 2  # b.jsonl's last line is cut: its first two count
    assert (report.unknown, report.duplicates, report.foreign_model, report.cut_lines) == (1, 1, 2, 1)
    assert len(cache) == 12 and report.missing == len(PROMPTS) - 12
    assert any("answered by 'llama-3-8b', exported for 'gpt-4o-mini'" in e for e in report.examples)
    # OpenAI answers a model alias with its dated snapshot: that is the same model
    dated = batch_output(lines[16:17], model=f"{MODEL}-2024-07-18")
    assert import_judge_batch([_write(tmp_path / "c.jsonl", dated)], cache, pending).added == 1


def test_nothing_is_exported_twice_once_cached_and_the_cli_round_trip_works(tmp_path, monkeypatch, capsys):
    import polars as pl

    from llmhni_pipeline.cli import main
    from llmhni_pipeline.lake import table_path

    lake = tmp_path / "lake"
    monkeypatch.setenv("LLMHNI_LAKE_DIR", str(lake))
    pairs = pl.DataFrame(
        {
            "user_id": [0, 0, 1, 1],
            "item_id": [1, 2, 0, 2],
            "kind": ["neg_high", "pos_low"] * 2,
            "rank_within_user": [0, 0, 0, 0],
            "model_score": [0.9, 0.1, 0.8, 0.2],
            "evidence_items": [[0], [1], [1], [2]],
        }
    )
    profiles = pl.DataFrame(
        {
            "entity": ["user", "user", "item", "item", "item"],
            "id": [0, 1, 0, 1, 2],
            "text": [
                "likes [gold:High] jazz",
                "likes [gold:Low] rock",
                "Kind of Blue",
                "Nevermind",
                "OK Computer",
            ],
        }
    )
    for name, frame in (("candidate_pairs", pairs), ("text_profiles", profiles)):
        table_path(lake, name, "shop").parent.mkdir(parents=True)
        frame.write_parquet(table_path(lake, name, "shop"))
    assert main(["judgments", "batch-export", "shop", str(tmp_path / "r1.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "4 requests" in out and "as a batch" in out and "round 1 sends the user-centric prompts" in out
    lines = [json.loads(t) for t in (tmp_path / "r1.jsonl").read_text().splitlines()]
    assert all("User preferences" in line["body"]["messages"][1]["content"] for line in lines)
    _write(tmp_path / "o1.jsonl", batch_output(lines))
    assert main(["judgments", "batch-import", str(tmp_path / "o1.jsonl")]) == 0
    assert "4 answers cached" in capsys.readouterr().out
    # round 2: the item-centric prompts of the pairs judged High (user 0's, whose profile says [gold:High])
    assert main(["judgments", "batch-export", "shop", str(tmp_path / "r2.jsonl")]) == 0
    round2 = [json.loads(t) for t in (tmp_path / "r2.jsonl").read_text().splitlines()]
    assert len(round2) == 2 and all(
        "Items the user likes" in r["body"]["messages"][1]["content"] for r in round2
    )
    _write(tmp_path / "o2.jsonl", batch_output(round2))
    assert main(["judgments", "batch-import", str(tmp_path / "o2.jsonl")]) == 0
    capsys.readouterr()
    assert main(["judgments", "batch-export", "shop", str(tmp_path / "r3.jsonl")]) == 0
    assert "nothing to export" in capsys.readouterr().out and not (tmp_path / "r3.jsonl").exists()
    assert main(["judgments", "batch-import", str(tmp_path / "nope.jsonl")]) == 2
    capsys.readouterr()
    assert (
        main(["embeddings", "batch-export", "shop", str(tmp_path / "e1.jsonl")]) == 0
    )  # the 5 profile texts
    assert "5 requests" in capsys.readouterr().out
    embedded = [json.loads(t) for t in (tmp_path / "e1.jsonl").read_text().splitlines()]
    _write(tmp_path / "eo1.jsonl", batch_output(embedded))
    assert main(["embeddings", "batch-import", str(tmp_path / "eo1.jsonl")]) == 0
    assert "5 answers cached" in capsys.readouterr().out
    assert main(["embeddings", "batch-export", "shop", str(tmp_path / "e2.jsonl")]) == 0
    assert "nothing to export" in capsys.readouterr().out


def test_embeddings_round_trip_caches_what_embed_texts_would_and_then_costs_nothing(tmp_path):
    import numpy as np

    from llmhni_pipeline.llm.batch import export_embedding_batch, import_embedding_batch
    from llmhni_pipeline.llm.gateway import embed_texts
    from llmhni_pipeline.llm.openai_backend import OpenAIEmbedder

    texts = [f"profile {i}: likes {['jazz', 'chess', 'tea'][i % 3]}" for i in range(30)] + [
        "profile 0: likes jazz"
    ]
    cache, pending = CallCache(tmp_path / "_llm_cache", "embeddings"), PendingBatches(tmp_path)
    written = export_embedding_batch(
        texts, "text-embedding-3-small", cache, pending, "shop", tmp_path / "e.jsonl"
    )
    lines = [json.loads(t) for path, _, _ in written for t in path.read_text().splitlines()]
    assert len(lines) == 30 and {line["url"] for line in lines} == {
        "/v1/embeddings"
    }  # the repeated text once
    output = batch_output(lines)
    output[3]["response"]["body"]["data"][0]["embedding"] = [[0.1, 0.2], [0.3, 0.4]]  # per-token vectors
    random.Random(2).shuffle(output)
    report = import_embedding_batch([_write(tmp_path / "eo.jsonl", output)], cache, pending)
    assert report.added == 29 and report.unreadable == 1 and report.missing == 1 and report.cost_usd > 0
    with FakeOpenAI() as server:
        settings = OpenAISettings(base_url=server.base_url, api_key="k", embed_model="text-embedding-3-small")
        vectors, found, stats = embed_texts(OpenAIEmbedder(settings), texts, cache, _options())
        assert (
            found.all() and stats.calls == 1 and server.requests == 1
        )  # only the unreadable one, synchronously
        fresh, _, _ = embed_texts(
            OpenAIEmbedder(settings), texts, CallCache(tmp_path / "f", "embeddings"), _options()
        )
    assert np.allclose(vectors, fresh, atol=1e-6)


def test_only_the_exported_model_or_its_dated_snapshot_and_only_a_named_one_may_answer(tmp_path):
    cache, pending, _, lines = _export(tmp_path)
    for served in ("gpt-4o-mini-2024-07-18-x", "gpt-4o-mini-turbo", "gpt-4o", ""):
        out = batch_output(lines[:1], model=served or None)
        if not served:
            del out[0]["response"]["body"]["model"]
        report = import_judge_batch([_write(tmp_path / "x.jsonl", out)], cache, pending)
        assert report.added == 0 and report.foreign_model == 1, served
    report = import_judge_batch(
        [_write(tmp_path / "d.jsonl", batch_output(lines[:1], model=f"{MODEL}-2024-07-18"))], cache, pending
    )
    assert report.added == 1 and any(f"{MODEL}-2024-07-18 (1)" in line for line in report.lines())


def test_an_error_line_is_not_an_answer_and_a_retry_in_the_same_import_is_cached(tmp_path):
    cache, pending, _, lines = _export(tmp_path)
    errors = batch_output(lines[:3], errors={line["custom_id"] for line in lines[:3]})
    retry = batch_output(lines[:3])
    report = import_judge_batch(
        [_write(tmp_path / "errors.jsonl", errors), _write(tmp_path / "retry.jsonl", retry)], cache, pending
    )
    assert report.added == 3 and report.duplicates == 0 and sum(report.error_lines.values()) == 3
    again = import_judge_batch([tmp_path / "retry.jsonl"], cache, pending)
    assert again.added == 0 and again.already_cached == 3 and again.tokens_in == 0 and again.cost_usd == 0


def test_answers_read_from_text_are_counted_by_the_stage_and_replaced_by_ones_with_log_probabilities(
    tmp_path,
):
    from llmhni_pipeline.llm.interfaces import CallStatus

    cache, pending, _, lines = _export(tmp_path)
    plain = batch_output(lines[:4])
    for line in plain:  # a runner that does not pass log-probabilities on
        line["response"]["body"]["choices"][0]["logprobs"] = None
    first = import_judge_batch([_write(tmp_path / "plain.jsonl", plain)], cache, pending)
    assert first.added == 4 and first.read_from_text == 4
    rows = cache.load([line["custom_id"] for line in lines[:4]])
    assert set(rows["status"]) == {str(CallStatus.TEXT)}
    better = import_judge_batch([_write(tmp_path / "full.jsonl", batch_output(lines[:4]))], cache, pending)
    assert better.added == 4 and better.replaced_text_reads == 4
    rows = cache.load([line["custom_id"] for line in lines[:4]])
    assert set(rows["status"]) == {str(CallStatus.OK)} and rows.height == 4
