"""tools/paper_estimate.py: the FLOP counts it rests on match published figures, and it covers every notebook."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import paper_estimate as pe  # noqa: E402


def test_resnet18_flops_match_the_published_count():
    # CIFAR ResNet-18 (3x3 stem, 32 px): 0.56 G multiply-adds forward (He et al.'s network as in kuangliu/pytorch-cifar),
    # i.e. 1.11 GFLOP; a training pass (forward and backward) about three times that
    train, forward = pe.flops_per_pass(pe.NETS["ResNet-18, 32 px"])
    assert forward == pytest.approx(1.11e9, rel=0.02)
    assert train == pytest.approx(3 * forward, rel=0.02)
    # torchvision's ResNet-18 at 224 px is 1.82 G multiply-adds; at 128 px (the DLFD release's faces) (128/224)^2 of it
    _, face = pe.flops_per_pass(pe.NETS["ResNet-18 (ImageNet stem), 128 px"])
    assert face == pytest.approx(2 * 1.82e9 * (128 / 224) ** 2, rel=0.03)


def test_every_notebook_has_a_paper_workload():
    notebooks = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    loads = pe.workloads()
    assert set(loads) == notebooks
    for nb, rows in loads.items():
        assert rows and all(net in pe.NETS and passes > 0 for _, net, passes in rows), nb


def test_lstm_flops_include_the_recurrent_layers_the_counter_cannot_see():
    # 2 x 512 LSTM on 64-dim embeddings: 8 h (i + h) FLOPs per character and layer, 64 characters, times 3 for training
    train, forward = pe.flops_per_pass(pe.NETS["LSTM 2 x 512, 64 characters"])
    lstm = 8 * 512 * (64 + 512) + 8 * 512 * (512 + 512)
    head = 2 * 512 * 64  # the vocabulary logits (64 symbols here)
    assert forward == pytest.approx(64 * (lstm + head), rel=0.01)
    assert train == pytest.approx(3 * forward, rel=0.01)


def test_the_readme_shows_the_estimate_the_profiles_give():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- paper-estimate (tools/paper_estimate.py) -->\n", 1)[1].split("\n<!-- /paper-estimate -->")[0]
    assert block == pe.estimate_table(), "README's GPU estimate is stale: paste `python tools/paper_estimate.py --no-cpu`'s table"
