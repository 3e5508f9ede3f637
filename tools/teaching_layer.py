"""Write the teaching layer into notebooks/: an "at a glance" cell under each title (headline figure, expected
runtime per profile, links to the neighbouring notebooks), the shared notation box, a caption under every figure
and a closing "try next" cell with exercises. Idempotent: cells it wrote carry ``metadata.teaching`` and are
replaced on the next run, so the texts below are the one place to edit them.

    python tools/teaching_layer.py            # rewrite the teaching cells of every notebook
    python tools/teaching_layer.py --check    # exit 1 if a notebook's teaching cells differ from these texts

The runtime line between ``<!-- runtime -->`` markers is filled in by ``tools/findings.py`` from
``results/cpu/notebook_times.csv`` (measured, never typed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

TITLES = {
    "00_tour": "00 · A guided tour",
    "01_twin_machine_unlearning": "01 · Twin Machine Unlearning",
    "02_unlearning_features_and_labels": "02 · Features and labels (influence functions)",
    "03_distribution_level_feature_distancing": "03 · DLFD on facial age",
    "04_benchmark": "04 · One benchmark for all three papers",
    "05_dlfd_ablation": "05 · DLFD ablation",
}

HEADLINE = {  # the figure shown under each title: the one that carries the notebook's main result
    "00_tour": ("00_tour", "losses the membership attack sees, and NegGrad's knife edge"),
    "01_twin_machine_unlearning": ("01_tmu_delta_seeds", "Delta to the gold model per method and seed"),
    "02_unlearning_features_and_labels": ("02_poisoning_restoration", "label repair: share of the poisoning damage undone"),
    "03_distribution_level_feature_distancing": ("03_accuracy_vs_fs", "test accuracy against forgetting score, NoMUS contours"),
    "04_benchmark": ("04_heatmap", "every method under every metric"),
    "05_dlfd_ablation": ("05_dlfd_ablation", "DLFD and four variants, split by split"),
}

NOTATION = r"""**Notation** (the same in every notebook)

| symbol | meaning |
|---|---|
| $D$ | the training set of the original model |
| $D_f$, $D_r$ | the forget set (to be unlearned) and the retain set, $D_r = D \setminus D_f$ |
| $D_h$ | held-out images of the forgotten class, never trained on (TMU's twin problem, notebook 01) |
| $M_o$, $M_g$, $M_u$ | the original model (trained on $D$), the gold model (retrained on $D_r$ alone: the reference every method is judged against) and an unlearned model |
| $\Delta$ | $\lvert \mathrm{Acc}_{M_u}(D_f) - \mathrm{Acc}_{M_g}(D_f) \rvert$: distance to the gold model's accuracy on $D_f$ (TMU; 0 is best) |
| MIA | accuracy of a loss-based membership attack telling $D_f$ from unseen data (0.5 = chance) |
| FS | forgetting score $\lvert \mathrm{MIA} - 0.5 \rvert$ (DLFD / MUFAC; 0 is best) |
| NoMUS | $\tfrac12\,\mathrm{Acc}_{test} + \tfrac12\,(1 - 2\,\mathrm{FS})$ (DLFD / MUFAC; 1 is best) |
| profile | `smoke` (CI, tiny), `cpu` (two cores, the committed results), `paper` (the papers' sizes, a GPU) |

**Glossary.** *AUROC*: the area under the ROC curve, the chance that a random positive scores above a random
negative (0.5 = guessing). *Exposure* (Carlini et al. 2019): how much likelier a model finds a planted secret
than random candidates, in bits: $\log_2$(candidates) $-\ \log_2$(the secret's rank). *LiSSA* (Agarwal et al. 2017):
an inverse Hessian-vector product estimated by the recursion $u \leftarrow g + (1 - d)\,u - Hu/s$ on mini-batches
(damping $d$, scale $s$), for Hessians too large to invert. *CG*: conjugate gradients, the same solve by exact
Hessian-vector products. *Sinkhorn*: the iterative solver of entropy-regularised optimal transport (DLFD's distance
between two batches' outputs). *SISA* (Bourtoule et al. 2021): sharded training, so unlearning retrains only the
shards that held the forgotten samples. *Bootstrap interval*: the spread of a statistic over resamples of the data
(and, here, of the seeds), its 2.5 and 97.5 percentiles."""

CAPTIONS = {  # figure-cell marker (a string in the cell's source) -> what to see in it
    "00_tour": {
        'tour.figure(': "*What to see.* Left: the original model's losses on the forgotten digits lie left of (lower "
        "than) those on unseen digits: that gap is all a loss-based membership attack uses. Right: NegGrad's forget "
        "and test accuracy against its step size, with the gold model's forget accuracy dashed. Look for a step at "
        "which forget accuracy reaches the gold level while test accuracy holds; where both fall together, "
        "gradient ascent is not forgetting selectively.",
    },
    "01_twin_machine_unlearning": {
        '"01_tmu_delta_seeds"': "*What to see.* Top: $\\Delta$ per method, a dot per seed and a bar for the mean; "
        "lower means closer to the gold model. Read TMU against its two controls: the oracle is the best TMU's "
        "fine-tuning can do with a perfect predictor, rate-only what it does with the right *number* of kept samples "
        "but random ones. Bottom: the first seed's forget accuracy per method against the gold level (line): "
        "methods below it over-forget, methods above it under-forget.",
        '"01_tmu_feature_scatter"': "*What to see.* Top: easy (gold model right) and hard forget samples in feature "
        "space, twin problem on the left (labels TMU knows), original problem on the right (labels TMU never sees). "
        "The transfer works where easy and hard occupy the same regions in both panels. Bottom: each feature's "
        "distribution by label; a feature that separates easy from hard on the twin side but is shifted on the "
        "original side is where the predictor's calls go wrong.",
    },
    "02_unlearning_features_and_labels": {
        '"02_residual_boxplot"': "*What to see.* The gradient residual of the corrected objective: 0 is the exact "
        "retrained optimum, and the certificate's noise must grow with it. The paper expects second order lowest, "
        "then first order, then fine-tuning, with every residual growing as more is changed (left to right within "
        "a panel). Where the boxes of two methods overlap, this run cannot order them.",
        '"02_loss_scatter"': "*What to see.* Each point is one unlearning request: how much the update changed the "
        "test loss against how much retraining changed it. On the dashed diagonal an update is as good as "
        "retraining; points on the x-axis (y = 0) did nothing.",
        '"02_linear_runtime"': "*What to see.* Wall time per request on a log scale, all in the same process with the "
        "same threads. The influence updates' advantage is the gap between their bars and retraining's; compare it "
        "across data sets: the second-order solve grows with the number of parameters (Enron's vocabulary), "
        "retraining with the number of rows.",
        'restoration_figure(': "*What to see.* The share of the accuracy lost to poisoning that each method "
        "restores (1 = as good as retraining on the corrected labels, 0 = no repair); bars are means over flip "
        "seeds with a 95 % bootstrap interval over seeds and test images, dots are the seeds. Grey bars changed fewer than "
        "0.5 % of the predictions (no-ops).",
    },
    "03_distribution_level_feature_distancing": {
        '"03_loss_histograms"': "*What to see.* Per-sample losses of forget (members) and unseen (non-members) "
        "faces. The retrained model is the target: its two histograms should overlap. Forget losses left of the "
        "unseen ones mean the model still remembers; pushed far *right* (as error-maximising methods do), they are "
        "just as visible to an attacker.",
        '"03_tsne_features"': "*What to see.* A t-SNE of penultimate features before and after DLFD, forget and "
        "retain samples coloured apart. DLFD is meant to move the retain distribution away from the forget one; "
        "if it works as the paper argues, forget samples drift apart from retain samples of the same age group without "
        "the age groups themselves dissolving.",
        '"03_accuracy_vs_fs"': "*What to see.* Every method as one point: test accuracy (up is better) against FS "
        "(left is better), with NoMUS contours. The retrained model marks the target corner; the paper's claim is "
        "that DLFD sits closest to it among the approximate methods.",
        '"03_dlfd_monitor"': "*What to see.* DLFD's epoch batch by batch: the forgetting score measured on the "
        "monitoring sample, the accuracy on $\\mathcal{D}_{test}$, and where it perturbed. The returned checkpoint "
        "is the best-accuracy one with FS ≤ 0.09 on that sample.",
    },
    "04_benchmark": {
        "benchmark.heatmap_figure(": "*What to see.* One row per method, one column per metric, the mean over seeds "
        "in each cell. Colour ranks methods within a column (green = better: forget accuracy closest to the gold "
        "row, MIA closest to 0.5); grey rows changed fewer than 0.5 % of the predictions and win nothing. Compare a "
        "method's colour across columns: each paper's yardstick can favour a different method.",
        "benchmark.tradeoff_figure(": "*What to see.* Utility (test accuracy, up) against forgetting (FS, left) per "
        "task; a marker's area is the method's wall time. The retrained model is the reference point; a method "
        "worth its cost sits near it with a small marker.",
        "benchmark.speedup_figure(": "*What to see.* How many times faster than retraining each method is (log "
        "scale; the line marks 1, as slow as retraining). Read it with the heat map: a fast method that changed "
        "nothing is not a fast unlearning method.",
    },
}

TRY_NEXT = {
    "00_tour": """* Set `P = dataclasses.replace(P, forget_fraction=0.3)` after the imports cell and re-run: the gold
  model's forget accuracy should stay close to its test accuracy (random forget samples are generalised, not
  memorised), so the distance between "forget to zero" and "forget to the gold level" does not shrink.
* Make NegGrad gentler, `P = dataclasses.replace(P, neggrad_lr=0.01)`: its forget accuracy should stay near the
  original's and the membership attack should still separate forget from unseen losses.
* Change `SEED` in the parameters cell and compare the checked metrics table: which numbers move by more than a
  few samples?""",
    "01_twin_machine_unlearning": """* Run TMU with the base-rate threshold: `tmu.tmu_config(P, calibration="base_rate")` passed as
  `config=` to `methods.get("tmu")` with `holdout=ctx.holdout`. The predicted-easy share of $D_f$ should move
  towards $D_h$'s easy share, and $\\Delta$ with it (the calibration table predicts by how much).
* Go back to the release's unlearning step, `P = dataclasses.replace(P, unlearn_lr=0.01, unlearn_epochs=5)`:
  the oracle control should stay far above the gold level (see `results/cpu/tmu_budget.csv`), and every
  $\\Delta$ then measures the step's weakness rather than the predictor.
* Forget an easier class, `P = dataclasses.replace(P, forget_class=1)` (trouser): the gold level should rise
  towards 1, the regime check's upper bound should fail, and $\\Delta$ can no longer tell aligned forgetting from
  doing nothing.""",
    "02_unlearning_features_and_labels": """* Flip fewer labels, `P = dataclasses.replace(P, flip_budget=0.1)`: the poisoned model should lose less
  accuracy and the regime check's gap shrinks; restoration fractions get wider intervals (less damage to undo).
* Search the first-order rate on validation instead of the authors' value,
  `P = dataclasses.replace(P, poison_tau_grid=(1e-5, 3e-5, 1e-4))`: compare the chosen rate and its restoration
  with the authors' (and, if you can, with another machine's choice).
* Insert the canary fewer times, `P = dataclasses.replace(P, canary_copies=2)`: the original's exposure should
  fall, leaving less for unlearning to remove.""",
    "03_distribution_level_feature_distancing": """* Perturb on every batch, `P = dataclasses.replace(P, dlfd=P.dlfd | {"fs_threshold": 0.0})`: FS should
  fall further and test accuracy with it (notebook 05 measures this over five splits).
* Turn the distancing term off, `P = dataclasses.replace(P, dlfd=P.dlfd | {"forget_weight": 0.0})`: if OT drives the
  forgetting, FS should stay near the original's; notebook 05 reports whether it does.
* Train the original with augmentation, `P = dataclasses.replace(P, augment=True)`: it memorises less, the regime
  check's gap shrinks, and there is less for any method to forget.""",
    "04_benchmark": """* Run fewer seeds for a quick look, `P = dataclasses.replace(P, seeds=P.seeds[:1])`: the table loses its
  ± columns, and rankings that rest on a difference smaller than the sd may flip.
* Restrict to one task, `P = dataclasses.replace(P, tasks=("digits",))`, and compare with notebook 00.
* Move the influence updates to the whole network, `P = dataclasses.replace(P, influence_scope="whole")`: the
  convexity that certifies them is lost and their rows should move away from the retrained row.""",
    "05_dlfd_ablation": """* More splits, `P = dataclasses.replace(P, ablation_splits=8)`: the intervals should narrow roughly as
  $1/\\sqrt{n}$; a verdict that flips is one the five-split run could not support.
* Ablate a different ingredient: add a variant to `dlfd.ABLATIONS` (for example a smaller perturbation step)
  and re-run section 2.""",
}

ORDER = list(TITLES)


def _md(text: str, cell_id: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text, id=cell_id)  # a stable id: re-running this script changes nothing
    cell.metadata["teaching"] = True
    return cell


PAPER_NOTEBOOKS = ("01_twin_machine_unlearning", "02_unlearning_features_and_labels",
                   "03_distribution_level_feature_distancing")


def glance(stem: str, runtime: str | None = None, verdicts: str | None = None) -> str:
    fig, what = HEADLINE[stem]
    k = ORDER.index(stem)
    prev = f"[← {TITLES[ORDER[k - 1]]}]({ORDER[k - 1]}.ipynb)" if k else ""
    nxt = f"[{TITLES[ORDER[k + 1]]} →]({ORDER[k + 1]}.ipynb)" if k + 1 < len(ORDER) else ""
    runtime = runtime or "not measured yet: run `make reproduce`"
    box = ""
    if stem in PAPER_NOTEBOOKS:  # filled in by tools/findings.py from results/cpu/claims.json
        box = f"**The paper's claims on the last `cpu` run**<!-- verdicts -->{verdicts or ' (filled in by tools/findings.py)'}<!-- /verdicts -->\n\n"
    return (f"![{what}](../figures/{fig}.png)\n\n*Headline figure of the last `cpu` run: {what}.*\n\n{box}"
            f"**Expected runtime** on two CPU cores: <!-- runtime -->{runtime}<!-- /runtime -->; `smoke` about a "
            f"minute; `paper` needs a GPU and has not been run here.\n\n"
            f"{' · '.join(x for x in (prev, '[all notebooks](../README.md)', nxt) if x)}")


def apply(nb, stem: str) -> None:
    old_runtime = old_verdicts = None  # what tools/findings.py wrote between the markers is kept
    for c in nb.cells:
        if c.metadata.get("teaching") and "<!-- runtime -->" in c.source:
            old_runtime = c.source.split("<!-- runtime -->")[1].split("<!-- /runtime -->")[0]
        if c.metadata.get("teaching") and "<!-- verdicts -->" in c.source:
            old_verdicts = c.source.split("<!-- verdicts -->")[1].split("<!-- /verdicts -->")[0]
    cells = [c for c in nb.cells if not c.metadata.get("teaching")]
    out = [cells[0], _md(glance(stem, old_runtime, old_verdicts), "teach-glance"), _md(NOTATION, "teach-notation")]
    for c in cells[1:]:
        out.append(c)
        if c.cell_type == "code":
            for k, (marker, caption) in enumerate(CAPTIONS.get(stem, {}).items()):
                if marker in c.source:
                    out.append(_md(caption, f"teach-caption-{k}"))
    out.append(_md("## Try next\n\nEach exercise changes the profile in a new cell right after the imports cell "
                   "(`import dataclasses` first) and re-runs the cells below it.\n\n" + TRY_NEXT[stem], "teach-try-next"))
    nb.cells = out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    stale = []
    for stem in ORDER:
        path = NOTEBOOKS / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        apply(nb, stem)
        after = nbformat.writes(nb)
        if after != before:
            stale.append(path.name)
            if not args.check:
                nbformat.write(nb, path)
    print(("differ: " if args.check else "rewrote: ") + (", ".join(stale) or "none"))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
