"""The judge trial: a stratified sample, AUCs with bootstrap intervals, the projected bill; and the CLI through
the real entry point against the fake OpenAI server."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.trial import bootstrap_auc, trial_sample
from llmhni_pipeline.lake import table_path
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI


def _partition(n_users: int = 60, noisy: bool = False):
    """Each user: two high-scored negatives (one a validation positive, item text marked [gold:High]; one not,
    [gold:Low]), two low-scored positives (on a noisy partition one of them injected)."""
    rng = np.random.default_rng(0)
    inter, cand = [], []
    for u in range(n_users):
        hard, other, p1, p2 = 4 * u, 4 * u + 1, 4 * u + 2, 4 * u + 3
        inter += [(u, hard, "valid", False), (u, p1, "train", False), (u, p2, "train", noisy)]
        inter += [(u, 4 * ((u + 1) % n_users) + 2, "test", False)]
        for item, kind in ((hard, "neg_high"), (other, "neg_high"), (p1, "pos_low"), (p2, "pos_low")):
            cand.append((u, item, kind, 0, float(rng.random()), [p1]))
    interactions = pl.DataFrame(
        inter, schema=["user_id", "item_id", "split", "is_injected"], orient="row"
    ).with_columns(pl.col("user_id", "item_id").cast(pl.Int32), noise_ratio=pl.lit(0.0, pl.Float32))
    candidates = pl.DataFrame(
        cand,
        schema={
            "user_id": pl.Int32,
            "item_id": pl.Int32,
            "kind": pl.String,
            "rank_within_user": pl.Int32,
            "model_score": pl.Float64,
            "evidence_items": pl.List(pl.Int32),
        },
        orient="row",
    )
    texts = [("user", u, f"user {u} likes books") for u in range(n_users)]
    texts += [
        ("item", 4 * u + k, f"book {4 * u + k} [gold:{'High' if k == 0 else 'Low'}]")
        for u in range(n_users)
        for k in range(4)
    ]
    profiles = pl.DataFrame(
        texts, schema={"entity": pl.String, "id": pl.Int32, "text": pl.String}, orient="row"
    )
    return interactions, candidates, profiles


def write_tables(lake: Path, key: str, interactions, candidates, profiles) -> Path:
    """The partition's raw_interactions, candidate_pairs and text_profiles, as the stages would have left them."""
    no_vectors = pl.DataFrame(schema={"entity": pl.String, "id": pl.Int32, "vector": pl.List(pl.Float32)})
    for name, frame in (
        ("raw_interactions", interactions),
        ("candidate_pairs", candidates),
        ("text_profiles", profiles),
        ("aligned_projector", no_vectors),
    ):
        table_path(lake, name, key).parent.mkdir(parents=True)
        frame.write_parquet(table_path(lake, name, key))
    return lake


def test_the_sample_is_seeded_and_holds_the_true_cases():
    interactions, candidates, _ = _partition(noisy=True)
    a = trial_sample(candidates, interactions, 40, seed=1)
    assert a.equals(trial_sample(candidates, interactions, 40, seed=1)) and a.height == 40
    hard = a.filter(pl.col("kind") == "neg_high")
    noise = a.filter(pl.col("kind") == "pos_low")
    assert hard.height == 20 and noise.height == 20
    assert hard["truth"].sum() == 10 and noise["truth"].sum() == 10  # half true cases, although rarer
    clean = trial_sample(candidates, interactions.with_columns(is_injected=pl.lit(False)), 40, seed=1)
    assert set(clean["kind"]) == {"neg_high"}  # no noise question on a clean partition


def test_bootstrap_interval_brackets_the_auc_and_narrows_with_data():
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    s = y * 1.0 + rng.normal(0, 1, 400)
    point, low, high = bootstrap_auc(s, y)
    assert low < point < high and 0.7 < point < 0.85
    _, low_s, high_s = bootstrap_auc(s[:60], y[:60])
    assert high_s - low_s > high - low
    assert np.isnan(bootstrap_auc(s, np.zeros(400, bool))[0])


def test_the_trial_through_the_cli_measures_the_judge_and_projects_the_bill(tmp_path):
    interactions, candidates, profiles = _partition(noisy=False)
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    llmhni = str(Path(sys.executable).with_name("llmhni"))
    with FakeOpenAI() as server:
        env = {
            **os.environ,
            "LLMHNI_LAKE_DIR": str(lake),
            "LLMHNI_LLM_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "k",
            "LLMHNI_JUDGE_MODEL": "gpt-4o-mini",
        }
        done = subprocess.run(
            [llmhni, "judgments", "trial", "shop", "--pairs", "40"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        paid = sum(server.paid.values())
        again = subprocess.run(
            [llmhni, "judgments", "trial", "shop", "--pairs", "40"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sum(server.paid.values()) == paid  # the trial's answers are cached like any others
    out = done.stdout
    hard = next(line for line in out.splitlines() if line.startswith("hard:"))
    assert "| 40 (20) | 0.500 / 0.500 | 1.000 [1.000, 1.000] |" in hard  # the gold marker ranks perfectly
    assert "noise:" not in out  # a clean partition has no noise question
    assert (
        "full coverage of 240 pairs" in out and "gpt-4o-mini: about $" in out and "with the Batch API" in out
    )
    # 40 user-centric prompts, and the item-centric one of the 20 pairs they judged High (as the stage does)
    assert paid == 60 and "40 pairs judged with 60 prompts" in out and again.stdout.count("hard:") == 1
    # a perfect judge: the committed judge-worth curve read at AUC 1.0 for every partition and rule, and the advice
    from llmhni_pipeline.denoise.judge_worth import curve_summary

    curves = curve_summary()["curves"]
    assert curves, "judge_worth.json holds no measured curve"
    for partition, rules in curves.items():
        for rule, curve in rules.items():
            at_one = 100 * next(p["gain"] for p in curve["points"] if p["auc"] == 1.0)
            assert f"on {partition}, rule {rule}: {at_one:+.1f}% [{at_one:+.1f}%, {at_one:+.1f}%]" in out
    assert (
        "recommendation: judge every pair: judge AUC (hard) 1.000 [1.000, 1.000] reaches the break-even"
        in out
    )


def test_trial_and_batch_export_refuse_candidate_pairs_built_from_another_version_of_the_data(
    tmp_path, monkeypatch, capsys
):
    """What ``materialize`` refuses, the judge's commands refuse too: stale prompts never go into a paid batch."""
    from llmhni_pipeline.cli import main
    from llmhni_pipeline.lake import LINEAGE_KEY

    interactions, candidates, profiles = _partition()
    lake = write_tables(tmp_path / "lake", "shop", interactions, candidates, profiles)
    interactions.write_parquet(table_path(lake, "raw_interactions", "shop"), metadata={LINEAGE_KEY: "new"})
    candidates.write_parquet(table_path(lake, "candidate_pairs", "shop"), metadata={LINEAGE_KEY: "old"})
    monkeypatch.setenv("LLMHNI_LAKE_DIR", str(lake))
    monkeypatch.setenv("LLMHNI_JUDGE_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    for argv in (
        ["judgments", "trial", "shop", "--pairs", "20"],
        ["judgments", "batch-export", "shop", str(tmp_path / "batch.jsonl")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "candidate_pairs was built from another version of raw_interactions" in err, err
    assert not list(tmp_path.glob("batch*"))


def test_the_not_spent_time_uses_the_judges_measured_full_rate_where_there_is_one():
    """The trial's pairs are scattered over users, so a local judge reuses no prompt prefix and runs slower per
    prompt than judging every pair: the stage once said 37 min not spent where full judging took 25."""
    import numpy as np

    from llmhni_pipeline.denoise.judging import PairJudgments
    from llmhni_pipeline.denoise.trial import TrialReport, TrialRun
    from llmhni_pipeline.llm.accounting import CallStats

    report = TrialReport(prompts=300, projected_prompts=3_764)
    run = TrialRun(np.arange(10), PairJudgments([], [], CallStats(calls=300), []), report, seconds=200.0)
    trial_rate = run.not_spent("local-judge")
    assert (
        trial_rate["judging_seconds_not_spent"] == round(3_464 * 200 / 300)
        and "trial's own" in trial_rate["judging_rate"]
    )
    full = run.not_spent("local-judge", full_rate=2.45)
    assert (
        full["judging_seconds_not_spent"] == round(3_464 / 2.45)
        and "measured judging every pair" in full["judging_rate"]
    )


def test_the_embedded_judges_measured_rate_is_the_one_the_guide_and_the_set_up_state():
    from pathlib import Path

    from llmhni_pipeline.llm.model_store import JUDGE_MODELS

    model = JUDGE_MODELS["qwen2.5-coder-0.5b"]
    low, high = model.prompts_per_second - 0.05, model.prompts_per_second + 0.05
    stated = f"{low:.1f}–{high:.1f} prompts/s"
    guide = (Path(__file__).resolve().parents[2] / "docs/guide/llm-backends.md").read_text()
    assert stated in model.note and any(
        stated in line for line in guide.splitlines() if "judge (default)" in line
    )
