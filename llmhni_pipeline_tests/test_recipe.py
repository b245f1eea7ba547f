"""The one recipe: the Dagster asset and the experiment harness train the same model from the same spec."""

import json
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import torch

from llmhni_pipeline.assets.baselines import BaselinesConfig, baselines
from llmhni_pipeline.recipe import RunSpec, candidate_grid
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline_tests.recsys.test_train import _clustered_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import llmhni_experiments as harness  # noqa: E402

SMALL = {"epochs": 4, "dim": 16, "n_layers": 2, "batch_size": 128, "lr": 0.01, "patience": 4}


def _bundle(tmp_path: Path, table: pl.DataFrame) -> str:
    bundle = {"dataset": "toy", "n_users": 60, "n_items": 40}
    for split in ("train", "valid", "test"):
        part = table.filter(pl.col("split") == split)
        bundle[split] = torch.stack(
            [torch.from_numpy(part[c].to_numpy().astype("int64")) for c in ("user_id", "item_id")]
        )
    path = tmp_path / "toy.pt"
    torch.save(bundle, path)
    return str(path)


@pytest.mark.parametrize("method", ["sgl", "tce"])
def test_asset_and_harness_give_identical_results_for_the_same_spec_and_seed(tmp_path, method):
    table = _clustered_table()
    config = BaselinesConfig(methods=[method], seeds=[5], **SMALL)
    with dg.build_asset_context(
        partition_key="ml-100k",
        resources={"lake": LakeResource(lake_dir=str(tmp_path)), "device": DeviceResource(device="cpu")},
    ) as context:  # exited here, not by the garbage collector during a later test
        output = baselines(context, config=config, raw_interactions=table)
    asset_rows = output.value.filter(pl.col("metric").is_in(["recall", "ndcg"]))

    spec = harness.arm_spec(method, RunSpec().override(**SMALL), 5, {})
    assert spec == config.spec(method=method, seed=5)  # the same spec from both doors
    row = harness.run_arm(
        _bundle(tmp_path, table), method, spec, {"threads": 1, "device": "cpu", "select_on_test": False}
    )
    for metric, k in (("recall", 20), ("ndcg", 10)):
        value = asset_rows.filter((pl.col("metric") == metric) & (pl.col("k") == k))["value"][0]
        assert value == row[f"test_{metric}@{k}"]
    assert asset_rows["best_epoch"][0] == row["best_epoch"]


def test_the_baselines_asset_lists_unavailable_methods_as_skipped_and_rejects_unknown_ones(tmp_path):
    with dg.build_asset_context(
        partition_key="ml-100k",
        resources={"lake": LakeResource(lake_dir=str(tmp_path)), "device": DeviceResource(device="cpu")},
    ) as context:
        config = BaselinesConfig(methods=["rlmrec_con", "llard_graph"], seeds=[1], **SMALL)
        table = baselines(context, config=config, raw_interactions=_clustered_table()).value
        with pytest.raises(ValueError, match="unknown method 'lightgnc'; known methods: lightgcn"):
            baselines(
                context, config=BaselinesConfig(methods=["lightgnc"]), raw_interactions=_clustered_table()
            )
    status = dict(table.select("method", "status").iter_rows())
    assert status["rlmrec_con"].startswith("skipped: rlmrec_con needs text")
    assert status["llard_graph"].startswith("skipped: llard_graph needs llard_train")


def test_harness_set_and_sweep_reach_any_spec_field_and_method_parameter():
    spec = RunSpec(method="sgl").with_setting("params.cl_weight", harness.parse_value("0.05"))
    spec = spec.with_setting("patience", harness.parse_value("7"))
    assert spec.params == {"cl_weight": 0.05} and spec.patience == 7
    assert harness.arm_spec("wo_semantic", spec, 2, {}).params["sampler"] == "dns"
    assert harness.parse_pairs(["params.eps=0.1,0.2"], multi=True) == {"params.eps": [0.1, 0.2]}
    joined = harness.parse_pairs(["params.lambda_de+params.lambda_hal=0.1,0.01"], multi=True)
    swept = harness.arm_spec("recipe_soft25", spec, 1, candidate_grid(joined)[1])
    assert swept.params["lambda_de"] == swept.params["lambda_hal"] == 0.01


def test_harness_set_wins_over_the_arms_own_values_and_the_sweep_over_both():
    fixed = harness.parse_pairs(["params.lambda_hal=0.02", "params.use_augmented_graph=true"], multi=False)
    spec = harness.arm_spec("recipe_xsim", RunSpec(), 1, {}, fixed)  # the arm sets λ2 0.2 and G′ = G
    assert spec.params["lambda_hal"] == 0.02 and spec.params["use_augmented_graph"] is True
    assert spec.params["hal_view"] == "layer_noise"  # the arm's other values stay
    swept = harness.arm_spec("recipe_xsim", RunSpec(), 1, {"params.lambda_hal": 0.2}, fixed)
    assert swept.params["lambda_hal"] == 0.2


def test_train_choosing_keeps_the_best_validation_run_and_matches_a_direct_run():
    from llmhni_pipeline.methods import MethodInputs
    from llmhni_pipeline.recipe import train, train_choosing
    from llmhni_pipeline.recsys.data import SplitData

    inputs = MethodInputs(SplitData.from_frame(_clustered_table()))
    spec = RunSpec(method="sgl", seed=3, **SMALL)
    # lr 0 cannot learn: validation must choose lr 0.01 whatever the order
    labels = []
    choices = {"lr": [0.0, 0.01], "params.cl_weight+params.temperature": [0.1]}
    run, rows = train_choosing(spec, inputs, choices, "cpu", logger=lambda label: labels.append(label))
    assert [r["lr"] for r in rows] == [0.0, 0.01] and [r["chosen"] for r in rows] == [False, True]
    assert run.spec.lr == 0.01 and run.spec.params == {"cl_weight": 0.1, "temperature": 0.1}
    assert labels[1].startswith("candidate 2/2 (lr 0.01, ")
    direct = train(
        spec.with_setting("params.cl_weight", 0.1).with_setting("params.temperature", 0.1), inputs, "cpu"
    )
    assert torch.equal(direct.z_user, run.z_user)  # a chosen run is the same run as trained on its own
    assert rows[1]["valid_recall@20"] == direct.result.best_valid["recall@20"] > rows[0]["valid_recall@20"]


def test_the_grid_and_a_joined_key_as_the_harness_sweep_uses_them():
    from llmhni_pipeline.recipe import with_choice

    grid = candidate_grid({"lr": [1e-3, 5e-3], "params.lambda_de+params.lambda_hal": [0.1, 0.01]})
    assert [(g["lr"], g["params.lambda_de+params.lambda_hal"]) for g in grid] == [
        (1e-3, 0.1),
        (1e-3, 0.01),
        (5e-3, 0.1),
        (5e-3, 0.01),
    ]
    assert candidate_grid({}) == [{}]
    spec = with_choice(RunSpec(method="llmhni", params={"sampler": "dns"}), grid[1])
    assert spec.lr == 1e-3 and spec.params == {"sampler": "dns", "lambda_de": 0.01, "lambda_hal": 0.01}


def test_joint_config_carries_every_llmhni_parameter_and_names_unknown_choices():
    import dataclasses

    from llmhni_pipeline.assets.joint_model import JointConfig
    from llmhni_pipeline.methods.llmhni import LLMHNIParams

    config = JointConfig()
    assert set(config.llmhni_params()) == {f.name for f in dataclasses.fields(LLMHNIParams)}
    assert JointConfig(choose_on_validation={"lambda_de+lambda_hal": [0.1], "lr": [1e-3]}).choices() == {
        "params.lambda_de+params.lambda_hal": [0.1],
        "lr": [1e-3],
    }
    with pytest.raises(ValueError, match="unknown setting\\(s\\) \\['lamda_hal'\\]"):
        JointConfig(choose_on_validation={"lamda_hal": [0.1]}).choices()


def test_harness_ease_is_a_record_with_validation_and_test_like_a_run(tmp_path):
    from llmhni_pipeline.recsys.baselines import ease_scorer
    from llmhni_pipeline.recsys.evaluate import evaluate_ranking

    path = _bundle(tmp_path, _clustered_table())
    row = harness.ease(path, "cpu", 10.0)
    assert (row["dataset"], row["arm"], row["method"], row["seed"]) == ("toy", "ease_l2_10", "ease", None)
    data = harness.bundle_inputs(harness.load_bundle(path)).data
    scorer = ease_scorer(data.train, 10.0, torch.device("cpu"))
    valid = evaluate_ranking(scorer, data.valid, data.train_sets)  # valid masks train only; test masks both
    test = evaluate_ranking(scorer, data.test, data.train_valid_sets)
    assert row["valid_recall@20"] == valid["recall@20"] and row["test_recall@20"] == test["recall@20"]
    assert 0 < row["test_recall@20"] <= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_harness_workers_die_with_the_harness(tmp_path):
    import os
    import signal
    import subprocess

    root = str(Path(__file__).resolve().parents[1])
    parent = f"""
import multiprocessing, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the worker: a SIGTERM would not stop it
sys.path.insert(0, {root!r})
from concurrent.futures import ProcessPoolExecutor
from benchmarks.llmhni_experiments import die_with_parent
ctx = multiprocessing.get_context("spawn")
pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=die_with_parent)
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(time.sleep, 300)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)  # the harness killed outright: no clean-up code of its own runs
"""
    out = tmp_path / "worker_pid"  # a file, not a pipe: an orphaned worker would hold a pipe open
    with out.open("w") as stdout:
        subprocess.run([sys.executable, "-c", parent], stdout=stdout, timeout=120)
    worker = int(out.read_text().split()[0])

    def alive() -> bool:
        try:
            state = Path(f"/proc/{worker}/status").read_text()
        except FileNotFoundError:
            return False
        return "State:\tZ" not in state

    deadline = time.monotonic() + 30
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    survived = alive()
    status = ""
    if survived:
        status = Path(f"/proc/{worker}/status").read_text()
        status = " ".join(line for line in status.splitlines() if line.startswith(("Sig", "PPid", "State")))
        os.kill(worker, signal.SIGKILL)
    assert not survived, f"worker {worker} outlived the harness: {status}"


def test_the_harness_queue_skips_recorded_runs_and_a_cut_line_after_a_kill(tmp_path, capsys):
    """A study longer than a session: each finished run is recorded with its job key at once, a re-run skips what
    is recorded (a line cut by a kill mid-write counts as not recorded) and runs the rest, with an ETA."""
    path = _bundle(tmp_path, _clustered_table())
    opts = {"threads": 1, "device": "cpu", "select_on_test": False, "workers": 1}
    log = tmp_path / "runs.jsonl"
    jobs = [
        (path, "lightgcn", harness.arm_spec("lightgcn", RunSpec().override(**SMALL), s, {})) for s in (1, 2)
    ]
    first = harness.run_jobs(jobs[:1], opts, log)
    assert len(first) == 1 and first[0]["job"] == harness.job_key(*jobs[0])
    with log.open("a") as f:  # the run in flight when the queue was killed, half written
        f.write('{"dataset": "toy", "arm": "lightgcn", "seed": 2, "te')
    capsys.readouterr()
    rows = harness.run_jobs(jobs, opts, log)
    out = capsys.readouterr().out
    assert (
        "1 of 2 runs already recorded" in out
        and "# 1/1 runs done (1 recorded before)" in out
        and "ETA" in out
    )
    assert sorted(r["seed"] for r in rows) == [1, 2]
    records = [
        json.loads(line) for line in log.read_text().splitlines()[:1] + log.read_text().splitlines()[2:]
    ]
    assert [r["seed"] for r in records] == [1, 2]  # seed 1 was not trained again
    assert harness.recorded_jobs(log) == {harness.job_key(*j) for j in jobs}
    assert harness.run_jobs(jobs, opts, log) and len(log.read_text().splitlines()) == 3  # nothing left to run
