"""Occlusion: remove features by zeroing them at prediction time. No training at all.

The feature-unlearning reference of Warnecke, Pirch, Wressnegger & Rieck, "Machine Unlearning of
Features and Labels", NDSS 2023: the cheapest way to "forget" a feature is to blank it in every input,
which costs nothing but leaves the model's parameters (and whatever it learnt from the feature's
correlations) unchanged, so it is not unlearning in the strict sense.

Features are indices into the *flattened* per-sample input: a column for tabular data (B, F); a pixel
position ``c * H * W + h * W + w`` for images (B, C, H, W). The returned model wraps the original and
multiplies its input by a fixed 0/1 mask (then adds ``fill`` at the occluded positions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..train import batches
from .base import Report, register


class OccludedModel(nn.Module):
    """``model`` applied to inputs whose features ``features`` are replaced by ``fill``."""

    def __init__(self, model: nn.Module, features, input_shape: tuple, fill: float = 0.0):
        super().__init__()
        self.model = model
        self.num_classes = getattr(model, "num_classes", None)
        n = int(torch.tensor(input_shape).prod()) if input_shape else 1
        idx = torch.as_tensor(list(features), dtype=torch.long)
        if len(idx) == 0:
            raise ValueError("occlusion needs at least one feature index (config 'features')")
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"feature indices must lie in [0, {n}) for inputs of shape {tuple(input_shape)}, got {idx.min()}..{idx.max()}")
        keep = torch.ones(n)
        keep[idx] = 0.0
        self.register_buffer("keep", keep.view(input_shape))
        self.fill = float(fill)
        self.features_removed = sorted(set(idx.tolist()))

    def occlude(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep + (1 - self.keep) * self.fill

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.occlude(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(self.occlude(x))

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.model.head(f)


@dataclass
class OcclusionConfig:
    features: tuple = ()  # indices into the flattened input of the features to remove (required)
    fill: float = field(default=0.0, metadata={"signed": True})  # value written in their place (Warnecke et al.: 0); any sign


@register("occlusion", OcclusionConfig)
def occlusion(model, forget, retain, *, config: OcclusionConfig, seed=0) -> nn.Module:
    """No training, parameters unchanged. Forget accuracy decreases (or stays) to the extent that the
    model relied on the occluded features: what it predicts without them."""
    x0, _ = next(iter(batches(forget, 1)))
    wrapped = OccludedModel(model, config.features, tuple(x0.shape[1:]), config.fill)
    return wrapped, OcclusionReport(features_removed=len(wrapped.features_removed))


@dataclass(frozen=True)
class OcclusionReport(Report):
    features_removed: int  # input features set to their fill value
