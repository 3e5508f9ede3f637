"""Notebook 01: Twin Machine Unlearning (Niu et al., arXiv 2501.08615): CIFAR-10 (the paper, ``paper``
profile) and Fashion-MNIST (the ``cpu`` regime, where the gold level on D_f is measurable on two cores).

Sub-class forgetting: D_f = 10 % of one class's training images. The class's test images are split
in two halves (seeded): one is the twin problem's held-out set D_h (given to TMU), the other is only
ever used for evaluation (class-c accuracy, membership-inference non-members). Everything here is a
pipeline function the notebook calls; the method itself lives in ``unlearn.methods.tmu``.
"""

from .analysis import CALIBRATION_VARIANTS, agreement_difference, calibration_table, delta_intervals, delta_summary, other_classes_summary
from .claims import CLAIMS
from .figures import feature_figure, forget_bars_figure, scatter_figure, seed_figure
from .protocol import (
    BASELINES,
    CONTROLS,
    METHODS,
    PAPER_BASELINES,
    PROFILES,
    TABLE1_COLUMNS,
    TMUProfile,
    agreement,
    controls,
    diverged,
    make_sets,
    regime,
    run_seeds,
    score,
    setup,
    sizes,
    table1,
    task,
    timings,
    tmu_config,
    unlearn_all,
)
from .studies import (
    OTHER_CLASS_COLUMNS,
    SUBSETS,
    budget_table,
    noise_ablation,
    other_classes,
    predictor_table,
    save_tables,
    stored_other_classes,
)

__all__ = [
    "CLAIMS",
    "TMUProfile", "PROFILES", "METHODS", "task", "make_sets", "setup", "sizes", "tmu_config",
    "unlearn_all", "diverged", "score", "TABLE1_COLUMNS", "table1", "timings", "CONTROLS", "BASELINES",
    "PAPER_BASELINES", "controls", "agreement", "regime", "run_seeds", "other_classes_summary", "delta_summary",
    "delta_intervals", "agreement_difference", "CALIBRATION_VARIANTS", "calibration_table", "seed_figure",
    "scatter_figure", "feature_figure", "forget_bars_figure", "budget_table", "OTHER_CLASS_COLUMNS",
    "other_classes", "stored_other_classes", "SUBSETS", "predictor_table", "noise_ablation", "save_tables",
]
