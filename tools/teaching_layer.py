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
    "06_forgetting_like_retraining": "06 · Which methods forget like retraining?",
}

HEADLINE = {  # the figure shown under each title: the one that carries the notebook's main result
    "00_tour": ("00_tour", "losses the membership attack sees, and NegGrad's knife edge"),
    "01_twin_machine_unlearning": ("01_tmu_delta_seeds", "Delta to the gold model per method and seed"),
    "02_unlearning_features_and_labels": ("02_poisoning_restoration", "label repair: share of the poisoning damage undone"),
    "03_distribution_level_feature_distancing": ("03_accuracy_vs_fs", "test accuracy against forgetting score, NoMUS contours"),
    "04_benchmark": ("04_heatmap", "every method under every metric"),
    "05_dlfd_ablation": ("05_dlfd_ablation", "DLFD and four variants, split by split"),
    "06_forgetting_like_retraining": ("06_forgetting_quality", "forgetting quality per method against K retrained models"),
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
        "than) those on unseen digits: that gap, small on a random tenth of digits, is all a loss-based membership "
        "attack uses. Right: NegGrad's forget "
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
        "faces on one shared log-scaled axis (memorised faces sit at 1e-4 and below, which a linear axis folds "
        "into its first bin). The retrained model is the target: its two histograms should overlap. Forget losses left of the "
        "unseen ones mean the model still remembers; pushed far *right* (as error-maximising methods do), they are "
        "just as visible to an attacker.",
        '"03_tsne_features"': "*What to see.* A t-SNE of penultimate features before and after DLFD: colour is "
        "the age group, crosses are forget faces and dots retain faces. DLFD is meant to move the retain distribution away from the forget one; "
        "if it works as the paper argues, forget samples drift apart from retain samples of the same age group without "
        "the age groups themselves dissolving.",
        '"03_accuracy_vs_fs"': "*What to see.* Every method as one point: test accuracy (up is better) against FS "
        "(left is better), with NoMUS contours. The retrained model marks the target corner; the paper's claim is "
        "that DLFD sits closest to it among the approximate methods.",
        '"03_dlfd_monitor"': "*What to see.* DLFD's epoch batch by batch: the forgetting score measured on the "
        "monitoring sample, the accuracy on $\\mathcal{D}_{test}$, and the batches it perturbed (filled markers). The "
        "vertical line is the checkpoint it returned: the best-accuracy one with FS ≤ 0.09 on that sample, or the "
        "last model when none qualified.",
    },
    "06_forgetting_like_retraining": {
        "forgetting.quality_figure(": "*What to see.* Left: each method's forgetting quality with its interval over "
        "forget examples, coloured by kind (the three papers' methods, the baselines); the dashed line is the floor "
        "(an independent retraining: what K models can resolve), the dotted one the ceiling (the original). Right: "
        "each model's score recomputed with the first K seeds; lines that cross are methods this K cannot order.",
    },
    "04_benchmark": {
        "benchmark.heatmap_figure(": "*What to see.* One row per method, one column per metric, the mean over seeds "
        "in each cell. Colour ranks methods within a column (yellow = better, dark blue = worse, a scale readable "
        "with any common colour-vision deficiency: forget accuracy closest to the gold row, MIA closest to 0.5); "
        "empty rows changed fewer than 0.5 % of the predictions and win nothing. Compare a "
        "method's colour across columns: each paper's yardstick can favour a different method.",
        "benchmark.tradeoff_figure(": "*What to see.* Utility (test accuracy, up) against forgetting (FS, left) per "
        "task; colour is the kind of model (original and retrained, the three papers' methods, the baselines), a "
        "marker's area its wall time (key beside the panels). The retrained model is the reference point; a method "
        "worth its cost sits near it with a small marker.",
        "benchmark.speedup_figure(": "*What to see.* How many times faster than retraining each method is (log "
        "scale; the line marks 1, as slow as retraining). Read it with the heat map: a fast method that changed "
        "nothing is not a fast unlearning method.",
    },
}

def _solution(code: str) -> str:
    """A collapsed solution (HTML details: folded in JupyterLab and in the book until the reader opens it)."""
    return f"\n  <details><summary>Solution</summary>\n\n  ```python\n{code}\n  ```\n  </details>\n"


# Each exercise: what to change (its imports), its cost at cpu, what to expect, and a collapsed solution. None is a
# parameter whose outcome a table above already prints; one that ends at an assertion says so.
TRY_NEXT = {
    "00_tour": """* **A forget set that is memorised.** Forget a third of the data instead of a tenth,
  `P = dataclasses.replace(P, forget_fraction=0.3)` (about 15 s at cpu: two trainings). Expect the gold model's
  forget accuracy to stay near its test accuracy: random digits are generalised, not memorised, so the gap the
  membership attack reads stays small whatever the fraction.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, forget_fraction=0.3)
  ctx = tour.setup(P, SEED)
  print(tour.table(ctx, tour.unlearn_all(P, ctx, SEED), SEED)[["forget_acc", "test_acc", "mia", "fs"]].round(3))""") + """
* **NegGrad's knife edge.** Search between the sweep's first two steps, `sweep_lrs=(0.015, 0.02, 0.025)` (seconds).
  Look for a step at which forget accuracy nears the gold model's while test accuracy holds; where the two always
  fall together, gradient ascent is not forgetting selectively.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, sweep_lrs=(0.015, 0.02, 0.025))
  print(tour.neggrad_sweep(P, ctx, SEED).round(3))""") + """
* **How much is one seed?** Change `SEED` in the parameters cell and re-run everything (about 15 s): compare the
  checked metrics table; a difference of one digit in the forget set is 1/|D_f| of forget accuracy.""" + _solution("""  SEED = 1  # in the parameters cell; then run every cell below it (the checked cells' outputs will differ)"""),
    "01_twin_machine_unlearning": """* **The base-rate threshold.** Run TMU with the threshold set so that the predicted-easy share equals
  $D_h$'s easy share (`from unlearn import methods` first; about a minute at cpu). The calibration table's base-rate
  row already gives its predicted-easy share; what no table prints is the unlearned model itself: expect its
  `info` to show the threshold moved and the kept share near the true one.""" + _solution("""  from unlearn import methods
  u = methods.get("tmu")(ctx.original, ctx.forget, ctx.retain, holdout=ctx.holdout,
                         config=tmu.tmu_config(P, calibration="base_rate"), seed=SEED)
  print(u.record.info)""") + """
* **The release's unlearning step** (5 epochs of SGD 0.01): `P = dataclasses.replace(P, unlearn_lr=0.01,
  unlearn_epochs=5)` and re-run sections 2-3 (about 25 minutes at cpu: every seed again). Section 2's budget
  table shows the oracle at this step on the three validation requests only; here it runs on the evaluation seeds
  with every method. Expect the oracle's forget accuracy far above the gold level, so that every $\\Delta$
  measures the step rather than the predictor.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, unlearn_lr=0.01, unlearn_epochs=5)
  runs = tmu.run_seeds(P, SEED)  # then re-run the cells of sections 2 and 3""") + """
* **Outside the regime.** Forget an easy class, `forget_class=1` (trouser). The gold level rises towards 1 and the
  notebook **stops at section 2's regime assertion** after its runs (about 25 minutes at cpu): the stop is the
  lesson, since $\\Delta$ can then no longer tell aligned forgetting from doing nothing.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, forget_class=1)
  runs = tmu.run_seeds(P, SEED)
  print(runs["regime"])  # then the regime cell: its assertion fails""") + """
""",
    "02_unlearning_features_and_labels": """* **Less poison.** Flip 10 % of the labels instead of 20 %, `flip_budget=0.1` (about 5 minutes at
  cpu: part 3 again). Expect the poisoned model to lose less accuracy; if it loses under 5 points, part 3's regime
  assertion stops the notebook, since there is then too little damage to measure a repair against.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, flip_budget=0.1)  # then re-run part 3 from its first cell""") + """
* **Choose τ on validation.** `poison_tau_grid=(1e-5, 3e-5, 1e-4)` instead of the authors' 2e-5 (about 5 minutes
  at cpu: part 3 again).
  Expect a choice between values a few validation images apart, and a restoration that moves with it.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, poison_tau_grid=(1e-5, 3e-5, 1e-4))  # then re-run part 3""") + """
* **A fainter canary.** Insert it twice instead of eight times, `canary_copies=2` (about 2 minutes: part 2
  again). Expect a lower exposure before unlearning, and less for either update to remove.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, canary_copies=2)  # then re-run part 2""") + """
""",
    "03_distribution_level_feature_distancing": """* **Perturb on every batch** (`fs_threshold=0`, about 4 minutes for one DLFD run at cpu). Expect a lower
  FS and a lower test accuracy than the paper's schedule; notebook 05 measures the same over five splits.""" + _solution("""  from unlearn import methods
  u = methods.get("dlfd")(original, data.forget, data.retain, monitor=data.val,
                          config=dlfd.dlfd_config(P, fs_threshold=0.0), seed=SEED)
  print(dlfd.score(u.model, data, SEED))""") + """
* **No distancing term** (`forget_weight=0`, under a minute). If the OT term drives the forgetting, FS should
  stay near the original's; compare with notebook 05's `no OT term` row.""" + _solution("""  from unlearn import methods
  u = methods.get("dlfd")(original, data.forget, data.retain, monitor=data.val,
                          config=dlfd.dlfd_config(P, forget_weight=0.0), seed=SEED)
  print(dlfd.score(u.model, data, SEED))""") + """
* **An original that memorises less.** Train with augmentation, `augment=True` (about 8 minutes). The notebook
  then **stops at its regime assertion**: the stored check (`tools/dlfd_profile_check.py`) shows the
  augmented original's gap and FS below the thresholds, so there is too little memorised for any method to
  forget.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, augment=True)
  original, original_meta = dlfd.train_original(P, data, SEED)  # then the methods and the regime cell""") + """
""",
    "04_benchmark": """* **One seed for a quick look** (`seeds=P.seeds[:1]`, a third of the time). Expect the ± columns to
  vanish and rankings that rest on differences smaller than the sd to change.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, seeds=P.seeds[:1])
  df = benchmark.run(P, PROFILE, base_seed=SEED, scheduler=SCHEDULER)""") + """
* **DLFD's task here too** (`tasks=("utkface",)`, the faces task alone, about 15 minutes at cpu: every method
  on three seeds). Expect the first-order influence update to score a good NoMUS on UTKFace by damaging accuracy;
  read it with `test_acc`.""" + _solution("""  import dataclasses
  faces = benchmark.run(dataclasses.replace(P, tasks=("utkface",)), PROFILE, base_seed=SEED, scheduler=SCHEDULER)
  print(benchmark.summary(faces).round(3))""") + """
* **Influence on the whole network** (`influence_scope="whole"`, on the digits task alone: a few minutes). The
  convexity that certifies the updates is lost; expect their rows to move away from the retrained row.""" + _solution("""  import dataclasses
  whole = benchmark.run(dataclasses.replace(P, tasks=("digits",), influence_scope="whole"), PROFILE, base_seed=SEED,
                        scheduler=SCHEDULER)
  print(benchmark.summary(whole).round(3))""") + """
""",
    "05_dlfd_ablation": """* **More splits** (`ablation_splits=8`, about 60 % longer). Expect the intervals to narrow roughly as
  $t_{n-1}/\\sqrt{n}$ (by about a third from five splits); a verdict that flips is one five splits could not
  support.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, ablation_splits=8)
  per_split = dlfd.run_ablation(original, P, data, SEED, scheduler=SCHEDULER)""") + """
* **Another ingredient.** Run a variant with half the perturbation step on the same five splits (about 8
  minutes at cpu: five DLFD runs) and set it beside the DLFD rows already computed.""" + _solution("""  import pandas as pd
  half = dlfd.run_ablation(original, P, data, SEED, scheduler=SCHEDULER,
                           variants={"half step": {"perturb_step_size": 0.045}})
  dlfd.ablation_summary(pd.concat([per_split[per_split["variant"] == "DLFD (paper)"], half]))""") + """
""",
    "06_forgetting_like_retraining": """* **More models.** `P = dataclasses.replace(P, models=24, k_grid=(4, 8, 16, 24))` (the 16 seeds already
  trained come from the model cache; about half the notebook's time again). Expect the floor to stay where it is
  and a real difference to grow, as in the unit test's synthetic case; a ranking that changes was not settled.""" + _solution("""  import dataclasses
  P = dataclasses.replace(P, models=24, k_grid=(4, 8, 16, 24))
  runs = forgetting.run(P, SEED, scheduler=SCHEDULER)  # then sections 3 and 4""") + """
* **Nothing to forget.** Forget a random tenth of *clean* digits instead (a few minutes): build the task with
  `split="random"` and expect the original itself near the floor: the test has nothing to find when nothing was
  memorised, which is why this notebook forgets relabelled points. Run it serially (a local cluster's workers
  import the unpatched task) and print the result rather than re-running the cells below: their regime assertions
  stop on this task, by design.""" + _solution("""  import dataclasses
  from unlearn.experiments import forgetting as fq
  base = fq.task
  fq.task = lambda P: dataclasses.replace(base(P), split="random", tag="forgetting-quality-clean")
  runs = fq.run(P, SEED, scheduler="serial")
  print(fq.quality(runs, list(fq.CONTROLS), n_boot=0))
  fq.task = base""") + """
""",
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
