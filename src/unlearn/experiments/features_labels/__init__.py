"""Notebook 02: "Machine Unlearning of Features and Labels" (Warnecke, Pirch, Wressnegger, Rieck, NDSS 2023).

Three parts, each a pipeline function returning DataFrames / dicts:

1. :func:`run_linear` - sensitive features in (certified) logistic regression: person names in Enron spam
   (bag of words), marital-status / relationship / race one-hots in Adult, and two numeric columns of
   Diabetes. Z are the rows the change touches, Z~ the same rows after the change (authors'
   ``copy_and_replace``). Methods: none, occlusion, fine-tune (one pass), first order, second order,
   retrain (and SISA through the registry when it is there). Measures: gradient residual, test accuracy,
   approximate vs exact change of the test loss, seconds, gradient evaluations, certificate.
2. :func:`run_canary` - unintended memorisation: a character LSTM on Alice in Wonderland with the canary
   "my telephone number is 0123456789!' said alice." inserted several times; Z~ replaces the ten digits by
   a 10-character string from the text. Exposure before/after first order, second order, fine-tune, retrain.
3. :func:`run_poisoning` - label poisoning as the authors run it: pairwise flips c -> 9 - c on a CIFAR-10
   subset, a VGG-style CNN that fits them, influence updates on its dense head (tau / damping chosen on a
   validation split), fine-tuning, SISA and retraining, over several flip seeds. Restoration fraction with
   bootstrap intervals (:func:`poison_summary`), seconds, gradient evaluations, speed-up over training.

The linear data sets, their unlearnable features and the person names of Enron (a shipped list of first names
intersected with the vocabulary) come from :func:`unlearn.tasks.linear_task`, which ``make bench`` uses too.

One module per part (``linear``, ``canary``, ``poisoning``) and their shared ``profile``; the notebook reads
every name from here.
"""

from ...tasks import enron_names, first_names  # notebook 02 reads them here
from .canary import (
    CANARY,
    CANARY_PREFIX,
    CANARY_SECRET,
    CanarySetup,
    canary_exposure,
    canary_setup,
    log_perplexity,
    lstm_config,
    random_candidates,
    replacement_string,
    run_canary,
)
from .claims import CLAIMS
from .linear import (
    CHANGE_AXIS,
    FEATURE_METHODS,
    calibrate,
    certificate_table,
    linear_task,
    loss_scatter_figure,
    make_change,
    residual_figure,
    residual_table,
    run_linear,
    runtime_figure,
    speed_table,
)
from .poisoning import (
    cnn,
    cnn_config,
    influence_configs,
    poison_data,
    poison_data_figure,
    poison_difference,
    poison_replicates,
    poison_summary,
    restoration_figure,
    run_poisoning,
    sisa_repair,
    stored_sisa,
    task,
)
from .profile import PAPER, PROFILES, Profile

__all__ = [
    "CLAIMS",
    "PAPER", "Profile", "PROFILES", "linear_task", "make_change", "calibrate", "run_linear", "residual_table",
    "certificate_table", "speed_table", "FEATURE_METHODS", "CHANGE_AXIS", "residual_figure",
    "loss_scatter_figure", "runtime_figure", "CANARY_PREFIX", "CANARY_SECRET", "CANARY", "replacement_string",
    "CanarySetup", "canary_setup", "log_perplexity", "random_candidates", "canary_exposure", "lstm_config",
    "run_canary", "task", "poison_data", "poison_data_figure", "cnn", "cnn_config", "influence_configs", "run_poisoning",
    "sisa_repair", "stored_sisa", "poison_summary", "poison_replicates", "poison_difference",
    "restoration_figure", "enron_names", "first_names",
]
