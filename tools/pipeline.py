"""What writes each result file and what reads it: the order between notebooks, probe scripts and result files, in
one place.

- ``PROBES``: scripts whose results the notebooks read back (``results/<profile>/<file>``) rather than recompute,
  because each costs minutes (``make probes`` runs them all at the cpu profile). A notebook whose probe result is
  missing says so and prints the command below; it does not stop.
- ``COMMANDS``: other scripts that write result files nobody reads back (benchmarks, the runner's timings).
- ``AFTER``: notebooks that read what other notebooks write. Notebook 04 collects the claims notebooks 01-03 record
  into ``claims.json``: ``tools/run_notebooks.py`` starts it only after those of them in the same run have finished.
- Every other tracked result file is written by a notebook (the smoke references list them); a test fails on a
  tracked result file that none of these writes (``tests/test_publishing.py``).

    python tools/pipeline.py              # the declaration as a table
    python tools/pipeline.py --probes     # the probe commands, one per line (make probes runs them)
"""

from __future__ import annotations

# result file -> (the script and arguments that write it at the cpu profile, the notebook that reads it)
PROBES = {
    "tmu_budget.csv": ("tools/tmu_budget_probe.py --profile cpu", "01_twin_machine_unlearning.ipynb"),
    "tmu_other_classes.csv": ("tools/tmu_other_classes.py --profile cpu", "01_twin_machine_unlearning.ipynb"),
    "02_poisoning_sisa.csv": ("tools/poison_sisa.py --profile cpu", "02_unlearning_features_and_labels.ipynb"),
    "dlfd_profile_check.csv": ("tools/dlfd_profile_check.py --profile cpu",
                               "03_distribution_level_feature_distancing.ipynb"),
}

# result file -> the script that writes it (read by no notebook)
COMMANDS = {
    "baselines_digits.csv": "benchmarks/baselines_digits.py", "baselines_digits_runs.csv": "benchmarks/baselines_digits.py",
    "baselines_digits_whole_class.csv": "benchmarks/baselines_digits.py",
    "baselines_digits_whole_class_runs.csv": "benchmarks/baselines_digits.py",
    "bench.csv": "benchmarks/run.py", "claims_kernels_b.json": "tools/compare_settings.py",
    "claims_previous_machine.json": "tools/compare_settings.py",
    "notebook_times.csv": "tools/run_notebooks.py", "cell_times.csv": "tools/run_notebooks.py", "claims.json": "src/unlearn/claims.py",
    "claims_table.csv": "src/unlearn/experiments/benchmark.py", "tour_split.json": "notebooks/00_tour.ipynb",
}

# notebook -> notebooks whose results it reads (run first when they are in the same run)
AFTER = {
    "04_benchmark.ipynb": ("01_twin_machine_unlearning.ipynb", "02_unlearning_features_and_labels.ipynb",
                           "03_distribution_level_feature_distancing.ipynb"),
}


def writer(name: str) -> str | None:
    """The script that writes result file ``name`` (None: a notebook, or nothing)."""
    if name in PROBES:
        return PROBES[name][0].split()[0]
    return COMMANDS.get(name)


def ready(notebook: str, pending: set[str]) -> bool:
    """Whether ``notebook`` may start while the notebooks in ``pending`` (waiting or running) have not finished."""
    return not set(AFTER.get(notebook, ())) & pending


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--probes"]:
        print("\n".join(dict.fromkeys(command for command, _ in PROBES.values())))
        sys.exit(0)
    for name, (command, reader) in PROBES.items():
        print(f"{name:28s} written by  python {command:45s} read by {reader}")
    for name, command in COMMANDS.items():
        print(f"{name:28s} written by  {command}")
    for nb, before in AFTER.items():
        print(f"{nb} runs after {', '.join(before)}")
