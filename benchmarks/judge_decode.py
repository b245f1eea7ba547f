"""Where a judge prompt's time goes in llama.cpp: the cost of one decode call against the number of new tokens
it evaluates after a cached prefix, for the embedded judge's GGUF and, optionally, a requantised copy of it.

A judge prompt evaluates only its new suffix (the rest is the KV cache of the previous prompt), so its cost is
one decode call of that many tokens. Fitting time = fixed + per_token · n over the measured calls tells what a
shorter prompt can gain (per-token part) and what batching several prompts into one call could (fixed part).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/judge_decode.py --threads 1 \
        --requantize Q4_0            # also a Q4_0 copy of the default judge, written to a temporary folder

Prints one line per (model, new tokens) with the best of ``--repeats`` calls, then the fitted fixed and
per-token costs per model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from llmhni_pipeline.lake import default_lake_dir, raw_dir
from llmhni_pipeline.llm.model_store import llama_quantize

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct.gguf"
NEW_TOKENS = (1, 5, 22, 44, 88)
PREFIX = 240  # about a judge prompt's cached context (system text + user profile)


def decode_costs(model: Path, threads: int, repeats: int) -> list[tuple[int, float]]:
    """(new tokens, best seconds of one decode call after a ``PREFIX``-token cached prefix)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=2048, n_threads=threads, logits_all=False, verbose=False)
    tokens = llm.tokenize(("word " * 400).encode(), add_bos=False)
    llm.n_tokens = 0
    llm.eval(tokens[:PREFIX])
    out = []
    for n in NEW_TOKENS:
        best = float("inf")
        for _ in range(repeats):
            llm.n_tokens = PREFIX  # drop the previous suffix, keep the prefix cached
            start = time.perf_counter()
            llm.eval(tokens[PREFIX : PREFIX + n])
            best = min(best, time.perf_counter() - start)
        out.append((n, best))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=raw_dir(default_lake_dir()) / "models" / DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--requantize", nargs="*", default=[], help="also these llama.cpp types, e.g. Q4_0")
    args = ap.parse_args()
    models = {"as shipped": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.requantize:
            models[kind] = Path(tmp) / f"{kind}.gguf"
            llama_quantize(args.model, models[kind], kind)
        for name, path in models.items():
            costs = decode_costs(path, args.threads, args.repeats)
            for n, seconds in costs:
                print(
                    f"{name}: {n} new tokens after {PREFIX}: {seconds * 1000:.0f} ms ({n / seconds:.0f} tok/s)"
                )
            n, s = np.array(costs).T
            per_token, fixed = np.polyfit(n, s, 1)
            print(
                f"{name}: fixed {fixed * 1000:.0f} ms per call + {per_token * 1000:.1f} ms per token",
                flush=True,
            )


if __name__ == "__main__":
    main()
