"""LLM gateway throughput on this machine.

    .venv/bin/python benchmarks/bench_llm.py                         # every section that can run here
    .venv/bin/python benchmarks/bench_llm.py --judge qwen2.5-coder-0.5b --pairs 40

1. local embeddings (MiniLM, batch 64): texts/s on 1,000 profile-like texts;
2. local judge (llama.cpp): pairs/s with and without KV prefix reuse, beside the raw prompt-processing
   tokens/s of the same model (the compute bound); skipped when llama-cpp-python or the model is missing;
3. OpenAI backend against the fake server with 200 ms latency at 1, 8 and 32 requests in flight:
   requests/s and the share of the ideal in_flight / latency (target ≥ 80%).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmhni_pipeline.lake import default_lake_dir, raw_dir
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_prompts
from llmhni_pipeline.llm.interfaces import JudgePrompt
from llmhni_pipeline.llm.openai_backend import OpenAIJudge, OpenAISettings

GENRES = ["horror", "romance", "space opera", "cooking", "history", "fantasy", "crime", "poetry"]
SYSTEM = (
    "You judge whether a user would genuinely be interested in a target item, given the user's "
    "preference summary and the item's description. Answer with one word: High, Mid or Low."
)


def profile(i: int) -> str:
    g, h = GENRES[i % 8], GENRES[(i * 3 + 1) % 8]
    return (
        f"This user enjoys {g} books with strong characters and vivid settings, and sometimes reads {h}. "
        f"They rate highly stories that are well paced and emotionally honest, and dislike clichés."
    )


def item(j: int) -> str:
    return f"A {GENRES[j % 8]} novel (#{j}) praised for its atmosphere and memorable protagonist."


def judge_prompt_set(users: int, items_per_user: int) -> list[JudgePrompt]:
    return [
        JudgePrompt(SYSTEM, f"User: {profile(u)}\nTarget item: {item(u * 7 + k)}\nRelevance:", "bench-v1")
        for u in range(users)
        for k in range(items_per_user)
    ]


def bench_embeddings(n: int) -> None:
    from llmhni_pipeline.llm.local_backends import LocalMiniLMEmbedder

    t = time.perf_counter()
    embedder = LocalMiniLMEmbedder()
    load = time.perf_counter() - t
    texts = [profile(i) + f" ({i})" for i in range(n)]
    embedder.embed(texts[:64])  # warm-up
    t = time.perf_counter()
    for lo in range(0, n, 64):
        embedder.embed(texts[lo : lo + 64])
    dt = time.perf_counter() - t
    print(
        f"| local embeddings (all-MiniLM-L6-v2, {embedder.dim}-d) | {n / dt:.0f} texts/s | load {load:.1f} s, "
        f"{n} texts in {dt:.1f} s |"
    )


def bench_local_judge(name: str, pairs: int) -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("| local judge | skipped | llama-cpp-python is not installed |")
        return
    from llmhni_pipeline.llm.local_backends import LlamaCppJudge, chatml
    from llmhni_pipeline.llm.model_store import JUDGE_MODELS, installed_gguf

    model = JUDGE_MODELS[name]
    try:
        path = installed_gguf(model, raw_dir(default_lake_dir()) / "models")
    except FileNotFoundError as exc:
        print(f"| local judge | skipped | {exc} |")
        return
    judge = LlamaCppJudge(path, name, reuse_prefix=True)
    llm = judge._llm
    long_prompt = llm.tokenize(
        chatml(SYSTEM, " ".join(profile(i) for i in range(6))).encode(), add_bos=False, special=True
    )
    llm.n_tokens = 0
    t = time.perf_counter()
    llm.eval(long_prompt)
    pp = len(long_prompt) / (time.perf_counter() - t)
    prompts = judge_prompt_set(max(1, pairs // 5), 5)
    tokens = [
        len(llm.tokenize(chatml(p.system, p.user).encode(), add_bos=False, special=True)) for p in prompts
    ]
    for reuse in (False, True):
        judge.reuse_prefix = reuse
        judge.forget_prefix()
        t = time.perf_counter()
        results = judge.score(prompts)
        dt = time.perf_counter() - t
        evaluated = sum(r.tokens_in for r in results)
        print(
            f"| local judge {name}, prefix reuse {'on' if reuse else 'off'} | {len(prompts) / dt:.2f} pairs/s | "
            f"{evaluated / len(prompts):.0f} of {sum(tokens) / len(tokens):.0f} tokens evaluated per pair |"
        )
    print(
        f"| llama.cpp prompt processing, {name} | {pp:.0f} tokens/s | bound: "
        f"{pp / (sum(tokens) / len(tokens)):.2f} pairs/s without reuse |"
    )


def bench_openai(latency: float, in_flights: list[int], per_slot: int) -> None:
    # the fake server runs in its own process so it does not share this client's interpreter lock
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmhni_pipeline_tests.support.fake_openai", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = proc.stdout.readline().strip()
    try:
        for k in in_flights:
            n = k * per_slot
            prompts = [JudgePrompt(SYSTEM, f"pair {k}-{i} [gold:High]", "bench-v1") for i in range(n)]
            judge = OpenAIJudge(
                OpenAISettings(
                    base_url=base_url, api_key="bench", judge_model="m", max_in_flight=k, timeout_s=30
                )
            )
            with tempfile.TemporaryDirectory() as tmp:
                options = RunOptions(batch_size=k * 4, max_in_flight=1, report=lambda m: None)
                t = time.perf_counter()
                _, stats = judge_prompts(judge, prompts, CallCache(Path(tmp), "j"), options)
                dt = time.perf_counter() - t
            ideal = k / latency
            print(
                f"| openai backend vs fake server ({latency * 1000:.0f} ms), {k} in flight | {n / dt:.1f} req/s | "
                f"{100 * n / dt / ideal:.0f}% of ideal {ideal:.0f} req/s ({stats.calls} calls) |"
            )
    finally:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--judge", default="qwen2.5-coder-0.5b")
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--per-slot", type=int, default=10, help="requests per in-flight slot")
    parser.add_argument("--skip", nargs="*", default=[], choices=["embed", "judge", "openai"])
    args = parser.parse_args()
    print(f"# {platform.machine()}, {time.strftime('%Y-%m-%d')}\n| what | rate | notes |\n|---|---|---|")
    if "embed" not in args.skip:
        bench_embeddings(args.texts)
    if "judge" not in args.skip:
        bench_local_judge(args.judge, args.pairs)
    if "openai" not in args.skip:
        bench_openai(args.latency, args.in_flight, args.per_slot)


if __name__ == "__main__":
    main()
