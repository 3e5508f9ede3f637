"""Notebook 03: Distribution-Level Feature Distancing (Choi & Na 2024) on facial-age data.

UTKFace (the mirror's aligned-cropped subset, 8 MUFAC age groups) stands in for MUFAC, whose
images cannot be redistributed: train = forget (a seeded random share) + retain; UTKFace's test
split is halved into D_test (monitoring during unlearning, checkpoint selection) and D_unseen
(final accuracy, and the non-members of the membership-inference attack). UTKFace has no identity
labels, so unlike MUFAC the parts cannot be made identity-disjoint.

Functions here do the work; the notebook calls them and tells the story.
"""

from .analysis import (
    ablation_summary,
    ablation_verdicts,
    bootstrap,
    changes,
    correlation_collapse,
    cost_ratio,
    intervals,
    mean_interval,
    memorisation,
    monitor_curve,
    paired_difference,
    split_claims,
    versus,
    without_timings,
)
from .claims import CLAIMS
from .figures import ablation_figure, loss_histograms, monitor_figure, tradeoff_figure, tsne_figure
from .protocol import (
    ABLATIONS,
    BASELINES,
    ERROR_MAXIMISING,
    PROFILES,
    RELEASE_SETTINGS,
    DLFDProfile,
    build_model,
    describe_data,
    dlfd_config,
    load_data,
    memorisation_check,
    profile_table,
    reference_labels,
    run_ablation,
    run_methods,
    run_splits,
    score,
    stored_memorisation_check,
    table1,
    task,
    train_original,
    unlearn,
    with_forget_split,
)

__all__ = [
    "CLAIMS",
    "BASELINES", "RELEASE_SETTINGS", "ERROR_MAXIMISING", "ABLATIONS", "DLFDProfile", "PROFILES", "task",
    "load_data", "with_forget_split", "memorisation_check", "stored_memorisation_check", "describe_data",
    "build_model", "train_original", "dlfd_config", "unlearn", "run_methods", "run_splits", "score",
    "reference_labels", "table1", "run_ablation", "profile_table", "mean_interval", "split_claims", "bootstrap",
    "intervals", "paired_difference", "versus", "memorisation", "changes", "cost_ratio", "correlation_collapse",
    "without_timings", "ablation_summary", "monitor_curve", "ablation_verdicts", "loss_histograms", "tsne_figure",
    "tradeoff_figure", "monitor_figure", "ablation_figure",
]
