"""SISA: Sharded, Isolated, Sliced, Aggregated training (Bourtoule, Chandrasekaran, Choquette-Choo,
Jia, Travers, Zhang, Lie & Papernot, "Machine Unlearning", IEEE S&P 2021).

Training: the training set is split into ``shards`` disjoint shards; one sub-model per shard is
trained from scratch on its shard alone; predictions aggregate the sub-models by majority vote of
their labels (the paper's default). Unlearning: exactly the shards that held a forget sample are
retrained from scratch without it; the others are untouched. With the same seeds the result is
*identical* (parameter for parameter) to a SISA ensemble trained from scratch without the forget
samples, which ``tests/test_methods.py`` checks.

Choices made here (documented, checked by the tests):
- A sample's shard is fixed by its index in the *root* dataset (the ArrayDataset under any Subsets):
  ``shard = permutation(seed)[root_index] % shards``. So an ensemble trained on ``train minus forget``
  assigns every remaining sample to the same shard as the ensemble trained on ``train``.
- Sub-model ``s`` is initialised and trained with seed ``seed * 1000 + s`` on its members in root-index
  order, with the shared training loop (:func:`unlearn.train.fit`) and the ensemble's recipe.
- Slicing (the "S" that checkpoints within a shard) is not implemented: a touched shard is retrained
  from its start, which is the paper's r = 1 case.
- ``vote`` aggregation returns log((votes + mean_prob) / (shards + 1)): a proper log-distribution whose
  argmax is the majority vote, ties broken by the mean probability (so losses and MIA stay defined).
  ``mean`` returns log of the mean of the sub-models' probabilities.
- The registered ``sisa`` method, given a :class:`SISAEnsemble`, retrains the touched shards with
  the ensemble's *own* recipe and seed (the config and seed passed to the call are not used then, or
  exactness would be lost; ``info['recipe']`` records what was used). Given a plain ``nn.Module`` it
  first trains a SISA ensemble of that architecture on retain + forget with the config's recipe (its
  time and gradient evaluations count in the record; ``info['unlearn_seconds']`` and
  ``info['unlearn_grad_evals']`` hold the unlearning part alone) and then unlearns the forget set.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from ..cache import fingerprint
from ..data.arrays import root_indices
from ..seed import rng
from ..train import TrainConfig, fit, fresh_copy, get_device
from .base import Report, register


@dataclass
class SISAConfig(TrainConfig):
    """The per-shard training recipe (the fields of TrainConfig) plus the SISA layout."""

    shards: int = 5  # number of shards / sub-models k (paper: 5-20 on its image tasks)
    aggregate: str = "vote"  # "vote" (majority of labels, the paper's default) or "mean" (average probabilities)





def _root_id(root) -> str:
    try:
        return fingerprint(root)
    except TypeError:
        return f"len={len(root)}"


def shard_seed(seed: int, s: int) -> int:
    return seed * 1000 + s


class SISAEnsemble(nn.Module):
    """``shards`` sub-models, which root samples each was trained on, and how to aggregate them."""

    def __init__(self, models: list[nn.Module], members: list[np.ndarray], assign: np.ndarray, root_id: str,
                 recipe: SISAConfig, seed: int):
        super().__init__()
        self.models = nn.ModuleList(models)
        self.members = [np.asarray(m, dtype=np.int64) for m in members]  # root indices per shard, sorted
        self.assign = np.asarray(assign, dtype=np.int64)  # root index -> shard
        self.root_id = root_id
        self.recipe = recipe
        self.seed = seed
        self.num_classes = getattr(models[0], "num_classes", None)

    @property
    def shards(self) -> int:
        return len(self.models)

    def shard_of(self, root_index) -> np.ndarray:
        """Shard of each root-dataset index."""
        return self.assign[np.asarray(root_index, dtype=np.int64)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(x).softmax(-1) for m in self.models])  # (k, B, C)
        mean = probs.mean(0)
        if self.recipe.aggregate == "mean":
            return mean.clamp_min(1e-12).log()
        votes = nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).sum(0).float()  # (B, C)
        return ((votes + mean) / (self.shards + 1)).log()

    @staticmethod
    def _train_shard(template: nn.Module, root, members: np.ndarray, recipe: SISAConfig, seed: int, s: int) -> nn.Module:
        if len(members) == 0:
            raise ValueError(f"shard {s} has no samples; use fewer shards")
        cfg = TrainConfig(**{f.name: getattr(recipe, f.name) for f in dataclasses.fields(TrainConfig)})
        sub = fresh_copy(template, shard_seed(seed, s))
        return fit(sub, Subset(root, members.tolist()), cfg, shard_seed(seed, s), progress=False, desc=f"sisa shard {s}").cpu()

    @classmethod
    def fit(cls, template: nn.Module, data, config: SISAConfig | None = None, seed: int = 0) -> "SISAEnsemble":
        """Train a SISA ensemble of ``template``'s architecture (rebuilt fresh per shard) on ``data``."""
        config = config or SISAConfig()
        if config.shards < 1:
            raise ValueError(f"shards must be >= 1, got {config.shards}")
        if config.aggregate not in ("vote", "mean"):
            raise ValueError(f"aggregate must be 'vote' or 'mean', got {config.aggregate!r}")
        root, idx = root_indices(data)
        if len(np.unique(idx)) != len(idx):
            raise ValueError("the training data repeats samples")
        assign = rng(seed).permutation(len(root)) % config.shards
        members = [np.sort(idx[assign[idx] == s]) for s in range(config.shards)]
        models = [cls._train_shard(template, root, members[s], config, seed, s) for s in range(config.shards)]
        return cls(models, members, assign, _root_id(root), config, seed).eval()

    def unlearn_(self, forget) -> list[int]:
        """Retrain, in place, exactly the shards holding a sample of ``forget``; returns their ids."""
        root, f_idx = root_indices(forget)
        if len(root) != len(self.assign) or _root_id(root) != self.root_id:
            raise ValueError("the forget set is not drawn from the dataset this SISA ensemble was trained on")
        touched = []
        for s in range(self.shards):
            keep = np.setdiff1d(self.members[s], f_idx)
            if len(keep) == len(self.members[s]):
                continue
            template = self.models[s]
            self.models[s] = self._train_shard(template, root, keep, self.recipe, self.seed, s).to(
                next(template.parameters()).device)
            self.members[s] = keep
            touched.append(s)
        return touched


@register("sisa", SISAConfig)
def sisa(model, forget, retain, *, config: SISAConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases to the level of an ensemble that never saw the forget samples
    (exactly that ensemble: only the shards that held forget samples are retrained)."""
    built = None
    if not isinstance(model, SISAEnsemble):
        root_f, _ = root_indices(forget)
        root_r, _ = root_indices(retain)
        if root_f is not root_r:
            raise ValueError("to build a SISA ensemble from a plain model, forget and retain must be Subsets of one dataset")
        start = time.perf_counter()
        model = SISAEnsemble.fit(model, _union(forget, retain), config, seed)
        built = time.perf_counter() - start
    start = time.perf_counter()
    touched = model.unlearn_(forget)
    model.to(get_device())
    return model, SISAReport(retrained_shards=touched, shards=model.shards, recipe=dataclasses.asdict(model.recipe),
                             ensemble_seed=model.seed, unlearn_seconds=time.perf_counter() - start,
                             unlearn_grad_evals=model.recipe.epochs * sum(len(model.members[s]) for s in touched),
                             built_ensemble_seconds=built)


@dataclass(frozen=True)
class SISAReport(Report):
    retrained_shards: list  # shards that held a forget sample (each retrained from scratch)
    shards: int  # shards of the ensemble
    recipe: dict  # each shard's training recipe
    ensemble_seed: int  # the ensemble's seed
    unlearn_seconds: float  # the retraining of the touched shards alone
    unlearn_grad_evals: int  # and its gradient evaluations
    built_ensemble_seconds: float  # building the ensemble from a plain model, when the call did (else 0)


def _union(forget, retain) -> Subset:
    root, fi = root_indices(forget)
    _, ri = root_indices(retain)
    return Subset(root, np.union1d(fi, ri).tolist())
