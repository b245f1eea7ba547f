"""Judges that answer from the pair behind a prompt, not from its text: a simulated judge of known quality, and
the free semantic judge. Both go through the same gateway, cache, thresholds and rule as an LLM judge.

An unbound one (what ``LLMResource.judge()`` returns for ``LLMHNI_JUDGE_BACKEND=simulated|semantic``) is bound
by ``llm_logical_scores`` to the partition's candidate pairs and their prompts; the bound judge answers each
prompt with P(High), P(Mid), P(Low) whose margin P(High) − P(Low) is decided per pair (``labels
.result_from_margin``), both perspectives of a pair alike.

- **Simulated** (``LLMHNI_SIMULATED_AUC``, default 0.8): a judge whose AUC against the partition's planted truth
  (``truth.planted_relevance``: held-back edges of ``-hideNN``, real edges against injected ones of ``-noiseNN``)
  is the target. Latent scores follow the equal-variance binormal model, s = μ·(relevant − ½) + z with
  μ = √2·Φ⁻¹(AUC), so AUC = Φ(μ/√2); z takes evenly spaced normal quantiles within each (candidate kind,
  relevance) group in a seeded order, so the measured AUC of each kind lands within about 1/n of the target
  rather than within sampling error. The margin is tanh(s). AUC 1 separates the groups completely. It refuses a
  partition without planted truth.
- **Semantic**: module 1's aligned cosine, as ``projector.relevance_margin`` (the pair's rank among G's training
  edges: 2·F(cos) − 1). No LLM, no cost.

The cache keys carry what an answer depends on (the model name has the AUC, the seed and a digest of the pairs
and their truth, or a digest of the projected vectors), so answers never mix across AUCs, partitions or
projectors.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from scipy.special import ndtri

from llmhni_pipeline.denoise.truth import PROBE, planted_relevance
from llmhni_pipeline.llm.interfaces import JudgePrompt, JudgeResult
from llmhni_pipeline.llm.labels import result_from_margin
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.semantic.projector import relevance_margin
from llmhni_pipeline.semantic.vectors import user_item_matrices

PAIR_BACKENDS = ("simulated", "semantic")


class NoGroundTruth(ValueError):
    """A simulated judge was asked to judge a partition whose candidate pairs have no planted truth."""


@dataclass
class PairContext:
    """What a pair judge is bound to: the candidate pairs in judging order and their prompts (same order)."""

    dataset: str
    pairs: pl.DataFrame  # user_id, item_id, kind
    user_prompts: Sequence[JudgePrompt]
    item_prompts: Sequence[JudgePrompt]
    interactions: pl.DataFrame  # raw_interactions
    projected: tuple[torch.Tensor, torch.Tensor] | None = None  # aligned user and item vectors


class MarginJudge:
    """A bound pair judge: each prompt's answer from its pair's margin."""

    def __init__(self, backend: str, model: str, margins: dict[str, float], raw: str):
        self.backend, self.model, self._margins, self._raw = backend, model, margins, raw

    def score(self, prompts: list[JudgePrompt]) -> list[JudgeResult]:
        return [result_from_margin(self._margins.get(p.fingerprint(), math.nan), self._raw) for p in prompts]

    def endpoint(self) -> str:
        return f"the {self.backend} judge"


def _by_prompt(context: PairContext, margins: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for prompts in (context.user_prompts, context.item_prompts):
        for prompt, margin in zip(prompts, margins, strict=True):
            out[prompt.fingerprint()] = float(margin)
    return out


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:10]


def simulated_margins(kinds: np.ndarray, relevant: np.ndarray, target_auc: float, seed: int) -> np.ndarray:
    """Margins in [−1, 1] whose AUC for ``relevant`` within each kind is ``target_auc`` (module docstring)."""
    kinds, relevant = np.asarray(kinds), np.asarray(relevant, dtype=bool)
    rng = np.random.default_rng(seed)
    z = np.zeros(len(kinds))
    for kind in np.unique(kinds):
        for value in (False, True):
            index = np.flatnonzero((kinds == kind) & (relevant == value))
            if len(index):
                z[index[rng.permutation(len(index))]] = ndtri((np.arange(len(index)) + 0.5) / len(index))
    if target_auc >= 1.0:  # every relevant margin ≥ tanh(1) = 0.76 and every other ≤ −0.76: past the fixed
        # thresholds (±0.5), so a perfect judge labels every pair right (with + 1 the lowest was tanh(0.5) = 0.46)
        mu = 2.0 * float(np.abs(z).max(initial=0.0)) + 2.0
    else:
        mu = math.sqrt(2.0) * float(ndtri(target_auc))
    return np.tanh(mu * (relevant - 0.5) + z)


class SimulatedJudge:
    backend = "simulated"

    def __init__(self, target_auc: float, seed: int = 2026):
        if not 0.0 < target_auc <= 1.0:
            raise ValueError(f"LLMHNI_SIMULATED_AUC must be in (0, 1], not {target_auc}")
        self.target_auc, self.seed = target_auc, seed
        self.model = f"simulated-auc{target_auc:g}-seed{seed}"

    def bind(self, context: PairContext) -> MarginJudge:
        try:
            relevant = planted_relevance(context.pairs, context.interactions)
        except ValueError:
            raise NoGroundTruth(
                f"{context.dataset}: the simulated judge needs a partition whose truth is known, and this one "
                "planted none; use a -hideNN partition (train edges held back: known false negatives) or a "
                f"-noiseNN one (injected edges: known false positives), e.g. {context.dataset}-hide10"
            ) from None
        kinds = context.pairs["kind"].to_numpy()
        # the candidates' margins as without the trial's probes (which get theirs apart), so a trial that asked
        # probes and a run that judged every pair give the candidates the same answers under the same name
        probe = kinds == PROBE
        margins = np.empty(len(kinds))
        margins[~probe] = simulated_margins(kinds[~probe], relevant[~probe], self.target_auc, self.seed)
        margins[probe] = simulated_margins(kinds[probe], relevant[probe], self.target_auc, self.seed + 1)
        keys = context.pairs.filter(~pl.Series(probe)).select("user_id", "item_id").to_numpy()
        model = f"{self.model}-{_digest(keys, kinds[~probe].astype('U8'), relevant[~probe])}"
        return MarginJudge(
            self.backend, model, _by_prompt(context, margins), f"simulated, AUC {self.target_auc:g}"
        )


class SemanticJudge:
    backend = "semantic"
    model = "semantic-cosine"

    def bind(self, context: PairContext) -> MarginJudge:
        if context.projected is None:
            raise ValueError(f"{context.dataset}: the semantic judge needs the aligned_projector's vectors")
        user_vec, item_vec = context.projected
        train = context.interactions.filter(pl.col("split") == "train")
        reference = InteractionGraph.from_frame(train, user_vec.shape[0], item_vec.shape[0])
        users = torch.tensor(context.pairs["user_id"].to_numpy(), dtype=torch.int64)
        items = torch.tensor(context.pairs["item_id"].to_numpy(), dtype=torch.int64)
        margin, _ = relevance_margin(user_vec, item_vec, users, items, reference)
        model = f"{self.model}-{_digest(user_vec.numpy(), item_vec.numpy(), train.select('user_id', 'item_id').to_numpy())}"
        return MarginJudge(self.backend, model, _by_prompt(context, margin.numpy()), "semantic relevance")


def per_pair(prompts: Sequence[JudgePrompt], pairs: pl.DataFrame) -> list[JudgePrompt]:
    """``prompts`` made distinct per pair (the pair in the prompt's version, which its cache key holds): a judge
    that answers from the pair must answer two pairs whose texts are identical (MovieLens lists some titles
    twice) each by its own truth, not share one answer. An LLM judge keeps the plain prompts: one text, one
    answer, paid once."""
    keys = pairs.select("user_id", "item_id", "kind").iter_rows()
    return [
        JudgePrompt(p.system, p.user, f"{p.prompt_version}#pair:{u}:{i}:{kind}")
        for p, (u, i, kind) in zip(prompts, keys, strict=True)
    ]


def bound_judge(
    judge, dataset, pairs, user_prompts, item_prompts, interactions, projected_table: pl.DataFrame
) -> tuple[object, list[JudgePrompt], list[JudgePrompt]]:
    """(judge, user prompts, item prompts): ``judge`` and the prompts themselves, or for a judge that answers from
    the pairs (simulated, semantic) one bound to them with prompts made distinct per pair (``per_pair``)
    (``projected_table``: the aligned_projector table, empty if there is none). Raises ``NoGroundTruth`` for a
    simulated judge on a partition that planted nothing."""
    if getattr(judge, "backend", None) not in PAIR_BACKENDS:
        return judge, list(user_prompts), list(item_prompts)
    user_prompts, item_prompts = per_pair(user_prompts, pairs), per_pair(item_prompts, pairs)
    n_users, n_items = int(interactions["user_id"].max()) + 1, int(interactions["item_id"].max()) + 1
    projected = user_item_matrices(projected_table, n_users, n_items) if projected_table.height else None
    bound = judge.bind(PairContext(dataset, pairs, user_prompts, item_prompts, interactions, projected))
    return bound, user_prompts, item_prompts
