"""Which torch device the training stages use."""

import os

import dagster as dg
import torch

from llmhni_pipeline.recsys.device import resolve_device


class DeviceResource(dg.ConfigurableResource):
    """``auto`` (CUDA when present, else CPU), or any torch device string; default from ``$LLMHNI_DEVICE``."""

    device: str = os.environ.get("LLMHNI_DEVICE", "auto")  # auto, cpu, cuda, cuda:1, …

    def torch_device(self) -> torch.device:
        return resolve_device(self.device)
