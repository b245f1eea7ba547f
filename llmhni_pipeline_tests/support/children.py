"""Programs the tests and benchmarks start as child processes, to interrupt them as a user would."""

# a judge run against an OpenAI-compatible endpoint (argv: base URL, cache folder), for Ctrl-C mid-run
INTERRUPTED_CHILD = """
import signal, sys, pathlib
# Ctrl-C as in a terminal: a child of a background job inherits SIGINT ignored, and Python then keeps it so
signal.signal(signal.SIGINT, signal.default_int_handler)
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings
settings = OpenAISettings(base_url=sys.argv[1], api_key="k", judge_model="m", timeout_s=60, max_in_flight=8)
prompts = [JudgePrompt("s", f"u{i} [gold:Low]", "v1") for i in range(40)]
print("started", flush=True)
# the resource's OpenAI judge settings: batches of 32, one batch at a time, 8 requests in flight
judge_prompts(OpenAIJudge(settings), prompts, CallCache(pathlib.Path(sys.argv[2]), "judgments"),
              RunOptions(batch_size=32, max_in_flight=1, report=lambda m: print(m, flush=True)))
"""
