import polars as pl

from llmhni_pipeline.assets.report import model_summary, noise_curve
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.resources.lake import LakeResource


def _evaluation(r20_by_seed: dict[int, float], method="sgl") -> pl.DataFrame:
    rows = []
    for seed, r20 in r20_by_seed.items():
        for metric, k, value in (("recall", 20, r20), ("ndcg", 10, r20 / 2), ("recall", 10, r20 / 3)):
            rows.append(
                {
                    "model": f"{method} (lightgcn, seed {seed})",
                    "method": method,
                    "backbone": "lightgcn",
                    "seed": seed,
                    "protocol": "held-out validation",
                    "split": "test",
                    "metric": metric,
                    "k": k,
                    "value": value,
                    "users": 10,
                }
            )
    return pl.DataFrame(rows)


def test_model_summary_is_mean_and_std_over_seeds():
    row = model_summary(_evaluation({1: 0.10, 2: 0.12, 3: 0.14})).row(0, named=True)
    assert row["label"] == "sgl (lightgcn)" and row["seeds"] == 3
    assert (
        abs(row["r20"] - 0.12) < 1e-12
        and abs(row["r20_std"] - 0.02) < 1e-12
        and abs(row["n10"] - 0.06) < 1e-12
    )


def test_the_noise_curve_collects_the_same_datasets_noise_partitions_only(tmp_path):
    for key, r20 in (("shop", 0.20), ("shop-noise10", 0.18), ("shop-noise20", 0.15), ("shopping", 0.99)):
        path = table_path(tmp_path, "evaluation", key)
        path.parent.mkdir(parents=True)
        _evaluation({1: r20}).write_parquet(path)
    curve = noise_curve(LakeResource(lake_dir=str(tmp_path)), "shop-noise10")
    assert curve == {"sgl (lightgcn)": {0.0: 0.20, 0.1: 0.18, 0.2: 0.15}}
    assert noise_curve(LakeResource(lake_dir=str(tmp_path)), "shopping") is None  # one point is no curve


def _models(**r20: float) -> pl.DataFrame:
    names = {"llmhni": "LLMHNI (lightgcn)", "backbone": "lightgcn (pretrained)", "ease": "EASE (λ=100)"}
    return pl.DataFrame(
        [
            {"model": names[k], "metric": m, "k": kk, "value": v if m == "recall" else v / 2}
            for k, v in r20.items()
            for m, kk in (("recall", 20), ("ndcg", 10))
        ]
    )


def test_the_page_opens_with_whether_the_llm_helped():
    from llmhni_pipeline.assets.report import llm_verdict

    unchanged = {"rule": "none", "removed_edges": 0, "added_edges": 0}
    quality = {
        "noise_judge_auc": 0.551,
        "noise_recommender_auc": float("nan"),
    }  # probes: no recommender score
    lines = llm_verdict(_models(llmhni=0.3928, backbone=0.3618, ease=0.3906), unchanged, quality, 1.0)
    text = "\n".join(lines)
    assert lines[0] == "## Did the LLM help here?"
    assert "its pretrained backbone's 0.3618 (+8.6%) and EASE's 0.3906 (+0.6%)" in text
    assert "The judge changed nothing in training: G′ = G" in text
    assert (
        "covered 100.0% of the candidate pairs; its AUC for real edges against planted noise is 0.551 (chance 0.5)"
        in text
    )
    edited = {
        "rule": "remove_only",
        "removed_edges": 12,
        "added_edges": 0,
        "ease_valid_recall@20_G": 0.3451,
        "ease_valid_recall@20_G_prime": 0.3501,
    }
    text = "\n".join(llm_verdict(_models(llmhni=0.30, backbone=0.32), edited, None, None))
    assert "(-6.2%)" in text and "G′ differs from G**: rule `remove_only`, 12 edges removed, 0 added" in text
    assert "0.3451 → 0.3501" in text and "covered" not in text
    assert "No LLMHNI model" in "\n".join(llm_verdict(_models(backbone=0.3), None, None, None))


def test_the_report_says_the_gate_chose_the_judge_even_when_a_cap_left_pairs_unjudged():
    from llmhni_pipeline.assets.report import gate_line
    from llmhni_pipeline.denoise.trial import decide

    gate = decide("auto", (0.95, 0.9, 0.99), ["hidden"], 0.9)
    whole = gate_line(gate.metadata())
    capped = gate_line(gate.metadata(unjudged=502, pairs=752))
    assert whole.startswith("- **The judge was worth it**") and "every pair judged" in whole
    assert (
        capped.startswith("- **The judge was worth it**") and "250 of 752 are judged, 502 not yet" in capped
    )
    chance = gate_line(decide("auto", (0.5, 0.4, 0.6), ["hidden"], 0.9).metadata())
    assert chance.startswith("- **The judge was tried, not used**")
