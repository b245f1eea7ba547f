"""Where a method's training epoch goes: torch's profiler over one epoch of each method, operators grouped by
what they do, seconds and share beside LightGCN's.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/profile_method.py benchmarks/out/bundle/amazon-book.pt \\
        --methods lightgcn sgl xsimgcl

Each method trains one epoch from scratch (no validation) under ``torch.profiler``; self CPU time per operator
is summed into groups (``GROUPS``: sparse propagation, dense products, softmax, random numbers, gathers and
scatters, element-wise, optimizer, other). Prints one Markdown table; the profiler's own overhead inflates
every row alike, so read shares and differences, not absolute seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.llmhni_experiments import bundle_inputs, load_bundle  # noqa: E402
from llmhni_pipeline.recipe import RunSpec, train  # noqa: E402

GROUPS: dict[str, tuple[str, ...]] = {
    "sparse propagation (Â·E)": ("aten::addmm", "aten::_sparse_csr_mm", "aten::_sparse_mm"),
    "dense N×N products (InfoNCE)": ("aten::mm", "aten::bmm"),
    "softmax / cross-entropy": ("aten::_log_softmax", "aten::_log_softmax_backward_data", "aten::nll_loss"),
    "random numbers (noise)": ("aten::uniform_", "aten::normal_", "aten::bernoulli_", "aten::randperm"),
    "gathers and scatters": (
        "aten::index_select",
        "aten::index",
        "aten::index_add_",
        "aten::_index_put_impl_",
        "aten::scatter_add_",
        "aten::unique",
        "aten::_unique2",
        "aten::gather",
    ),
    "optimizer (Adam)": ("aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::sqrt", "aten::_foreach"),
    "element-wise and copies": (
        "aten::add",
        "aten::add_",
        "aten::mul",
        "aten::mul_",
        "aten::div",
        "aten::div_",
        "aten::sign",
        "aten::copy_",
        "aten::fill_",
        "aten::cat",
        "aten::sum",
        "aten::linalg_vector_norm",
        "aten::clamp_min",
    ),
}


def group_of(name: str) -> str:
    for group, names in GROUPS.items():
        if name in names or any(name.startswith(n) for n in names if n.endswith("_foreach")):
            return group
    return "other"


def profile_epoch(method: str, inputs, device: str) -> tuple[float, dict[str, float]]:
    spec = RunSpec(method=method, epochs=1, eval_every=10**6, patience=10**6, seed=0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        train(spec, inputs, device)
        wall = time.perf_counter() - started
    groups: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        groups[group_of(event.key)] += event.self_cpu_time_total / 1e6
    return wall, groups


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle")
    parser.add_argument("--methods", nargs="+", default=["lightgcn", "sgl", "xsimgcl"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    inputs = bundle_inputs(load_bundle(args.bundle))
    profile_epoch(args.methods[0], inputs, args.device)  # warm-up: first-call allocations and kernels
    results = {m: profile_epoch(m, inputs, args.device) for m in args.methods}
    print(
        f"# {args.bundle}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; self CPU seconds of one epoch (share of the method's total)\n"
    )
    names = list(GROUPS) + ["other"]
    print("| group | " + " | ".join(args.methods) + " |")
    print("|---|" + "---|" * len(args.methods))
    for group in names:
        cells = []
        for m in args.methods:
            _, g = results[m]
            total = sum(g.values())
            cells.append(f"{g.get(group, 0.0):.2f} ({100 * g.get(group, 0.0) / total:.0f}%)")
        print(f"| {group} | " + " | ".join(cells) + " |")
    totals = [sum(results[m][1].values()) for m in args.methods]
    print("| **total (profiled)** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
    print("| wall (with profiler) | " + " | ".join(f"{results[m][0]:.2f}" for m in args.methods) + " |")
    if "lightgcn" in results:
        base = sum(results["lightgcn"][1].values())
        print("| × LightGCN (profiled total) | " + " | ".join(f"{t / base:.2f}" for t in totals) + " |")


if __name__ == "__main__":
    main()
