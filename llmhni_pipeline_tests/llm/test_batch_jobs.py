"""Batches submitted, followed and imported through the real `openai` SDK against a fake Batch API: states over
polls, expiry and cancellation with partial output, and a process killed at the two dangerous moments."""

import pytest

from llmhni_pipeline.llm.batch_jobs import BatchJobs
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAISettings, make_client
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI

MODEL = "gpt-4o-mini"
PROMPTS = [JudgePrompt("s", f"pair {i} [gold:{['High', 'Low'][i % 2]}]", "v1") for i in range(20)]


def _jobs(tmp_path, server, logs=None):
    client = make_client(OpenAISettings(base_url=server.base_url, api_key="k", max_attempts=1))
    return BatchJobs(tmp_path, client, report=(logs.append if logs is not None else lambda m: None))


def _cache(tmp_path):
    return CallCache(tmp_path / "_llm_cache", "judgments")


def test_a_batch_is_followed_over_polls_and_its_output_cached(tmp_path):
    with FakeOpenAI() as server:
        logs = []
        jobs, cache = _jobs(tmp_path, server, logs), _cache(tmp_path)
        (batch_id,) = jobs.submit(PROMPTS, MODEL, cache, "shop")
        assert jobs.records()["batch_id"].to_list() == [batch_id] and jobs.open_for("shop").height == 1
        states = []
        for _ in range(3):
            finished = jobs.poll(cache)
            states.append(jobs.records()["status"][0])
        assert states == ["in_progress", "finalizing", "completed"] and finished == {"shop": [batch_id]}
        assert len(cache) == 20 and jobs.open_for("shop").height == 0 and jobs.records()["added"][0] == 20
        assert jobs.poll(cache) == {} and server.batch_api.creates == 1
        assert any("completed" in m and "20 answers cached" in m for m in logs)
        # nothing left to send: a second submit creates no batch
        assert jobs.submit(PROMPTS, MODEL, cache, "shop") == [] and server.batch_api.creates == 1


@pytest.mark.parametrize("end", ["expired", "cancelled"])
def test_an_expired_or_cancelled_batch_keeps_its_finished_lines_and_the_rest_is_sent_again(tmp_path, end):
    with FakeOpenAI() as server:
        logs = []
        jobs, cache = _jobs(tmp_path, server, logs), _cache(tmp_path)
        server.batch_api.end, server.batch_api.partial = "expired", 0.5
        (batch_id,) = jobs.submit(PROMPTS, MODEL, cache, "shop")
        if end == "cancelled":
            jobs.client.batches.cancel(batch_id)
        for _ in range(3):
            jobs.poll(cache)
        assert jobs.records()["status"][0] == end and len(cache) == 10
        assert any(f"{end}: its unfinished prompts can be re-exported" in m for m in logs)
        server.batch_api.end = "completed"
        (again,) = jobs.submit(PROMPTS, MODEL, cache, "shop")
        sent = server.batch_api.files[server.batch_api.batches[again]["input_file_id"]].decode().splitlines()
        assert len(sent) == 10  # only what the first batch did not finish
        for _ in range(3):
            jobs.poll(cache)
        assert len(cache) == 20


def test_killed_between_creating_the_batch_and_recording_it_nothing_is_submitted_twice(tmp_path, monkeypatch):
    with FakeOpenAI() as server:
        jobs, cache = _jobs(tmp_path, server), _cache(tmp_path)
        real_update = BatchJobs._update

        def killed(self, record, **changes):
            if "batch_id" in changes:
                raise KeyboardInterrupt  # the process stops right after batches.create returned
            return real_update(self, record, **changes)

        monkeypatch.setattr(BatchJobs, "_update", killed)
        with pytest.raises(KeyboardInterrupt):
            jobs.submit(PROMPTS, MODEL, cache, "shop")
        monkeypatch.setattr(BatchJobs, "_update", real_update)
        assert jobs.records()["status"].to_list() == ["submitting"] and server.batch_api.creates == 1
        fresh = _jobs(tmp_path, server)  # another process
        assert fresh.submit(PROMPTS, MODEL, cache, "shop") == []  # the orphan is adopted, not sent again
        assert server.batch_api.creates == 1 and fresh.records()["batch_id"][0] == "batch_1"
        for _ in range(3):
            fresh.poll(cache)
        assert len(cache) == 20


def test_killed_between_completion_and_import_the_next_poll_imports(tmp_path, monkeypatch):
    import llmhni_pipeline.llm.batch_jobs as batch_jobs

    with FakeOpenAI() as server:
        jobs, cache = _jobs(tmp_path, server), _cache(tmp_path)
        jobs.submit(PROMPTS, MODEL, cache, "shop")
        jobs.poll(cache)
        jobs.poll(cache)
        real_import = batch_jobs.import_judge_batch

        def killed(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(batch_jobs, "import_judge_batch", killed)
        with pytest.raises(KeyboardInterrupt):
            jobs.poll(cache)  # completed and downloaded, stopped before the import
        monkeypatch.setattr(batch_jobs, "import_judge_batch", real_import)
        assert (
            len(cache) == 0
            and jobs.records()["status"][0] == "completed"
            and not jobs.records()["imported"][0]
        )
        assert _jobs(tmp_path, server).poll(cache) == {"shop": ["batch_1"]} and len(cache) == 20
        assert server.batch_api.creates == 1


def test_a_batch_never_created_is_marked_failed_so_its_prompts_go_out_again(tmp_path, monkeypatch):
    with FakeOpenAI() as server:
        jobs, cache = _jobs(tmp_path, server), _cache(tmp_path)
        real_create = jobs.client.files.create

        def killed(**kwargs):
            raise KeyboardInterrupt  # stopped before anything was uploaded

        monkeypatch.setattr(jobs.client.files, "create", killed)
        with pytest.raises(KeyboardInterrupt):
            jobs.submit(PROMPTS, MODEL, cache, "shop")
        monkeypatch.setattr(jobs.client.files, "create", real_create)
        (batch_id,) = _jobs(tmp_path, server).submit(PROMPTS, MODEL, cache, "shop")
        statuses = dict(zip(jobs.records()["batch_id"], jobs.records()["status"], strict=True))
        assert (
            statuses[None] == "failed"
            and statuses[batch_id] == "validating"
            and server.batch_api.creates == 1
        )
