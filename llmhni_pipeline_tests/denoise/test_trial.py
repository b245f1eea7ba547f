"""The judge trial: a stratified sample, AUCs with bootstrap intervals, the projected bill; and the CLI through
the real entry point against the fake OpenAI server."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmhni_pipeline.denoise.trial import bootstrap_auc, trial_sample
from llmhni_pipeline.denoise.truth import PROBE, noise_probes, with_probes
from llmhni_pipeline.lake import table_path
from llmhni_pipeline_tests.support.fake_openai import FakeOpenAI


def _partition(n_users: int = 60, noisy: bool = False, hidden: bool = False, filler: int = 0):
    """Each user: two high-scored negatives (on a ``hidden`` partition one of them a held-back train edge), two
    low-scored positives (on a ``noisy`` partition one of them injected), a validation item that is never a
    candidate, a test item. The item texts carry the fake judge's gold marker: [gold:High] for the user's real
    items, [gold:Low] for the rest; ``filler`` items nobody has (Low) make the catalogue larger, so that the
    trial's probes (random pairs) mostly land on items no user has."""
    rng = np.random.default_rng(0)
    n_items = 5 * n_users + filler
    inter, cand = [], []
    for u in range(n_users):
        hard, other, p1, p2, valid = (5 * u + k for k in range(5))
        inter += [(u, p1, "train", False), (u, p2, "train", noisy), (u, valid, "valid", False)]
        inter += [(u, 5 * ((u + 1) % n_users) + 1, "test", False)]
        if hidden:
            inter.append((u, hard, "hidden", False))
        for item, kind in ((hard, "neg_high"), (other, "neg_high"), (p1, "pos_low"), (p2, "pos_low")):
            cand.append((u, item, kind, 0, float(rng.random()), [p1]))
    if filler:
        inter.append((0, n_items - 1, "test", False))  # the catalogue's last item
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
    real = {0: hidden, 1: False, 2: True, 3: not noisy, 4: True}  # by item position within a user's five
    texts = [("user", u, f"user {u} likes books") for u in range(n_users)]
    texts += [
        ("item", i, f"book {i} [gold:{'High' if i < 5 * n_users and real[i % 5] else 'Low'}]")
        for i in range(n_items)
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
    interactions, candidates, _ = _partition(noisy=True, hidden=True)
    a = trial_sample(candidates, interactions, 40, seed=1)
    assert a.equals(trial_sample(candidates, interactions, 40, seed=1)) and a.height == 40
    hard = a.filter(pl.col("kind") == "neg_high")
    noise = a.filter(pl.col("kind") == "pos_low")
    assert hard.height == 20 and noise.height == 20
    assert hard["truth"].sum() == 10 and noise["truth"].sum() == 10  # half true cases, although rarer
    # a clean partition: the positives a judge would remove, against random pairs planted as noise (probes)
    clean, candidates, _ = _partition()
    asked = with_probes(candidates, clean, 20, seed=1)
    probes = asked.filter(pl.col("kind") == PROBE)
    assert asked.head(candidates.height).equals(candidates) and probes.height == 20
    assert probes.join(clean, on=["user_id", "item_id"]).filter(pl.col("split") != "test").height == 0
    assert probes.join(candidates, on=["user_id", "item_id"]).height == 0  # never a candidate pair
    sample = trial_sample(asked, clean, 40, seed=1)
    assert set(sample["kind"]) == {"pos_low", PROBE} and sample["truth"].sum() == 20
    assert sample.filter(pl.col("truth"))["kind"].unique().to_list() == [PROBE]
    assert (
        noise_probes(candidates, interactions, 20, seed=1).height == 0
    )  # injected edges are the truth there


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
    interactions, candidates, profiles = _partition(filler=2000)
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
    # a clean partition: the positives a judge would remove against 20 random pairs planted as noise (probes);
    # the gold marker ranks them right but for the few probes that land on another user's real item
    noise = next(line for line in out.splitlines() if line.startswith("noise:"))
    assert "random pairs planted as noise | 40 (20) | 0.500 / nan |" in noise and noise.endswith(
        "nan [nan, nan]"
    )
    auc = float(noise.split(" | ")[3].split()[0])
    assert 0.9 <= auc < 1.0 and "hard:" not in out  # no validation pair is a candidate: no question of them
    # the bill of the candidates alone, kind by kind (the probes are the trial's): 2 prompts per sampled pair
    assert "full coverage of 240 pairs: about 480 prompts" in out
    prompts = int(out.split(" pairs judged with ")[1].split()[0])
    assert "gpt-4o-mini: about $" in out and "with the Batch API" in out
    # 40 user-centric prompts, and the item-centric one of each pair they judged High (as the stage does)
    assert paid == prompts and 60 <= prompts < 70 and again.stdout.count("noise:") == 1
    # the committed judge-worth curve read at the judge's AUC for every partition and rule, and the advice
    from llmhni_pipeline.denoise.judge_worth import curve_summary

    curves = curve_summary()["curves"]
    assert curves, "judge_worth.json holds no measured curve"
    for partition, rules in curves.items():
        for rule in rules:
            assert f"on {partition}, rule {rule}: " in out
    assert (
        "recommendation: " in out and "(no judge-worth curve for shop: the most demanding measured, " in out
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


FAKE_CURVES = {
    "default_rule": "validated",
    "default_break_even_auc": 1.0,
    "curves": {
        "toy-noise10": {
            "validated": {"break_even_auc": 1.0, "points": [{"auc": 1.0, "gain": 0.04}]},
            "validated@k20": {"break_even_auc": 0.9, "points": [{"auc": 0.9, "gain": 0.02}]},
            "paper": {"break_even_auc": None, "points": [{"auc": 1.0, "gain": -0.1}]},
        },
        "toy-hide10": {"validated": {"break_even_auc": None, "points": [{"auc": 1.0, "gain": 0.0}]}},
    },
}


def test_the_gate_reads_the_datasets_own_curve_at_its_budget_else_the_nearest(monkeypatch):
    from llmhni_pipeline.denoise import judge_worth
    from llmhni_pipeline.denoise.judge_worth import break_even_for

    monkeypatch.setattr(judge_worth, "curve_summary", lambda: FAKE_CURVES)
    own = break_even_for("toy-noise10", 2)
    assert own.auc == 1.0 and own.source == "the judge-worth curve of toy-noise10, rule validated, k = 2"
    # a clean partition reads its base dataset's noise curve (the question its trial's probes ask)
    assert break_even_for("toy", 2) == own and break_even_for("toy-noise5", 2) == own
    assert break_even_for("toy", 10).auc == 1.0  # 2 is nearer to 10 than 20
    larger = break_even_for("toy", 15)
    assert larger.auc == 0.9 and larger.source.endswith("k = 20, the nearest measured to 15")
    hidden = break_even_for("toy-hide10", 2, hidden=True)
    assert hidden.auc is None and "toy-hide10" in hidden.source
    assert break_even_for("toy-hide5", 2, hidden=True).source.startswith(
        "the judge-worth curve of toy-hide10"
    )
    other = break_even_for("shop", 2)
    assert other.auc == 1.0 and other.source.startswith("no judge-worth curve for shop")


def _judge_by(margin_of, asked: pl.DataFrame):
    """``judge_rows`` for ``run_trial``: both views of each pair answered with ``margin_of(user, item)``."""
    from llmhni_pipeline.denoise.judging import PairJudgments
    from llmhni_pipeline.llm.accounting import CallStats
    from llmhni_pipeline.llm.interfaces import JudgeResult

    def judge_rows(rows):
        results = [
            JudgeResult((1 + m) / 2, 0.0, (1 - m) / 2, 1.0, "fake")
            for m in (margin_of(u, i) for u, i in asked[rows].select("user_id", "item_id").iter_rows())
        ]
        return PairJudgments(results, list(results), CallStats(calls=2 * len(rows)), [False] * len(rows))

    return judge_rows


@pytest.mark.parametrize("pays", [True, False])
def test_an_oracle_of_real_preferences_passes_the_gate_where_the_curve_pays_and_a_chance_judge_does_not(
    monkeypatch, pays
):
    """Like with like: on a clean partition the trial asks the curve's noise question of probes, so a judge that
    knows the users' real preferences (every split, test included) measures about 1 — it passes wherever the
    curve says a perfect judge pays, and nowhere else; a judge at chance passes nowhere."""
    from llmhni_pipeline.denoise import judge_worth
    from llmhni_pipeline.denoise.judge_worth import break_even_for
    from llmhni_pipeline.denoise.prompts import build_prompts
    from llmhni_pipeline.denoise.trial import decide, run_trial
    from llmhni_pipeline.llm.labels import LabelThresholds

    # where it does not pay, the dataset's curve found no judge, a perfect one included, worth it
    nowhere = {"toy-noise10": {"validated": {"break_even_auc": None, "points": []}}}
    curves = FAKE_CURVES if pays else {**FAKE_CURVES, "curves": nowhere}
    monkeypatch.setattr(judge_worth, "curve_summary", lambda: curves)
    interactions, candidates, profiles = _partition(filler=2000)
    asked = with_probes(candidates, interactions, 100, seed=2026)
    user, item = build_prompts(asked, profiles)
    real = set(interactions.select("user_id", "item_id").iter_rows())
    rng = np.random.default_rng(5)
    judges = {
        "oracle": lambda u, i: 0.9 if (u, i) in real else -0.9,
        "chance": lambda u, i: rng.uniform(-1, 1),
    }
    even = break_even_for("toy", 2)
    decisions = {}
    for name, margin_of in judges.items():
        trial = run_trial(
            asked, interactions, user, item, _judge_by(margin_of, asked), LabelThresholds(), 200, 2026
        )
        report = trial.report
        assert report.gate_questions == ["noise"] and report.pairs_in_partition == candidates.height
        decisions[name] = decide("auto", report.judge_auc, report.gate_questions, even.auc, even.source)
    assert decisions["oracle"].judge_auc[0] > 0.97 and decisions["oracle"].judge_auc[2] == 1.0
    assert decisions["chance"].judge_auc[2] < 0.75
    assert decisions["oracle"].judge_rest is pays and not decisions["chance"].judge_rest
    if pays:
        assert (
            "reaches the break-even AUC 1.00 (the judge-worth curve of toy-noise10"
            in decisions["oracle"].reason
        )
    else:
        assert (
            "no judge, a perfect one included, was measured to make G′ beat G" in decisions["oracle"].reason
        )


def test_the_trial_prints_the_candidates_reach_beside_the_auc_on_a_planted_partition():
    """A perfect judge can fix at most what the candidates hold: the trial says so where truth was planted. In the
    toy every user's injected edge is a candidate (reach 100%); one more injected edge outside the candidates
    makes it 60 of 61."""
    from llmhni_pipeline.denoise.prompts import build_prompts
    from llmhni_pipeline.denoise.trial import run_trial
    from llmhni_pipeline.llm.labels import LabelThresholds

    interactions, candidates, profiles = _partition(noisy=True)
    outside = pl.DataFrame(
        {"user_id": [0], "item_id": [7], "split": ["train"], "is_injected": [True], "noise_ratio": [0.0]},
        schema=interactions.schema,
    )
    interactions = pl.concat([interactions, outside])
    user, item = build_prompts(candidates, profiles)
    trial = run_trial(
        candidates,
        interactions,
        user,
        item,
        _judge_by(lambda u, i: 0.5, candidates),
        LabelThresholds(),
        40,
        1,
    )
    assert trial.report.reach["reach_injected"] == round(60 / 61, 4)
    line = next(x for x in trial.report.lines() if x.startswith("reach:"))
    assert line.startswith("reach: the candidates hold 98% of the injected edges (60 of 61): a perfect judge")
    clean, candidates, profiles = _partition()
    user, item = build_prompts(candidates, profiles)
    trial = run_trial(
        candidates, clean, user, item, _judge_by(lambda u, i: 0.5, candidates), LabelThresholds(), 40, 1
    )
    assert not [x for x in trial.report.lines() if x.startswith("reach:")]  # nothing planted, no reach
