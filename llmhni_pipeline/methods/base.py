"""What a training method is: its hyper-parameters, what it needs from the dataset, and how it turns a backbone
into the loop's objective, positives and negative sampler. The loop (``recsys/train.py``) and the recipe
(``recipe.py``) are the same for every method; a method file states only its delta over BPR on the backbone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.models import Backbone
from llmhni_pipeline.recsys.sampling import NegativeSampler, UniformNegativeSampler
from llmhni_pipeline.recsys.train import Objective

SemanticVectors = tuple[torch.Tensor, torch.Tensor]  # (user vectors [n_users, d], item vectors [n_items, d])


@dataclass(frozen=True)
class MethodInputs:
    """What one dataset partition offers a method; absent inputs are ``None``."""

    data: SplitData
    augmented: InteractionGraph | None = None  # G′ (augmented_graph)
    projected: SemanticVectors | None = None  # aligned_projector: LLM vectors in the recommender's space
    text: SemanticVectors | None = None  # llm_embeddings: raw LLM vectors of the text profiles
    llard_train: InteractionGraph | None = None  # LLaRD's published LLM-edited training edges
    pretrained: Mapping[str, torch.Tensor] | None = None  # pretrained_recommender's weights (warm start)

    def available(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Plan:
    """What the loop trains: an objective over the model, the BPR positives and the negative sampler."""

    objective: Objective
    positives: InteractionGraph
    sampler: NegativeSampler


@dataclass(frozen=True)
class BuildContext:
    """Everything a method's ``build`` may use."""

    model: Backbone
    inputs: MethodInputs
    params: Any  # the method's params dataclass
    reg_weight: float
    device: torch.device
    warm_start: bool  # the model starts from the pretrained recommender's weights


Build = Callable[[BuildContext], Plan]


class MethodUnavailable(ValueError):
    """The method needs an input this dataset partition does not have (e.g. text on Yelp)."""


@dataclass(frozen=True)
class Method:
    """A registered method. ``build(context)`` returns its ``Plan``; ``needs`` are the ``MethodInputs`` fields it
    requires, or a function of its params giving them."""

    name: str
    reference: str
    params: type  # a frozen dataclass of the method's hyper-parameters, defaults from its source code
    build: Build
    needs: tuple[str, ...] | Callable[[Any], tuple[str, ...]] = ()
    backbones: tuple[str, ...] | None = None  # backbones the method is defined for (None: any)

    def make_params(self, overrides: Mapping[str, Any] | None = None) -> Any:
        known = {f.name for f in dataclasses.fields(self.params)}
        unknown = set(overrides or {}) - known
        if unknown:
            raise ValueError(
                f"{self.name} has no parameter(s) {sorted(unknown)}; its parameters are {sorted(known)}"
            )
        return self.params(**(overrides or {}))

    def check(self, inputs: MethodInputs, backbone: str, params: Any) -> None:
        needs = self.needs(params) if callable(self.needs) else self.needs
        missing = [n for n in needs if getattr(inputs, n) is None]
        if missing:
            raise MethodUnavailable(
                f"{self.name} needs {', '.join(missing)}, which this dataset partition does not have"
            )
        if self.backbones is not None and backbone not in self.backbones:
            raise MethodUnavailable(
                f"{self.name} is defined on the {', '.join(self.backbones)} backbone, not {backbone}"
            )


def uniform_plan(objective: Objective, positives: InteractionGraph) -> Plan:
    """Most methods: BPR positives are the training edges, negatives uniform over the user's non-positives."""
    return Plan(objective, positives, UniformNegativeSampler(positives))


def objective_build(objective: Callable[..., Objective]) -> Build:
    """The ``build`` of a method that changes only the objective: ``objective(model, train, reg, device, params)``
    on the training edges, uniform negatives."""

    def build(c: BuildContext) -> Plan:
        train = c.inputs.data.train
        return uniform_plan(objective(c.model, train, c.reg_weight, c.device, c.params), train)

    return build
