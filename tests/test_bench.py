"""`make bench`'s child jobs run every method they time: each gets the data set it names (a method's input name
changed once without the benchmark noticing), and the Enron job changes exactly the rows that hold a removed word."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import run as bench  # noqa: E402  (benchmarks/run.py)


@pytest.mark.slow
@pytest.mark.xdist_group("cifar-child")  # one worker: the second method reuses the first's trained original
@pytest.mark.parametrize("method", ["tmu", "dlfd"])
def test_cifar_child_runs_the_methods_with_their_own_inputs(method):
    # the smallest size at which TMU's membership features have their 10 members: 1,000 images, 10 cats forgotten
    out = bench.run_child({"task": "cifar10-cnn", "n": 1000, "method": method, "seed": 0})
    assert out["n_forget"] == 10
    assert out["seconds"] > 0 and out["grad_evals"] > 0 and 0 <= out["changed"] <= 1


def test_enron_child_unlearns_the_rows_that_hold_the_removed_words():
    t = bench.enron_task(300, 0)
    a = t["affected"]
    assert len(a) and torch.equal(t["x"][a].abs().sum(1) > 0, torch.ones(len(a), dtype=torch.bool))
    changed = (t["x"] - t["x_tilde"]).abs().amax(1) > 1e-9  # re-normalising a unit row moves only its last bits
    assert torch.equal(torch.nonzero(changed).flatten(), a)  # exactly the rows with a removed word changed
    norms = t["x_tilde"][a].norm(dim=1)  # re-normalised (a row left with no word stays zero)
    assert torch.all(((norms - 1).abs() < 1e-12) | (norms == 0))
    out = bench.run_child({"task": "enron-logreg", "n": 300, "method": "influence_first_order", "seed": 0})
    assert out["n_forget"] == len(a) and out["grad_evals"] > 0
