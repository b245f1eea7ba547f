"""Seconds per training epoch of every method beside LightGCN's, in one process, as a ratio.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_methods.py benchmarks/out/bundle/amazon-book.pt \\
        --methods lightgcn sgl simgcl xsimgcl wbpr tce bod --epochs 4 --repeats 2

Each method trains ``--epochs`` epochs with no validation (the loop's evaluation is timed separately by the
harness); the first epoch is dropped as warm-up, the rest averaged. Methods alternate within each repeat so a
change in machine load hits all of them alike. Prints one JSON line per (method, repeat) and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.llmhni_experiments import bundle_inputs, load_bundle  # noqa: E402
from llmhni_pipeline.methods import MethodUnavailable  # noqa: E402
from llmhni_pipeline.recipe import RunSpec, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle")
    parser.add_argument("--methods", nargs="+", default=["lightgcn", "sgl", "simgcl", "xsimgcl"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    inputs = bundle_inputs(load_bundle(args.bundle))
    print(
        f"# {args.bundle}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.epochs} epochs × {args.repeats}",
        flush=True,
    )
    seconds: dict[str, list[float]] = {m: [] for m in args.methods}
    for repeat in range(args.repeats):
        for method in args.methods:
            spec = RunSpec(method=method, epochs=args.epochs, eval_every=10**6, patience=10**6, seed=repeat)
            try:
                run = train(spec, inputs, args.device)
            except MethodUnavailable as why:
                print(f"SKIPPED {method}: {why}", flush=True)
                seconds.pop(method, None)
                continue
            per_epoch = statistics.mean(r["train_seconds"] for r in run.result.history[1:])
            seconds[method].append(per_epoch)
            print(
                json.dumps({"method": method, "repeat": repeat, "seconds_per_epoch": round(per_epoch, 3)}),
                flush=True,
            )
    base = statistics.mean(seconds["lightgcn"]) if "lightgcn" in seconds else None
    print("\n| method | s/epoch (each repeat) | mean | × LightGCN |\n|---|---|---|---|")
    for method, values in seconds.items():
        mean = statistics.mean(values)
        ratio = f"{mean / base:.2f}" if base else "-"
        print(f"| {method} | {', '.join(f'{v:.2f}' for v in values)} | {mean:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
