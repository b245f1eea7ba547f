"""``report`` — one Markdown page per dataset in the UI: every model's test metrics (mean ± std over seeds, with
its protocol), a bar chart, how much the judge covered and how right it was, the EASE check of G′, and the
noise curve when ``-noiseNN`` partitions of the same dataset have been evaluated. The table holds the same
numbers, queryable in DuckDB."""

import re

import dagster as dg
import polars as pl

from llmhni_pipeline.datasets.synth import synthetic_note
from llmhni_pipeline.denoise.judge_quality import judge_quality
from llmhni_pipeline.lake import StaleTableError, incoming_dir, read_table, table_path
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.plots import bars_png, lines_png, png_markdown
from llmhni_pipeline.resources.lake import LakeResource

EVALUATION, SCORES, GRAPH = "evaluation", "llm_logical_scores", "augmented_graph"
_NOISE = re.compile(r"-noise(\d{2})$")


def model_summary(evaluation: pl.DataFrame) -> pl.DataFrame:
    """One row per (method, backbone, protocol): mean and std over seeds of test R@20 and N@10."""
    wide = (
        evaluation.filter(
            ((pl.col("metric") == "recall") & (pl.col("k") == 20))
            | ((pl.col("metric") == "ndcg") & (pl.col("k") == 10))
        )
        .with_columns(name=pl.concat_str("metric", pl.lit("@"), pl.col("k").cast(pl.String)))
        .pivot(on="name", index=["model", "method", "backbone", "seed", "protocol"], values="value")
    )
    label = (
        pl.when(pl.col("backbone").is_null())
        .then(pl.col("method"))
        .otherwise(pl.concat_str("method", pl.lit(" ("), "backbone", pl.lit(")")))
    )
    return (
        wide.with_columns(label=label)
        .group_by("label", "protocol", maintain_order=True)
        .agg(
            seeds=pl.len(),
            r20=pl.col("recall@20").mean(),
            r20_std=pl.col("recall@20").std().fill_null(0.0),
            n10=pl.col("ndcg@10").mean(),
            n10_std=pl.col("ndcg@10").std().fill_null(0.0),
        )
        .sort("r20", descending=True)
    )


def _r20(evaluation: pl.DataFrame, model: pl.Expr) -> float | None:
    rows = evaluation.filter(model & (pl.col("metric") == "recall") & (pl.col("k") == 20))
    return float(rows["value"].mean()) if rows.height else None


def gate_line(judge_meta: dict[str, object]) -> str | None:
    """What the coverage gate of ``llm_logical_scores`` decided, and what stopping saved, in one bullet."""
    if judge_meta.get("coverage") in (None, "full"):
        return None
    decision = str(judge_meta.get("coverage_decision") or "")
    if decision == "judged every pair":
        return f"- **The judge was worth it**: after its trial, {judge_meta.get('coverage_reason')}; every pair judged."
    if decision.startswith("chose to judge every pair"):  # a cap or failures left some unjudged so far
        return (
            f"- **The judge was worth it**: after its trial, {judge_meta.get('coverage_reason')}; {decision}."
        )
    saved = (
        [f"about {int(judge_meta['prompts_not_sent']):,} prompts"] if "prompts_not_sent" in judge_meta else []
    )
    if "judging_seconds_not_spent" in judge_meta:
        saved.append(f"about {float(judge_meta['judging_seconds_not_spent']) / 60:.0f} min of judging")
    if judge_meta.get("cost_usd_not_spent"):
        saved.append(f"about ${float(judge_meta['cost_usd_not_spent']):.2f}")
    return (
        f"- **The judge was tried, not used**: {judge_meta.get('coverage_reason')}."
        + (f" Not spent: {', '.join(saved)}." if saved else "")
        + " To judge every pair anyway: `llm_logical_scores` config `coverage: full`."
    )


def llm_verdict(
    evaluation: pl.DataFrame,
    graph_meta: dict[str, object] | None,
    quality: dict[str, float] | None,
    coverage: float | None,
    judge_meta: dict[str, object] | None = None,
) -> list[str]:
    """The page's first answer: did the LLM help here? LLMHNI against its pretrained backbone and EASE (test
    R@20), whether the judge was worth using (the coverage gate), whether G′ differs from G and why, and how the
    judge compares with the recommender."""
    name = pl.col("model")
    llmhni = _r20(evaluation, name.str.starts_with("LLMHNI"))
    backbone = _r20(evaluation, name.str.ends_with("(pretrained)"))
    ease = _r20(evaluation, name.str.starts_with("EASE") | name.str.starts_with("SANSA"))
    lines = ["## Did the LLM help here?", ""]
    if llmhni is None:
        lines.append("- No LLMHNI model in `evaluation` yet: materialize `joint_model`, then `evaluation`.")
    else:
        against = [
            f"its pretrained backbone's {v:.4f} ({llmhni / v - 1:+.1%})"
            if label == "backbone"
            else f"EASE's {v:.4f} ({llmhni / v - 1:+.1%})"
            for label, v in (("backbone", backbone), ("ease", ease))
            if v
        ]
        lines.append(
            f"- **LLMHNI: test R@20 {llmhni:.4f}**"
            + (f", against {' and '.join(against)}." if against else ".")
        )
    gate = gate_line(judge_meta or {})
    if gate:
        lines.append(gate)
    if graph_meta is not None:
        rule = str(graph_meta.get("rule", "?"))
        removed, added = graph_meta.get("removed_edges", 0), graph_meta.get("added_edges", 0)
        check = graph_meta.get("ease_valid_recall@20_G"), graph_meta.get("ease_valid_recall@20_G_prime")
        if graph_meta.get("ease_check_refused"):
            lines.append(
                "- **G′ = G: the judge's edits could not be checked on validation here** (EASE, the check, is "
                f"over the dense-memory bound: {graph_meta['ease_check_refused']}), so they were not applied."
            )
        elif graph_meta.get("judge_not_used"):
            lines.append("- **G′ = G**, since the judge was not used.")
        elif rule.startswith("none") or (not removed and not added):
            lines.append(
                "- **The judge changed nothing in training: G′ = G.** No rule built from its judgments beat G on "
                "validation (the EASE check below), so any gain over the backbone comes from LLMHNI's training "
                "(contrastive term, module 1's semantic negatives), not from the judgments."
            )
        else:
            gain = f" (EASE validation R@20 {check[0]:.4f} → {check[1]:.4f})" if None not in check else ""
            lines.append(
                f"- **G′ differs from G**: rule `{rule}`, {removed} edges removed, {added} added{gain}."
            )
    if coverage is not None:
        question = next((q for q in ("hidden", "noise") if f"{q}_judge_auc" in (quality or {})), "noise")
        judge = (quality or {}).get(f"{question}_judge_auc")
        rec = (quality or {}).get(f"{question}_recommender_auc")
        what = "held-back edges" if question == "hidden" else "real edges against planted noise"
        against = f" against the recommender's {rec:.3f}" if rec is not None and rec == rec else ""
        auc = f"; its AUC for {what} is {judge:.3f}{against} (chance 0.5)" if judge is not None else ""
        lines.append(f"- The judge covered {coverage:.1%} of the candidate pairs{auc}.")
    return lines + [""]


def _pm(mean: float, std: float, n: int) -> str:
    return f"{mean:.4f}" if n < 2 else f"{mean:.4f} ± {std:.4f}"


def noise_curve(lake: LakeResource, key: str) -> dict[str, dict[float, float]] | None:
    """Test R@20 per method against the noise ratio, over this dataset's evaluated noise partitions."""
    base = _NOISE.sub("", key)
    points: dict[str, dict[float, float]] = {}
    for folder in sorted((lake.lake_path / EVALUATION).glob(f"dataset={base}*"), key=str):
        other = folder.name.removeprefix("dataset=")
        match = _NOISE.search(other)
        if other != base and (not match or _NOISE.sub("", other) != base):
            continue
        ratio = int(match.group(1)) / 100 if match else 0.0
        try:  # another partition's table, checked against that partition's own stage 0
            other_evaluation = read_table(lake.lake_path, EVALUATION, other)
        except (StaleTableError, FileNotFoundError):
            continue
        for row in model_summary(other_evaluation).iter_rows(named=True):
            points.setdefault(row["label"], {})[ratio] = row["r20"]
    ratios = {r for p in points.values() for r in p}
    return points if len(ratios) > 1 else None


def _latest_metadata(context: dg.AssetExecutionContext, asset: str, key: str, raw: bool = False):
    """The metadata of an asset partition's latest materialization (values, or the raw entries), or ``None``."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    if not records or not records[0].asset_materialization:
        return None
    meta = records[0].asset_materialization.metadata
    return meta if raw else {k: v.value for k, v in meta.items()}


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="eval",
    kinds={"parquet"},
    code_version="1",
    deps=[EVALUATION, SCORES, GRAPH],
)
def report(
    context: dg.AssetExecutionContext, raw_interactions: pl.DataFrame, lake: LakeResource
) -> dg.Output[pl.DataFrame]:
    key = context.partition_key
    evaluation = read_table(lake.lake_path, EVALUATION, key)  # missing or stale: the page would lie
    summary = model_summary(evaluation)
    lines = [
        "## Test metrics (full ranking, train ∪ valid masked)",
        "",
        "| model | protocol | seeds | R@20 | N@10 |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['label']} | {r['protocol']} | {r['seeds']} | {_pm(r['r20'], r['r20_std'], r['seeds'])} | "
        f"{_pm(r['n10'], r['n10_std'], r['seeds'])} |"
        for r in summary.iter_rows(named=True)
    ]
    bars = dict(zip(summary["label"], summary["r20"], strict=True))
    lines += [
        "",
        png_markdown(
            bars_png(
                bars,
                f"{key}: test R@20",
                "R@20",
                dict(zip(summary["label"], summary["r20_std"], strict=True)),
            ),
            "R@20 by model",
        ),
    ]
    rows = [
        {"section": "model", "name": r["label"], "value": r["r20"]} for r in summary.iter_rows(named=True)
    ]
    scores_path = table_path(lake.lake_path, SCORES, key)
    coverage, quality = None, None
    if scores_path.is_file():
        scores = read_table(lake.lake_path, SCORES, key)
        judged = scores.filter(pl.col("label") != "unjudged")
        coverage = judged.height / max(scores.height, 1)
        lines += [
            "",
            "## The judge",
            "",
            f"{judged.height:,} of {scores.height:,} candidate pairs judged "
            f"({coverage:.1%}), {judged['user_id'].n_unique():,} users; model `{scores['model'][0]}`.",
        ]
        quality = judge_quality(scores, raw_interactions)
        if quality:
            lines += ["", "| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in quality.items()]
        rows += [{"section": "judge", "name": "coverage", "value": coverage}]
        rows += [{"section": "judge", "name": k, "value": float(v)} for k, v in quality.items()]
    judge_meta = _latest_metadata(context, SCORES, key)
    meta = _latest_metadata(context, GRAPH, key, raw=True)
    graph_meta = None
    if meta is not None:
        graph_meta = {k: v.value for k, v in meta.items()}
        check = {k: v.value for k, v in meta.items() if k.startswith("ease_valid_")}
        if check:
            lines += ["", "## EASE check of G′ (validation)", "", "| | value |", "|---|---|"]
            if "rule" in meta:
                lines += [f"| G′ rule | {meta['rule'].value} |"]
            lines += [f"| {k} | {v} |" for k, v in check.items()]
        if "rule_candidates" in meta:
            lines += ["", "Candidates (chosen on validation):", "", str(meta["rule_candidates"].value)]
    curve = noise_curve(lake, key)
    if curve:
        ratios = sorted({r for p in curve.values() for r in p})
        series = {name: [p.get(r, float("nan")) for r in ratios] for name, p in curve.items()}
        lines += [
            "",
            "## Noise robustness",
            "",
            png_markdown(
                lines_png(ratios, series, "test R@20 against injected noise", "noise ratio", "R@20"),
                "noise curve",
            ),
        ]
        rows += [
            {"section": "noise", "name": f"{n}@{r:.2f}", "value": v}
            for n, p in curve.items()
            for r, v in p.items()
        ]
    table = pl.DataFrame(rows, schema={"section": pl.String, "name": pl.String, "value": pl.Float64})
    synthetic = synthetic_note(incoming_dir(lake.lake_path) / lake.spec(key).source.name)
    warning = [f"> **{synthetic}** (`llmhni datasets synth`).", ""] if synthetic else []
    page = [
        f"# {key}",
        "",
        *warning,
        *llm_verdict(evaluation, graph_meta, quality, coverage, judge_meta),
        *lines,
    ]
    return dg.Output(
        table, metadata={"report": dg.MetadataValue.md("\n".join(page)), "models": summary.height}
    )
