"""The embedded judge against llama.cpp's own prompt-processing rate on this machine (issue 26, item 4).

1. The limit: fresh prompts of n tokens of the judge model, evaluated with ``Llama.eval`` after a reset (best of
   ``--repeats``), at the judge's prompt lengths and longer.
2. The judge: ``LlamaCppJudge.score`` on real user-centric prompts of a partition (prefix reuse on, as in the
   stage), tokens evaluated per second.
The ratio of 2 to 1 at the judge's mean evaluated length is the figure the issue's ≥ 0.9 target is about.

    .venv/bin/python benchmarks/judge_limit.py ml-100k --prompts 60       # pause other jobs first
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from llmhni_pipeline.denoise.partition import judged_pairs, partition_prompts
from llmhni_pipeline.lake import default_lake_dir, raw_dir
from llmhni_pipeline.llm.local_backends import LlamaCppJudge
from llmhni_pipeline.llm.model_store import JUDGE_MODELS, installed_gguf


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 43, 64, 128, 256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    model = JUDGE_MODELS[args.model]
    path = installed_gguf(model, raw_dir(default_lake_dir()) / "models")
    judge = LlamaCppJudge(path, model.name, n_threads=args.threads)
    llm = judge._llm
    vocab = np.random.default_rng(0).integers(1000, 30000, 4096).tolist()
    print(f"{model.name}, {args.threads} threads, llama.cpp eval of fresh prompts (best of {args.repeats}):")
    limit = {}
    for n in args.lengths:
        best = float("inf")
        for r in range(args.repeats):
            tokens = vocab[r * 7 : r * 7 + n]
            llm.reset()
            llm.n_tokens = 0
            started = time.perf_counter()
            llm.eval(tokens)
            best = min(best, time.perf_counter() - started)
        limit[n] = n / best
        print(f"  {n:4d} tokens: {limit[n]:6.1f} tokens/s ({best * 1000:.0f} ms)")
    pairs = judged_pairs(default_lake_dir(), args.dataset)
    user, _ = partition_prompts(default_lake_dir(), args.dataset, pairs)
    prompts = user[: args.prompts]
    judge.score(prompts[:2])  # warm-up
    judge.forget_prefix()
    started = time.perf_counter()
    results = judge.score(prompts)
    took = time.perf_counter() - started
    evaluated = sum(r.tokens_in for r in results)
    mean = evaluated / len(results)
    rate = evaluated / took
    nearest = min(limit, key=lambda n: abs(n - mean))
    print(
        f"judge on {len(prompts)} {args.dataset} user-centric prompts: {len(prompts) / took:.2f} prompts/s, "
        f"{mean:.1f} tokens evaluated per prompt (prefix reuse), {rate:.1f} tokens/s = "
        f"{rate / limit[nearest]:.2f} × the limit at {nearest} tokens ({limit[nearest]:.1f} tokens/s)"
    )


if __name__ == "__main__":
    main()
