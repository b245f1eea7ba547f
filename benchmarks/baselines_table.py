"""The comparison table of docs/results.md from run records (one JSON line per run, as the harness writes them).

    .venv/bin/python benchmarks/baselines_table.py benchmarks/results/2026-12-01-cpu/final_baselines.jsonl

Groups by (dataset, arm, backbone, protocol), mean ± sample std over seeds, with the gap to the same dataset's
LightGCN in units of the larger of the two stds, and RLMRec's published numbers beside amazon-book (`rlmrec`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

# RLMRec (Ren et al., WWW 2024) Table 1, amazon-book, its 3:1:1 split, d 32, mean of 5 runs: R@20, N@20
RLMREC_PUBLISHED = {
    "lightgcn": (0.1411, 0.0856),
    "sgl": (0.1473, 0.0913),
    "simgcl": (0.1512, None),
    "rlmrec_con": (0.1483, 0.0903),
}
ORDER = ["lightgcn", "wbpr", "tce", "bod", "sgl", "simgcl", "xsimgcl", "rlmrec_con", "llard_graph", "llmhni"]


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(values: list[float]) -> str:
    mean, std = _ms(values)
    return f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ± {std:.4f}"


def read_records(paths: list[Path]) -> list[dict]:
    """Every JSON line of the record files, in order."""
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def is_run(r: dict) -> bool:
    """A finished run that counts in a table: not an unchosen sweep setting (select-on-test rows are runs too)."""
    return "best_epoch" in r and "(sweep)" not in r["arm"]


def is_closed_form(r: dict) -> bool:
    """An EASE record of the harness's ``--ease``: a fit, not a trained run (no epochs, no seed, no backbone)."""
    return r.get("method") == "ease" and "test_recall@20" in r


def rows_of(paths: list[Path]) -> list[dict]:
    return [r for r in read_records(paths) if is_run(r)]


def table(rows: list[dict]) -> str:
    def key(r):
        return (r["dataset"], r.get("backbone", "lightgcn"), bool(r.get("select_on_test")))

    lines = []
    for (dataset, backbone, sot), group in itertools.groupby(sorted(rows, key=key), key=key):
        group = list(group)
        base = [r["test_recall@20"] for r in group if r["arm"] == "lightgcn" and not r.get("params")]
        protocol = "select on test (LLaRD's, optimistic)" if sot else "held-out validation"
        lines += [
            f"\n**{dataset}**, backbone {backbone}, epoch chosen by {protocol}\n",
            "| method | seeds | best epochs | valid R@20 | test R@20 | test N@10 | test N@20 | vs LightGCN (R@20) | s/epoch | RLMRec's R@20 / N@20 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        variants = sorted(
            {(r["arm"], json.dumps(r.get("params") or {}, sort_keys=True)) for r in group},
            key=lambda v: (ORDER.index(v[0]) if v[0] in ORDER else 99, v),
        )
        for arm, params_json in variants:
            g = sorted(
                (
                    r
                    for r in group
                    if r["arm"] == arm and json.dumps(r.get("params") or {}, sort_keys=True) == params_json
                ),
                key=lambda r: r["seed"],
            )
            r20 = [r["test_recall@20"] for r in g]
            gap = "-"
            if base and arm != "lightgcn":
                (m, s), (mb, sb) = _ms(r20), _ms(base)
                spread = max(s, sb)
                both_seeded = len(r20) > 1 and len(base) > 1
                gap = f"{(m / mb - 1) * 100:+.1f}%" + (
                    f", {(m - mb) / spread:+.1f} σ" if both_seeded and spread else ""
                )
            published = RLMREC_PUBLISHED.get(arm) if dataset == "amazon-book" and not sot else None
            pub = "-" if not published else " / ".join("–" if v is None else f"{v:.4f}" for v in published)
            params = g[0].get("params") or {}
            name = arm + (f" ({', '.join(f'{k} {v}' for k, v in params.items())})" if params else "")
            lines.append(
                f"| {name} | {', '.join(str(r['seed']) for r in g)} | {', '.join(str(r['best_epoch']) for r in g)} | "
                f"{_fmt([r['valid_recall@20'] for r in g])} | {_fmt(r20)} | {_fmt([r['test_ndcg@10'] for r in g])} | "
                f"{_fmt([r['test_ndcg@20'] for r in g])} | {gap} | "
                f"{statistics.mean(r['seconds_per_epoch'] for r in g):.1f} | {pub} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records", nargs="+", type=Path)
    print(table(rows_of(parser.parse_args().records)))


if __name__ == "__main__":
    main()
