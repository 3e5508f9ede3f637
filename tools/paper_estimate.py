"""What the `paper` profile would cost on one GPU, estimated from what can be measured without one.

    python tools/paper_estimate.py            # prints the table the README shows (a minute: FLOPs and CPU step times)

How the estimate is made (every input is printed with the table):

1. **Work.** For each notebook, the training passes (one forward and backward of one sample) of the loops that dominate
   it at the `paper` profile, counted from the profile tables: models trained from scratch (originals, gold and
   retrained models, SISA shards, notebook 06's K models) and the unlearning loops that run for whole epochs over the
   training set (TMU's twin, curriculum and noisy fine-tuning, SCRUB, DLFD's K + 1 passes per retain batch). Short
   loops over the forget set, evaluation, attacks and bootstrap are not counted: the figure is a lower bound.
2. **FLOPs per pass** of each network at its paper input size, counted by `torch.utils.flop_counter.FlopCounterMode`
   over one training step (forward and backward of a batch), independent of the machine.
3. **GPU speed**, from the one GPU training time the three releases publish: Warnecke et al.'s poisoned VGG
   (`models/poisoning/budget-10000/seed-42/train_results.json`: 1,237 s for 100 epochs of 50,000 CIFAR-10 images and
   validation on 5,000, TensorFlow 2.7, their GPU) gives an effective rate in FLOP/s, counted the same way on a
   replica of their `get_VGG_CIFAR10`. A newer GPU is faster, so this errs long.
4. **A floor per step** for networks too small to keep a GPU busy (digits' 8 x 8 images): an eager PyTorch training
   step launches tens of kernels, about 1 ms in all (an assumption, not a measurement).

Each workload's time is max(FLOPs / rate, steps x floor). The CPU step time of each network at its paper batch size is
measured here too (two threads), which is what the dry run pays per step.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unlearn import models  # noqa: E402

ANCHOR_SECONDS = 1237.2063738070428  # the release's train_results.json, budget 10,000, seed 42
ANCHOR_TRAIN, ANCHOR_VAL, ANCHOR_EPOCHS = 50_000, 5_000, 100
STEP_FLOOR_S = 1e-3  # assumed GPU time of one small training step (kernel launches)
CIFAR_TRAIN, UTK_TRAIN, UTK_FORGET = 50_000, 7_547, 1_132  # CIFAR-10's training set; MUFAC-sized UTKFace (notebook 03)


def release_vgg() -> nn.Module:
    """A PyTorch replica of the release's ``get_VGG_CIFAR10`` (Applications/Poisoning/model.py): six 128-filter 3x3
    convolutions with BatchNorm in three max-pooled blocks, Dense 512, BatchNorm, Dense 10."""
    def block(i):
        return [nn.Conv2d(i, 128, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(128),
                nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(128), nn.MaxPool2d(2)]
    return nn.Sequential(*block(3), *block(128), *block(128), nn.Flatten(), nn.Linear(128 * 4 * 4, 512), nn.ReLU(),
                         nn.BatchNorm1d(512), nn.Linear(512, 10))


@dataclass(frozen=True)
class Net:
    build: object  # () -> nn.Module
    shape: tuple  # one input's shape
    batch: int  # the paper profile's batch size
    classes: int
    tokens: bool = False  # a character model: integer inputs, a loss at every position


NETS = {
    "ResNet-18, 32 px": Net(lambda: models.build("resnet18", num_classes=10, width=64), (3, 32, 32), 64, 10),
    "ResNet-18 (ImageNet stem), 128 px": Net(lambda: models.build("dlfd", num_classes=8, width=64, stem="imagenet"),
                                             (3, 128, 128), 32, 8),
    "VGG (width 128), 32 px": Net(lambda: models.build("vgg", in_channels=3, num_classes=10, width=128, hidden=512),
                                  (3, 32, 32), 64, 10),
    "LSTM 2 x 512, 64 characters": Net(lambda: models.build("char_lstm", vocab_size=64, embed=64, hidden=512, layers=2),
                                       (64,), 32, 64, tokens=True),
    "small CNN (width 32), 8 x 8": Net(lambda: models.build("small_cnn", in_channels=1, num_classes=10, width=32,
                                                            hidden=128), (1, 8, 8), 64, 10),
    "small CNN (width 16), 8 x 8": Net(lambda: models.build("small_cnn", in_channels=1, num_classes=10, width=16,
                                                            hidden=64), (1, 8, 8), 64, 10),
    "release VGG (anchor), 32 px": Net(release_vgg, (3, 32, 32), 64, 10),
}


def _batch(net: Net, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if net.tokens:
        x = torch.randint(0, net.classes, (n, *net.shape), generator=g)
        return x, torch.randint(0, net.classes, (n, *net.shape), generator=g)
    return torch.randn(n, *net.shape, generator=g), torch.randint(0, net.classes, (n,), generator=g)


def _loss(model, x, y, net: Net):
    out = model(x)
    return F.cross_entropy(out.reshape(-1, net.classes), y.reshape(-1))


@functools.lru_cache(maxsize=None)  # the same network is counted once per process
def flops_per_pass(net: Net) -> tuple[float, float]:
    """(training, forward-only) FLOPs per sample: one step's count over a batch, divided by the batch."""
    model = net.build()
    x, y = _batch(net, 8)
    with FlopCounterMode(display=False) as fc:
        _loss(model, x, y, net).backward()
    train = fc.get_total_flops() / len(x)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    forward = fc.get_total_flops() / len(x)
    for m in model.modules():  # the CPU's fused LSTM kernel is invisible to the counter: 4 gates, input and hidden
        if isinstance(m, nn.LSTM):  # matrices, 2 FLOPs a multiply-add, per layer and character; backward twice that
            per = sum(8 * m.hidden_size * ((m.input_size if k == 0 else m.hidden_size) + m.hidden_size)
                      for k in range(m.num_layers)) * x.shape[1]
            forward, train = forward + per, train + 3 * per
    return train, forward


def cpu_step_seconds(net: Net, repeats: int = 3) -> float:
    """Median wall time of one SGD step at the paper batch size on this machine's CPU (after one warm-up step)."""
    model = net.build()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = _batch(net, net.batch)
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        opt.zero_grad()
        _loss(model, x, y, net).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def workloads() -> dict[str, list[tuple[str, str, float]]]:
    """notebook -> [(what, network, training passes)] at the paper profile, from the profile tables."""
    from unlearn.data import load_dataset
    from unlearn.experiments import benchmark, dlfd, features_labels, forgetting, tmu, tour
    from unlearn.methods.dlfd import DLFDConfig

    digits = len(load_dataset("digits").train)  # scikit-learn's 8 x 8 digits, 75 % of 1,797

    T = tmu.PROFILES["paper"]
    n_f = T.forget_fraction * CIFAR_TRAIN / 10  # a tenth of one class
    n_h = 500  # D_h: half of the class's test images
    s = len(T.seeds)
    twin = (T.twin_epochs + T.curriculum_epochs) * (CIFAR_TRAIN + n_h) + T.unlearn_epochs * CIFAR_TRAIN  # one TMU run
    r18 = "ResNet-18, 32 px"
    out = {"01": [("original and gold, per seed", r18, s * T.epochs * (2 * CIFAR_TRAIN - n_f)),
                  ("TMU from M_o and from the twin (twin, curriculum, noisy fine-tuning), and Table 4's noise ablation",
                   r18, s * 2 * twin + T.unlearn_epochs * CIFAR_TRAIN),
                  ("fine-tune, random label, SCRUB, Bad Teacher", r18,
                   s * (2 * T.unlearn_epochs + T.scrub_epochs + T.bad_teacher_epochs) * CIFAR_TRAIN)]}

    W = features_labels.PROFILES["paper"]
    seeds = len(W.poison_seeds)
    alice = len(load_dataset("alice", seq_len=W.seq_len).train)  # training windows of the whole book (alice_chars = 0)
    out["02"] = [("a poisoned VGG per poisoning seed and one clean (gold) VGG", "VGG (width 128), 32 px",
                  (seeds + 1) * W.cnn_epochs * W.cifar_train),
                 ("SISA ensembles (each shard set covers the data once per epoch)", "VGG (width 128), 32 px",
                  len(W.poison_shards) * W.cnn_epochs * W.cifar_train),
                 ("fine-tuning baselines (1 and 10 epochs) per seed", "VGG (width 128), 32 px",
                  seeds * sum(W.poison_ft_epochs) * W.cifar_train),
                 ("the canary LSTM and its retraining", "LSTM 2 x 512, 64 characters", 2 * W.lstm_epochs * alice)]

    D = dlfd.PROFILES["paper"]
    retain = UTK_TRAIN - UTK_FORGET
    k = DLFDConfig(**dlfd.dlfd_config(D)).perturb_steps + 1  # perturbation steps + the update, per retain batch
    face = "ResNet-18 (ImageNet stem), 128 px"
    out["03"] = [("original", face, D.epochs * UTK_TRAIN),
                 ("retraining on each forget split", face, D.claim_splits * D.epochs * retain),
                 ("DLFD on each split, every batch perturbed (an upper bound of its loop)", face, D.claim_splits * k * retain)]
    out["05"] = [("original", face, D.epochs * UTK_TRAIN),
                 ("DLFD and four variants on each split, every batch perturbed", face,
                  D.ablation_splits * len(dlfd.ABLATIONS) * k * retain)]

    B = benchmark.PROFILES["paper"]
    c = benchmark.task("cifar10", B)
    bt = B.cifar10_budgets
    tmu_b = bt["tmu"]
    u = benchmark.task("utkface", B)
    sb = len(B.seeds)
    out["04"] = [("CIFAR-10: original and gold per seed", r18, sb * c.train.epochs * (2 * CIFAR_TRAIN - n_f)),
                 ("CIFAR-10: TMU, fine-tune, random label, SCRUB, Bad Teacher per seed", r18,
                  sb * ((tmu_b["twin_epochs"] + tmu_b["curriculum_epochs"] + tmu_b["epochs"]) * CIFAR_TRAIN
                        + (bt["finetune"]["epochs"] + bt["random_label"]["epochs"] + bt["scrub"]["epochs"] + 1) * CIFAR_TRAIN)),
                 ("UTKFace: original and gold per seed", face, sb * u.train.epochs * (2 * UTK_TRAIN - UTK_FORGET)),
                 ("digits: original and gold per seed", "small CNN (width 16), 8 x 8", sb * 2 * B.digits_epochs * digits)]

    P0 = tour.PROFILES["paper"]
    out["00"] = [("original and gold", "small CNN (width 32), 8 x 8", 2 * P0.epochs * digits)]
    G = forgetting.PROFILES["paper"]
    out["06"] = [("K originals, gold models and independent retrainings, every epoch to the cap", "small CNN (width 16), 8 x 8",
                  G.models * 3 * G.epochs * G.train)]
    return dict(sorted(out.items()))


def gpu_rate(flops: dict) -> float:
    """Effective FLOP/s of the anchor: the release's VGG, 100 epochs of 50,000 images and validation on 5,000."""
    train, forward = flops["release VGG (anchor), 32 px"]
    return (train * ANCHOR_TRAIN + forward * ANCHOR_VAL) * ANCHOR_EPOCHS / ANCHOR_SECONDS


def estimate_table(flops: dict | None = None) -> str:
    """The README's table: per notebook what dominates at `paper` and the estimated GPU hours (FLOPs and profiles
    only, so it is the same on every machine; a test compares it with the README)."""
    flops = flops or {name: flops_per_pass(net) for name, net in NETS.items()}
    rate = gpu_rate(flops)
    out = [f"Rate from the anchor: {rate / 1e12:.2f} TFLOP/s effective; step floor {STEP_FLOOR_S * 1e3:.0f} ms (assumed).",
           "", "| notebook | what dominates at `paper` (million training passes, network) | estimated GPU hours |",
           "|---|---|---|"]
    for nb, loads in workloads().items():
        hours, parts = 0.0, []
        for what, net, passes in loads:
            secs = max(passes * flops[net][0] / rate, passes / NETS[net].batch * STEP_FLOOR_S)
            hours += secs / 3600
            parts.append(f"{what}: {passes / 1e6:.2g} M, {net}")
        out.append(f"| {nb} | {'; '.join(parts)} | {hours:.2g} |")
    return "\n".join(out)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU step times (FLOPs and the estimate only)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    flops = {name: flops_per_pass(net) for name, net in NETS.items()}
    print("| network | GFLOP per training pass | CPU step here, 2 threads (batch) |\n|---|---|---|")
    for name, (train, _) in flops.items():
        step = "not measured" if args.no_cpu else f"{cpu_step_seconds(NETS[name]):.3g} s ({NETS[name].batch})"
        print(f"| {name} | {train / 1e9:.3g} | {step} |")
    print()
    print(estimate_table(flops))


if __name__ == "__main__":
    main()
