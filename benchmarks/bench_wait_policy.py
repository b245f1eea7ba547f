"""What OpenMP's wait policy costs a CPU training epoch alone, and what it costs a process beside it.

    .venv/bin/python benchmarks/bench_wait_policy.py quiet benchmarks/out/bundle/amazon-book.pt --rounds 2
    .venv/bin/python benchmarks/bench_wait_policy.py methods benchmarks/out/bundle/amazon-book.pt
    .venv/bin/python benchmarks/bench_wait_policy.py shared benchmarks/out/bundle/amazon-book.pt --rounds 2

Every measurement runs in a fresh interpreter whose environment is set before torch (and so libgomp) loads, the
settings alternated within each round so a change in machine load hits all of them alike:

- ``package``: nothing set by the caller; ``llmhni_pipeline`` imported before torch, as every ``llmhni`` entry
  point does, so the package's own default is what runs;
- ``PASSIVE`` / ``ACTIVE``: ``OMP_WAIT_POLICY`` set by the caller (a user's own value always wins);
- ``libgomp``: nothing set and torch imported first, so libgomp's own default runs (spin 300,000 times, then
  sleep; 100 spins when there are more threads than CPUs);
- ``spin=N``: ``GOMP_SPINCOUNT=N`` with the policy unset, a bounded spin.

``quiet`` times LightGCN epochs alone (3 epochs, the first dropped). ``methods`` does the same for every method
of the comparison table, one round. ``shared`` times them beside a neighbour that trains the whole time — it
stands for a second ``llmhni materialize`` — for each ``--pairs`` entry ``A+B``: A's epochs beside B, then B's
beside A. Set beside the quiet times, that is the cost a setting puts on itself and on its neighbour. One JSON line per measurement goes to stdout; a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, dict[str, str | None]] = {
    "package": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "libgomp": {},
    **{f"spin={n}": {"GOMP_SPINCOUNT": str(n)} for n in (1000, 3000, 10000, 30000, 100000)},
}
CONTROLLED = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "LLMHNI_OMP_DEFAULT")
NEIGHBOUR_HEAD_START_S = 8.0


def child(bundle: str, method: str, epochs: int, torch_first: bool) -> None:
    """One measurement, in this fresh process: seconds per epoch of ``method`` (the first epoch dropped)."""
    if torch_first:
        import torch  # noqa: F401  (libgomp reads its environment now, before the package could set anything)
    import llmhni_pipeline  # noqa: F401  (the package default, as the ``llmhni`` entry point imports it)

    sys.path.insert(0, str(HERE.parent))
    from benchmarks.llmhni_experiments import bundle_inputs, load_bundle
    from llmhni_pipeline.recipe import RunSpec, train

    inputs = bundle_inputs(load_bundle(bundle))
    spec = RunSpec(method=method, epochs=epochs, eval_every=10**6, patience=10**6, seed=1)
    run = train(spec, inputs, "cpu")
    per_epoch = statistics.mean(r["train_seconds"] for r in run.result.history[1:])
    print(json.dumps({"seconds_per_epoch": per_epoch, "policy": os.environ.get("OMP_WAIT_POLICY")}))


def start(setting: str, bundle: str, method: str, epochs: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.update({k: v for k, v in SETTINGS[setting].items() if v is not None})
    cmd = [sys.executable, __file__, "child", bundle, "--method", method, "--epochs", str(epochs)]
    if setting == "libgomp" or setting.startswith("spin="):
        cmd.append("--torch-first")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict[str, object]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a measurement failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def emit(record: dict[str, object], rows: list[dict[str, object]]) -> None:
    record["seconds_per_epoch"] = round(float(record["seconds_per_epoch"]), 3)
    rows.append(record)
    print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["quiet", "methods", "shared", "child"])
    parser.add_argument("bundle")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--method", default="lightgcn")
    parser.add_argument(
        "--methods", nargs="+", default=["lightgcn", "wbpr", "tce", "bod", "sgl", "simgcl", "xsimgcl"]
    )
    parser.add_argument(
        "--pairs",
        nargs="+",
        default=["PASSIVE+PASSIVE", "libgomp+PASSIVE", "ACTIVE+PASSIVE", "libgomp+libgomp", "ACTIVE+ACTIVE"],
    )
    parser.add_argument("--torch-first", action="store_true")
    args = parser.parse_args()
    if args.mode == "child":
        child(args.bundle, args.method, args.epochs, args.torch_first)
        return
    print(
        f"# {args.mode} on {args.bundle}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {args.epochs} epochs, first dropped",
        flush=True,
    )
    rows: list[dict[str, object]] = []
    if args.mode == "methods":
        for method in args.methods:
            for setting in args.settings:
                emit(
                    {
                        "mode": "quiet",
                        "method": method,
                        "setting": setting,
                        **result(start(setting, args.bundle, method, args.epochs)),
                    },
                    rows,
                )
    for r in range(args.rounds if args.mode != "methods" else 0):
        if args.mode == "quiet":
            for setting in args.settings:
                emit(
                    {
                        "mode": "quiet",
                        "method": args.method,
                        "setting": setting,
                        "round": r,
                        **result(start(setting, args.bundle, args.method, args.epochs)),
                    },
                    rows,
                )
            continue
        for pair in args.pairs:  # A's epochs while B trains the whole time, then B's while A does
            settings = pair.split("+")
            for measured, neighbour in (settings, settings[::-1]):
                background = start(neighbour, args.bundle, args.method, 10**4)
                time.sleep(NEIGHBOUR_HEAD_START_S)  # past its loading: training when the measured one starts
                try:
                    record = result(start(measured, args.bundle, args.method, args.epochs))
                finally:
                    background.kill()
                    background.wait()
                emit(
                    {
                        "mode": f"beside {neighbour}",
                        "method": args.method,
                        "setting": measured,
                        "round": r,
                        **record,
                    },
                    rows,
                )
                if measured == neighbour:
                    break
    print("\n| mode | method | setting | s per epoch (each measurement) | mean |\n|---|---|---|---|---|")
    keys = dict.fromkeys((row["mode"], row["method"], row["setting"]) for row in rows)
    for mode, method, setting in keys:
        values = [
            row["seconds_per_epoch"]
            for row in rows
            if (row["mode"], row["method"], row["setting"]) == (mode, method, setting)
        ]
        print(
            f"| {mode} | {method} | {setting} | {', '.join(f'{v:.2f}' for v in values)} | {statistics.mean(values):.2f} |"
        )


if __name__ == "__main__":
    main()
