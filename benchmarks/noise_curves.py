"""Noise robustness from run records: test R@20 against the injected-noise ratio, per method, and the relative
drop from the clean partition (issue 12, item 3). Reads the harness's JSON lines (``runs.jsonl``); a dataset
``<base>-noiseNN`` is the base partition with NN% fake training edges.

    .venv/bin/python benchmarks/noise_curves.py benchmarks/results/2026-12-01-cpu/final_noise_ml100k.jsonl \\
        --png docs/noise_ml100k.png --name "recipe_soft25=LLMHNI (G′ = G)"

Prints a Markdown table (mean ± std over seeds where there are several; the drop paired by seed where two or more
seeds ran on both partitions) and writes the figure.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines_table import is_closed_form, is_run, read_records  # noqa: E402
from llmhni_pipeline.plots import lines_png  # noqa: E402

_NOISE = re.compile(r"^(?P<base>.+?)(?:-noise(?P<ratio>\d{2}))?$")


def noise_ratio(dataset: str) -> tuple[str, int]:
    """``ml-100k-noise10`` → (``ml-100k``, 10); a clean key → (key, 0)."""
    match = _NOISE.match(dataset)
    return match["base"], int(match["ratio"] or 0)


Runs = list[tuple[int | None, float]]  # (seed, metric) of each run


def curves(rows: list[dict], metric: str = "test_recall@20") -> dict[tuple[str, str], dict[int, Runs]]:
    """(base dataset, method arm) → noise ratio → (seed, metric) of each run."""
    out: dict[tuple[str, str], dict[int, Runs]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if not (is_run(r) or is_closed_form(r)) or r.get("select_on_test"):
            continue
        base, ratio = noise_ratio(r["dataset"])
        out[(base, r["arm"])][ratio].append((r.get("seed"), r[metric]))
    return out


def _values(runs: Runs | None) -> list[float]:
    return [value for _, value in runs or []]


def _cell(runs: Runs | None) -> str:
    values = _values(runs)
    if not values:
        return "–"
    spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.4f}{spread}"


def _drop(runs: Runs | None, clean: Runs | None) -> str:
    """The relative change from the clean partition: paired by seed (mean ± std of the per-seed changes) where
    two or more seeds ran on both, else the change of the means."""
    if not runs or not clean:
        return "–"
    clean_by_seed = {seed: value for seed, value in clean if seed is not None}
    paired = [
        (value - clean_by_seed[seed]) / clean_by_seed[seed] * 100
        for seed, value in runs
        if seed in clean_by_seed
    ]
    if len(paired) >= 2:
        return f"{statistics.mean(paired):+.1f}% ± {statistics.stdev(paired):.1f}"
    base = statistics.mean(_values(clean))
    return f"{(statistics.mean(_values(runs)) - base) / base * 100:+.1f}%"


def table(points: dict[tuple[str, str], dict[int, Runs]]) -> str:
    ratios = sorted({ratio for series in points.values() for ratio in series})
    noisy = [ratio for ratio in ratios if ratio]
    head = " | ".join(f"{ratio}%" for ratio in ratios) + "".join(f" | drop at {r}%" for r in noisy)
    lines = [f"| dataset | method | {head} |", "|---|---|" + "---|" * (len(ratios) + len(noisy))]
    for (base, arm), series in sorted(points.items()):
        cells = [_cell(series.get(r)) for r in ratios] + [_drop(series.get(r), series.get(0)) for r in noisy]
        lines.append(f"| {base} | {arm} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument(
        "--png", type=Path, help="write the figure here (one per base dataset: name suffixed)"
    )
    parser.add_argument(
        "--name", nargs="*", default=[], metavar="ARM=NAME", help="show an arm under this name"
    )
    parser.add_argument(
        "--metric", default="test_recall@20", help="the record field to plot (test_ndcg@10, …)"
    )
    args = parser.parse_args()
    names = dict(item.split("=", 1) for item in args.name)
    rows = read_records(args.records)
    for r in rows:
        r["arm"] = names.get(r["arm"], r["arm"])
    points = curves(rows, args.metric)
    label = {"test_recall@20": "test R@20", "test_ndcg@10": "test N@10"}.get(args.metric, args.metric)
    print(table(points))
    if args.png:
        for base in sorted({b for b, _ in points}):
            series = {arm: s for (b, arm), s in points.items() if b == base}
            ratios = sorted({ratio for s in series.values() for ratio in s})
            lines = {
                arm: [statistics.mean(_values(s[r])) if r in s else float("nan") for r in ratios]
                for arm, s in series.items()
            }
            png = lines_png(
                ratios, lines, f"{base}: {label} against injected noise", "injected noise (%)", label
            )
            path = (
                args.png
                if len({b for b, _ in points}) == 1
                else args.png.with_stem(f"{args.png.stem}_{base}")
            )
            path.write_bytes(png)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
