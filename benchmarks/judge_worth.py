"""What a judge is worth: LLMHNI with the G′ of simulated judges of known AUC, against G′ = G.

Three steps, so that the training step needs nothing but torch (the GPU machine has neither polars nor Dagster):

    # 1. here: the partition's stages up to the candidate pairs, then for each AUC and rule the simulated judge's
    #    llm_logical_scores and augmented_graph through the real pipeline (coverage: full), packed as G′ edits
    .venv/bin/python benchmarks/judge_worth.py prepare ml-100k-hide10 --aucs 0.5 0.6 0.7 0.8 0.9 1.0
    # 2. anywhere torch runs: LLMHNI on G and on every G′ that differs from it, 3 seeds
    python benchmarks/llmhni_experiments.py run benchmarks/out/judge_worth/ml-100k-hide10.pt --gprimes \\
        --arms llmhni_asset --seeds 1 2 3 --set lr=5e-3 patience=10 ... --out <dir>
    # 3. the curve: test R@20 and N@10 against the judge's AUC, the break-even AUC, the package's summary
    .venv/bin/python benchmarks/judge_worth.py summary <dir>/runs.jsonl ... --png docs/judge_worth.png \\
        --json llmhni_pipeline/denoise/judge_worth.json

The rules: ``paper`` is the paper's both-High rule at the fixed threshold (``augmented_graph`` rule
``remove_and_add``, High at P(High) − P(Low) ≥ 0.5); ``validated`` is the rule and threshold chosen on validation
with EASE (``rule: auto``: G′ only where it beats G by 2 standard errors). A prepared variant is named
``<rule>@<auc>`` (``semantic`` for the free semantic judge, ``prepare --semantic``). Ground truth is what was
planted (held-back or injected train edges), never validation or test. Where a cell was trained under several
settings (step 2 again with ``--set params.lambda_de=0``: G′ in the propagation only), summary keeps the one with
the better mean validation R@20. The break-even AUC is the lowest AUC from which on G′ beats G′ = G by more than two
standard errors (of the difference of seed means).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

RULES = {
    "paper": {"rule": "remove_and_add", "high": 0.5},
    "validated": {"rule": "auto"},
}
PREPARE_CONFIG = {  # the stages before the judge at their defaults; the judge at full coverage
    "llm_logical_scores": {"config": {"coverage": "full", "max_calls_per_run": None}},
}


def materialize(dataset: str, select: str, config: dict, env: dict[str, str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        json.dump({"ops": config}, f)  # JSON is YAML
    cmd = [
        str(Path(sys.executable).with_name("llmhni")),
        "materialize",
        dataset,
        "--select",
        select,
        "--config",
        f.name,
    ]
    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    os.unlink(f.name)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def gprime_edits(dataset: str) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """The lake's current G′ of ``dataset`` as edits of G, with the judge's quality, the rule chosen and the
    candidates' reach (what a perfect judge of them could fix at most)."""
    import polars as pl

    from llmhni_pipeline.denoise.judge_quality import judge_quality
    from llmhni_pipeline.denoise.truth import reach
    from llmhni_pipeline.lake import default_lake_dir, table_path

    lake = default_lake_dir()
    graph = pl.read_parquet(table_path(lake, "augmented_graph", dataset))
    removed = pl.read_parquet(table_path(lake, "removed_edges", dataset))
    added = graph.filter(pl.col("origin") == "added_hard")
    scores = pl.read_parquet(table_path(lake, "llm_logical_scores", dataset))
    raw = pl.read_parquet(table_path(lake, "raw_interactions", dataset))
    candidates = pl.read_parquet(table_path(lake, "candidate_pairs", dataset))

    def edges(frame: pl.DataFrame) -> torch.Tensor:
        return torch.stack(
            [torch.from_numpy(frame[c].to_numpy().astype("int32")) for c in ("user_id", "item_id")]
        )

    quality = judge_quality(scores, raw)
    meta = {
        "removed": removed.height,
        "added": added.height,
        "removed_injected": int(removed["is_injected"].sum()),
        "added_hidden": added.join(raw.filter(pl.col("split") == "hidden"), on=["user_id", "item_id"]).height,
        "judge_auc": quality.get("judge_auc"),
        **{k: v for k, v in quality.items() if k.endswith("judge_auc") or k.endswith("recommender_auc")},
        "model": scores["model"][0],
        "candidate_pairs": candidates.height,
        **reach(candidates, raw),
    }
    return {"removed": edges(removed), "added": edges(added)}, meta


DEFAULT_K = 2  # candidate_pairs' default k_pos = k_neg: variants at other budgets are named <rule>@<auc>@k<k>


def variant_name(rule: str, auc: float | None, k: int) -> str:
    name = f"{rule}@{auc:g}" if auc is not None else f"{rule}@semantic"
    return name if k == DEFAULT_K else f"{name}@k{k}"


def parse_variant(name: str) -> tuple[str, str]:
    """(curve, target) of a variant name: ``paper@1@k20`` is the point at AUC 1 of the curve ``paper@k20``."""
    rule, target, *budget = name.split("@")
    return (f"{rule}@{budget[0]}" if budget else rule), target


def prepare(args: argparse.Namespace) -> None:
    from benchmarks.llmhni_experiments import pack

    dataset = args.dataset
    started = time.perf_counter()
    if args.reuse_upstream:
        print(f"{dataset}: the lake's stages up to candidate_pairs, as they are", flush=True)
    else:
        print(f"{dataset}: the stages up to pretrained_recommender", flush=True)
        materialize(
            dataset,
            "raw_interactions,text_profiles,llm_embeddings,aligned_projector,pretrained_recommender",
            {},
            {},
        )
    variants: dict[str, dict[str, torch.Tensor]] = {}
    meta: dict[str, dict[str, object]] = {}
    judges = [("simulated", auc) for auc in args.aucs] + ([("semantic", None)] if args.semantic else [])
    for k in args.k:
        # the candidate budget: k lowest-scored positives and k highest-scored unseen items per user
        print(f"{dataset}: candidate_pairs at k_pos = k_neg = {k}", flush=True)
        materialize(dataset, "candidate_pairs", {"candidate_pairs": {"config": {"k_pos": k, "k_neg": k}}}, {})
        for backend, auc in judges:
            env = {"LLMHNI_JUDGE_BACKEND": backend}
            if auc is not None:
                env["LLMHNI_SIMULATED_AUC"] = str(auc)
            for j, rule in enumerate(args.rules):
                name = variant_name(rule, auc, k)
                # the judge once per judge; each further rule re-reads its scores
                select = "augmented_graph" if j else "llm_logical_scores,augmented_graph"
                config = {**(PREPARE_CONFIG if not j else {}), "augmented_graph": {"config": RULES[rule]}}
                materialize(dataset, select, config, env)
                variants[name], meta[name] = gprime_edits(dataset)
                print(
                    f"{name}: {json.dumps(meta[name])} ({time.perf_counter() - started:.0f} s since start)",
                    flush=True,
                )
    earlier: dict = {}
    if args.merge and (Path(args.out) / f"{dataset}.pt").is_file():  # the variants prepared before, kept
        earlier = torch.load(Path(args.out) / f"{dataset}.pt", weights_only=True)
        variants = {**earlier["gprimes"], **variants}
        meta = {**json.loads(earlier["gprime_meta"]), **meta}
    bundle_path = pack(dataset, Path(args.out))
    bundle = torch.load(bundle_path, weights_only=True)
    bundle.pop(
        "text", None
    )  # the raw LLM vectors only serve the "raw" sampler; the curve trains LLMHNI's default
    bundle["augmented"] = bundle["train"]  # the bundle itself is G′ = G; its variants are the judges' G′
    bundle.pop("judging", None)  # the lake's last judging: the variants' own is in gprime_meta
    for key in ("pretrained", "pretrained_info"):  # the curve trains from scratch; the GPU's tree is 64 MiB
        bundle.pop(key, None)
    if earlier and not torch.equal(earlier["train"], bundle["train"]):
        raise SystemExit(f"--merge: {dataset}'s train split differs from the bundle's; prepare it anew")
    bundle["gprimes"] = variants
    bundle["gprime_meta"] = json.dumps(meta)
    torch.save(bundle, bundle_path)
    size = bundle_path.stat().st_size / 2**20
    print(
        f"{bundle_path}: {len(variants)} G′ variants ({size:.1f} MiB), {time.perf_counter() - started:.0f} s"
    )


def _points(rows: list[dict], metric: str) -> dict[str, float]:
    values = [r[metric] for r in rows]
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return {"mean": mean, "sd": sd, "n": len(values)}


def _spread(q: dict[str, float]) -> str:
    return f" ± {q['sd']:.4f}" if q["n"] > 1 else ""


def chosen_on_validation(runs: list[dict]) -> tuple[list[dict], dict]:
    """Where a cell was trained under several settings (λ1 = 0 and the swept λ1, say), the setting with the best
    mean validation R@20, and that setting's parameters. Test is read only after this choice."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r.get("params", {}), sort_keys=True), []).append(r)
    best = max(groups, key=lambda k: statistics.mean(r["valid_recall@20"] for r in groups[k]))
    return groups[best], json.loads(best)


def summary(args: argparse.Namespace) -> None:
    rows = [
        json.loads(line)
        for path in args.records
        for line in Path(path).read_text().splitlines()
        if line.strip()
    ]
    others = [  # the models beside LLMHNI; a sweep's trial points are not results
        r
        for r in rows
        if r.get("arm") != args.arm
        and not r.get("gprime")
        and "test_recall@20" in r
        and not r["arm"].endswith("(sweep)")
    ]
    rows = [r for r in rows if r.get("arm") == args.arm and "test_recall@20" in r]
    bundles = {}
    for path in args.bundles:
        b = torch.load(path, weights_only=True)
        bundles[b["dataset"]] = json.loads(b["gprime_meta"])
    curves: dict[str, dict[str, dict]] = {}
    table = [
        "| partition | rule | judge AUC (target / measured) | removed / added | λ1 (on valid) | seeds | test R@20 "
        "| Δ vs G′ = G | z | test N@10 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, meta in sorted(bundles.items()):
        base = [r for r in rows if r["dataset"] == dataset and not r.get("gprime")]
        if not base:
            print(f"# {dataset}: no G′ = G runs among the records; skipped", file=sys.stderr)
            continue
        base, _ = chosen_on_validation(base)
        g = {m: _points(base, f"test_{m}") for m in ("recall@20", "ndcg@10")}
        table.append(
            f"| {dataset} | G′ = G | – | 0 / 0 | – (L_de is off) | {g['recall@20']['n']} | {g['recall@20']['mean']:.4f} ± "
            f"{g['recall@20']['sd']:.4f} | – | – | {g['ndcg@10']['mean']:.4f} ± {g['ndcg@10']['sd']:.4f} |"
        )
        beside = {}  # the other models on the same partition (LightGCN, XSimGCL, EASE): G′ is LLMHNI's alone
        for arm in sorted({r["arm"] for r in others if r["dataset"] == dataset}):
            arm_runs = [r for r in others if r["dataset"] == dataset and r["arm"] == arm]
            b = {m: _points(arm_runs, f"test_{m}") for m in ("recall@20", "ndcg@10")}
            beside[arm] = {"r20": b["recall@20"]["mean"], "n10": b["ndcg@10"]["mean"]}
            table.append(
                f"| {dataset} | {arm} (beside) | – | – | – | {b['recall@20']['n']} | {b['recall@20']['mean']:.4f}"
                f"{_spread(b['recall@20'])} | {100 * (b['recall@20']['mean'] / g['recall@20']['mean'] - 1):+.1f}% | – | "
                f"{b['ndcg@10']['mean']:.4f}{_spread(b['ndcg@10'])} |"
            )
        for rule in sorted({parse_variant(name)[0] for name in meta}):
            points = []
            for name, m in sorted(meta.items(), key=lambda kv: kv[0]):
                curve, target = parse_variant(name)
                if curve != rule:
                    continue
                runs = [r for r in rows if r["dataset"] == dataset and r.get("gprime") == name]
                lambda_de: object = "–"
                if not m["removed"] and not m["added"]:
                    runs = base  # G′ = G: the bundle's own runs
                if not runs:
                    continue
                if runs is not base:
                    runs, params = chosen_on_validation(runs)
                    lambda_de = params.get("lambda_de", "–")
                p = {k: _points(runs, f"test_{k}") for k in ("recall@20", "ndcg@10")}
                r20, base20 = p["recall@20"], g["recall@20"]
                se = (
                    math.sqrt(r20["sd"] ** 2 / r20["n"] + base20["sd"] ** 2 / base20["n"])
                    if r20["n"] > 1
                    else float("nan")
                )
                diff = r20["mean"] - base20["mean"]
                z = diff / se if se and se == se and se > 0 else (0.0 if diff == 0 else float("nan"))
                point = {
                    "name": name,
                    "target": None if target == "semantic" else float(target),
                    "auc": m.get("judge_auc"),
                    "removed": m["removed"],
                    "added": m["added"],
                    "seeds": r20["n"],
                    "r20": r20["mean"],
                    "r20_sd": r20["sd"],
                    "n10": p["ndcg@10"]["mean"],
                    "n10_sd": p["ndcg@10"]["sd"],
                    "gain": diff / base20["mean"],
                    "diff": diff,
                    "z": z,
                    "lambda_de": lambda_de,
                }
                points.append(point)
                shown_auc = f"{target} / {m.get('judge_auc')}"
                table.append(
                    f"| {dataset} | {rule} | {shown_auc} | {m['removed']} / {m['added']} | {lambda_de} | {r20['n']} | "
                    f"{r20['mean']:.4f} ± {r20['sd']:.4f} | {100 * point['gain']:+.1f}% | {z:+.1f} | "
                    f"{p['ndcg@10']['mean']:.4f} ± {p['ndcg@10']['sd']:.4f} |"
                )
            simulated = sorted((p for p in points if p["target"] is not None), key=lambda p: p["target"])
            above = [p["target"] for p in simulated if p["z"] == p["z"] and p["z"] > 2]
            # break-even: the lowest AUC from which on every measured point beats G′ = G by 2 SE
            even = next(
                (p["target"] for k, p in enumerate(simulated) if all(q["z"] > 2 for q in simulated[k:])), None
            )
            curves.setdefault(dataset, {})[rule] = {
                "base": {
                    "r20": g["recall@20"]["mean"],
                    "r20_sd": g["recall@20"]["sd"],
                    "n10": g["ndcg@10"]["mean"],
                },
                "points": simulated,
                "semantic": next((p for p in points if p["target"] is None), None),
                "break_even_auc": even,
                "aucs_above_2se": above,
                "beside": beside,
            }
    print("\n".join(table))
    for dataset, rules in curves.items():
        for rule, c in rules.items():
            print(f"{dataset} {rule}: break-even AUC {c['break_even_auc']}")
    if args.png:
        plot(curves, Path(args.png))
    if args.json:
        kept: dict = {}
        command = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d")}
        sources = {d: command for d in curves}
        if args.merge and Path(args.json).is_file():  # the partitions not measured here, kept as they were
            before = json.loads(Path(args.json).read_text())
            kept = {d: c for d, c in before["curves"].items() if d not in curves}
            earlier = {"command": before["command"], "date": before["date"]}
            sources = {d: before.get("sources", {}).get(d, earlier) for d in kept} | sources
        evens = [
            c["break_even_auc"]
            for rules in [*curves.values(), *kept.values()]
            for rule, c in rules.items()
            if rule == args.default_rule
        ]
        default = max((e for e in evens if e is not None), default=None)
        out = {
            "status": "measured",
            "command": " ".join(sys.argv),
            "date": time.strftime("%Y-%m-%d"),
            "default_rule": args.default_rule,
            # the most demanding break-even over the partitions (none reached: a judge must be perfect)
            "default_break_even_auc": default if default is not None else 1.0,
            "sources": sources,  # per partition, the command (and date) that measured its curves
            "curves": kept
            | {
                d: {
                    r: {
                        "break_even_auc": c["break_even_auc"],
                        "points": [
                            {
                                "auc": p["target"],
                                "gain": round(p["gain"], 5),
                                "z": round(p["z"], 2) if p["z"] == p["z"] else None,
                                "lambda_de": p["lambda_de"],
                            }
                            for p in c["points"]
                        ],
                    }
                    for r, c in rules.items()
                }
                for d, rules in curves.items()
            },
        }
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        print(f"{args.json}: default break-even AUC {out['default_break_even_auc']}")


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(curves)
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.4), squeeze=False, sharex=True)
    for col, dataset in enumerate(panels):
        for row, (metric, label) in enumerate((("r20", "test R@20"), ("n10", "test N@10"))):
            ax = axes[row][col]
            for rule, c in curves[dataset].items():
                pts = c["points"]
                if not pts:
                    continue
                x = [p["target"] for p in pts]
                y = [p[metric] for p in pts]
                err = [2 * p[f"{metric}_sd"] / math.sqrt(p["seeds"]) if p["seeds"] > 1 else 0 for p in pts]
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"rule: {rule}")
                if c.get("semantic") and c["semantic"].get("auc") is not None:
                    s = c["semantic"]
                    ax.plot(
                        [s["auc"]],
                        [s[metric]],
                        marker="*",
                        markersize=12,
                        linestyle="none",
                        label=f"semantic judge ({rule})",
                    )
            base = next(iter(curves[dataset].values()))["base"]
            ax.axhline(base[metric], color="grey", linestyle="--", label="G′ = G")
            beside = next(iter(curves[dataset].values())).get("beside", {})
            for k, (arm, v) in enumerate(sorted(beside.items())):
                ax.axhline(v[metric], color=f"C{4 + k}", linestyle=":", label=arm)
            ax.set_title(dataset if row == 0 else "")
            ax.set_ylabel(label)
            if row == 1:
                ax.set_xlabel("judge AUC (planted truth)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("LLMHNI with the G′ of a simulated judge (±2 SE over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"{path}: written")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="G′ of simulated judges (and the semantic one) through the pipeline")
    p.add_argument("dataset")
    p.add_argument("--aucs", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    p.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    p.add_argument("--semantic", action="store_true", help="also the free semantic judge")
    p.add_argument(
        "--k",
        type=int,
        nargs="+",
        default=[DEFAULT_K],
        help="candidate budgets (k_pos = k_neg); a variant at a budget other than 2 is named <rule>@<auc>@k<k>",
    )
    p.add_argument(
        "--reuse-upstream",
        action="store_true",
        help="judge the lake's candidate_pairs as they are (a later stage's lineage check still refuses stale ones)",
    )
    p.add_argument("--out", default=str(HERE / "out" / "judge_worth"))
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the variants of the bundle already in --out (same partition and split), adding these",
    )
    s = sub.add_parser("summary", help="the curve from run records")
    s.add_argument("records", nargs="+")
    s.add_argument("--bundles", nargs="+", required=True, help="the prepared bundles (their G′ metadata)")
    s.add_argument("--arm", default="llmhni_asset")
    s.add_argument("--default-rule", default="validated", choices=list(RULES))
    s.add_argument("--png")
    s.add_argument("--json")
    s.add_argument(
        "--merge",
        action="store_true",
        help="keep the --json file's curves of partitions these records do not measure (each with its command)",
    )
    args = parser.parse_args()
    prepare(args) if args.command == "prepare" else summary(args)


if __name__ == "__main__":
    main()
