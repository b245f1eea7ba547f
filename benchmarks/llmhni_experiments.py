"""LLMHNI and its ablations against the plain backbone and EASE, several seeds at once, on CPU or GPU.

Two steps, so that the training step needs nothing but torch (the GPU machine has neither polars nor Dagster):

    # 1. here: pack one dataset partition's lake tables into a torch-only bundle
    .venv/bin/python benchmarks/llmhni_experiments.py pack amazon-book-llard
    # 2. anywhere torch runs (PYTHONPATH=. where the package is not installed)
    python benchmarks/llmhni_experiments.py run benchmarks/out/bundle/amazon-book-llard.pt \\
        --arms lightgcn llmhni wo_semantic wo_alignment wo_denoising wo_hallucination --seeds 1 2 3 --workers 6

Arms (method_spec §11, ablations §13): ``lightgcn`` BPR on G with uniform negatives (the pretrained backbone);
``llmhni`` L_rec on G′ with the semantic sampler + λ1·L_de + λ2·L_hal; ``wo_semantic`` score-only hard
negatives (``dns``); ``wo_alignment`` the semantic rule on raw LLM vectors; ``wo_denoising`` G′ = G and λ1 = 0;
``wo_hallucination`` λ2 = 0. Controls: ``lightgcn_continued`` (more BPR from the pretrained weights),
``lightgcn_semantic`` (module 1 alone), ``llmhni_uniform`` (the joint loss with uniform negatives). Runs go to worker processes (one run each, ``--threads`` torch threads per
worker); every finished run is appended to ``<out>/runs.jsonl`` and a mean ± std table to ``<out>/summary.md``.
``--speed`` first times training epochs and full-ranking evaluation of each arm alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import platform
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmhni_pipeline.recsys.baselines import ease_scorer  # noqa: E402
from llmhni_pipeline.recsys.data import SplitData  # noqa: E402
from llmhni_pipeline.recsys.device import resolve_device  # noqa: E402
from llmhni_pipeline.recsys.evaluate import evaluate_ranking  # noqa: E402
from llmhni_pipeline.recsys.experiment import mean_std, train_and_test  # noqa: E402
from llmhni_pipeline.recsys.graph import InteractionGraph  # noqa: E402
from llmhni_pipeline.recsys.joint import JointWeights  # noqa: E402
from llmhni_pipeline.recsys.sampling import build_negative_sampler  # noqa: E402
from llmhni_pipeline.recsys.train import TrainSettings  # noqa: E402

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent

# arm -> (joint objective?, negative sampler, train on G′?, λ1, λ2)
ARMS: dict[str, tuple[bool, str, bool, float, float]] = {
    "lightgcn": (False, "uniform", False, 0.0, 0.0),
    "llmhni": (True, "semantic", True, 0.1, 0.1),
    "wo_semantic": (True, "dns", True, 0.1, 0.1),
    "wo_alignment": (True, "raw", True, 0.1, 0.1),
    "wo_denoising": (True, "semantic", False, 0.0, 0.1),
    "wo_hallucination": (True, "semantic", True, 0.1, 0.0),
    "lightgcn_semantic": (False, "semantic", False, 0.0, 0.0),
    "lightgcn_continued": (False, "uniform", False, 0.0, 0.0),  # more BPR from the pretrained weights
    "llmhni_uniform": (True, "uniform", True, 0.1, 0.1),  # joint loss without hard negatives (isolates them)
}


# ---------------------------------------------------------------------------------------------- pack (lake side)
def pack(dataset: str, out_dir: Path) -> Path:
    import polars as pl

    from llmhni_pipeline.assets.pretrained_recommender import CHECKPOINT
    from llmhni_pipeline.lake import artifact_dir, default_lake_dir, table_path
    from llmhni_pipeline.semantic.vectors import user_item_matrices

    lake = default_lake_dir()
    raw = table_path(lake, "raw_interactions", dataset)
    if not raw.is_file():
        raise SystemExit(
            f"{raw}: missing; run `llmhni materialize {dataset} --select raw_interactions` first"
        )
    table = pl.read_parquet(raw)
    n_users, n_items = int(table["user_id"].max()) + 1, int(table["item_id"].max()) + 1
    bundle: dict[str, object] = {"dataset": dataset, "n_users": n_users, "n_items": n_items}
    for split in ("train", "valid", "test"):
        part = table.filter(pl.col("split") == split)
        bundle[split] = torch.stack(
            [torch.from_numpy(part[c].to_numpy().astype("int64")) for c in ("user_id", "item_id")]
        )
    aug = table_path(lake, "augmented_graph", dataset)
    if aug.is_file():
        edges = pl.read_parquet(aug)
        bundle["augmented"] = torch.stack(
            [torch.from_numpy(edges[c].to_numpy().astype("int64")) for c in ("user_id", "item_id")]
        )
        scores = pl.read_parquet(table_path(lake, "llm_logical_scores", dataset))
        bundle["judging"] = json.dumps(
            {
                "pairs": scores.height,
                "judged_pairs": scores.filter(pl.col("label") != "unjudged").height,
                "judged_users": scores.filter(pl.col("label") != "unjudged")["user_id"].n_unique(),
                "model": scores["model"][0],
                "removed_edges": int(
                    table.filter(pl.col("split") == "train").height
                    - edges.filter(pl.col("origin") == "orig").height
                ),
                "added_edges": edges.filter(pl.col("origin") == "added_hard").height,
            }
        )
    checkpoint = artifact_dir(lake, "pretrained_recommender", dataset) / CHECKPOINT
    if checkpoint.is_file():  # the pretrained recommender's weights, for warm-started arms
        payload = torch.load(checkpoint, weights_only=True)
        bundle["pretrained"] = payload["state_dict"]
        bundle["pretrained_info"] = json.dumps(
            {"backbone": payload["backbone"], **payload["hyper"], "best_epoch": payload.get("best_epoch")}
        )
    for name, source in (("projected", "aligned_projector"), ("raw", "llm_embeddings")):
        path = table_path(lake, source, dataset)
        if path.is_file():
            bundle[name] = user_item_matrices(pl.read_parquet(path), n_users, n_items)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{dataset}.pt"
    torch.save(bundle, out)
    print(
        f"{out}: {', '.join(k for k in bundle if k not in ('dataset',))} ({out.stat().st_size / 2**20:.1f} MiB)"
    )
    return out


# ---------------------------------------------------------------------------------------- run (torch only)
_BUNDLES: dict[str, dict[str, object]] = {}


def load_bundle(path: str) -> dict[str, object]:
    if path not in _BUNDLES:
        b = torch.load(path, weights_only=True)
        splits = {s: (b[s][0].numpy(), b[s][1].numpy()) for s in ("train", "valid", "test")}
        b["data"] = SplitData.from_splits(splits, b["n_users"], b["n_items"])
        if "augmented" in b:
            b["g_aug"] = InteractionGraph(b["augmented"][0], b["augmented"][1], b["n_users"], b["n_items"])
        _BUNDLES[path] = b
    return _BUNDLES[path]


def select_on_test(b: dict[str, object]) -> SplitData:
    """LLaRD's reference practice, to compare with its figures only: train on train ∪ valid and pick the epoch
    on the test split. Optimistic by construction; reported beside the held-out-validation figures, never
    instead of them."""
    train = torch.cat([b["train"], b["valid"]], dim=1)
    splits = {"train": train, "valid": b["test"], "test": b["test"]}
    data = SplitData.from_splits(
        {k: (v[0].numpy(), v[1].numpy()) for k, v in splits.items()}, b["n_users"], b["n_items"]
    )
    # test time masks the training items only (the default would mask train ∪ "valid", i.e. the test items)
    return dataclasses.replace(data, train_valid_sets=data.train_sets)


def run_arm(bundle_path: str, arm: str, seed: int, opts: dict[str, object]) -> dict[str, object]:
    """One training run; ``opts["lam"]`` (when set) replaces the arm's non-zero λ1 and λ2."""
    torch.set_num_threads(int(opts["threads"]))
    b = load_bundle(bundle_path)
    data: SplitData = select_on_test(b) if opts.get("select_on_test") else b["data"]
    joint, sampler_kind, use_aug, lambda_de, lambda_hal = ARMS[arm]
    if opts.get("lam") is not None:
        lambda_de, lambda_hal = (float(opts["lam"]) if x else 0.0 for x in (lambda_de, lambda_hal))
    if use_aug and "g_aug" not in b:
        raise ValueError(
            f"{bundle_path}: no augmented graph G′ in the bundle; materialize augmented_graph first"
        )
    graph = b["g_aug"] if use_aug else data.train
    warm = opts.get("init") == "pretrained" if joint else arm == "lightgcn_continued"
    if warm and "pretrained" not in b:
        raise ValueError(f"{bundle_path}: no pretrained recommender in the bundle; materialize it first")
    sampler = build_negative_sampler(
        sampler_kind,
        graph,
        b.get("projected"),
        b.get("raw"),
        warmup_epochs=0 if warm else int(opts["warmup"]),
    )
    settings = TrainSettings(
        epochs=int(opts["epochs"]),
        lr=float(opts["lr"]),
        reg_weight=float(opts["reg"]),
        patience=int(opts["patience"]),
        seed=seed,
        device=str(opts["device"]),
        time_budget_s=opts["time_budget"],
    )
    weights = JointWeights(lambda_de, lambda_hal, reg_weight=float(opts["reg"])) if joint else None
    torch.manual_seed(seed)
    result = train_and_test(
        data,
        settings,
        sampler=sampler,
        joint=weights,
        augmented=graph if use_aug else None,
        init_state=b["pretrained"] if warm else None,
    )
    lambdas = {"lambda_de": lambda_de, "lambda_hal": lambda_hal} if joint else {}
    setting = {"lr": opts["lr"], "reg": opts["reg"], "init": "pretrained" if warm else "scratch"}
    if opts.get("select_on_test"):
        setting["protocol"] = "select-on-test"
    return {"dataset": b["dataset"], "arm": arm, **setting, **lambdas, **result}


def speed(bundle_path: str, arms: list[str], opts: dict[str, object]) -> list[dict[str, object]]:
    """Each arm alone for a few epochs (validation every epoch): seconds per epoch and per evaluation."""
    rows = []
    for arm in arms:
        row = run_arm(
            bundle_path, arm, 0, {**opts, "epochs": opts["speed_epochs"], "patience": 10**6, "warmup": 1}
        )
        rows.append(
            {
                k: row[k]
                for k in (
                    "dataset",
                    "arm",
                    "device",
                    "seconds_per_epoch",
                    "eval_seconds",
                    "full_test_eval_seconds",
                )
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def ease(bundle_path: str, device: str, l2: float) -> dict[str, object]:
    bundle = load_bundle(bundle_path)
    data: SplitData = bundle["data"]
    dev = resolve_device(device)
    t = time.perf_counter()
    metrics = evaluate_ranking(ease_scorer(data.train, l2, dev), data.test, data.train_valid_sets, device=dev)
    return {
        "dataset": bundle["dataset"],
        "arm": f"ease_l2_{l2:g}",
        "seed": 0,
        "seconds": time.perf_counter() - t,
        **{f"test_{k}": v for k, v in metrics.items() if k != "users"},
    }


def summary(rows: list[dict[str, object]], header: str) -> str:
    lines = [
        header,
        "",
        "| dataset | arm | init | lr | λ1, λ2 | seeds | best epochs | valid R@20 | R@20 | N@10 | R@10 | N@20 | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(
        {(r["dataset"], r["arm"]) for r in rows},
        key=lambda k: (k[0], list(ARMS).index(k[1]) if k[1] in ARMS else 99),
    )
    for dataset, arm in keys:
        g = [r for r in rows if r["dataset"] == dataset and r["arm"] == arm]
        epochs = ", ".join(str(r.get("best_epoch", "-")) for r in g)
        lines.append(
            f"| {dataset} | {arm} | {g[0]['init']} | {g[0]['lr']} | {g[0].get('lambda_de', '-')}, {g[0].get('lambda_hal', '-')} | "
            f"{len(g)} | {epochs} | {mean_std([r['valid_recall@20'] for r in g])} | {mean_std([r['test_recall@20'] for r in g])} | "
            f"{mean_std([r['test_ndcg@10'] for r in g])} | {mean_std([r['test_recall@10'] for r in g])} | "
            f"{mean_std([r['test_ndcg@20'] for r in g])} | "
            f"{statistics.mean(r.get('seconds_per_epoch', 0.0) for r in g):.2f} |"
        )
    return "\n".join(lines) + "\n"


def run_jobs(jobs: list[tuple[str, str, int, dict[str, object]]], workers: int, log_path: Path) -> list[dict]:
    """Jobs (bundle, arm, seed, opts) in worker processes; a failed run is reported and the rest finish."""
    rows: list[dict[str, object]] = []
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool, open(log_path, "a") as log:
        futures = {
            pool.submit(ease, bundle, opts["device"], opts["ease"])
            if arm == "ease"
            else pool.submit(run_arm, bundle, arm, seed, opts): (bundle, arm, seed)
            for bundle, arm, seed, opts in jobs
        }
        for future in as_completed(futures):
            bundle, arm, seed = futures[future]
            try:
                row = future.result()
            except Exception as error:
                print(f"FAILED {bundle} {arm} seed {seed}: {type(error).__name__}: {error}", flush=True)
                continue
            row["wall_seconds_since_start"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            shown = (
                "dataset",
                "arm",
                "seed",
                "lr",
                "lambda_de",
                "lambda_hal",
                "best_epoch",
                "epochs_run",
                "valid_recall@20",
                "test_recall@20",
                "test_ndcg@10",
                "seconds_per_epoch",
                "warnings",
                "wall_seconds_since_start",
            )
            print(json.dumps({k: row[k] for k in shown if k in row}), flush=True)
    return rows


def swept_setting(row: dict[str, object]) -> dict[str, object]:
    """The (lr, λ, start) a joint-arm run used, in the form ``run_arm`` takes it."""
    return {"lr": row["lr"], "lam": row["lambda_de"] or row["lambda_hal"], "init": row["init"]}


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    opts = {
        k: getattr(args, k)
        for k in (
            "epochs",
            "lr",
            "reg",
            "patience",
            "device",
            "time_budget",
            "threads",
            "warmup",
            "speed_epochs",
            "ease",
        )
    }
    opts["lam"] = None  # the arms' own λ1, λ2
    opts["select_on_test"] = args.select_on_test
    opts["init"] = args.init
    device = resolve_device(args.device)
    gpu = (
        torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine()
    )
    header = (
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; device {device} ({gpu}); torch {torch.__version__}; "
        f"lr {args.lr}, L2 {args.reg}, batch 2048, d 64, L 3, patience {args.patience}, epochs ≤ {args.epochs}, "
        f"time budget {args.time_budget}s/run, {args.workers} workers × {args.threads} threads"
    )
    print(header, flush=True)
    for bundle in args.bundles:
        b = load_bundle(bundle)
        print(
            f"# {bundle}: {b['n_users']} users, {b['n_items']} items; judging {b.get('judging')}", flush=True
        )
        if args.smoke:  # every arm through one epoch before paying for the real runs
            for arm in args.arms:
                run_arm(bundle, arm, 0, {**opts, "epochs": 1, "warmup": 0})
            print(f"# smoke: {len(args.arms)} arms ran one epoch on {device}", flush=True)
        if args.speed:
            with open(out / "speed.jsonl", "a") as f:
                for row in speed(bundle, args.arms, opts):
                    f.write(json.dumps(row) + "\n")
    log = out / "runs.jsonl"
    joint_arms = [a for a in args.arms if ARMS[a][0]]
    plain_arms = [a for a in args.arms if not ARMS[a][0]]
    rows: list[dict[str, object]] = []
    phase_one = [
        (bundle, arm, seed, opts) for bundle in args.bundles for arm in plain_arms for seed in args.seeds
    ]
    phase_one += [(bundle, "ease", 0, opts) for bundle in args.bundles if args.ease is not None]
    grid = [
        {"lr": lr, "lam": lam, "init": init}
        for lr in args.sweep_lrs or [args.lr]
        for lam in args.sweep_lambdas or [None]
        for init in args.sweep_inits or [args.init]
    ]
    chosen = grid[0]
    if len(grid) > 1 and joint_arms:
        # pick (lr, λ, init) of the joint arms on validation with the first seed, beside the plain arms
        sweep_arm, first_seed = joint_arms[0], args.seeds[0]
        phase_one += [
            (bundle, sweep_arm, first_seed, {**opts, **setting})
            for bundle in args.bundles
            for setting in grid
        ]
        rows += run_jobs(phase_one, args.workers, log)
        swept = [r for r in rows if r["arm"] == sweep_arm]
        if not swept:
            raise SystemExit(f"every sweep run of {sweep_arm} failed (see above); nothing to choose from")
        best = max(swept, key=lambda r: r["valid_recall@20"])
        chosen = swept_setting(best)
        print(f"# chosen on validation ({sweep_arm}, seed {first_seed}): {chosen}", flush=True)
        for r in swept:  # the chosen setting's run is that seed's result; the others stay as the sweep
            if swept_setting(r) != chosen:
                r["arm"] = f"{sweep_arm} (sweep: lr {r['lr']}, λ {swept_setting(r)['lam']}, {r['init']})"
        phase_two = [
            (b, a, s, {**opts, **chosen}) for b in args.bundles for a in joint_arms for s in args.seeds
        ]
        rows += run_jobs([j for j in phase_two if (j[1], j[2]) != (sweep_arm, first_seed)], args.workers, log)
    else:
        joint_jobs = [
            (b, a, s, {**opts, **chosen}) for b in args.bundles for a in joint_arms for s in args.seeds
        ]
        rows += run_jobs(phase_one + joint_jobs, args.workers, log)
    trained = [r for r in rows if "best_epoch" in r]
    text = summary(trained, header)
    for r in rows:
        if "best_epoch" not in r:
            text += f"\n{r['dataset']} {r['arm']}: R@20 {r['test_recall@20']:.4f}, N@10 {r['test_ndcg@10']:.4f} ({r['seconds']:.1f}s)"
    (out / "summary.md").write_text(text + "\n")
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="lake tables of one dataset partition -> a torch-only bundle")
    p.add_argument("dataset")
    p.add_argument("--out", default=str(HERE / "out" / "bundle"))
    r = sub.add_parser("run", help="train and test arms × seeds from bundles")
    r.add_argument("bundles", nargs="+")
    r.add_argument("--arms", nargs="+", default=["lightgcn", "llmhni"], choices=list(ARMS))
    r.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3], help="none: only --smoke/--speed")
    r.add_argument("--epochs", type=int, default=300)
    r.add_argument("--lr", type=float, default=1e-3)
    r.add_argument("--reg", type=float, default=1e-5)
    r.add_argument("--patience", type=int, default=20)
    r.add_argument("--warmup", type=int, default=5, help="uniform epochs before hard negatives")
    r.add_argument(
        "--time-budget", type=float, default=None, help="seconds per run; the best epoch so far is kept"
    )
    r.add_argument("--device", default="auto")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker")
    r.add_argument("--ease", type=float, default=None, metavar="L2", help="also EASE with this λ")
    r.add_argument("--sweep-lambdas", type=float, nargs="*", help="λ1 = λ2 values tried on the first seed")
    r.add_argument("--sweep-lrs", type=float, nargs="*", help="learning rates tried on the first seed")
    r.add_argument("--init", default="scratch", choices=["scratch", "pretrained"], help="joint arms' start")
    r.add_argument("--sweep-inits", nargs="*", choices=["scratch", "pretrained"], help="starts tried")
    r.add_argument(
        "--select-on-test",
        action="store_true",
        help="LLaRD's practice: train on train ∪ valid, pick the epoch on test (optimistic; for comparison only)",
    )
    r.add_argument("--smoke", action="store_true", help="one epoch of every arm first")
    r.add_argument("--speed", action="store_true", help="time each arm alone first")
    r.add_argument("--speed-epochs", type=int, default=5)
    r.add_argument("--out", default=str(HERE / "out" / "experiments"))
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.dataset, Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
